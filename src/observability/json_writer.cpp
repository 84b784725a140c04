// The JSON writer behind trace records: nlohmann's output format without building a json tree.
#include "switchboard/observability/json_writer.hpp"

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

static_assert(std::endian::native == std::endian::little, "the word scan reads bytes in order");

// The high bit of each byte of `word` that needs escaping (controls, '"', '\\') or a UTF-8
// check (>= 0x80), exact up to and including the first such byte (a borrow may flag bytes
// after it): nonzero iff there is one, and its lowest set bit marks the first. Bytes below 0x80
// that are >= 0x20 and neither '"' nor '\\' subtract without borrowing and leave the high bit
// clear in all three differences.
template <class Word>
constexpr Word json_special_bytes(Word word) {
  constexpr Word kOnes = static_cast<Word>(0x0101010101010101ULL);
  Word control = word - kOnes * 0x20;
  Word quote = (word ^ (kOnes * '"')) - kOnes;
  Word backslash = (word ^ (kOnes * '\\')) - kOnes;
  return (control | quote | backslash | word) & (kOnes * 0x80);
}

#ifdef __SSE2__
// Bit k set when byte k of `v` is special (exact for every byte). A signed compare with 0x20
// catches both the controls and the bytes >= 0x80.
inline unsigned special_mask(__m128i v) {
  __m128i low = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
  __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
  __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
  return static_cast<unsigned>(
      _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(low, quote), backslash)));
}

inline unsigned special_mask16(const char* in) {
  return special_mask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in)));
}
#endif

// Bytes of `s` before the first special one: eight at a time, then one at a time.
std::size_t plain_prefix(std::string_view s) {
  const char* in = s.data();
  const std::size_t n = s.size();
  std::size_t i = 0;
  for (; n - i >= 8; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, in + i, 8);
    if (std::uint64_t hit = json_special_bytes(word)) {
      return i + static_cast<std::size_t>(std::countr_zero(hit) >> 3);
    }
  }
  while (i < n && !kSpecial[static_cast<unsigned char>(in[i])]) ++i;
  return i;
}

// Writes the special byte at s[i] (and, for UTF-8, the rest of its character) escaped at `p`
// (room for 6 bytes); returns the end and advances `i` past what it took.
char* escape_special(std::string_view s, std::size_t& i, char* p) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    p[0] = '\\';
    switch (c) {
      case '"':
        p[1] = '"';
        return p + 2;
      case '\\':
        p[1] = '\\';
        return p + 2;
      case '\b':
        p[1] = 'b';
        return p + 2;
      case '\t':
        p[1] = 't';
        return p + 2;
      case '\n':
        p[1] = 'n';
        return p + 2;
      case '\f':
        p[1] = 'f';
        return p + 2;
      case '\r':
        p[1] = 'r';
        return p + 2;
      default:
        std::memcpy(p + 1, "u00", 3);
        p[4] = kHex[c >> 4];
        p[5] = kHex[c & 15];
        return p + 6;
    }
  }
  std::size_t bad_at = 0;
  std::size_t len = utf8_sequence(s, i, bad_at);
  if (len > 0) {
    std::memcpy(p, s.data() + i, len);
    i += len;
    return p + len;
  }
  std::memcpy(p, kReplacement.data(), kReplacement.size());
  i += bad_at == 0 ? 1 : bad_at;
  return p + kReplacement.size();
}

// write_json_escaped from s[i] on, for text with special bytes (from s[i] or later): plain runs
// a word at a time, escapes one by one.
[[gnu::noinline]] char* write_escaped_rest(char* p, std::string_view s, std::size_t i) {
  const char* in = s.data();
  const std::size_t n = s.size();
  for (;;) {
    // The word is stored before it is checked, which the room allows: 6 bytes per byte left,
    // and at least 8 are left.
    while (n - i >= 8) {
      std::uint64_t word;
      std::memcpy(&word, in + i, 8);
      std::memcpy(p, &word, 8);
      if (std::uint64_t hit = json_special_bytes(word)) {
        auto k = static_cast<std::size_t>(std::countr_zero(hit) >> 3);
        i += k;
        p += k;
        break;
      }
      i += 8;
      p += 8;
    }
    if (n - i < 8) {
      while (i < n && !kSpecial[static_cast<unsigned char>(in[i])]) *p++ = in[i++];
      if (i == n) return p;
    }
    p = escape_special(s, i, p);
  }
}

}  // namespace

