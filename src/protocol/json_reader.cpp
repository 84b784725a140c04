// The JSON pull reader: RFC 8259 validation while reading, no tree, no allocation.
#include "switchboard/protocol/json_reader.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

namespace switchboard::protocol {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Length of the well-formed UTF-8 sequence starting at s[i] (a byte >= 0x80), 0 when ill-formed
// (overlongs, surrogates and code points above U+10FFFF included).
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto lead = static_cast<unsigned char>(s[i]);
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return 0;
  }
  return len;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

std::string_view describe(JsonError error) {
  switch (error) {
    case JsonError::none:
      return "no error";
    case JsonError::unexpected_end:
      return "unexpected end of text";
    case JsonError::unexpected_character:
      return "unexpected character";
    case JsonError::invalid_literal:
      return "invalid literal";
    case JsonError::invalid_number:
      return "invalid number";
    case JsonError::invalid_escape:
      return "invalid escape";
    case JsonError::invalid_surrogate:
      return "unpaired UTF-16 surrogate";
    case JsonError::control_character:
      return "unescaped control character in a string";
    case JsonError::invalid_utf8:
      return "invalid UTF-8 in a string";
    case JsonError::too_deep:
      return "nesting too deep";
    case JsonError::trailing_characters:
      return "characters after the JSON value";
    case JsonError::misuse:
      return "read out of order";
  }
  return "unknown error";
}

JsonReader::JsonReader(std::string_view text, int max_depth)
    : text_(text), max_depth_(max_depth < 1 ? 1 : std::min(max_depth, kMaxDepthLimit)) {}

bool JsonReader::fail(JsonError error) {
  return fail_at(error, pos_);
}

bool JsonReader::fail_at(JsonError error, std::size_t at) {
  if (error_ == JsonError::none) {
    error_ = error;
    error_offset_ = at;
  }
  return false;
}

void JsonReader::skip_whitespace() {
  // Mostly compact text: one compare tells a significant byte (all are above ' ').
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (static_cast<unsigned char>(c) > ' ' || !is_space(c)) return;
    ++pos_;
  }
}

bool JsonReader::in_object() const {
  return container_ == Container::object;
}

bool JsonReader::open(bool object) {
  if (depth_ >= max_depth_) return fail(JsonError::too_deep);
  std::uint64_t bit = std::uint64_t{1} << (depth_ % 64);
  if (object) {
    kinds_[depth_ / 64] |= bit;
  } else {
    kinds_[depth_ / 64] &= ~bit;
  }
  started_ = true;
  ++depth_;
  ++pos_;  // the bracket
  first_ = true;
  container_ = object ? Container::object : Container::array;
  return true;
}

bool JsonReader::close() {
  ++pos_;
  --depth_;
  first_ = false;
  if (depth_ == 0) {
    container_ = Container::none;
  } else {
    const int level = depth_ - 1;
    container_ = (kinds_[level / 64] >> (level % 64)) & 1u ? Container::object : Container::array;
  }
  return false;  // the container ended: "no more members / elements"
}

JsonType JsonReader::peek() {
  if (!ok()) return JsonType::invalid;
  skip_whitespace();
  if (pos_ >= text_.size()) {
    fail(JsonError::unexpected_end);
    return JsonType::invalid;
  }
  JsonType type = json_type_at(text_[pos_]);
  if (type == JsonType::invalid) fail(JsonError::unexpected_character);
  return type;
}

bool JsonReader::begin_object() {
  return peek() == JsonType::object && open(true);
}

bool JsonReader::begin_array() {
  return peek() == JsonType::array && open(false);
}

