// format_usd_fixed8 against std::to_chars(fixed, 8), which it must equal for every input.
#include "switchboard/gateway/usd_format.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <random>
#include <string>

namespace switchboard::gateway {
namespace {

std::string reference(double v) {
  char buf[400];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 8);
  return std::string(buf, end);
}

TEST(UsdFormat, OrdinaryAmounts) {
  EXPECT_EQ(format_usd_fixed8(0), "0.00000000");
  EXPECT_EQ(format_usd_fixed8(0.0000123), "0.00001230");
  EXPECT_EQ(format_usd_fixed8(1.5), "1.50000000");
  EXPECT_EQ(format_usd_fixed8(12.000000015), reference(12.000000015));
}

TEST(UsdFormat, EqualsToCharsOnTiesSpecialsAndRandomValues) {
  std::vector<double> values = {-0.0,
                                -1.5,
                                1e7,
                                9999999.999999995,
                                1e300,
                                std::numeric_limits<double>::infinity(),
                                std::numeric_limits<double>::quiet_NaN(),
                                std::numeric_limits<double>::denorm_min(),
                                5e-9,
                                4.9999999e-9,
                                5.0000001e-9,
                                0.125,
                                1.0 / 3};
  for (int k = 1; k < 4000; k += 2) values.push_back(k / 512.0);  // exact half-way ties
  for (int k = 0; k < 20000; ++k) {  // both sides of the half-way points and the cents
    double half = (k + 0.5) / 1e8;
    values.push_back(half);
    values.push_back(std::nextafter(half, 0.0));
    values.push_back(std::nextafter(half, 1.0));
    values.push_back(k / 100.0);
  }
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> small(0, 0.01), mid(0, 1000), large(0, 2e7);
  std::uniform_int_distribution<int> exponent(-40, 23);
  for (int i = 0; i < 100000; ++i) {
    values.push_back(small(rng));
    values.push_back(mid(rng));
    values.push_back(large(rng));
    values.push_back(std::ldexp(mid(rng) / 1000, exponent(rng)));
  }
  for (double v : values) ASSERT_EQ(format_usd_fixed8(v), reference(v)) << v;
}

}  // namespace
}  // namespace switchboard::gateway
