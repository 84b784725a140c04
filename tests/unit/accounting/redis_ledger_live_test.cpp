// The Lua admission and settlement scripts against a real redis-server (skipped when none is
// installed): two ledgers stand for two replicas sharing one tenant's buckets and budget.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "switchboard/accounting/redis_connection.hpp"
#include "switchboard/accounting/redis_ledger.hpp"

using namespace switchboard;
using namespace switchboard::accounting;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr const char* kRedisServer = "/usr/bin/redis-server";

std::uint16_t free_port() {
  net::io_context ctx;
  net::ip::tcp::acceptor a(ctx, {net::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

// redis-server on `port` with extra arguments, its output discarded.
pid_t spawn_redis(std::uint16_t port, std::vector<std::string> extra) {
  std::vector<std::string> args{kRedisServer, "--port", std::to_string(port), "--bind", "127.0.0.1",
                                "--save",     "",       "--appendonly",       "no"};
  args.insert(args.end(), extra.begin(), extra.end());
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(kRedisServer, argv.data());
    _exit(127);
  }
  return pid;
}

struct Loop {
  net::io_context ctx{1};
  net::executor_work_guard<net::io_context::executor_type> guard = net::make_work_guard(ctx);
  std::thread thread{[this] { ctx.run(); }};
  ~Loop() {
    guard.reset();
    ctx.stop();
    thread.join();
  }
};

class RedisLive : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kRedisServer)) GTEST_SKIP() << "no redis-server";
    port_ = free_port();
    pid_ = spawn_redis(port_, {});
    ASSERT_GT(pid_, 0);
    a_ = make(loop_a_);
    b_ = make(loop_b_);
    for (int i = 0; i < 500 && (!a_->degraded_reason().empty() || !b_->degraded_reason().empty());
         ++i)
      std::this_thread::sleep_for(10ms);
    ASSERT_EQ(a_->degraded_reason(), "");
    ASSERT_EQ(b_->degraded_reason(), "");
  }
  void TearDown() override {
    if (a_) a_->stop();
    if (b_) b_->stop();
    std::this_thread::sleep_for(20ms);
    a_.reset();
    b_.reset();
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  std::unique_ptr<RedisLedger> make(Loop& loop) {
    std::string error;
    RedisLedgerOptions options;
    options.url = *parse_redis_url("redis://127.0.0.1:" + std::to_string(port_) + "/0", error);
    options.key_prefix = "unit:";
    options.admit_deadline = 500ms;  // a loaded CI machine must not fall back by accident
    auto ledger = std::make_unique<RedisLedger>(options, std::vector{&loop.ctx}, nullptr);
    ledger->start();
    return ledger;
  }

  Admission admit(RedisLedger& ledger, Loop& loop, const AdmitRequest& r) {
    return net::co_spawn(loop.ctx, ledger.admit(r), net::use_future).get();
  }

  // Waits until both ledgers' settlements are in Redis.
  void synced() {
    for (int i = 0; i < 200 && (a_->unsynced() || b_->unsynced()); ++i)
      std::this_thread::sleep_for(5ms);
    std::this_thread::sleep_for(30ms);  // settle is fire-and-forget: let it land
  }

  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  Loop loop_a_, loop_b_;
  std::unique_ptr<RedisLedger> a_, b_;
};

AdmitRequest req(std::uint64_t rpm, std::uint64_t tpm, std::int64_t tokens = 0) {
  AdmitRequest r;
  r.tenant = "acme";
  r.limit = {rpm, tpm};
  r.tokens = tokens;
  return r;
}

}  // namespace

TEST_F(RedisLive, TwoReplicasShareOneRpmBucket) {
  int admitted = 0;
  Admission last;
  for (int i = 0; i < 6; ++i) {
    last = i % 2 ? admit(*a_, loop_a_, req(3, 0)) : admit(*b_, loop_b_, req(3, 0));
    if (last.refused == Refusal::none) {
      ++admitted;
      EXPECT_TRUE(last.reservation.shared);
    }
  }
  EXPECT_EQ(admitted, 3);
  EXPECT_EQ(last.refused, Refusal::rpm);
  // One request refills in 20 s.
  EXPECT_GT(last.retry_after_ms, 19000);
  EXPECT_LE(last.retry_after_ms, 20000);
}

