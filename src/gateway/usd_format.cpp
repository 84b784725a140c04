// format_usd_fixed8: integer arithmetic for ordinary amounts, std::to_chars for the rest.
#include "switchboard/gateway/usd_format.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace switchboard::gateway {

std::string format_usd_fixed8(double usd) {
  char buf[48];
  // usd * 1e8 rounded to an integer is the answer, but the product is itself rounded (by at most
  // half an ulp, which is below scaled * 2^-53): when it lies that close to a half-integer, or
  // exactly on one (to_chars breaks exact ties to even), the rounding is left to to_chars.
  if (usd >= 0 && usd < 1e7 && !std::signbit(usd)) {
    const double scaled = usd * 1e8;  // < 2^53: integers are exact
    const double whole = std::floor(scaled);
    const double frac = scaled - whole;  // exact
    if (std::fabs(frac - 0.5) > scaled * 0x1p-52) {
      auto n = static_cast<std::uint64_t>(whole) + (frac > 0.5 ? 1 : 0);
      auto [end, ec] = std::to_chars(buf, buf + 24, n / 100000000);
      *end++ = '.';
      auto f = n % 100000000;
      for (int i = 7; i >= 0; --i, f /= 10) end[i] = static_cast<char>('0' + f % 10);
      return std::string(buf, end + 8);
    }
  }
  char wide[400];  // room for DBL_MAX's 309 digits and the decimals
  auto [end, ec] = std::to_chars(wide, wide + sizeof wide, usd, std::chars_format::fixed, 8);
  return std::string(wide, end);
}

}  // namespace switchboard::gateway
