// A small JSON writer for records on the request path (trace lines): appends to a caller's
// string, no tree, no allocation once the string has grown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace switchboard::observability {

// Writes compact JSON byte-for-byte as nlohmann's dump(-1, ' ', false, error_handler_t::replace):
// UTF-8 passes through, invalid UTF-8 becomes U+FFFD, control characters are escaped, doubles use
// the same shortest round-trip form ("1.0", "0.125", "1e-07") and non-finite ones are null.
// The caller keeps the structure well formed: key() inside objects, then exactly one value.
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);

  JsonWriter& string(std::string_view value);
  JsonWriter& string_or_null(std::string_view value);  // null when empty
  JsonWriter& integer(std::int64_t value);
  JsonWriter& number(double value);
  JsonWriter& boolean(bool value);
  JsonWriter& null();

 private:
  void separate() {
    if (need_comma_) out_.push_back(',');
  }

  std::string& out_;
  bool need_comma_ = false;
};

// Appends `value` as the contents of a JSON string (no quotes), escaped as described above.
void append_json_escaped(std::string& out, std::string_view value);

// The same through a raw cursor, for writers that reserve their space up front: writes at `p`,
// which must have room for kJsonEscapeGrowth * value.size() bytes, and returns the end.
inline constexpr std::size_t kJsonEscapeGrowth = 6;  // "\u00XX" for one byte
char* write_json_escaped(char* p, std::string_view value);

// An integer as JsonWriter::integer writes it, at `p` (room for kJsonIntegerRoom bytes, which may
// be written past the digits); returns the end.
inline constexpr std::size_t kJsonIntegerRoom = 20;
char* write_json_integer(char* p, std::int64_t value);

// A double as JsonWriter::number writes it ("null" when not finite) at `p`, which must have room
// for kJsonNumberRoom bytes (at most 25 are kept; the rest is scratch); returns the end.
inline constexpr std::size_t kJsonNumberRoom = 40;
char* write_json_number(char* p, double value);

}  // namespace switchboard::observability