TEST_F(RedisLive, TpmEstimateIsReservedAndTheDifferenceSettled) {
  auto first = admit(*a_, loop_a_, req(0, 40, 35));
  ASSERT_EQ(first.refused, Refusal::none);
  EXPECT_EQ(first.reservation.tokens, 35);
  EXPECT_EQ(admit(*b_, loop_b_, req(0, 40, 30)).refused, Refusal::tpm);
  SpendRecord s;
  s.tenant = "acme";
  s.usage.input = 5;
  s.usage.output = 5;  // 10 used of the 35 reserved: 25 go back
  a_->settle(first.reservation, std::nullopt, s);
  synced();
  EXPECT_EQ(admit(*b_, loop_b_, req(0, 40, 30)).refused, Refusal::none);
}

TEST_F(RedisLive, BudgetReservationsAreSharedAndReleasedBySettlement) {
  auto budget = config::Budget{1.0, config::BudgetPeriod::monthly};
  auto r = req(0, 0);
  r.budget = budget;
  r.cost_usd = 0.6;
  auto first = admit(*a_, loop_a_, r);
  ASSERT_EQ(first.refused, Refusal::none);
  EXPECT_NEAR(*first.budget_remaining_usd, 0.4, 1e-9);
  EXPECT_FALSE(first.reservation.shared_id.empty());
  auto second = admit(*b_, loop_b_, r);
  EXPECT_EQ(second.refused, Refusal::budget) << "the other replica's reservation counts";
  EXPECT_NEAR(*second.budget_remaining_usd, 0.4, 1e-9);
  SpendRecord s;
  s.tenant = "acme";
  s.model = "m1";
  s.cost_usd = 0.1;
  a_->settle(first.reservation, budget, s);
  synced();
  auto third = admit(*b_, loop_b_, r);
  EXPECT_EQ(third.refused, Refusal::none) << "settled at $0.1: $0.9 remains";
  EXPECT_NEAR(*third.budget_remaining_usd, 0.3, 1e-9);
  s.model = "m2";
  s.cost_usd = 0.6;
  b_->settle(third.reservation, budget, s);
  synced();
  auto fourth = admit(*a_, loop_a_, r);
  EXPECT_EQ(fourth.refused, Refusal::budget);
  EXPECT_NEAR(*fourth.budget_remaining_usd, 0.3, 1e-9);
  // The local mirror learnt the shared spend from the last admission.
  EXPECT_NEAR(a_->budget_remaining("acme", budget), 0.3, 1e-9);

  // Spend from both replicas, on either.
  auto rows =
      net::co_spawn(loop_a_.ctx, a_->spend(SpendGroup::model, {}, "acme"), net::use_future).get();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].key, "m2");
  EXPECT_NEAR(rows[0].cost_usd, 0.6, 1e-12);
  EXPECT_EQ(rows[1].key, "m1");
  EXPECT_EQ(rows[0].requests + rows[1].requests, 2u);
}

