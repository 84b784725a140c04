// A validating, allocation-free JSON pull reader over a string_view, for reading provider
// responses and requests on the hot path without building a DOM.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace switchboard::protocol {

enum class JsonType : std::uint8_t { invalid, null, boolean, number, string, array, object };

// The type of the value a byte starts; invalid for any other byte.
constexpr JsonType json_type_at(char c) {
  switch (c) {
    case '"':
      return JsonType::string;
    case 't':
    case 'f':
      return JsonType::boolean;
    case 'n':
      return JsonType::null;
    case '{':
      return JsonType::object;
    case '[':
      return JsonType::array;
    default:
      return c == '-' || (c >= '0' && c <= '9') ? JsonType::number : JsonType::invalid;
  }
}

enum class JsonError : std::uint8_t {
  none,
  unexpected_end,        // the text ends inside a value
  unexpected_character,  // a byte that cannot start or continue what is expected there
  invalid_literal,       // not exactly true, false or null
  invalid_number,        // outside RFC 8259's number grammar
  invalid_escape,        // a backslash escape that does not exist, or a bad \u
  invalid_surrogate,     // a \u surrogate that is not half of a pair
  control_character,     // an unescaped byte below 0x20 inside a string
  invalid_utf8,          // a string holds bytes that are not UTF-8
  too_deep,              // nesting deeper than the reader's limit
  trailing_characters,   // something after the top-level value
  misuse,                // the caller asked for a key outside an object (or an element outside
                         // an array)
};

// What went wrong, in a few words ("invalid escape").
std::string_view describe(JsonError error);

// Reads one JSON text (RFC 8259) front to back. The caller drives it with the shape it expects:
//
//   JsonReader r(body);
//   if (!r.begin_object()) ...;          // false: not an object (nothing consumed) or an error
//   std::string_view key;
//   while (r.next_key(key)) {            // false at the closing brace, or on an error
//     if (key == "id") { if (!r.read_string(id, scratch)) r.skip(); }
//     else r.skip();                     // every key is followed by exactly one value read
//   }
//   if (!r.finish()) ...;                // ok, and nothing but whitespace after the value
//
// Everything read is validated: the number grammar, escapes (\uXXXX surrogate pairs become one
// UTF-8 character), UTF-8 inside strings, unescaped control characters, literals, the nesting
// limit and, in finish(), trailing bytes. skip() and raw_value() validate what they pass over.
//
// Errors are sticky: after the first one every call returns false (or JsonType::invalid) and
// error() / error_offset() say what and where. A typed read (read_string, read_int64, ...) that
// finds a value of another type returns false WITHOUT consuming it and without an error, so the
// caller can skip() it; check ok() to tell a mismatch from a syntax error.
//
// Strings come back as views into the text when they hold no escapes; otherwise they are decoded
// into a buffer the caller provides (keys with escapes: into a buffer the reader owns). No other
// allocation happens. The text must outlive the views.
class JsonReader {
 public:
  static constexpr int kMaxDepthLimit = 1024;
  static constexpr int kDefaultMaxDepth = 256;

  explicit JsonReader(std::string_view text, int max_depth = kDefaultMaxDepth);

  // The type of the next value (after whitespace). invalid, with an error set, when no value can
  // start there; invalid without a new error when the reader already failed.
  JsonType peek();

  // Containers. begin_* returns false, consuming nothing, when the next value is something else.
  bool begin_object();
  // The next member's key (the reader is then at its value), or false at '}' (consumed).
  bool next_key(std::string_view& key);
  bool begin_array();
  // True when another element follows (the reader is then at it), false at ']' (consumed).
  bool next_element();

  // Scalars. False when the next value is not of that type (nothing consumed) or on an error.
  // `value` views the text, or `scratch` (overwritten) when the string had escapes.
  bool read_string(std::string_view& value, std::string& scratch);
  // Appends the decoded string to `out`.
  bool append_string(std::string& out);
  // The string's contents as they are in the text, escapes still escaped (validated).
  bool read_string_raw(std::string_view& escaped);
  // An integer (no fraction, no exponent) that fits in int64; any other number is a mismatch.
  bool read_int64(std::int64_t& value);
  bool read_double(double& value);
  bool read_number(std::string_view& text);  // the validated number text
  bool read_bool(bool& value);
  bool read_null();

