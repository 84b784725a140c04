// /admin/spend's query parameters: every accepted form of `since`, and clear refusals.
#include "switchboard/accounting/spend_query.hpp"

#include <gtest/gtest.h>

using namespace switchboard::accounting;
using namespace std::chrono_literals;

namespace {
const auto kNow = WallClock::from_time_t(1795514400);  // 2026-11-24T10:00:00Z
}

TEST(SpendQuery, SinceAcceptsDatesTimesLookBacksAndCalendarStarts) {
  EXPECT_EQ(format_utc(*parse_since("2026-11-01", kNow)), "2026-11-01T00:00:00Z");
  EXPECT_EQ(format_utc(*parse_since("2026-11-01T08:30:00Z", kNow)), "2026-11-01T08:30:00Z");
  EXPECT_EQ(format_utc(*parse_since("2026-11-01T08:30:00.250Z", kNow)), "2026-11-01T08:30:00Z");
  EXPECT_EQ(format_utc(*parse_since("2026-11-01T10:30+02:00", kNow)), "2026-11-01T08:30:00Z");
  EXPECT_EQ(format_utc(*parse_since("1795514400", kNow)), "2026-11-24T10:00:00Z");
  EXPECT_EQ(*parse_since("24h", kNow), kNow - 24h);
  EXPECT_EQ(*parse_since("90m", kNow), kNow - 90min);
  EXPECT_EQ(*parse_since("7d", kNow), kNow - 7 * 24h);
  EXPECT_EQ(format_utc(*parse_since("today", kNow)), "2026-11-24T00:00:00Z");
  EXPECT_EQ(format_utc(*parse_since("month", kNow)), "2026-11-01T00:00:00Z");
}

TEST(SpendQuery, SinceRejectsWhatItCannotReadExactly) {
  for (const char* bad :
       {"", "yesterday", "2026-11-31", "2026-13-01", "2026-11-01T08:30", "2026-11-01T25:00Z", "24x",
        "-3h", "2999-01-01", "99999999999", "2026/11/01", "12h30m"}) {
    EXPECT_FALSE(parse_since(bad, kNow)) << bad;
  }
}

TEST(SpendQuery, ParsesParametersAndDefaultsToThisMonth) {
  SpendQuery q;
  EXPECT_FALSE(parse_spend_query("", kNow, q));
  EXPECT_EQ(q.group, SpendGroup::tenant);
  EXPECT_EQ(format_utc(q.since), "2026-11-01T00:00:00Z");
  EXPECT_FALSE(
      parse_spend_query("group_by=user&since=2026-11-20T00%3A00%3A00Z&tenant=acme", kNow, q));
  EXPECT_EQ(q.group, SpendGroup::user);
  EXPECT_EQ(format_utc(q.since), "2026-11-20T00:00:00Z");
  EXPECT_EQ(q.tenant, "acme");
}

TEST(SpendQuery, UnknownOrInvalidParametersAreErrors) {
  SpendQuery q;
  auto e = parse_spend_query("group_by=colour", kNow, q);
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("tenant, workflow, model, user, provider"), std::string::npos);
  e = parse_spend_query("sinse=24h", kNow, q);
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("unknown parameter 'sinse'"), std::string::npos);
  EXPECT_TRUE(parse_spend_query("since=soon", kNow, q));
}
