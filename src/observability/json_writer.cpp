// The JSON writer behind trace records: nlohmann's output format without building a json tree.
#include "switchboard/observability/json_writer.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>

namespace switchboard::observability {

namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence at s[i] (a byte >= 0x80), or 0 when invalid; `bad_at`
// is then the offset of the first byte that is not part of it (1 or more: that byte is read
// again as the start of the next character; s.size() - i when the text ends inside it).
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::size_t& bad_at) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char lead = byte(0);
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) lo = 0xA0;  // overlong
    if (lead == 0xED) hi = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) lo = 0x90;  // overlong
    if (lead == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    bad_at = 0;  // not a lead byte: it alone is replaced
    return 0;
  }
  for (std::size_t k = 1; k < len; ++k) {
    if (i + k >= s.size()) {
      bad_at = s.size() - i;
      return 0;
    }
    unsigned char c = byte(k);
    bool ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
    if (!ok) {
      bad_at = k;
      return 0;
    }
  }
  return len;
}

// Bytes that need escaping (controls, '"', '\\') or a UTF-8 check (>= 0x80).
constexpr std::array<bool, 256> kSpecial = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
  return t;
}();

// Bytes of `s` before the first special one.
std::size_t plain_prefix(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && !kSpecial[static_cast<unsigned char>(s[i])]) ++i;
  return i;
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    std::size_t run = i + plain_prefix(s.substr(i));
    out.append(s.data() + i, run - i);
    i = run;
    if (i == n) break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back('\\');
      switch (c) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '\b':
          out.push_back('b');
          break;
        case '\t':
          out.push_back('t');
          break;
        case '\n':
          out.push_back('n');
          break;
        case '\f':
          out.push_back('f');
          break;
        case '\r':
          out.push_back('r');
          break;
        default:
          out.append("u00", 3);
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
      }
      ++i;
      continue;
    }
    std::size_t bad_at = 0;
    std::size_t len = utf8_sequence(s, i, bad_at);
    if (len > 0) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out.append(kReplacement);
      i += bad_at == 0 ? 1 : bad_at;
    }
  }
}

JsonWriter& JsonWriter::begin_object() {
  separate();
  out_.push_back('{');
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  out_.push_back('}');
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  separate();
  out_.push_back('[');
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  out_.push_back(']');
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  // Keys are short literals: `,"name":` is assembled on the stack while the name is copied and
  // checked in one branch-free pass, then goes out in one append.
  char buf[64];
  if (name.size() + 4 <= sizeof buf) {
    std::size_t n = 0;
    if (need_comma_) buf[n++] = ',';
    buf[n++] = '"';
    bool special = false;
    for (char c : name) {
      special |= kSpecial[static_cast<unsigned char>(c)];
      buf[n++] = c;
    }
    if (!special) {
      buf[n++] = '"';
      buf[n++] = ':';
      out_.append(buf, n);
      need_comma_ = false;
      return *this;
    }
  }
  separate();
  out_.push_back('"');
  append_json_escaped(out_, name);
  out_.append("\":", 2);
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::string(std::string_view value) {
  separate();
  out_.push_back('"');
  std::size_t plain = plain_prefix(value);
  out_.append(value.data(), plain);
  if (plain < value.size()) append_json_escaped(out_, value.substr(plain));
  out_.push_back('"');
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::string_or_null(std::string_view value) {
  return value.empty() ? null() : string(value);
}

JsonWriter& JsonWriter::integer(std::int64_t value) {
  separate();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out_.append(buf, end);
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::number(double value) {
  if (!std::isfinite(value)) return null();
  separate();
  // nlohmann's own formatter (Grisu2, ".0" on integral values), so records read as before.
  char buf[64];
  char* end = nlohmann::detail::to_chars(buf, buf + sizeof buf, value);
  out_.append(buf, end);
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::boolean(bool value) {
  separate();
  if (value) {
    out_.append("true", 4);
  } else {
    out_.append("false", 5);
  }
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::null() {
  separate();
  out_.append("null", 4);
  need_comma_ = true;
  return *this;
}

}  // namespace switchboard::observability