  // Passes over the next value, whatever it is, validating it.
  bool skip();
  // Passes over the next value and returns its exact text (no surrounding whitespace).
  bool raw_value(std::string_view& text);

  // True when no error occurred and only whitespace follows the top-level value.
  bool finish();

  bool ok() const { return error_ == JsonError::none; }
  JsonError error() const { return error_; }
  std::size_t error_offset() const { return error_offset_; }
  std::size_t offset() const { return pos_; }
  std::string_view text() const { return text_; }
  int depth() const { return depth_; }

 private:
  friend class JsonDocument;  // reads each value's type once and scans it directly

  bool fail(JsonError error);
  bool fail_at(JsonError error, std::size_t at);
  void skip_whitespace();
  bool open(bool object);
  bool close();
  bool in_object() const;
  bool member(std::string_view* key);  // next_key; null: validate the key only
  bool scalar(JsonType type);          // passes over a non-container value
  static std::size_t plain_run(std::string_view s, std::size_t i);
  bool scan_string(std::string_view& raw, std::string* decoded, bool& escaped);
  bool scan_special(std::size_t start, std::string_view& raw, std::string* decoded, bool& escaped);
  bool scan_number(std::string_view& text, bool& integer);
  bool scan_literal(std::string_view word);

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t error_offset_ = 0;
  int depth_ = 0;
  int max_depth_;
  bool first_ = false;    // just inside '{' or '[': no comma expected before the next member
  bool started_ = false;  // the top-level value began
  enum class Container : std::uint8_t { none, array, object };
  Container container_ = Container::none;  // the innermost open container
  JsonError error_ = JsonError::none;
  // A bit per open container (1 = object); only bits below depth_ are ever read, each set when
  // its container opened, so the array needs no (costly, per reader) zeroing.
  std::uint64_t kinds_[kMaxDepthLimit / 64];
  std::string key_scratch_;
};

// Appends `json` (a valid JSON text, e.g. from raw_value) without insignificant whitespace.
void append_minified(std::string& out, std::string_view json);

// ---- The string scan's fast path, inline: every key and string value goes through it.

// The end of the run of plain string bytes (no quote, backslash, control or non-ASCII byte) from
// `i`: eight at a time (SWAR: the "has a zero byte" / "has a byte below n" bit tricks flag each
// special byte's high bit), one by one only in the text's last seven bytes. The tricks' false
// positives only ever sit above a true one, so the lowest flag is the first special byte: its
// index comes from counting trailing zeros.
inline std::size_t JsonReader::plain_run(std::string_view s, std::size_t i) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ull, kHighs = 0x8080808080808080ull;
  const std::size_t n = s.size();
  while (n - i >= 8) {
    std::uint64_t v;
    std::memcpy(&v, s.data() + i, 8);
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
    std::uint64_t quote = v ^ (kOnes * '"'), backslash = v ^ (kOnes * '\\');
    std::uint64_t special = (((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash) |
                             ((v - kOnes * 0x20) & ~v) | v) &
                            kHighs;
    if (special) return i + static_cast<std::size_t>(std::countr_zero(special)) / 8;
    i += 8;
  }
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
    ++i;
  }
  return i;
}

// At the byte after the opening quote. `raw` is the contents as written; with escapes and a
// `decoded` buffer, the decoded contents are appended there (`escaped` says so). Most strings are
// one plain run up to the closing quote: that case is all this does; the rest is scan_special.
inline bool JsonReader::scan_string(std::string_view& raw, std::string* decoded, bool& escaped) {
  const std::size_t start = pos_;
  pos_ = plain_run(text_, pos_);
  if (pos_ < text_.size() && text_[pos_] == '"') [[likely]] {
    escaped = false;
    raw = std::string_view(text_.data() + start, pos_ - start);
    ++pos_;  // the closing quote
    started_ = true;
    return true;
  }
  return scan_special(start, raw, decoded, escaped);
}

}  // namespace switchboard::protocol
