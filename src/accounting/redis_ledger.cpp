// The Redis ledger: admission and settlement as Lua scripts on the caller's own worker
// connection, local fallback with a deadline, a bounded journal replayed when Redis is back.
#include "switchboard/accounting/redis_ledger.hpp"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "redis_scripts.hpp"
#include "switchboard/accounting/redis_connection.hpp"
#include "switchboard/observability/metrics.hpp"

namespace switchboard::accounting {

namespace net = boost::asio;
using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

std::string sha1_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::int64_t hour_of(WallClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::hours>(t.time_since_epoch()).count();
}

// How long a budget period's hash outlives its period: idle tenants vanish, totals never do.
std::int64_t budget_ttl_s(config::BudgetPeriod p) {
  switch (p) {
    case config::BudgetPeriod::daily:
      return 3 * 86400;
    case config::BudgetPeriod::monthly:
      return 62 * 86400;
    case config::BudgetPeriod::total:
      break;
  }
  return 0;
}

constexpr std::int64_t kReservationTtlMs = 15 * 60 * 1000;  // longer than any request may run
constexpr std::int64_t kBucketTtlMs = 120 * 1000;  // an idle minute refills a bucket anyway
constexpr std::int64_t kSettledMarkerTtlMs = 60 * 60 * 1000;  // replays dedupe within an hour
constexpr std::int64_t kSpendTtlS = 62 * 86400;
constexpr std::size_t kMaxSpendFields = 6 * 200000;  // six numbers per attribution
constexpr std::int64_t kSlowWindowMs = 5000;         // "slow" stays in readiness this long

// One settlement as Redis will apply it; kept in the journal while Redis cannot take it.
struct SettleEntry {
  std::string id;
  std::string tenant;
  std::string period;            // budget period; empty without a budget
  std::int64_t budget_ttl = -1;  // -1: no budget
  double tpm_delta = 0;
  std::string resv_id;
  double cost = 0;
  std::string field;  // spend_field(...)
  std::string fold_field;
  std::int64_t hour = 0;
  std::int64_t input = 0, output = 0, cached = 0, cache_write = 0;
};

}  // namespace

