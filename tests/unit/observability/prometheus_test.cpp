// Unit tests for the Prometheus text exposition writer (observability/prometheus.hpp).
#include "switchboard/observability/prometheus.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

namespace switchboard::observability {
namespace {

TEST(PrometheusValue, FormatsIntegersWithoutExponentOrFraction) {
  EXPECT_EQ(format_prometheus_value(0), "0");
  EXPECT_EQ(format_prometheus_value(-0.0), "0");
  EXPECT_EQ(format_prometheus_value(1), "1");
  EXPECT_EQ(format_prometheus_value(-42), "-42");
  EXPECT_EQ(format_prometheus_value(1e6), "1000000");
  EXPECT_EQ(format_prometheus_value(1e7), "10000000");
  EXPECT_EQ(format_prometheus_value(123456789012345.0), "123456789012345");
  EXPECT_EQ(format_prometheus_value(1e18), "1000000000000000000");
  EXPECT_EQ(format_prometheus_value(9007199254740993.0), "9007199254740992");  // nearest double
}

TEST(PrometheusValue, FormatsSpecialValues) {
  EXPECT_EQ(format_prometheus_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_prometheus_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_prometheus_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(PrometheusValue, FormatsFractionsAsShortestRoundTrip) {
  EXPECT_EQ(format_prometheus_value(0.1), "0.1");
  EXPECT_EQ(format_prometheus_value(0.005), "0.005");
  EXPECT_EQ(format_prometheus_value(2.5), "2.5");
  EXPECT_EQ(format_prometheus_value(-0.25), "-0.25");
  EXPECT_EQ(format_prometheus_value(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(format_prometheus_value(0.0005), "0.0005");
  EXPECT_EQ(format_prometheus_value(1e-5), "1e-05");
  EXPECT_EQ(format_prometheus_value(123.456), "123.456");
  EXPECT_EQ(format_prometheus_value(1e19), "1e+19");  // beyond int64: exponent is shortest
}

TEST(PrometheusValue, RandomDoublesRoundTrip) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> mantissa(-1, 1);
  std::uniform_int_distribution<int> exponent(-300, 300);
  for (int i = 0; i < 10000; ++i) {
    double v = std::ldexp(mantissa(rng), exponent(rng));
    std::string text = format_prometheus_value(v);
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), v) << text;
  }
}

TEST(PrometheusNames, ValidatesMetricAndLabelNames) {
  EXPECT_TRUE(is_valid_metric_name("switchboard_requests_total"));
  EXPECT_TRUE(is_valid_metric_name("ns:metric_1"));
  EXPECT_TRUE(is_valid_metric_name("_x"));
  EXPECT_FALSE(is_valid_metric_name(""));
  EXPECT_FALSE(is_valid_metric_name("1abc"));
  EXPECT_FALSE(is_valid_metric_name("a-b"));
  EXPECT_FALSE(is_valid_metric_name("a b"));
  EXPECT_TRUE(is_valid_label_name("tenant"));
  EXPECT_TRUE(is_valid_label_name("_x1"));
  EXPECT_FALSE(is_valid_label_name("a:b"));
  EXPECT_FALSE(is_valid_label_name("__name__"));
  EXPECT_FALSE(is_valid_label_name("9"));
  EXPECT_FALSE(is_valid_label_name(""));
}

TEST(PrometheusUtf8, AcceptsWellFormedAndRejectsIllFormed) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF"));
  EXPECT_FALSE(is_valid_utf8("\xFF"));
  EXPECT_FALSE(is_valid_utf8("caf\xE9"));           // Latin-1
  EXPECT_FALSE(is_valid_utf8("\xC3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
}

TEST(ExpositionWriter, WritesHelpTypeAndPlainSample) {
  ExpositionWriter writer;
  writer.family("up_total", "Times up.", "counter");
  writer.sample("up_total", {}, 3);
  EXPECT_EQ(writer.take(), "# HELP up_total Times up.\n# TYPE up_total counter\nup_total 3\n");
  EXPECT_EQ(writer.text(), "");  // take() leaves the writer empty
}

TEST(ExpositionWriter, WritesLabelsInOrder) {
  ExpositionWriter writer;
  writer.sample("m", {{"b", "2"}, {"a", "1"}}, 0.5);
  EXPECT_EQ(writer.take(), "m{b=\"2\",a=\"1\"} 0.5\n");
}

TEST(ExpositionWriter, EscapesHelpBackslashAndNewlineOnly) {
  ExpositionWriter writer;
  writer.family("m", "a\\b\nc \"quoted\"", "gauge");
  EXPECT_EQ(writer.take(), "# HELP m a\\\\b\\nc \"quoted\"\n# TYPE m gauge\n");
}

TEST(ExpositionWriter, EscapesLabelValueBackslashQuoteAndNewline) {
  ExpositionWriter writer;
  std::vector<Label> labels = {{"v", "a\\b\"c\nd"}};
  writer.sample("m", labels, 1);
  EXPECT_EQ(writer.take(), "m{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(ExpositionWriter, KeepsValidUtf8AndReplacesInvalidBytes) {
  ExpositionWriter writer;
  writer.sample("m",
                {{"ok", "caf\xC3\xA9 \xF0\x9F\x98\x80"},
                 {"bad",
                  "a\xFF"
                  "b\xC3"}},
                1);
  EXPECT_EQ(writer.take(),
            "m{ok=\"caf\xC3\xA9 \xF0\x9F\x98\x80\",bad=\"a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\"} 1\n");
}

TEST(ExpositionWriter, RejectsOverlongAndSurrogateUtf8) {
  ExpositionWriter writer;
  writer.sample("m", {{"v", "\xC0\xAF|\xED\xA0\x80"}}, 1);  // overlong '/', then U+D800
  EXPECT_EQ(writer.take(),
            "m{v=\"\xEF\xBF\xBD\xEF\xBF\xBD|\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"} 1\n");
}

TEST(ExpositionWriter, WritesSpecialValues) {
  ExpositionWriter writer;
  writer.sample("m", {{"le", "+Inf"}}, std::numeric_limits<double>::infinity());
  writer.sample("n", {}, std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(writer.take(), "m{le=\"+Inf\"} +Inf\nn NaN\n");
}

}  // namespace
}  // namespace switchboard::observability
