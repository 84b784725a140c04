// Tenant rate limits (token buckets), budgets and spend totals: what admission reads before any
// provider is called and what settlement writes once the real usage is known.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "switchboard/accounting/usage.hpp"
#include "switchboard/config/config.hpp"

namespace switchboard::accounting {

using WallClock = std::chrono::system_clock;

// --- Pure arithmetic, shared by every backend -------------------------------------------------

// A token bucket holding up to `per_minute` tokens, refilled continuously at per_minute/60 s.
struct BucketState {
  double level = 0;
  std::int64_t at_ms = 0;
  bool initialised = false;  // a new bucket starts full
};

// The level at `now_ms` after refill (capped at the capacity).
double bucket_level(const BucketState& b, std::uint64_t per_minute, std::int64_t now_ms);
// Milliseconds until `level` reaches `need` at the refill rate; 0 when it already has.
std::int64_t bucket_wait_ms(double level, double need, std::uint64_t per_minute);

// The budget period a moment falls in: "d2026-11-24", "m2026-11" or "total" (UTC).
std::string budget_period_key(config::BudgetPeriod period, WallClock::time_point t);

// --- Admission and settlement -----------------------------------------------------------------

struct AdmitRequest {
  std::string tenant;
  config::RateLimit limit;               // 0 = unlimited
  std::optional<config::Budget> budget;  // none = no budget
  std::int64_t tokens = 0;               // estimate taken from the tpm bucket
  double cost_usd = 0;                   // estimate reserved against the budget
};

enum class Refusal { none, rpm, tpm, budget };
std::string_view refusal_name(Refusal r);  // "", "rpm", "tpm", "budget"

// What admission took, so settlement can put back or add the difference.
struct Reservation {
  bool active = false;
  std::string tenant;
  std::int64_t tokens = 0;
  double cost_usd = 0;
  std::string period;   // the budget period the cost was reserved in; empty without a budget
  bool shared = false;  // taken from the shared store (Redis), not this process's buckets
  // The shared budget reservation's id; empty when none. A local reservation carries it too when
  // its shared admission timed out (Redis may have taken the reservation late): settling
  // releases it.
  std::string shared_id;
};

struct Admission {
  Refusal refused = Refusal::none;
  std::int64_t retry_after_ms = 0;             // rpm / tpm: when to try again
  std::optional<double> budget_remaining_usd;  // after this reservation, when there is a budget
  Reservation reservation;
};

// One finished request's spend, attributed. The names are views: a ledger copies what it keeps
// during settle() / record_spend(), so a request's own strings serve without copies.
struct SpendRecord {
  std::string_view tenant;
  std::string_view workflow;
  std::string_view provider;
  std::string_view model;
  std::string_view user;
  Usage usage;
  double cost_usd = 0;
  WallClock::time_point at{};
};

enum class SpendGroup { tenant, workflow, model, user, provider };
std::optional<SpendGroup> parse_spend_group(std::string_view s);

struct SpendRow {
  std::string key;
  std::uint64_t requests = 0;
  double cost_usd = 0;
  std::int64_t input = 0;  // uncached input, as the metrics count it
  std::int64_t output = 0;
  std::int64_t cached_input = 0;
  std::int64_t cache_write = 0;
};

// Groups as rows, keyed by their names, largest cost first (ties by name): every backend's order.
std::vector<SpendRow> sorted_spend_rows(std::unordered_map<std::string, SpendRow> groups);

// Where tenants' limits, budgets and spend live: this process (memory) or every replica (redis).
class Ledger {
 public:
  virtual ~Ledger() = default;