// The hot call of every object read: written over local copies of the text and position (stores
// through `key` could otherwise alias them), the key's plain run scanned here and only a key with
// escapes or non-ASCII bytes handed to scan_special. pos_ is stored before any fail(), so errors
// point where they always did.
bool JsonReader::member(std::string_view* key) {
  if (!ok()) return false;
  if (container_ != Container::object) return fail(JsonError::misuse);
  const char* const s = text_.data();
  const std::size_t n = text_.size();
  auto space = [&](std::size_t i) {
    while (i < n && (static_cast<unsigned char>(s[i]) <= ' ' && is_space(s[i]))) ++i;
    return i;
  };
  std::size_t i = space(pos_);
  if (i >= n) return fail_at(JsonError::unexpected_end, pos_ = i);
  if (s[i] == '}') {
    pos_ = i;
    return close();
  }
  if (!first_) {
    if (s[i] != ',') return fail_at(JsonError::unexpected_character, pos_ = i);
    i = space(i + 1);
    if (i >= n) return fail_at(JsonError::unexpected_end, pos_ = i);
  }
  first_ = false;
  if (s[i] != '"') return fail_at(JsonError::unexpected_character, pos_ = i);
  const std::size_t start = i + 1;
  i = JsonReader::plain_run(text_, start);
  if (i < n && s[i] == '"') [[likely]] {
    if (key) *key = std::string_view(s + start, i - start);
    ++i;
  } else {
    pos_ = i;
    std::string_view raw;
    bool escaped = false;
    if (key) key_scratch_.clear();
    if (!scan_special(start, raw, key ? &key_scratch_ : nullptr, escaped)) return false;
    if (key) *key = escaped ? std::string_view(key_scratch_) : raw;
    i = pos_;
  }
  i = space(i);
  if (i >= n) return fail_at(JsonError::unexpected_end, pos_ = i);
  if (s[i] != ':') return fail_at(JsonError::unexpected_character, pos_ = i);
  pos_ = i + 1;
  return true;
}

bool JsonReader::next_key(std::string_view& key) {
  return member(&key);
}

bool JsonReader::next_element() {
  if (!ok()) return false;
  if (container_ != Container::array) return fail(JsonError::misuse);
  skip_whitespace();
  if (pos_ >= text_.size()) return fail(JsonError::unexpected_end);
  if (text_[pos_] == ']') return close();
  if (!first_) {
    if (text_[pos_] != ',') return fail(JsonError::unexpected_character);
    ++pos_;
  }
  first_ = false;
  return true;  // peek() reports a missing value ("[1,]")
}

// scan_string past the first byte that is no plain one (pos_ is at it).
[[gnu::noinline]] bool JsonReader::scan_special(std::size_t start, std::string_view& raw,
                                                std::string* decoded, bool& escaped) {
  const std::size_t n = text_.size();
  escaped = false;
  std::size_t run = start;  // first byte not yet copied into `decoded`
  while (true) {
    pos_ = JsonReader::plain_run(text_, pos_);
    if (pos_ >= n) return fail(JsonError::unexpected_end);
    auto c = static_cast<unsigned char>(text_[pos_]);
    if (c == '"') break;
    if (c < 0x20) return fail(JsonError::control_character);
    if (c >= 0x80) {
      std::size_t len = utf8_length(text_, pos_);
      if (len == 0) return fail(JsonError::invalid_utf8);
      pos_ += len;
      continue;
    }
    // A backslash escape.
    if (decoded) decoded->append(text_.data() + run, pos_ - run);
    escaped = true;
    const std::size_t at = pos_;
    if (pos_ + 1 >= n) return fail(JsonError::unexpected_end);
    char e = text_[pos_ + 1];
    pos_ += 2;
    char simple = 0;
    switch (e) {
      case '"':
        simple = '"';
        break;
      case '\\':
        simple = '\\';
        break;
      case '/':
        simple = '/';
        break;
      case 'b':
        simple = '\b';
        break;
      case 'f':
        simple = '\f';
        break;
      case 'n':
        simple = '\n';
        break;
      case 'r':
        simple = '\r';
        break;
      case 't':
        simple = '\t';
        break;
      case 'u':
        break;
      default:
        return fail_at(JsonError::invalid_escape, at);
    }
    if (e != 'u') {
      if (decoded) decoded->push_back(simple);
      run = pos_;
      continue;
    }
    auto hex4 = [&](std::uint32_t& out) {
      if (n - pos_ < 4) return false;
      out = 0;
      for (int k = 0; k < 4; ++k) {
        int v = hex_value(text_[pos_ + k]);
        if (v < 0) return false;
        out = out << 4 | static_cast<std::uint32_t>(v);
      }
      pos_ += 4;
      return true;
    };
    std::uint32_t cp = 0;
    if (!hex4(cp)) return fail_at(JsonError::invalid_escape, at);
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail_at(JsonError::invalid_surrogate, at);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      std::uint32_t low = 0;
      if (n - pos_ < 2 || text_[pos_] != '\\' || text_[pos_ + 1] != 'u')
        return fail_at(JsonError::invalid_surrogate, at);
      pos_ += 2;
      if (!hex4(low)) return fail_at(JsonError::invalid_escape, at);
      if (low < 0xDC00 || low > 0xDFFF) return fail_at(JsonError::invalid_surrogate, at);
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    if (decoded) append_utf8(*decoded, cp);
    run = pos_;
  }
  raw = text_.substr(start, pos_ - start);
  if (decoded && escaped) decoded->append(text_.data() + run, pos_ - run);
  ++pos_;           // the closing quote
  started_ = true;  // (inside a container it already is)
  return true;
}