TEST(RedisAuth, PasswordAndAclUserLogInAndAWrongPasswordIsReportedWithoutIt) {
  if (!std::filesystem::exists(kRedisServer)) GTEST_SKIP() << "no redis-server";
  auto port = free_port();
  auto pid = spawn_redis(
      port, {"--requirepass", "s3cret", "--user", "gw", "on", ">gw-pass", "~*", "&*", "+@all"});
  ASSERT_GT(pid, 0);
  auto connect = [&](const std::string& userinfo) {
    std::string error;
    RedisLedgerOptions options;
    options.url = *parse_redis_url(
        "redis://" + userinfo + "@127.0.0.1:" + std::to_string(port) + "/2", error);
    Loop loop;
    RedisLedger ledger(options, {&loop.ctx}, nullptr);
    ledger.start();
    std::string why = ledger.degraded_reason();
    for (int i = 0; i < 300; ++i) {
      why = ledger.degraded_reason();
      if (why.empty() || (why.find("not connected yet") == std::string::npos &&
                          why.find("refused") == std::string::npos))
        break;
      std::this_thread::sleep_for(10ms);
    }
    ledger.stop();
    return why;
  };
  EXPECT_EQ(connect(":s3cret"), "");
  EXPECT_EQ(connect("gw:gw-pass"), "");
  auto wrong = connect(":not-the-password");
  EXPECT_NE(wrong.find("WRONGPASS"), std::string::npos) << wrong;
  EXPECT_EQ(wrong.find("not-the-password"), std::string::npos);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

// rediss://: a real redis-server speaking TLS only, with a CA made here. The server is verified
// against the configured CA and its name; one the gateway cannot verify is refused with a reason
// that says so; verify: false connects anyway.
TEST(RedisTls, RedissVerifiesTheServerAgainstTheConfiguredCa) {
  if (!std::filesystem::exists(kRedisServer)) GTEST_SKIP() << "no redis-server";
  if (std::system("command -v openssl >/dev/null") != 0) GTEST_SKIP() << "no openssl";
  char tmpl[] = "/tmp/swb-redis-tls-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  {
    std::ofstream ext(dir + "/ext.cnf");
    ext << "subjectAltName=DNS:localhost\n";
  }
  const std::string make_certs =
      "cd " + dir +
      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
      " -keyout ca.key -out ca.pem -days 1 -subj /CN=switchboard-test-ca"
      " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
      " -keyout server.key -out server.csr -subj /CN=localhost"
      " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
      " -out server.pem -days 1 -extfile ext.cnf"
      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
      " -keyout other.key -out other-ca.pem -days 1 -subj /CN=another-ca) >/dev/null 2>&1";
  ASSERT_EQ(std::system(("(" + make_certs).c_str()), 0);

  auto port = free_port();
  auto pid = spawn_redis(0, {"--tls-port", std::to_string(port), "--tls-cert-file",
                             dir + "/server.pem", "--tls-key-file", dir + "/server.key",
                             "--tls-ca-cert-file", dir + "/ca.pem", "--tls-auth-clients", "no"});
  ASSERT_GT(pid, 0);
  // The state of a ledger on `url_text` once it has tried for a while ("" = connected).
  auto outcome = [&](const std::string& url_text, const std::string& ca_file, bool verify,
                     bool* admitted_shared = nullptr) {
    std::string error;
    RedisLedgerOptions options;
    options.url = *parse_redis_url(url_text, error);
    options.url.ca_file = ca_file;
    options.url.verify = verify;
    options.key_prefix = "tls:";
    options.admit_deadline = 2000ms;
    Loop loop;
    RedisLedger ledger(options, {&loop.ctx}, nullptr);
    ledger.start();
    std::string why = ledger.degraded_reason();
    for (int i = 0; i < 300 && !why.empty(); ++i) {
      std::this_thread::sleep_for(10ms);
      why = ledger.degraded_reason();
      if (why.find("TLS") != std::string::npos) break;  // a refusal: it will not get better
    }
    if (why.empty() && admitted_shared) {
      AdmitRequest r;
      r.tenant = "acme";
      r.limit = {5, 0};
      auto a = net::co_spawn(loop.ctx, ledger.admit(r), net::use_future).get();
      *admitted_shared = a.refused == Refusal::none && a.reservation.shared;
    }
    ledger.stop();
    std::this_thread::sleep_for(20ms);
    return why;
  };
  const std::string url = "rediss://localhost:" + std::to_string(port) + "/0";
  bool shared = false;
  EXPECT_EQ(outcome(url, dir + "/ca.pem", true, &shared), "");
  EXPECT_TRUE(shared) << "the admission went through Redis over TLS";
  auto untrusted = outcome(url, dir + "/other-ca.pem", true);
  EXPECT_NE(untrusted.find("TLS handshake failed"), std::string::npos) << untrusted;
  // With OpenSSL's reason: "self-signed certificate in certificate chain" here.
  EXPECT_NE(untrusted.find("certificate verify failed (self-signed certificate"), std::string::npos)
      << untrusted;
  auto wrong_name =
      outcome("rediss://127.0.0.1:" + std::to_string(port) + "/0", dir + "/ca.pem", true);
  EXPECT_NE(wrong_name.find("TLS handshake failed"), std::string::npos) << wrong_name;
  EXPECT_NE(wrong_name.find("the certificate does not name 127.0.0.1"), std::string::npos)
      << wrong_name;
  EXPECT_EQ(outcome(url, "", false), "") << "verify: false connects without checking";

  // A server that goes away without a TLS close_notify (killed: the kernel closes its socket)
  // reads as closed, as it does without TLS, not as OpenSSL's "stream truncated".
  {
    std::string error;
    auto tls_url = *parse_redis_url(url, error);
    tls_url.ca_file = dir + "/ca.pem";
    std::mutex mu;
    std::vector<std::pair<bool, std::string>> changes;
    Loop loop;
    RedisConnection connection(loop.ctx, tls_url, [&](bool up, const std::string& why) {
      std::lock_guard lock(mu);
      changes.emplace_back(up, why);
    });
    connection.start();
    auto seen = [&](std::size_t n) {
      for (int i = 0; i < 300; ++i) {
        {
          std::lock_guard lock(mu);
          if (changes.size() >= n) return true;
        }
        std::this_thread::sleep_for(10ms);
      }
      return false;
    };
    ASSERT_TRUE(seen(1));
    {
      std::lock_guard lock(mu);
      ASSERT_TRUE(changes[0].first) << changes[0].second;
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    ASSERT_TRUE(seen(2));
    connection.stop();
    std::lock_guard lock(mu);
    EXPECT_FALSE(changes[1].first);
    EXPECT_EQ(changes[1].second, "connection closed by Redis");
  }
  std::filesystem::remove_all(dir);
}

// A Redis that stops answering for a while (DEBUG SLEEP), and two replicas: `slow` decides
// locally after 50 ms, `other` waits up to 2 s.
class RedisSlow : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kRedisServer)) GTEST_SKIP() << "no redis-server";
    port_ = free_port();
    pid_ = spawn_redis(port_, {"--enable-debug-command", "yes"});
    ASSERT_GT(pid_, 0);
    slow_ = make(slow_loop_, 50ms);
    other_ = make(other_loop_, 2000ms);
    ASSERT_EQ(slow_->degraded_reason(), "");
    ASSERT_EQ(other_->degraded_reason(), "");
    // One admission first, so that Redis knows the script (EVALSHA) as it would in service.
    AdmitRequest warm;
    warm.tenant = "warm-up";
    ASSERT_EQ(admit(*slow_, slow_loop_, warm).refused, Refusal::none);
  }
  void TearDown() override {
    if (slow_) slow_->stop();
    if (other_) other_->stop();
    std::this_thread::sleep_for(20ms);
    slow_.reset();
    other_.reset();
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  std::unique_ptr<RedisLedger> make(Loop& loop, std::chrono::milliseconds deadline) {
    std::string error;
    RedisLedgerOptions options;
    options.url = *parse_redis_url("redis://127.0.0.1:" + std::to_string(port_) + "/0", error);
    options.key_prefix = "slow:";
    options.admit_deadline = deadline;
    auto ledger = std::make_unique<RedisLedger>(options, std::vector{&loop.ctx}, nullptr);
    ledger->start();
    for (int i = 0; i < 500 && !ledger->degraded_reason().empty(); ++i)
      std::this_thread::sleep_for(10ms);
    return ledger;
  }
  static Admission admit(RedisLedger& ledger, Loop& loop, const AdmitRequest& r) {
    return net::co_spawn(loop.ctx, ledger.admit(r), net::use_future).get();
  }
  AdmitRequest request(double cost) const {
    AdmitRequest r;
    r.tenant = "acme";
    r.budget = budget_;
    r.cost_usd = cost;
    return r;
  }
  void settle(RedisLedger& ledger, const Admission& a, double cost) {
    SpendRecord s;
    s.tenant = "acme";
    s.model = "m1";
    s.cost_usd = cost;
    ledger.settle(a.reservation, budget_, s);
    for (int i = 0; i < 200 && ledger.unsynced(); ++i) std::this_thread::sleep_for(5ms);
    std::this_thread::sleep_for(50ms);  // settle is fire-and-forget: let it land
  }
  // Redis stops answering for 800 ms: DEBUG SLEEP from a client of its own.
  void put_redis_to_sleep() {
    sleeper_.connect({net::ip::make_address("127.0.0.1"), port_});
    std::string sleep_cmd = "*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$3\r\n0.8\r\n";
    net::write(sleeper_, net::buffer(sleep_cmd));
    std::this_thread::sleep_for(150ms);  // Redis is asleep
  }
  // Waits until Redis is awake again and has run what it had been sent meanwhile.
  void wait_for_redis() {
    char ok[5];
    net::read(sleeper_, net::buffer(ok));
    EXPECT_EQ(std::string(ok, 5), "+OK\r\n");
    std::this_thread::sleep_for(150ms);
  }

  config::Budget budget_{1.0, config::BudgetPeriod::monthly};
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  Loop slow_loop_, other_loop_;
  std::unique_ptr<RedisLedger> slow_, other_;
  net::io_context io_;
  net::ip::tcp::socket sleeper_{io_};
};