std::string spend_field(const std::string& tenant, const std::string& workflow,
                        const std::string& provider, const std::string& model,
                        const std::string& user) {
  return nlohmann::json::array({tenant, workflow, provider, model, user})
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool parse_spend_field(std::string_view field, std::array<std::string, 5>& parts,
                       std::string& metric) {
  auto bar = field.rfind('|');
  if (bar == std::string_view::npos) return false;
  metric = std::string(field.substr(bar + 1));
  auto j = nlohmann::json::parse(field.substr(0, bar), nullptr, false);
  if (!j.is_array() || j.size() != 5) return false;
  for (std::size_t i = 0; i < 5; ++i) {
    if (!j[i].is_string()) return false;
    parts[i] = j[i].get<std::string>();
  }
  return true;
}

struct RedisLedger::Impl : std::enable_shared_from_this<Impl> {
  Impl(RedisLedgerOptions o, MemoryLedger::Now now) : options(std::move(o)), local(std::move(now)) {
    std::random_device rd;
    replica = std::to_string((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
  }

  RedisLedgerOptions options;
  MemoryLedger local;
  std::vector<std::unique_ptr<RedisConnection>> conns;
  std::string admit_sha = sha1_hex(redis_scripts::kAdmit);
  std::string settle_sha = sha1_hex(redis_scripts::kSettle);
  std::string replica;
  std::atomic<std::uint64_t> next_id{0};

  observability::GaugeFamily* up_gauge = nullptr;
  observability::GaugeFamily* unsynced_gauge = nullptr;
  observability::CounterFamily* errors = nullptr;

  mutable std::mutex state_mu;
  std::vector<char> conn_up;
  std::string last_error;
  bool all_up = false;
  bool ever_up = false;
  std::atomic<std::int64_t> slow_at_ms{-1'000'000'000};

  std::function<void(std::string_view)> message_handler;
  std::unique_ptr<RedisConnection> subscriber;
  std::string channel() const { return options.key_prefix + "events"; }

  mutable std::mutex journal_mu;
  std::deque<SettleEntry> journal;
  std::size_t replaying = 0;  // taken from the journal, being replayed; under journal_mu
  std::atomic<bool> stopped{false};
  std::atomic<int> settling{0};  // settlements sent, not yet answered or journaled

  std::string key(std::string_view kind, std::string_view a, std::string_view b = {}) const {
    std::string k = options.key_prefix;
    k += kind;
    k += ':';
    k += a;
    if (!b.empty()) {
      k += ':';
      k += b;
    }
    return k;
  }

  std::string new_id() {
    return replica + "-" + std::to_string(next_id.fetch_add(1, std::memory_order_relaxed));
  }

  static std::int64_t steady_ms() {
    return std::chrono::duration_cast<milliseconds>(Steady::now().time_since_epoch()).count();
  }

  // A script Redis refuses (ACLs, a cluster's CROSSSLOT) would fail every request: log it at
  // most once a minute; the error counter has the rate.
  std::atomic<std::int64_t> script_error_logged_ms{-60'000'000};
  bool should_log_script_error() {
    auto now = steady_ms();
    auto last = script_error_logged_ms.load(std::memory_order_relaxed);
    return now - last >= 60'000 &&
           script_error_logged_ms.compare_exchange_strong(last, now, std::memory_order_relaxed);
  }

  void count_error(std::string_view operation, std::string_view reason) {
    if (reason == "timeout") slow_at_ms.store(steady_ms(), std::memory_order_relaxed);
    if (errors) errors->add({operation, reason});
  }
  // The `reason` label of a call that failed: an error reply, a timeout, or no connection.
  static std::string_view failure_reason(const RedisConnection::Result& r) {
    return r.ok() ? "error" : r.error == "timeout" ? "timeout" : "down";
  }
  // One command off the request path, on `conn`'s thread; a failure is only counted under
  // `operation` (a string literal).
  void send_detached(RedisConnection& conn, std::vector<std::string> args, const char* operation) {
    net::co_spawn(
        conn.context(),
        [self = shared_from_this(), &conn, args = std::move(args),
         operation]() mutable -> net::awaitable<void> {
          auto r = co_await conn.call(std::move(args), self->options.settle_deadline);
          if (!r.ok() || r.reply->is_error()) self->count_error(operation, failure_reason(r));
        },
        net::detached);
  }

  // The connection of the calling thread's event loop; null off the worker threads.
  RedisConnection* current() {
    for (auto& c : conns)
      if (c->on_own_thread()) return c.get();
    return nullptr;
  }

  void on_state(std::size_t index, bool up, const std::string& why) {
    std::lock_guard lock(state_mu);
    conn_up[index] = up;
    if (!up) last_error = why;
    bool now_all = std::all_of(conn_up.begin(), conn_up.end(), [](char c) { return c != 0; });
    if (now_all != all_up) {
      all_up = now_all;
      if (now_all) {
        spdlog::info("state backend: connected to {}{}", options.url.redacted(),
                     ever_up ? "; replaying unsynced settlements" : "");
        ever_up = true;
      } else {
        spdlog::warn("state backend: redis {} unreachable ({}); serving with local limits",
                     options.url.redacted(), why);
      }
    } else if (!now_all && !ever_up && index == 0 && !why.empty() && !logged_initial) {
      logged_initial = true;
      spdlog::warn("state backend: redis {} unreachable ({}); serving with local limits",
                   options.url.redacted(), why);
    }
    if (up_gauge) up_gauge->set(std::span<const std::string_view>{}, now_all ? 1.0 : 0.0);
  }
  bool logged_initial = false;

  // EVALSHA, and EVAL once when Redis does not know the script (restarted or flushed).
  net::awaitable<RedisConnection::Result> eval(RedisConnection& conn, std::string_view script,
                                               const std::string& sha,
                                               std::vector<std::string> args,
                                               milliseconds deadline) {
    auto start = Steady::now();
    args[0] = "EVALSHA";
    args[1] = sha;
    auto first = co_await conn.call(args, deadline);
    if (first.ok() && first.reply->is_error() && first.reply->str.starts_with("NOSCRIPT")) {
      auto left = deadline - std::chrono::duration_cast<milliseconds>(Steady::now() - start);
      args[0] = "EVAL";
      args[1] = std::string(script);
      auto second = co_await conn.call(std::move(args), std::max(left, milliseconds(1)));
      co_return second;
    }
    co_return first;
  }

  std::vector<std::string> settle_args(const SettleEntry& e) const {
    std::vector<std::string> a{"", "", "5"};
    a.push_back(key("rl", e.tenant, "tpm"));
    a.push_back(key("budget", e.tenant, e.period.empty() ? "-" : e.period));
    a.push_back(key("resv", e.tenant, e.period.empty() ? "-" : e.period));
    a.push_back(key("spend", std::to_string(e.hour)));
    a.push_back(key("settled", e.id));
    a.push_back(num(e.tpm_delta));
    a.push_back(e.resv_id);
    a.push_back(num(e.cost));
    a.push_back(std::to_string(e.budget_ttl));
    a.push_back(e.field);
    a.push_back(std::to_string(e.input));
    a.push_back(std::to_string(e.output));
    a.push_back(std::to_string(e.cached));
    a.push_back(std::to_string(e.cache_write));
    a.push_back(std::to_string(kMaxSpendFields));
    a.push_back(e.fold_field);
    a.push_back(std::to_string(kSettledMarkerTtlMs));
    a.push_back(std::to_string(kSpendTtlS));
    return a;
  }

  void journal_push(SettleEntry e) {
    std::size_t size;
    {
      std::lock_guard lock(journal_mu);
      if (journal.size() >= options.max_journal) {
        journal.pop_front();  // bounded: the oldest settlement is lost to the shared totals
        count_error("settle", "journal_full");
      }
      journal.push_back(std::move(e));
      // Under the lock, so the gauge never disagrees with unsynced() for long.
      size = journal.size() + replaying;
      if (unsynced_gauge) unsynced_gauge->set(std::span<const std::string_view>{}, double(size));
    }
  }

  net::awaitable<void> settle_shared(std::shared_ptr<Impl> self, RedisConnection* conn,
                                     SettleEntry e) {
    struct Done {
      std::atomic<int>& n;
      ~Done() { n.fetch_sub(1, std::memory_order_acq_rel); }
    } done{settling};
    if (!conn->up()) {
      count_error("settle", "down");
      journal_push(std::move(e));
      co_return;
    }
    auto r = co_await eval(*conn, redis_scripts::kSettle, settle_sha, settle_args(e),
                           options.settle_deadline);
    if (!r.ok() || r.reply->is_error()) {
      count_error("settle", failure_reason(r));
      if (r.ok() && should_log_script_error())
        spdlog::warn("state backend: settlement refused by redis: {}", r.reply->str);
      // The marker makes a replay harmless if the lost reply was in fact applied.
      journal_push(std::move(e));
    }
  }

  // Replays the journal in order, a batch at a time, while connection 0 is up.
  net::awaitable<void> background(std::shared_ptr<Impl> self) {
    net::steady_timer timer(conns[0]->context());
    while (!stopped) {
      timer.expires_after(milliseconds(200));
      co_await timer.async_wait(net::as_tuple(net::use_awaitable));
      if (stopped) break;
      auto& conn = *conns[0];
      while (conn.up() && !stopped) {
        std::vector<SettleEntry> batch;
        {
          std::lock_guard lock(journal_mu);
          while (!journal.empty() && batch.size() < 200) {
            batch.push_back(std::move(journal.front()));
            journal.pop_front();
          }
          replaying = batch.size();  // still unsynced until Redis confirms
        }
        if (batch.empty()) break;
        std::size_t done = 0;
        for (; done < batch.size(); ++done) {
          auto r = co_await eval(conn, redis_scripts::kSettle, settle_sha, settle_args(batch[done]),
                                 options.settle_deadline);
          if (!r.ok() || r.reply->is_error()) {
            count_error("replay", failure_reason(r));
            break;
          }
        }
        std::size_t size;
        {
          std::lock_guard lock(journal_mu);
          for (std::size_t i = batch.size(); i > done; --i)
            journal.push_front(std::move(batch[i - 1]));
          replaying = 0;
          size = journal.size();
          if (unsynced_gauge)
            unsynced_gauge->set(std::span<const std::string_view>{}, double(size));
        }
        if (done < batch.size()) break;
        if (size == 0) spdlog::info("state backend: unsynced settlements replayed");
      }
    }
  }
};

RedisLedger::RedisLedger(RedisLedgerOptions options, std::vector<net::io_context*> contexts,
                         observability::MetricsRegistry* registry, MemoryLedger::Now now)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(now))) {
  if (contexts.empty()) throw std::invalid_argument("RedisLedger needs at least one io_context");
  if (registry) {
    impl_->up_gauge = &registry->gauge("switchboard_state_backend_up",
                                       "1 while the shared state backend (Redis) is reachable.");
    impl_->unsynced_gauge =
        &registry->gauge("switchboard_state_backend_unsynced",
                         "Settlements kept locally, waiting to be replayed into Redis.");
    impl_->errors = &registry->counter(
        "switchboard_state_backend_errors_total",
        "Shared-state calls that fell back to local state, by operation and reason.",
        {"operation", "reason"});
    impl_->up_gauge->set(std::span<const std::string_view>{}, 0);
    impl_->unsynced_gauge->set(std::span<const std::string_view>{}, 0);
  }
  impl_->conn_up.assign(contexts.size(), 0);
  impl_->last_error = "not connected yet";
  std::weak_ptr<Impl> weak = impl_;
  for (std::size_t i = 0; i < contexts.size(); ++i) {
    impl_->conns.push_back(std::make_unique<RedisConnection>(
        *contexts[i], impl_->options.url, [weak, i](bool up, const std::string& why) {
          if (auto self = weak.lock()) self->on_state(i, up, why);
        }));
  }
}

RedisLedger::~RedisLedger() {
  stop();
}

void RedisLedger::start() {
  for (auto& c : impl_->conns) c->start();
  if (impl_->message_handler) {
    std::weak_ptr<Impl> weak = impl_;
    impl_->subscriber = std::make_unique<RedisConnection>(
        impl_->conns[0]->context(), impl_->options.url, [](bool, const std::string&) {},
        [weak](RedisReply&& reply) {
          auto self = weak.lock();
          // ["message", channel, "<replica>\n<payload>"]; our own messages come back too.
          if (!self || reply.elements.size() != 3 || reply.elements[0].str != "message") return;
          std::string_view text = reply.elements[2].str;
          auto nl = text.find('\n');
          if (nl == std::string_view::npos || text.substr(0, nl) == self->replica) return;
          self->message_handler(text.substr(nl + 1));
        });
    std::vector<std::vector<std::string>> subscribe{{"SUBSCRIBE", impl_->channel()}};
    impl_->subscriber->start(std::move(subscribe));
  }
  net::co_spawn(impl_->conns[0]->context(), impl_->background(impl_), net::detached);
}

void RedisLedger::stop() {
  if (impl_->stopped.exchange(true)) return;
  for (auto& c : impl_->conns) c->stop();
  if (impl_->subscriber) impl_->subscriber->stop();
}

void RedisLedger::on_message(std::function<void(std::string_view)> handler) {
  impl_->message_handler = std::move(handler);
}

void RedisLedger::publish(std::string message) {
  auto* conn = impl_->current();
  if (conn == nullptr) conn = impl_->conns[0].get();
  if (!conn->up()) return;
  impl_->send_detached(*conn, {"PUBLISH", impl_->channel(), impl_->replica + "\n" + message},
                       "publish");
}

net::awaitable<Admission> RedisLedger::admit(AdmitRequest r) {
  auto self = impl_;
  auto* conn = self->current();
  if (conn == nullptr || !conn->up()) {
    self->count_error("admit", "down");
    co_return self->local.admit_now(r);
  }
  auto now = WallClock::now();
  std::string period = r.budget ? budget_period_key(r.budget->period, now) : std::string{};
  std::string resv_id = r.budget ? self->new_id() : std::string{};
  std::vector<std::string> args{"", "", "4"};
  args.push_back(self->key("rl", r.tenant, "rpm"));
  args.push_back(self->key("rl", r.tenant, "tpm"));
  args.push_back(self->key("budget", r.tenant, period.empty() ? "-" : period));
  args.push_back(self->key("resv", r.tenant, period.empty() ? "-" : period));
  args.push_back(std::to_string(r.limit.rpm));
  args.push_back(std::to_string(r.limit.tpm));
  args.push_back(std::to_string(std::max<std::int64_t>(0, r.tokens)));
  args.push_back(r.budget ? num(r.budget->usd) : std::string("-1"));
  args.push_back(num(r.cost_usd));
  args.push_back(resv_id);
  args.push_back(std::to_string(kReservationTtlMs));
  args.push_back(std::to_string(r.budget ? budget_ttl_s(r.budget->period) : 0));
  args.push_back(std::to_string(kBucketTtlMs));
  auto res = co_await self->eval(*conn, redis_scripts::kAdmit, self->admit_sha, std::move(args),
                                 self->options.admit_deadline);
  const auto* reply = res.ok() ? &*res.reply : nullptr;
  // Admitted locally after the script was sent: a slow Redis may still run it after the deadline
  // and hold its budget reservation until it expires (15 min), which would refuse the tenant's
  // next requests for money it never spent. The settlement releases that reservation by its id
  // when it is there (a no-op when it is not).
  auto fallback = [&] {
    Admission a = self->local.admit_now(r);
    if (!r.budget || r.cost_usd <= 0) return a;
    if (a.refused == Refusal::none) {
      a.reservation.shared_id = resv_id;
    } else {
      // Refused here: nothing will settle it, so the late reservation is released now. Sent on
      // the same connection, it runs after the admission if that runs at all.
      self->send_detached(
          *conn,
          {"EVAL", std::string(redis_scripts::kRelease), "2", self->key("budget", r.tenant, period),
           self->key("resv", r.tenant, period), resv_id},
          "release");
    }
    return a;
  };
  if (reply == nullptr || reply->type != RedisReply::Type::array || reply->elements.size() != 4) {
    if (reply && reply->is_error() && self->should_log_script_error())
      spdlog::warn("state backend: admission script failed: {}", reply->str);
    self->count_error("admit", Impl::failure_reason(res));
    co_return fallback();
  }
  auto code = reply->elements[0].as_int(-1);
  Admission a;
  if (r.budget && !reply->elements[3].str.empty()) {
    // Keep the local fallback's view of the shared budget current.
    self->local.set_budget_spent(r.tenant, period, reply->elements[3].as_double());
  }
  switch (code) {
    case 1:
    case 2:
      a.refused = code == 1 ? Refusal::rpm : Refusal::tpm;
      a.retry_after_ms = reply->elements[1].as_int();
      co_return a;
    case 3:
      a.refused = Refusal::budget;
      a.budget_remaining_usd = reply->elements[2].as_double();
      co_return a;
    case 0:
      break;
    default:
      self->count_error("admit", "error");
      co_return fallback();
  }
  a.reservation.active = true;
  a.reservation.shared = true;
  a.reservation.tenant = r.tenant;
  a.reservation.tokens = reply->elements[1].as_int();
  if (r.budget) {
    a.budget_remaining_usd = reply->elements[2].as_double();
    a.reservation.cost_usd = r.cost_usd;
    a.reservation.period = period;
    a.reservation.shared_id = r.cost_usd > 0 ? resv_id : std::string{};
  }
  co_return a;
}

void RedisLedger::settle(const Reservation& reservation,
                         const std::optional<config::Budget>& budget, const SpendRecord& spend) {
  auto& self = *impl_;
  // The local ledger mirrors every settlement: its spend is the degraded /admin/spend view and
  // its budget the fallback's. A shared reservation was never taken locally.
  self.local.settle(reservation.shared ? Reservation{} : reservation, budget, spend);
  SettleEntry e;
  e.id = self.new_id();
  e.tenant = spend.tenant;
  if (budget) {
    e.period = reservation.active && !reservation.period.empty()
                   ? reservation.period
                   : budget_period_key(budget->period, WallClock::now());
    e.budget_ttl = budget_ttl_s(budget->period);
  }
  auto used = spend.usage.input + spend.usage.output;
  e.tpm_delta = static_cast<double>(
      reservation.shared && reservation.tokens != 0 ? used - reservation.tokens : used);
  // Set for a shared reservation, and for a local one whose admission script may have run late.
  e.resv_id = reservation.shared_id;
  e.cost = spend.cost_usd;
  const std::string tenant(spend.tenant), workflow(spend.workflow), provider(spend.provider),
      model(spend.model), user(spend.user);
  e.field = spend_field(tenant, workflow, provider, model, user);
  e.fold_field = spend_field(tenant, workflow, provider, model, "other");
  e.hour = hour_of(spend.at == WallClock::time_point{} ? WallClock::now() : spend.at);
  e.input = spend.usage.uncached_input();
  e.output = spend.usage.output;
  e.cached = spend.usage.cached_input;
  e.cache_write = spend.usage.cache_write;
  auto* conn = self.current();
  if (conn == nullptr) conn = self.conns[0].get();
  self.settling.fetch_add(1, std::memory_order_acq_rel);
  net::co_spawn(conn->context(), self.settle_shared(impl_, conn, std::move(e)), net::detached);
}

net::awaitable<std::vector<SpendRow>> RedisLedger::spend(SpendGroup group,
                                                         WallClock::time_point since,
                                                         std::string tenant) {
  auto self = impl_;
  auto* conn = self->current();
  auto now_hour = hour_of(WallClock::now());
  auto from = std::max(hour_of(since), now_hour - MemoryLedger::kRetentionHours);
  std::vector<std::vector<std::string>> commands;
  for (auto h = from; h <= now_hour; ++h)
    commands.push_back({"HGETALL", self->key("spend", std::to_string(h))});
  std::vector<RedisConnection::Result> replies;
  if (conn != nullptr && conn->up()) {
    replies = co_await conn->pipeline(std::move(commands), self->options.query_deadline);
  }
  bool ok = !replies.empty();
  for (const auto& r : replies) ok = ok && r.ok() && r.reply->type == RedisReply::Type::array;
  if (!ok) {
    self->count_error("spend", replies.empty() ? "down" : "error");
    co_return self->local.spend_now(group, since, tenant);
  }
  std::unordered_map<std::string, SpendRow> groups;
  std::array<std::string, 5> parts;
  std::string metric;
  for (const auto& r : replies) {
    const auto& e = r.reply->elements;
    for (std::size_t i = 0; i + 1 < e.size(); i += 2) {
      if (!parse_spend_field(e[i].str, parts, metric)) continue;
      if (!tenant.empty() && parts[0] != tenant) continue;
      // parts: tenant, workflow, provider, model, user
      const std::string& name = group == SpendGroup::tenant     ? parts[0]
                                : group == SpendGroup::workflow ? parts[1]
                                : group == SpendGroup::provider ? parts[2]
                                : group == SpendGroup::model    ? parts[3]
                                                                : parts[4];
      auto& row = groups[name];
      const auto& v = e[i + 1];
      if (metric == "n")
        row.requests += static_cast<std::uint64_t>(v.as_int());
      else if (metric == "c")
        row.cost_usd += v.as_double();
      else if (metric == "i")
        row.input += v.as_int();
      else if (metric == "o")
        row.output += v.as_int();
      else if (metric == "ci")
        row.cached_input += v.as_int();
      else if (metric == "cw")
        row.cache_write += v.as_int();
    }
  }
  co_return sorted_spend_rows(std::move(groups));
}

double RedisLedger::budget_remaining(const std::string& tenant, const config::Budget& budget) {
  return impl_->local.budget_remaining(tenant, budget);
}

std::string RedisLedger::degraded_reason() const {
  const auto& self = *impl_;
  {
    std::lock_guard lock(self.state_mu);
    if (!self.all_up) return "redis unreachable: " + self.last_error;
  }
  auto unsynced = this->unsynced();
  if (unsynced > 0)
    return "redis reachable; replaying " + std::to_string(unsynced) + " settlements";
  auto since = Impl::steady_ms() - self.slow_at_ms.load(std::memory_order_relaxed);
  if (since < kSlowWindowMs)
    return "redis slow: a call exceeded " + std::to_string(self.options.admit_deadline.count()) +
           " ms in the last " + std::to_string(kSlowWindowMs / 1000) + " s";
  return {};
}

void RedisLedger::flush(std::chrono::milliseconds timeout) {
  auto deadline = Steady::now() + timeout;
  while (Steady::now() < deadline) {
    bool sending = impl_->settling.load(std::memory_order_acquire) > 0;
    bool replayable = impl_->conns[0]->up() && unsynced() > 0;
    if (!sending && !replayable) break;
    std::this_thread::sleep_for(milliseconds(5));
  }
  if (auto left = unsynced(); left > 0)
    spdlog::warn("state backend: exiting with {} settlements not in redis", left);
}

std::size_t RedisLedger::unsynced() const {
  std::lock_guard lock(impl_->journal_mu);
  return impl_->journal.size() + impl_->replaying;
}

}  // namespace switchboard::accounting