char* write_json_escaped(char* p, std::string_view s) {
  // Most values are plain: copied in blocks, each stored before it is checked (which the room
  // allows), the last block overlapping the one before so that no byte is copied alone; the
  // first special byte hands over to write_escaped_rest. Overlapping is safe: the bytes written
  // again are plain and copied as they are.
  const char* in = s.data();
  const std::size_t n = s.size();
#ifdef __SSE2__
  if (n >= 16) {
    std::size_t i = 0;
    for (; n - i >= 16; i += 16, p += 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i)));
      if (unsigned hit = special_mask16(in + i)) {
        auto k = static_cast<std::size_t>(std::countr_zero(hit));
        return write_escaped_rest(p + k, s, i + k);
      }
    }
    if (i == n) return p;
    std::size_t left = n - i;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p - (16 - left)),
                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + n - 16)));
    unsigned hit = special_mask16(in + n - 16) >> (16 - left);
    if (hit == 0) return p + left;
    auto k = static_cast<std::size_t>(std::countr_zero(hit));
    return write_escaped_rest(p + k, s, i + k);
  }
  if (n >= 8) {  // the first and the last 8 bytes, checked together
    __m128i first = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(in));
    __m128i last = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(in + n - 8));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), first);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p + n - 8), last);
    if (special_mask(_mm_unpacklo_epi64(first, last)) == 0) return p + n;
    return write_escaped_rest(p, s, 0);
  }
#else
  if (n >= 16) return write_escaped_rest(p, s, 0);
  if (n >= 8) {
    std::uint64_t first, last;
    std::memcpy(&first, in, 8);
    std::memcpy(&last, in + n - 8, 8);
    std::memcpy(p, &first, 8);
    std::memcpy(p + n - 8, &last, 8);
    if ((json_special_bytes(first) | json_special_bytes(last)) == 0) return p + n;
    return write_escaped_rest(p, s, 0);
  }
#endif
  if (n >= 4) {
    std::uint32_t first, last;
    std::memcpy(&first, in, 4);
    std::memcpy(&last, in + n - 4, 4);
    std::memcpy(p, &first, 4);
    std::memcpy(p + n - 4, &last, 4);
#ifdef __SSE2__
    __m128i both = _mm_unpacklo_epi32(_mm_cvtsi32_si128(static_cast<int>(first)),
                                      _mm_cvtsi32_si128(static_cast<int>(last)));
    if ((special_mask(both) & 0xFF) == 0) return p + n;  // the zeros above are not text
#else
    if ((json_special_bytes(first) | json_special_bytes(last)) == 0) return p + n;
#endif
    return write_escaped_rest(p, s, 0);
  }
  for (std::size_t i = 0; i < n; ++i) {
    char c = in[i];
    if (kSpecial[static_cast<unsigned char>(c)]) return write_escaped_rest(p, s, i);
    *p++ = c;
  }
  return p;
}

void append_json_escaped(std::string& out, std::string_view s) {
  // Plain runs go out in one append each; an escape is assembled on the stack.
  while (!s.empty()) {
    std::size_t run = plain_prefix(s);
    out.append(s.data(), run);
    if (run == s.size()) break;
    char buf[8];
    std::size_t i = run;
    char* end = escape_special(s, i, buf);
    out.append(buf, static_cast<std::size_t>(end - buf));
    s.remove_prefix(i);
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
  char buf[kJsonIntegerRoom];
  out_.append(buf, write_json_integer(buf, value));
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::number(double value) {
  if (!std::isfinite(value)) return null();
  separate();
  char buf[kJsonNumberRoom];
  out_.append(buf, write_json_number(buf, value));
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