// An admission that misses its deadline is admitted locally, but Redis may still run the script
// once it answers again and take the budget reservation. The settlement releases it: the
// tenant's budget is not held for money that was never spent.
TEST_F(RedisSlow, ALateAdmissionsReservationIsReleasedBySettlement) {
  put_redis_to_sleep();
  auto late = admit(*slow_, slow_loop_, request(0.6));
  ASSERT_EQ(late.refused, Refusal::none) << "admitted locally";
  EXPECT_FALSE(late.reservation.shared);
  wait_for_redis();  // it runs the admission it had been sent: $0.6 is reserved there now
  auto held = admit(*other_, other_loop_, request(0.5));
  ASSERT_EQ(held.refused, Refusal::budget) << "the late admission's reservation holds $0.6";
  EXPECT_NEAR(*held.budget_remaining_usd, 0.4, 1e-9);

  settle(*slow_, late, 0.1);  // the request cost $0.1 in the end
  auto next = admit(*other_, other_loop_, request(0.6));
  EXPECT_EQ(next.refused, Refusal::none) << "$0.9 remains, not $0.3";
  if (next.budget_remaining_usd) EXPECT_NEAR(*next.budget_remaining_usd, 0.3, 1e-9);
}

// The same late admission when the local fallback refuses the request: nothing will settle it,
// so the reservation Redis takes late is released at once.
TEST_F(RedisSlow, ALateReservationOfARequestRefusedLocallyIsReleased) {
  // The slow replica's own view of the budget learns of $0.9 reserved elsewhere, which is then
  // released: Redis has the whole $1 free, the slow replica thinks $0.1.
  auto held = admit(*other_, other_loop_, request(0.9));
  ASSERT_EQ(held.refused, Refusal::none);
  auto small = admit(*slow_, slow_loop_, request(0.05));
  ASSERT_EQ(small.refused, Refusal::none);
  ASSERT_TRUE(small.reservation.shared);
  settle(*slow_, small, 0);
  settle(*other_, held, 0);

  put_redis_to_sleep();
  auto late = admit(*slow_, slow_loop_, request(0.5));
  EXPECT_EQ(late.refused, Refusal::budget) << "refused by the slow replica's own view";
  wait_for_redis();  // the late admission, then its release, run

  auto next = admit(*other_, other_loop_, request(0.9));
  EXPECT_EQ(next.refused, Refusal::none) << "the late $0.5 reservation was released";
  if (next.budget_remaining_usd) EXPECT_NEAR(*next.budget_remaining_usd, 0.1, 1e-9);
}
