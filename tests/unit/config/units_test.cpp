// Tests for duration and size parsing, directly and through the loader's error messages.
#include <gtest/gtest.h>

#include "config_test_support.hpp"

namespace switchboard::config {
namespace {

using testing::HasError;
using testing::kMinimalTail;
using testing::load;

TEST(ConfigUnits, ParsesDurations) {
  struct Case {
    const char* text;
    long long ms;
  };
  for (const Case& c :
       {Case{"250ms", 250}, Case{"5s", 5000}, Case{"2m", 120000}, Case{"1h", 3600000},
        Case{"1.5s", 1500}, Case{"0ms", 0}, Case{"0", 0}, Case{"1m30s", 90000}, Case{"0.5ms", 1}}) {
    Duration d{-1};
    EXPECT_TRUE(parse_duration(c.text, d)) << c.text;
    EXPECT_EQ(d.count(), c.ms) << c.text;
  }
}

TEST(ConfigUnits, RejectsMalformedDurations) {
  for (const char* text :
       {"", "5", "250", "5x", "s", "-1s", "1.s", ".5s", "ms5", "5 s", "5S", "1d", "1e3ms", "5s "}) {
    Duration d{42};
    EXPECT_FALSE(parse_duration(text, d)) << '"' << text << '"';
    EXPECT_EQ(d.count(), 42) << "unchanged on failure: " << text;
  }
}

TEST(ConfigUnits, ParsesSizes) {
  struct Case {
    const char* text;
    std::uint64_t bytes;
  };
  for (const Case& c : {Case{"2048", 2048}, Case{"0", 0}, Case{"512KiB", 512 * 1024},
                        Case{"10MiB", 10ull << 20}, Case{"1GiB", 1ull << 30}, Case{"100KB", 100000},
                        Case{"100MB", 100000000}, Case{"1GB", 1000000000}, Case{"64B", 64},
                        Case{"1.5KiB", 1536}, Case{"10 MiB", 10ull << 20}}) {
    std::uint64_t out = 1;
    EXPECT_TRUE(parse_size(c.text, out)) << c.text;
    EXPECT_EQ(out, c.bytes) << c.text;
  }
}

TEST(ConfigUnits, RejectsMalformedSizes) {
  for (const char* text : {"", "MiB", "-1", "10XB", "10mib", "1.5", "0.3B", "1e3", "10MiBs"}) {
    std::uint64_t out = 7;
    EXPECT_FALSE(parse_size(text, out)) << '"' << text << '"';
    EXPECT_EQ(out, 7u);
  }
}

TEST(ConfigUnits, DurationWithoutUnitSaysAUnitIsNeeded) {
  LoadResult r = load(std::string(R"(server:
  header_timeout: 10
  idle_timeout: soon
)") + kMinimalTail);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasError(r, "server.header_timeout", 2, 19,
                       "\"10\" is not a valid duration: a unit is needed"));
  EXPECT_TRUE(HasError(r, "server.idle_timeout", 3, 17,
                       "\"soon\" is not a valid duration; expected e.g. 250ms"));
}

TEST(ConfigUnits, DurationsAndSizesReachTheConfig) {
  LoadResult r = load(std::string(R"(server:
  max_request_bytes: 512KiB
  header_timeout: 250ms
  idle_timeout: 1.5s
  drain_timeout: 2m
)") + kMinimalTail);
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_EQ(r.config->server.max_request_bytes, 512u * 1024);
  EXPECT_EQ(r.config->server.header_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(r.config->server.idle_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(r.config->server.drain_timeout, std::chrono::minutes(2));
}

TEST(ConfigUnits, BadSizeIsReportedWithPosition) {
  LoadResult r = load(std::string(R"(server:
  max_request_bytes: 10 megabytes
)") + kMinimalTail);
  EXPECT_TRUE(
      HasError(r, "server.max_request_bytes", 2, 22, "is not a valid size; expected e.g. 512KiB"));
}

}  // namespace
}  // namespace switchboard::config