// At the first byte of a number; `integer` is false when it has a fraction or an exponent.
bool JsonReader::scan_number(std::string_view& text, bool& integer) {
  const std::size_t start = pos_;
  const std::size_t n = text_.size();
  auto digits = [&] {
    std::size_t from = pos_;
    while (pos_ < n && is_digit(text_[pos_])) ++pos_;
    return pos_ > from;
  };
  integer = true;
  if (text_[pos_] == '-') ++pos_;
  if (pos_ < n && text_[pos_] == '0') {
    ++pos_;
  } else if (!digits()) {
    return fail(JsonError::invalid_number);
  }
  if (pos_ < n && text_[pos_] == '.') {
    ++pos_;
    integer = false;
    if (!digits()) return fail(JsonError::invalid_number);
  }
  if (pos_ < n && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
    ++pos_;
    integer = false;
    if (pos_ < n && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
    if (!digits()) return fail(JsonError::invalid_number);
  }
  text = std::string_view(text_.data() + start, pos_ - start);
  started_ = true;
  return true;
}

bool JsonReader::scan_literal(std::string_view word) {
  if (text_.substr(pos_, word.size()) != word) return fail(JsonError::invalid_literal);
  pos_ += word.size();
  started_ = true;
  return true;
}

bool JsonReader::read_string(std::string_view& value, std::string& scratch) {
  if (peek() != JsonType::string) return false;
  ++pos_;
  std::string_view raw;
  bool escaped = false;
  scratch.clear();
  if (!scan_string(raw, &scratch, escaped)) return false;
  value = escaped ? std::string_view(scratch) : raw;
  return true;
}

bool JsonReader::append_string(std::string& out) {
  if (peek() != JsonType::string) return false;
  ++pos_;
  const std::size_t before = out.size();
  std::string_view raw;
  bool escaped = false;
  // Plain strings are appended from `raw`; escaped ones are decoded straight onto `out`.
  if (!scan_string(raw, &out, escaped)) {
    out.resize(before);
    return false;
  }
  if (!escaped) out.append(raw);
  return true;
}

bool JsonReader::read_string_raw(std::string_view& escaped_text) {
  if (peek() != JsonType::string) return false;
  ++pos_;
  bool escaped = false;
  return scan_string(escaped_text, nullptr, escaped);
}

bool JsonReader::read_number(std::string_view& text) {
  if (peek() != JsonType::number) return false;
  bool integer = false;
  return scan_number(text, integer);
}

bool JsonReader::read_int64(std::int64_t& value) {
  if (peek() != JsonType::number) return false;
  const std::size_t start = pos_;
  std::string_view text;
  bool integer = false;
  if (!scan_number(text, integer)) return false;
  if (!integer) {
    pos_ = start;  // a mismatch: the caller may still skip() it
    return false;
  }
  // Validated digits: up to 18 of them cannot overflow, so they are summed here; longer ones go
  // through from_chars, which reports values beyond int64.
  const bool negative = text.front() == '-';
  const std::string_view digits = text.substr(negative ? 1 : 0);
  if (digits.size() <= 18) {
    std::uint64_t v = 0;
    for (char c : digits) v = v * 10 + static_cast<std::uint64_t>(c - '0');
    value = negative ? -static_cast<std::int64_t>(v) : static_cast<std::int64_t>(v);
    return true;
  }
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{}) {
    pos_ = start;
    return false;
  }
  value = v;
  return true;
}

