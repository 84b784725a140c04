// The memory ledger: token buckets, budgets and spend, at their exact boundaries.
#include "switchboard/accounting/ledger.hpp"

#include <gtest/gtest.h>

#include <thread>

using namespace switchboard;
using namespace switchboard::accounting;
using namespace std::chrono_literals;

namespace {

// A clock the test moves by hand, starting at 2026-11-24T10:00:00Z.
struct ManualClock {
  WallClock::time_point t = WallClock::from_time_t(1795514400);
  MemoryLedger::Now fn() {
    return [this] { return t; };
  }
};

AdmitRequest request(std::uint64_t rpm, std::uint64_t tpm, std::int64_t tokens = 0) {
  AdmitRequest r;
  r.tenant = "acme";
  r.limit = {rpm, tpm};
  r.tokens = tokens;
  return r;
}

AdmitRequest budget_request(double usd, double cost,
                            config::BudgetPeriod period = config::BudgetPeriod::monthly) {
  AdmitRequest r;
  r.tenant = "acme";
  r.budget = config::Budget{usd, period};
  r.cost_usd = cost;
  return r;
}

SpendRecord spent(double cost, std::int64_t in = 0, std::int64_t out = 0) {
  SpendRecord s;
  s.tenant = "acme";
  s.workflow = "default";
  s.provider = "p";
  s.model = "m";
  s.cost_usd = cost;
  s.usage.input = in;
  s.usage.output = out;
  s.usage.known = true;
  return s;
}

}  // namespace

TEST(Bucket, NewBucketIsFullAndRefillsLinearly) {
  BucketState b;
  EXPECT_EQ(bucket_level(b, 60, 0), 60);
  b = {0, 1000, true};
  EXPECT_DOUBLE_EQ(bucket_level(b, 60, 2000), 1);      // 1 per second
  EXPECT_DOUBLE_EQ(bucket_level(b, 60, 1000000), 60);  // capped
  EXPECT_EQ(bucket_wait_ms(0.5, 1, 60), 500);
  EXPECT_EQ(bucket_wait_ms(1, 1, 60), 0);
}

TEST(Ledger, RpmAdmitsExactlyTheLimitThenRefusesWithRetryAfter) {
  ManualClock clock;
  MemoryLedger ledger(clock.fn());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ledger.admit_now(request(3, 0)).refused, Refusal::none) << i;
  }
  auto refused = ledger.admit_now(request(3, 0));
  EXPECT_EQ(refused.refused, Refusal::rpm);
  EXPECT_EQ(refused.retry_after_ms, 20000);  // one request refills in 60 s / 3
  clock.t += 19999ms;
  EXPECT_EQ(ledger.admit_now(request(3, 0)).refused, Refusal::rpm);
  clock.t += 1ms;
  EXPECT_EQ(ledger.admit_now(request(3, 0)).refused, Refusal::none);
  EXPECT_EQ(ledger.admit_now(request(3, 0)).refused, Refusal::rpm);
}

TEST(Ledger, TpmReservesTheEstimateAndSettlesTheDifference) {
  ManualClock clock;
  MemoryLedger ledger(clock.fn());
  auto a = ledger.admit_now(request(0, 1000, 600));
  ASSERT_EQ(a.refused, Refusal::none);
  EXPECT_EQ(a.reservation.tokens, 600);
  // 400 left: a 401-token request does not fit, a 400-token one does.
  EXPECT_EQ(ledger.admit_now(request(0, 1000, 401)).refused, Refusal::tpm);
  // The first request really used 100 tokens: 500 come back.
  ledger.settle(a.reservation, std::nullopt, spent(0, 60, 40));
  auto b = ledger.admit_now(request(0, 1000, 900));
  EXPECT_EQ(b.refused, Refusal::none);
  // Used more than reserved: a debt that delays the next request.
  ledger.settle(b.reservation, std::nullopt, spent(0, 900, 100));
  auto c = ledger.admit_now(request(0, 1000, 1));
  EXPECT_EQ(c.refused, Refusal::tpm);
  EXPECT_GT(c.retry_after_ms, 0);
}

TEST(Ledger, RequestLargerThanTheMinuteOnlyPassesOnAFullBucket) {
  ManualClock clock;
  MemoryLedger ledger(clock.fn());
  EXPECT_EQ(ledger.admit_now(request(0, 100, 5000)).refused, Refusal::none);
  EXPECT_EQ(ledger.admit_now(request(0, 100, 5000)).refused, Refusal::tpm);
}

