// The trace JSON writer must write what nlohmann's dump(replace) wrote for the same values.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <random>

#include "switchboard/observability/json_writer.hpp"

using switchboard::observability::JsonWriter;
using json = nlohmann::ordered_json;

namespace {

std::string nlohmann_string(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ours_string(std::string_view s) {
  std::string out;
  JsonWriter(out).string(s);
  return out;
}

std::string nlohmann_number(double v) {
  return json(v).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ours_number(double v) {
  std::string out;
  JsonWriter(out).number(v);
  return out;
}

}  // namespace

TEST(JsonWriter, EscapesStringsAsNlohmannDoes) {
  const std::vector<std::string> cases = {
      "",
      "plain ascii",
      "quote \" backslash \\ slash /",
      std::string("controls \x01\x02\b\t\n\f\r\x1f and \x7f", 22),
      std::string("nul \0 inside", 12),
      "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",  // 2-, 3- and 4-byte characters
      "\x80",                                       // a lone continuation byte
      "a\xC3",                                      // cut at the end
      "a\xE2\x82",                                  // cut at the end, two bytes in
      "\xC3(",                                      // a lead byte then ASCII
      "\xE2\x82(",                                  // two bytes then ASCII
      "\xC0\x80",                                   // overlong NUL
      "\xE0\x80\x80",                               // overlong
      "\xED\xA0\x80",                               // a surrogate
      "\xF4\x90\x80\x80",                           // above U+10FFFF
      "\xF5\x80",
      "\xFF\xFE",
      "\xC3\xC3\xA9",  // a lead byte then a full character
      "\xF0\x9F\x98",  // a 4-byte character cut short
      "\xF0\x9F\x98\x80\xF0\x9F",
  };
  for (const auto& s : cases) {
    SCOPED_TRACE(nlohmann_string(s));
    EXPECT_EQ(ours_string(s), nlohmann_string(s));
  }
}

TEST(JsonWriter, RandomBytesEscapeAsNlohmannDoes) {
  std::mt19937 rng(12345);
  // Bytes biased towards the interesting ranges: ASCII, controls, continuation and lead bytes.
  const unsigned char pool[] = {'a',  'Z',  ' ',  '"',  '\\', 0x00, 0x01, 0x1f, 0x7f, 0x80, 0x8f,
                                0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec,
                                0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff};
  for (int round = 0; round < 20000; ++round) {
    std::string s(rng() % 12, '\0');
    for (auto& c : s) {
      c = static_cast<char>(rng() % 3 == 0 ? rng() % 256 : pool[rng() % sizeof pool]);
    }
    ASSERT_EQ(ours_string(s), nlohmann_string(s)) << "round " << round;
  }
}

TEST(JsonWriter, NumbersAsNlohmannDoes) {
  std::vector<double> cases = {0.0,
                               -0.0,
                               1.0,
                               -3.0,
                               0.125,
                               12.345,
                               1e-7,
                               1.5e-5,
                               123456789012345678.0,
                               1e21,
                               1e300,
                               5e-324,
                               std::numeric_limits<double>::max(),
                               std::round(0.1234567 * 1000) / 1000,
                               std::numeric_limits<double>::quiet_NaN(),
                               std::numeric_limits<double>::infinity(),
                               -std::numeric_limits<double>::infinity()};
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> ms(0, 5000);
  for (int i = 0; i < 2000; ++i) cases.push_back(std::round(ms(rng) * 1000) / 1000);
  for (int i = 0; i < 2000; ++i) cases.push_back(ms(rng) / 1e6);
  for (double v : cases) {
    EXPECT_EQ(ours_number(v), nlohmann_number(v)) << v;
  }
}

TEST(JsonWriter, BuildsNestedStructuresLikeNlohmann) {
  std::string out;
  JsonWriter w(out);
  w.begin_object()
      .key("a")
      .integer(-12)
      .key("b")
      .begin_array()
      .begin_object()
      .key("x")
      .null()
      .key("y")
      .boolean(true)
      .end_object()
      .begin_object()
      .end_object()
      .string("s")
      .end_array()
      .key("c")
      .begin_array()
      .end_array()
      .key("d")
      .string_or_null("")
      .key("e\"")
      .string_or_null("v")
      .key("f")
      .number(2.5)
      .key("g")
      .boolean(false)
      .end_object();
  json expected = {{"a", -12},
                   {"b", json::array({json{{"x", nullptr}, {"y", true}}, json::object(), "s"})},
                   {"c", json::array()},
                   {"d", nullptr},
                   {"e\"", "v"},
                   {"f", 2.5},
                   {"g", false}};
  EXPECT_EQ(out, expected.dump(-1, ' ', false, json::error_handler_t::replace));
}
