// The shared ledger: tenants' rate limits, budgets and spend kept in Redis so every replica
// enforces one limit, with this process's MemoryLedger as the fallback while Redis is
// unreachable or slow, and a bounded journal that reconciles the totals once it is back.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "switchboard/accounting/ledger.hpp"
#include "switchboard/accounting/redis_protocol.hpp"

namespace boost::asio {
class io_context;
}
namespace switchboard::observability {
class MetricsRegistry;
}

namespace switchboard::accounting {

struct RedisLedgerOptions {
  RedisUrl url;
  std::string key_prefix = "switchboard:";
  // The longest a request waits for Redis at admission before deciding locally.
  std::chrono::milliseconds admit_deadline{50};
  std::chrono::milliseconds settle_deadline{1000};  // off the request path
  std::chrono::milliseconds query_deadline{2000};   // /admin/spend
  std::size_t max_journal = 100000;                 // unsynced settlements kept while down
};

class RedisLedger final : public Ledger {
 public:
  // One connection per io_context (the workers' event loops): a request talks to Redis from its
  // own thread, with no hand-off. `registry` (optional) gets the state-backend metrics.
  RedisLedger(RedisLedgerOptions options, std::vector<boost::asio::io_context*> contexts,
              observability::MetricsRegistry* registry, MemoryLedger::Now now = {});
  ~RedisLedger() override;

  // Starts connecting (in the background; the gateway serves with local state meanwhile).
  void start();
  // Stops the connections; call before the io_contexts are destroyed.
  void stop();

  boost::asio::awaitable<Admission> admit(AdmitRequest request) override;
  void settle(const Reservation& reservation, const std::optional<config::Budget>& budget,
              const SpendRecord& spend) override;
  boost::asio::awaitable<std::vector<SpendRow>> spend(SpendGroup group, WallClock::time_point since,
                                                      std::string tenant) override;
  double budget_remaining(const std::string& tenant, const config::Budget& budget) override;
  std::string_view backend() const override { return "redis"; }
  std::string degraded_reason() const override;
  // Waits for in-flight settlements and, while Redis is up, for the journal to drain.
  void flush(std::chrono::milliseconds timeout) override;

  // Cluster-wide events (key cool-downs, circuit openings): a PUBLISH on the caller's
  // connection, fire and forget; dropped while Redis is down. Thread-safe.
  void publish(std::string message);
  // Receives every other replica's published message, on the first io_context's thread (a
  // dedicated subscriber connection). Set before start().
  void on_message(std::function<void(std::string_view)> handler);

  // Settlements not yet in Redis (for tests and the gauge).
  std::size_t unsynced() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Spend hash field names: the five attribution parts, unambiguous whatever they contain.
std::string spend_field(const std::string& tenant, const std::string& workflow,
                        const std::string& provider, const std::string& model,
                        const std::string& user);
// The inverse; false when `field` is not one this ledger wrote.
bool parse_spend_field(std::string_view field, std::array<std::string, 5>& parts,
                       std::string& metric);

}  // namespace switchboard::accounting