TEST(Ledger, BudgetAdmitsAnEstimateEqualToWhatRemainsAndRefusesAnyMore) {
  ManualClock clock;
  MemoryLedger ledger(clock.fn());
  auto a = ledger.admit_now(budget_request(1.0, 0.25));
  ASSERT_EQ(a.refused, Refusal::none);
  ledger.settle(a.reservation, config::Budget{1.0}, spent(0.4));  // cost more than estimated
  EXPECT_DOUBLE_EQ(ledger.budget_remaining("acme", config::Budget{1.0}), 0.6);
  EXPECT_EQ(ledger.admit_now(budget_request(1.0, 0.6000001)).refused, Refusal::budget);
  auto exact = ledger.admit_now(budget_request(1.0, 0.6));
  EXPECT_EQ(exact.refused, Refusal::none);
  EXPECT_NEAR(*exact.budget_remaining_usd, 0, 1e-12);
  // Reserved in full: even a free request waits for the settlement.
  auto zero = ledger.admit_now(budget_request(1.0, 0));
  EXPECT_EQ(zero.refused, Refusal::budget);
  EXPECT_EQ(*zero.budget_remaining_usd, 0);
  ledger.settle(exact.reservation, config::Budget{1.0}, spent(0.1));
  EXPECT_NEAR(ledger.budget_remaining("acme", config::Budget{1.0}), 0.5, 1e-12);
}

TEST(Ledger, ConcurrentReservationsNeverOverspend) {
  MemoryLedger ledger;
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (ledger.admit_now(budget_request(1.0, 0.01)).refused == Refusal::none) ++admitted;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 100);
}

TEST(Ledger, DailyBudgetStartsAgainAtMidnightUtc) {
  ManualClock clock;
  MemoryLedger ledger(clock.fn());
  auto daily = config::BudgetPeriod::daily;
  auto a = ledger.admit_now(budget_request(1.0, 1.0, daily));
  ASSERT_EQ(a.refused, Refusal::none);
  ledger.settle(a.reservation, config::Budget{1.0, daily}, spent(1.0));
  EXPECT_EQ(ledger.admit_now(budget_request(1.0, 0.1, daily)).refused, Refusal::budget);
  clock.t += 14h;  // 2026-11-25T00:00:00Z
  EXPECT_EQ(ledger.admit_now(budget_request(1.0, 0.1, daily)).refused, Refusal::none);
}

TEST(Ledger, PeriodKeysAreUtcCalendarPeriods) {
  auto t = WallClock::from_time_t(1795514400);  // 2026-11-24T10:00:00Z
  EXPECT_EQ(budget_period_key(config::BudgetPeriod::daily, t), "d2026-11-24");
  EXPECT_EQ(budget_period_key(config::BudgetPeriod::monthly, t), "m2026-11");
  EXPECT_EQ(budget_period_key(config::BudgetPeriod::total, t), "total");
}

TEST(Ledger, SpendGroupsAndFiltersBySince) {
  ManualClock clock;
  MemoryLedger ledger(clock.fn());
  auto s = spent(0.5, 100, 10);
  s.at = clock.t - 3h;
  s.user = "u1";
  ledger.record_spend(s);
  s.at = clock.t;
  s.model = "m2";
  s.cost_usd = 1.0;
  s.user = "u2";
  ledger.record_spend(s);
  s.tenant = "beta";
  s.cost_usd = 0.25;
  ledger.record_spend(s);

  auto by_tenant = ledger.spend_now(SpendGroup::tenant, clock.t - 24h, "");
  ASSERT_EQ(by_tenant.size(), 2u);
  EXPECT_EQ(by_tenant[0].key, "acme");
  EXPECT_EQ(by_tenant[0].requests, 2u);
  EXPECT_DOUBLE_EQ(by_tenant[0].cost_usd, 1.5);
  EXPECT_EQ(by_tenant[0].input, 200);
  EXPECT_EQ(by_tenant[1].key, "beta");

  auto recent = ledger.spend_now(SpendGroup::model, clock.t - 1h, "acme");
  ASSERT_EQ(recent.size(), 1u);
  EXPECT_EQ(recent[0].key, "m2");
  EXPECT_DOUBLE_EQ(recent[0].cost_usd, 1.0);

  auto by_user = ledger.spend_now(SpendGroup::user, clock.t - 24h, "");
  ASSERT_EQ(by_user.size(), 2u);
  EXPECT_EQ(by_user[0].key, "u2");
  EXPECT_EQ(by_user[0].requests, 2u);
}

TEST(Ledger, TokenCountsSplitCachedFromUncachedInput) {
  MemoryLedger ledger;
  auto s = spent(0, 1000, 50);
  s.usage.cached_input = 600;
  s.usage.cache_write = 100;
  ledger.record_spend(s);
  auto rows = ledger.spend_now(SpendGroup::tenant, WallClock::now() - 1h, "");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].input, 300);
  EXPECT_EQ(rows[0].cached_input, 600);
  EXPECT_EQ(rows[0].cache_write, 100);
  EXPECT_EQ(rows[0].output, 50);
}
