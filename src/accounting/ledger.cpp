// The in-process ledger: token buckets and budgets per tenant, hourly spend totals.
#include "switchboard/accounting/ledger.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>

namespace switchboard::accounting {

namespace {

std::int64_t to_ms(WallClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t hour_of(WallClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::hours>(t.time_since_epoch()).count();
}

// Floating-point sums of prices must not refuse a request that fits exactly.
constexpr double kMoneyEpsilon = 1e-12;

}  // namespace

double bucket_level(const BucketState& b, std::uint64_t per_minute, std::int64_t now_ms) {
  auto capacity = static_cast<double>(per_minute);
  if (!b.initialised) return capacity;
  double elapsed = static_cast<double>(std::max<std::int64_t>(0, now_ms - b.at_ms));
  return std::min(capacity, b.level + elapsed * capacity / 60000.0);
}

std::int64_t bucket_wait_ms(double level, double need, std::uint64_t per_minute) {
  if (level >= need || per_minute == 0) return 0;
  double ms = (need - level) * 60000.0 / static_cast<double>(per_minute);
  return static_cast<std::int64_t>(std::ceil(ms));
}

std::string budget_period_key(config::BudgetPeriod period, WallClock::time_point t) {
  if (period == config::BudgetPeriod::total) return "total";
  std::time_t tt = WallClock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[16];
  if (period == config::BudgetPeriod::daily) {
    std::snprintf(buf, sizeof buf, "d%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  } else {
    std::snprintf(buf, sizeof buf, "m%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
  }
  return buf;
}

std::string_view refusal_name(Refusal r) {
  switch (r) {
    case Refusal::rpm:
      return "rpm";
    case Refusal::tpm:
      return "tpm";
    case Refusal::budget:
      return "budget";
    case Refusal::none:
      break;
  }
  return "";
}

std::optional<SpendGroup> parse_spend_group(std::string_view s) {
  if (s == "tenant") return SpendGroup::tenant;
  if (s == "workflow") return SpendGroup::workflow;
  if (s == "model") return SpendGroup::model;
  if (s == "user") return SpendGroup::user;
  if (s == "provider") return SpendGroup::provider;
  return std::nullopt;
}

std::vector<SpendRow> sorted_spend_rows(std::unordered_map<std::string, SpendRow> groups) {
  std::vector<SpendRow> rows;
  rows.reserve(groups.size());
  for (auto& [name, row] : groups) {
    row.key = name;
    rows.push_back(std::move(row));
  }
  std::sort(rows.begin(), rows.end(), [](const SpendRow& a, const SpendRow& b) {
    return a.cost_usd != b.cost_usd ? a.cost_usd > b.cost_usd : a.key < b.key;
  });
  return rows;
}

std::size_t MemoryLedger::SpendKeyHash::operator()(const SpendKey& k) const noexcept {
  return (*this)(SpendKeyView{k.hour, k.tenant, k.workflow, k.provider, k.model, k.user});
}

namespace {

// Mixes every byte of `s` and its length into `h`, eight bytes a step (the last step overlaps
// the one before; strings under eight bytes are read as two overlapping halves): the names are
// short, and std::hash per name cost more than the rest of record_spend.
std::uint64_t mix_name(std::uint64_t h, std::string_view s) {
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ull;
  auto step = [&](std::uint64_t w) {
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  };
  const char* p = s.data();
  const std::size_t n = s.size();
  step(n);
  if (n >= 8) {
    std::size_t i = 0;
    for (; i + 8 < n; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      step(w);
    }
    std::uint64_t w;
    std::memcpy(&w, p + n - 8, 8);
    step(w);
  } else if (n >= 4) {
    std::uint32_t a, b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);
    step(static_cast<std::uint64_t>(a) << 32 | b);
  } else if (n > 0) {
    step(static_cast<unsigned char>(p[0]) | static_cast<unsigned char>(p[n / 2]) << 8 |
         static_cast<std::uint64_t>(static_cast<unsigned char>(p[n - 1])) << 16);
  }
  return h;
}

}  // namespace

std::size_t MemoryLedger::SpendKeyHash::operator()(const SpendKeyView& k) const noexcept {
  std::uint64_t h = static_cast<std::uint64_t>(k.hour);
  for (std::string_view s : {k.tenant, k.workflow, k.provider, k.model, k.user}) h = mix_name(h, s);
  return static_cast<std::size_t>(h ^ (h >> 32));
}

bool MemoryLedger::SpendKeyEq::operator()(const SpendKeyView& a, const SpendKey& b) const {
  return a.hour == b.hour && a.tenant == b.tenant && a.workflow == b.workflow &&
         a.provider == b.provider && a.model == b.model && a.user == b.user;
}

MemoryLedger::MemoryLedger(Now now) : now_(std::move(now)) {
  if (!now_) now_ = [] { return WallClock::now(); };
}

MemoryLedger::TenantState& MemoryLedger::tenant_locked(std::string_view name,
                                                       const std::optional<config::Budget>& budget,
                                                       WallClock::time_point now) {
  auto it = tenants_.find(name);
  if (it == tenants_.end()) it = tenants_.try_emplace(std::string(name)).first;
  auto& t = it->second;
  if (budget) {
    auto period = budget_period_key(budget->period, now);
    if (period != t.period) {  // a new day or month: the budget starts again
      t.period = std::move(period);
      t.spent = 0;
      t.reserved = 0;
    }
  }
  return t;
}

Admission MemoryLedger::admit_now(const AdmitRequest& r) {
  auto now = now_();
  auto now_ms = to_ms(now);
  Admission a;
  std::lock_guard lock(tenants_mutex_);
  auto& t = tenant_locked(r.tenant, r.budget, now);
  double rpm_level = bucket_level(t.rpm, r.limit.rpm, now_ms);
  double tpm_level = bucket_level(t.tpm, r.limit.tpm, now_ms);
  // A request larger than a whole minute's allowance passes only on a full bucket.
  double tokens = std::min(static_cast<double>(std::max<std::int64_t>(0, r.tokens)),
                           static_cast<double>(r.limit.tpm));
  if (r.limit.rpm > 0 && rpm_level < 1) {
    a.refused = Refusal::rpm;
    a.retry_after_ms = bucket_wait_ms(rpm_level, 1, r.limit.rpm);
    return a;
  }
  if (r.limit.tpm > 0 && (tpm_level < tokens || tpm_level <= 0)) {
    a.refused = Refusal::tpm;
    a.retry_after_ms = bucket_wait_ms(tpm_level, std::max(tokens, 1.0), r.limit.tpm);
    return a;
  }
  if (r.budget) {
    double remaining = r.budget->usd - t.spent - t.reserved;
    if (remaining <= kMoneyEpsilon || r.cost_usd > remaining + kMoneyEpsilon) {
      a.refused = Refusal::budget;
      a.budget_remaining_usd = std::max(0.0, remaining);
      return a;
    }
    t.reserved += r.cost_usd;
    a.budget_remaining_usd = remaining - r.cost_usd;
    a.reservation.period = t.period;
    a.reservation.cost_usd = r.cost_usd;
  }
  if (r.limit.rpm > 0) t.rpm = BucketState{rpm_level - 1, now_ms, true};
  if (r.limit.tpm > 0) {
    t.tpm = BucketState{tpm_level - tokens, now_ms, true};
    a.reservation.tokens = static_cast<std::int64_t>(tokens);
  }
  a.reservation.active = true;
  a.reservation.tenant = r.tenant;
  return a;
}

boost::asio::awaitable<Admission> MemoryLedger::admit(AdmitRequest request) {
  co_return admit_now(request);
}

void MemoryLedger::settle(const Reservation& reservation,
                          const std::optional<config::Budget>& budget, const SpendRecord& spend) {
  if (reservation.active || budget) {
    auto now = now_();
    std::lock_guard lock(tenants_mutex_);
    auto& t = tenant_locked(spend.tenant, budget, now);
    if (reservation.active && reservation.tokens != 0 && t.tpm.initialised) {
      // The bucket was charged the estimate; charge the difference (a debt when over).
      auto used = spend.usage.input + spend.usage.output;
      t.tpm.level -= static_cast<double>(used - reservation.tokens);
    } else if (t.tpm.initialised) {
      t.tpm.level -= static_cast<double>(spend.usage.input + spend.usage.output);
    }
    if (budget) {
      if (reservation.active && reservation.period == t.period) {
        t.reserved = std::max(0.0, t.reserved - reservation.cost_usd);
      }
      t.spent += spend.cost_usd;
    }
  }
  record_spend(spend);
}

void MemoryLedger::record_spend(const SpendRecord& spend) {
  auto hour = hour_of(spend.at == WallClock::time_point{} ? now_() : spend.at);
  std::lock_guard lock(spend_mutex_);
  if (hour - kRetentionHours > oldest_hour_) {  // at most once an hour: drop what is too old
    oldest_hour_ = hour - kRetentionHours;
    std::erase_if(spend_, [&](const auto& e) { return e.first.hour < oldest_hour_; });
  }
  SpendKeyView view{hour, spend.tenant, spend.workflow, spend.provider, spend.model, spend.user};
  auto it = spend_.find(view);
  if (it == spend_.end()) {
    if (spend_.size() >= kMaxSpendEntries) view.user = "other";  // bounded: users fold first
    it = spend_
             .try_emplace(SpendKey{hour, std::string(view.tenant), std::string(view.workflow),
                                   std::string(view.provider), std::string(view.model),
                                   std::string(view.user)})
             .first;
  }
  auto& row = it->second;
  row.requests += 1;
  row.cost_usd += spend.cost_usd;
  row.input += spend.usage.uncached_input();
  row.output += spend.usage.output;
  row.cached_input += spend.usage.cached_input;
  row.cache_write += spend.usage.cache_write;
}

std::vector<SpendRow> MemoryLedger::spend_now(SpendGroup group, WallClock::time_point since,
                                              const std::string& tenant) const {
  auto since_hour = hour_of(since);
  std::unordered_map<std::string, SpendRow> groups;
  {
    std::lock_guard lock(spend_mutex_);
    for (const auto& [key, row] : spend_) {
      if (key.hour < since_hour || (!tenant.empty() && key.tenant != tenant)) continue;
      const std::string* name = &key.tenant;
      switch (group) {
        case SpendGroup::tenant:
          break;
        case SpendGroup::workflow:
          name = &key.workflow;
          break;
        case SpendGroup::model:
          name = &key.model;
          break;
        case SpendGroup::user:
          name = &key.user;
          break;
        case SpendGroup::provider:
          name = &key.provider;
          break;
      }
      auto& g = groups[*name];
      g.requests += row.requests;
      g.cost_usd += row.cost_usd;
      g.input += row.input;
      g.output += row.output;
      g.cached_input += row.cached_input;
      g.cache_write += row.cache_write;
    }
  }
  return sorted_spend_rows(std::move(groups));
}

boost::asio::awaitable<std::vector<SpendRow>> MemoryLedger::spend(SpendGroup group,
                                                                  WallClock::time_point since,
                                                                  std::string tenant) {
  co_return spend_now(group, since, tenant);
}

double MemoryLedger::budget_remaining(const std::string& tenant, const config::Budget& budget) {
  std::lock_guard lock(tenants_mutex_);
  auto& t = tenant_locked(tenant, budget, now_());
  return std::max(0.0, budget.usd - t.spent - t.reserved);
}

void MemoryLedger::set_budget_spent(const std::string& tenant, const std::string& period,
                                    double usd) {
  std::lock_guard lock(tenants_mutex_);
  auto& t = tenants_[tenant];
  if (t.period != period) {
    t.period = period;
    t.reserved = 0;
  }
  t.spent = usd;
}

}  // namespace switchboard::accounting