  // Takes one request and `tokens` from the buckets and reserves `cost_usd` from the budget, all
  // or nothing.
  virtual boost::asio::awaitable<Admission> admit(AdmitRequest request) = 0;
  // Settles a reservation (inactive when none was made) with what the request really used and
  // records its spend. Never waits.
  virtual void settle(const Reservation& reservation, const std::optional<config::Budget>& budget,
                      const SpendRecord& spend) = 0;
  // Spend since `since`, grouped, largest cost first; `tenant` filters when not empty.
  virtual boost::asio::awaitable<std::vector<SpendRow>> spend(SpendGroup group,
                                                              WallClock::time_point since,
                                                              std::string tenant) = 0;
  // What remains of a tenant's budget in the current period.
  virtual double budget_remaining(const std::string& tenant, const config::Budget& budget) = 0;

  virtual std::string_view backend() const = 0;
  // Empty when healthy; otherwise why the shared state is not in use (readiness detail).
  virtual std::string degraded_reason() const { return {}; }
  // At shutdown, after the last request: waits up to `timeout` for settlements still on their
  // way to a shared store. Called off the event-loop threads.
  virtual void flush(std::chrono::milliseconds /*timeout*/) {}
};

// --- The in-process ledger ---------------------------------------------------------------------

class MemoryLedger final : public Ledger {
 public:
  using Now = std::function<WallClock::time_point()>;
  // `now` is injectable for tests; by default the system clock.
  explicit MemoryLedger(Now now = {});

  boost::asio::awaitable<Admission> admit(AdmitRequest request) override;
  void settle(const Reservation& reservation, const std::optional<config::Budget>& budget,
              const SpendRecord& spend) override;
  boost::asio::awaitable<std::vector<SpendRow>> spend(SpendGroup group, WallClock::time_point since,
                                                      std::string tenant) override;
  double budget_remaining(const std::string& tenant, const config::Budget& budget) override;
  std::string_view backend() const override { return "memory"; }

  // The synchronous cores, also used by the Redis ledger as its local fallback.
  Admission admit_now(const AdmitRequest& request);
  std::vector<SpendRow> spend_now(SpendGroup group, WallClock::time_point since,
                                  const std::string& tenant) const;
  // Adds spend already accounted elsewhere (no budget change); for reconciliation.
  void record_spend(const SpendRecord& spend);
  // Sets a tenant's budget spend for a period (what the shared store says).
  void set_budget_spent(const std::string& tenant, const std::string& period, double usd);

  static constexpr std::size_t kMaxSpendEntries = 200000;  // beyond: users fold into "other"
  static constexpr int kRetentionHours = 24 * 62;

 private:
  struct TenantState {
    BucketState rpm;
    BucketState tpm;
    std::string period;
    double spent = 0;
    double reserved = 0;
  };
  struct SpendKey {
    std::int64_t hour = 0;
    std::string tenant, workflow, provider, model, user;
    bool operator==(const SpendKey&) const = default;
  };
  // A SpendKey to look up without building one (no copies of the names).
  struct SpendKeyView {
    std::int64_t hour = 0;
    std::string_view tenant, workflow, provider, model, user;
  };
  struct SpendKeyHash {
    using is_transparent = void;
    std::size_t operator()(const SpendKey& k) const noexcept;
    std::size_t operator()(const SpendKeyView& k) const noexcept;
  };
  struct SpendKeyEq {
    using is_transparent = void;
    bool operator()(const SpendKey& a, const SpendKey& b) const { return a == b; }
    bool operator()(const SpendKeyView& a, const SpendKey& b) const;
    bool operator()(const SpendKey& a, const SpendKeyView& b) const { return (*this)(b, a); }
  };
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  TenantState& tenant_locked(std::string_view name, const std::optional<config::Budget>& budget,
                             WallClock::time_point now);

  Now now_;
  mutable std::mutex tenants_mutex_;
  std::unordered_map<std::string, TenantState, NameHash, std::equal_to<>> tenants_;
  mutable std::mutex spend_mutex_;
  std::unordered_map<SpendKey, SpendRow, SpendKeyHash, SpendKeyEq> spend_;
  std::int64_t oldest_hour_ = 0;
};

}  // namespace switchboard::accounting
