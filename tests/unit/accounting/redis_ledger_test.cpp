// The Redis ledger with Redis unreachable: it decides with the local ledger at once (never
// waits), keeps settlements for replay, and says why in its readiness detail.
#include "switchboard/accounting/redis_ledger.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>

#include <thread>

using namespace switchboard;
using namespace switchboard::accounting;
namespace net = boost::asio;

namespace {

// A port nothing listens on: bound, then closed.
std::uint16_t closed_port() {
  net::io_context ctx;
  net::ip::tcp::acceptor a(ctx, {net::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

struct Running {
  net::io_context ctx{1};
  net::executor_work_guard<net::io_context::executor_type> guard = net::make_work_guard(ctx);
  std::thread thread{[this] { ctx.run(); }};
  ~Running() {
    guard.reset();
    ctx.stop();
    thread.join();
  }
};

}  // namespace

TEST(RedisLedger, UnreachableRedisFallsBackToLocalLimitsAndJournalsSettlements) {
  Running loop;
  std::string error;
  auto url = parse_redis_url(
      "redis://:pw-never-logged@127.0.0.1:" + std::to_string(closed_port()) + "/0", error);
  ASSERT_TRUE(url);
  RedisLedgerOptions options;
  options.url = *url;
  options.max_journal = 3;
  {
    RedisLedger ledger(options, {&loop.ctx}, nullptr);
    ledger.start();
    AdmitRequest r;
    r.tenant = "acme";
    r.limit = {2, 0};
    std::vector<Admission> got;
    for (int i = 0; i < 3; ++i) {
      auto start = std::chrono::steady_clock::now();
      auto f = net::co_spawn(loop.ctx, ledger.admit(r), net::use_future);
      got.push_back(f.get());
      EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(40));
    }
    EXPECT_EQ(got[0].refused, Refusal::none);
    EXPECT_FALSE(got[0].reservation.shared);
    EXPECT_EQ(got[1].refused, Refusal::none);
    EXPECT_EQ(got[2].refused, Refusal::rpm) << "the local bucket enforces the limit";

    SpendRecord s;
    s.tenant = "acme";
    s.cost_usd = 0.5;
    for (int i = 0; i < 5; ++i) ledger.settle(got[0].reservation, std::nullopt, s);
    for (int i = 0; i < 200 && ledger.unsynced() < 3; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(ledger.unsynced(), 3u) << "bounded: the oldest are dropped";

    auto why = ledger.degraded_reason();
    EXPECT_NE(why.find("redis unreachable"), std::string::npos) << why;
    EXPECT_EQ(why.find("pw-never-logged"), std::string::npos);

    auto rows = net::co_spawn(loop.ctx, ledger.spend(SpendGroup::tenant, {}, ""), net::use_future);
    auto spend = rows.get();
    ASSERT_EQ(spend.size(), 1u);
    EXPECT_EQ(spend[0].requests, 5u) << "the local view counts every settlement";
    ledger.stop();
  }
}
