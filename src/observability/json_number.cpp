// Numbers for the JSON writers: integers, and doubles exactly as nlohmann's dump writes them
// (Grisu2), most without running Grisu2.
#include <nlohmann/json.hpp>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "switchboard/observability/json_writer.hpp"

namespace switchboard::observability {

namespace {

static_assert(std::endian::native == std::endian::little, "digits are stored as words");

constexpr auto kPow5 = [] {
  std::array<std::uint64_t, 28> t{};  // 5^27 < 2^63
  t[0] = 1;
  for (std::size_t i = 1; i < t.size(); ++i) t[i] = t[i - 1] * 5;
  return t;
}();

constexpr auto kPow10 = [] {
  std::array<std::uint64_t, 20> t{};
  t[0] = 1;
  for (std::size_t i = 1; i < t.size(); ++i) t[i] = t[i - 1] * 10;
  return t;
}();

// The 8 digits of v < 10^8 (leading zeros included) as 8 ASCII bytes, first digit lowest: the
// halves, quarters and digits are split in parallel lanes of one word (the multiply-shift pairs
// divide exactly by 100 below 10^4 and by 10 below 100).
inline std::uint64_t eight_digits(std::uint64_t v) {
  std::uint64_t halves = v / 10000 | (v % 10000) << 32;
  std::uint64_t hundreds = (halves * 10486 >> 20) & 0x0000007F0000007FULL;
  std::uint64_t quarters = hundreds | (halves - hundreds * 100) << 16;
  std::uint64_t tens = (quarters * 103 >> 10) & 0x000F000F000F000FULL;
  std::uint64_t digits = tens | (quarters - tens * 10) << 8;
  return digits + 0x3030303030303030ULL;
}

// Digits of 0 < v < 10^8.
inline int digit_count8(std::uint64_t v) {
  if (v < 10000) return v < 100 ? (v < 10 ? 1 : 2) : (v < 1000 ? 3 : 4);
  return v < 1000000 ? (v < 100000 ? 5 : 6) : (v < 10000000 ? 7 : 8);
}

constexpr char kDigitPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

// v < 10^8 without leading zeros at p; may write up to 8 bytes. Returns the end.
inline char* put_short(char* p, std::uint64_t v) {
  if (v < 100) {  // statuses, counts: a digit or a pair
    if (v < 10) {
      *p = static_cast<char>('0' + v);
      return p + 1;
    }
    std::memcpy(p, kDigitPairs + 2 * v, 2);
    return p + 2;
  }
  if (v < 10000) {
    std::uint64_t high = v / 100;
    if (v < 1000) {
      *p = static_cast<char>('0' + high);
      std::memcpy(p + 1, kDigitPairs + 2 * (v - high * 100), 2);
      return p + 3;
    }
    std::memcpy(p, kDigitPairs + 2 * high, 2);
    std::memcpy(p + 2, kDigitPairs + 2 * (v - high * 100), 2);
    return p + 4;
  }
  int len = digit_count8(v);
  std::uint64_t text = eight_digits(v) >> (8 * (8 - len));
  std::memcpy(p, &text, 8);
  return p + len;
}

inline void put_eight(char* p, std::uint64_t v) {
  std::uint64_t text = eight_digits(v);
  std::memcpy(p, &text, 8);
}

// v in decimal at p, which has room for 20 bytes (more than the digits may be written).
char* write_unsigned(char* p, std::uint64_t v) {
  constexpr std::uint64_t k1e8 = 100000000;
  if (v < k1e8) return put_short(p, v);
  if (v < k1e8 * k1e8) {
    p = put_short(p, v / k1e8);
    put_eight(p, v % k1e8);
    return p + 8;
  }
  std::uint64_t rest = v % (k1e8 * k1e8);
  p = put_short(p, v / (k1e8 * k1e8));  // at most 1844
  put_eight(p, rest / k1e8);
  put_eight(p + 8, rest % k1e8);
  return p + 16;
}

// For v > 0 finite: the digits (no trailing zeros) and decimal exponent Grisu2 writes for v,
// when v is the double of a decimal D of at most 15 significant digits that lies well inside
// v's rounding interval; false when it cannot tell (then Grisu2 itself runs).
//
// Why these are Grisu2's digits: the rounding interval [m-, m+] (halfway to the neighbouring
// doubles) is at most 1 ulp wide, under 2^-52 of v, while two decimals of at most 15
// significant digits are more than 10^-15 of v apart: D is the only one in the interval and no
// shorter decimal is (a shorter one is also a 15-digit one). Grisu2 narrows the interval by its
// rounding errors (the cached power of ten, the products, the one unit it moves each bound in),
// under 3 units of a 64-bit significand of at least 2^62, so under 2^-60 of v, on each side; it
// writes the shortest decimal inside what is left, moved towards v within it. With D more than
// 1/32 ulp (at least 2^-58 of v) inside the interval, that is D. nlohmann's to_chars then
// formats those digits with format_buffer, as below.
bool short_decimal(double v, std::uint64_t& digits, int& exponent) {
  auto bits = std::bit_cast<std::uint64_t>(v);
  auto biased = static_cast<int>(bits >> 52);
  if (biased == 0) return false;  // subnormal
  constexpr std::uint64_t kHidden = std::uint64_t{1} << 52;
  const std::uint64_t f = (bits & (kHidden - 1)) | kHidden;
  const int e = biased - 1075;  // v = f * 2^e, one ulp is 2^e
  // s such that v * 10^s has 15 digits: floor(log10(v)) is floor(log10(2^(e+52))) or one more.
  int s = 14 - ((e + 52) * 78913 >> 18);
  for (int attempt = 0; attempt < 2; ++attempt, --s) {
    if (s < 0 || s >= static_cast<int>(kPow5.size())) return false;
    // v * 10^s = f * 5^s * 2^(e+s) = x / 2^q, exactly.
    const unsigned __int128 x = static_cast<unsigned __int128>(f) * kPow5[s];
    const int q = -(e + s);
    std::uint64_t d = 0;
    unsigned __int128 err = 0;  // |D * 2^q - x|
    bool below = false;         // D < v * 10^s
    if (q <= 0) {
      if (q < -12) return false;
      d = static_cast<std::uint64_t>(x << -q);  // < 10^16: v * 10^s is an integer
    } else {
      if (q > 120) return false;
      auto rounded = (x + (static_cast<unsigned __int128>(1) << (q - 1))) >> q;
      if (rounded > kPow10[16]) continue;
      d = static_cast<std::uint64_t>(rounded);
      auto back = static_cast<unsigned __int128>(d) << q;
      below = back < x;
      err = below ? x - back : back - x;
    }
    if (d > kPow10[15]) continue;  // 16 digits: one power of ten less
    if (d == 0) return false;
    // In ulps, D - v = ±err / 5^s. The interval reaches 1/2 ulp above v and 1/2 below, or
    // 1/4 below when v is a power of two (the double below is closer).
    const std::uint64_t p5 = kPow5[s];
    if (err >= p5) return false;
    const bool power_of_two = f == kHidden && biased > 1;
    const unsigned __int128 limit =
        static_cast<unsigned __int128>(p5) * (below && power_of_two ? 7 : 15);
    if (err * 32 > limit) return false;  // within 15/32 ulp of v (7/32 below a power of two)
    exponent = -s;
    for (int zeros : {8, 4, 2, 1}) {  // at most 15 trailing zeros
      if (d % kPow10[zeros] == 0) {
        d /= kPow10[zeros];
        exponent += zeros;
      }
    }
    digits = d;
    return true;
  }
  return false;
}

// Moves the 16 bytes at `from` to `to` (overlapping is fine: read whole, then written).
inline void move16(char* to, const char* from) {
  char block[16];
  std::memcpy(block, from, 16);
  std::memcpy(to, block, 16);
}

// digits * 10^exponent (digits without trailing zeros, at most 15 of them) as nlohmann's
// format_buffer(..., -4, 15) lays it out: "123.0", "1.25", "0.00125", "1.25e-05", "1e+20".
// The digits are written in place and moved by whole 16-byte blocks: needs room for 33 bytes
// (with a sign before it, kJsonNumberRoom).
char* format_decimal(char* p, std::uint64_t digits, int exponent) {
  const auto k = static_cast<int>(write_unsigned(p, digits) - p);  // digits written
  const int n = k + exponent;  // where the decimal point goes, from the first digit
  if (k <= n && n <= 15) {     // an integer: zeros, then ".0"
    std::memset(p + k, '0', 16);
    p[n] = '.';
    p[n + 1] = '0';
    return p + n + 2;
  }
  if (0 < n && n <= 15) {  // "dig.its"
    move16(p + n + 1, p + n);
    p[n] = '.';
    return p + k + 1;
  }
  if (-4 < n && n <= 0) {  // "0.[000]digits"
    char block[16];
    std::memcpy(block, p, 16);
    std::memcpy(p, "0.000", 5);  // zeros past the -n wanted are covered by the digits
    std::memcpy(p + 2 - n, block, 16);
    return p + 2 - n + k;
  }
  // "d[.igits]e±XX"
  if (k > 1) {
    move16(p + 2, p + 1);
    p[1] = '.';
    p += k + 1;
  } else {
    p += 1;
  }
  int e = n - 1;
  *p++ = 'e';
  *p++ = e < 0 ? '-' : '+';
  auto magnitude = static_cast<unsigned>(e < 0 ? -e : e);
  if (magnitude < 10) *p++ = '0';  // at least two digits
  return write_unsigned(p, magnitude);
}

}  // namespace

char* write_json_integer(char* p, std::int64_t value) {
  if (value < 0) {
    *p++ = '-';
    return write_unsigned(p, 0 - static_cast<std::uint64_t>(value));
  }
  return write_unsigned(p, static_cast<std::uint64_t>(value));
}

char* write_json_number(char* p, double value) {
  if (!std::isfinite(value)) {
    std::memcpy(p, "null", 4);
    return p + 4;
  }
  // nlohmann's own formatter (Grisu2, ".0" on integral values), so records read as before;
  // the digits of most values come from short_decimal, and are the ones Grisu2 finds.
  std::uint64_t digits = 0;
  int exponent = 0;
  if (value != 0 && short_decimal(std::abs(value), digits, exponent)) {
    if (std::signbit(value)) *p++ = '-';
    return format_decimal(p, digits, exponent);
  }
  return nlohmann::detail::to_chars(p, p + kJsonNumberRoom, value);
}

}  // namespace switchboard::observability