bool JsonReader::read_double(double& value) {
  std::string_view text;
  if (!read_number(text)) return false;
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) {
    // Valid JSON beyond double's range: underflow reads as zero, overflow as infinity.
    bool negative = text.front() == '-';
    auto e = text.find_first_of("eE");
    bool tiny = e != std::string_view::npos && e + 1 < text.size() && text[e + 1] == '-';
    v = tiny ? 0.0 : std::numeric_limits<double>::infinity();
    if (negative) v = -v;
  }
  value = v;
  return true;
}

bool JsonReader::read_bool(bool& value) {
  if (peek() != JsonType::boolean) return false;
  value = text_[pos_] == 't';
  return scan_literal(value ? "true" : "false");
}

bool JsonReader::read_null() {
  return peek() == JsonType::null && scan_literal("null");
}

bool JsonReader::skip() {
  std::string_view ignored;
  return raw_value(ignored);
}

bool JsonReader::scalar(JsonType type) {
  std::string_view ignored;
  bool flag = false;
  switch (type) {
    case JsonType::string:
      ++pos_;
      return scan_string(ignored, nullptr, flag);
    case JsonType::number:
      return scan_number(ignored, flag);
    case JsonType::boolean:
      return scan_literal(text_[pos_] == 't' ? "true" : "false");
    case JsonType::null:
      return scan_literal("null");
    default:
      return false;
  }
}

bool JsonReader::raw_value(std::string_view& out) {
  JsonType type = peek();
  if (type == JsonType::invalid) return false;
  const std::size_t start = pos_;
  if (type != JsonType::object && type != JsonType::array) {
    if (!scalar(type)) return false;
    out = text_.substr(start, pos_ - start);
    return true;
  }
  // Iterative, so a deep text costs no stack; the kinds bits match each closer to its opener.
  const int base = depth_;
  if (!open(type == JsonType::object)) return false;
  while (depth_ > base) {
    bool more = in_object() ? member(nullptr) : next_element();
    if (!more) {
      if (!ok()) return false;
      continue;  // a container closed
    }
    JsonType inner = peek();
    if (inner == JsonType::invalid) return false;
    if (inner == JsonType::object || inner == JsonType::array) {
      if (!open(inner == JsonType::object)) return false;
    } else if (!scalar(inner)) {
      return false;
    }
  }
  out = text_.substr(start, pos_ - start);
  return true;
}

bool JsonReader::finish() {
  if (!ok()) return false;
  if (depth_ != 0) return fail(JsonError::misuse);
  skip_whitespace();
  if (!started_) return fail(JsonError::unexpected_end);
  if (pos_ != text_.size()) return fail(JsonError::trailing_characters);
  return true;
}

void append_minified(std::string& out, std::string_view json) {
  std::size_t i = 0;
  const std::size_t n = json.size();
  while (i < n) {
    // Outside strings: copy a run of significant bytes, drop whitespace.
    std::size_t from = i;
    while (i < n && json[i] != '"' && !is_space(json[i])) ++i;
    out.append(json.data() + from, i - from);
    if (i >= n) break;
    if (is_space(json[i])) {
      ++i;
      continue;
    }
    // A string, copied whole: up to the first quote not escaped by a backslash.
    from = i++;
    while (i < n && json[i] != '"') i += json[i] == '\\' ? 2 : 1;
    i = std::min(i + 1, n);
    out.append(json.data() + from, i - from);
  }
}

}  // namespace switchboard::protocol
