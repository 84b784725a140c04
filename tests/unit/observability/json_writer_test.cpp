// The trace JSON writer must write what nlohmann's dump(replace) wrote for the same values.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

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

namespace {

using switchboard::observability::append_json_escaped;
using switchboard::observability::kJsonEscapeGrowth;
using switchboard::observability::kJsonIntegerRoom;
using switchboard::observability::kJsonNumberRoom;
using switchboard::observability::write_json_escaped;
using switchboard::observability::write_json_integer;
using switchboard::observability::write_json_number;

// write_json_escaped into exactly the room it asks for, between guard bytes.
std::string written_escaped(std::string_view s) {
  const std::size_t room = kJsonEscapeGrowth * s.size();
  std::string buf(room + 64, '\x5a');
  char* end = write_json_escaped(buf.data() + 32, s);
  for (std::size_t k = 0; k < 32; ++k) {
    EXPECT_EQ(buf[k], '\x5a') << "wrote before its start";
    EXPECT_EQ(buf[32 + room + k], '\x5a') << "wrote past its room, length " << s.size();
  }
  return std::string(buf.data() + 32, end);
}

}  // namespace

TEST(JsonWriter, CursorEscapingMatchesNlohmannAtEveryLengthAndStaysInItsRoom) {
  // Lengths around the 4-, 8- and 16-byte blocks, special bytes anywhere or nowhere.
  std::mt19937 rng(2024);
  const unsigned char pool[] = {'"',  '\\', 0x00, 0x01, 0x1f, 0x7f, 0x80, 0xbf, 0xc2,
                                0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xed, 0xf0, 0x9f, 0xff};
  for (int round = 0; round < 60000; ++round) {
    std::string s(rng() % 70, 'x');
    int density = static_cast<int>(rng() % 4);  // 0: plain text
    for (auto& c : s) {
      c = static_cast<char>('a' + rng() % 26);
      if (density > 0 && rng() % (density * 12) == 0)
        c = static_cast<char>(pool[rng() % sizeof pool]);
    }
    std::string expected = nlohmann_string(s);
    expected = expected.substr(1, expected.size() - 2);
    ASSERT_EQ(written_escaped(s), expected) << "round " << round;
    std::string appended;
    append_json_escaped(appended, s);
    ASSERT_EQ(appended, expected) << "round " << round;
  }
  // One special byte at each position of each length.
  for (std::size_t n = 1; n <= 40; ++n) {
    for (std::size_t at = 0; at < n; ++at) {
      for (char special : {'"', '\n', '\x80'}) {
        std::string s(n, 'q');
        s[at] = special;
        std::string expected = nlohmann_string(s);
        ASSERT_EQ(written_escaped(s), expected.substr(1, expected.size() - 2)) << n << " " << at;
      }
    }
  }
  // The worst case fills the room exactly: every byte a \u00XX.
  EXPECT_EQ(written_escaped(std::string(37, '\x01')).size(), 6u * 37);
}

TEST(JsonWriter, IntegersAsNlohmannDoes) {
  std::vector<std::int64_t> cases = {0,
                                     9,
                                     10,
                                     99,
                                     100,
                                     999,
                                     1000,
                                     9999,
                                     10000,
                                     99999999,
                                     100000000,
                                     9999999999999999,
                                     10000000000000000,
                                     1700000000123456789,
                                     std::numeric_limits<std::int64_t>::max(),
                                     std::numeric_limits<std::int64_t>::min()};
  for (std::int64_t v = 1; v < 1'000'000'000'000'000'000; v *= 10) {
    for (std::int64_t d : {-1, 0, 1}) cases.push_back(v + d);
  }
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200000; ++i) {
    cases.push_back(static_cast<std::int64_t>(rng()) >> (rng() % 64));
  }
  for (std::int64_t v = 0; v < 20000; ++v) cases.push_back(v);
  for (std::int64_t v : cases) {
    // (the negation of INT64_MIN would overflow: it is in the list as itself)
    for (std::int64_t signed_v : {v, v == std::numeric_limits<std::int64_t>::min() ? v : -v}) {
      char buf[kJsonIntegerRoom + 8];
      std::string ours(buf, write_json_integer(buf, signed_v));
      ASSERT_EQ(ours, json(signed_v).dump()) << signed_v;
    }
  }
}

TEST(JsonWriter, NumbersOfEveryShapeAsNlohmannDoes) {
  // The digits of most doubles come from a shortcut; each must read exactly as Grisu2 wrote it:
  // durations and prices as the gateway computes them, decimals of every length with their
  // neighbouring doubles, powers of two (a closer double below), and random bit patterns.
  std::mt19937_64 rng(11);
  std::vector<double> cases;
  for (int i = 0; i < 40000; ++i) {
    cases.push_back(static_cast<double>(rng() % 100'000'000'000) / 1e6);  // ns -> ms
    cases.push_back(static_cast<double>(rng() % 5000) * 0.15 / 1e6 +
                    static_cast<double>(rng() % 5000) * 0.6 / 1e6);
    int digits = 1 + static_cast<int>(rng() % 17);
    std::string text = std::to_string(rng() % 100'000'000'000'000'000).substr(0, digits);
    text += "e" + std::to_string(static_cast<int>(rng() % 44) - 28);
    double v = std::strtod(text.c_str(), nullptr);
    cases.insert(cases.end(), {v, -v, std::nextafter(v, 0.0), std::nextafter(v, 1e300)});
    cases.push_back(std::ldexp(1.0, static_cast<int>(rng() % 120) - 60));
    cases.push_back(std::bit_cast<double>(rng()));
    std::uint64_t bits = (rng() & ((std::uint64_t{1} << 52) - 1)) |
                         (static_cast<std::uint64_t>(1023 - 45 + rng() % 100) << 52);
    cases.push_back(std::bit_cast<double>(bits));
  }
  for (double v :
       {0.0, -0.0, 1e15, 1e16, 999999999999999.9, 1e-13, 1e-14, 5e-324, 2.2250738585072014e-308}) {
    cases.push_back(v);
  }
  for (double v : cases) {
    char buf[kJsonNumberRoom];
    std::string ours(buf, write_json_number(buf, v));
    ASSERT_EQ(ours, nlohmann_number(v)) << std::hexfloat << v;
  }
}
