// Process-wide health that outlives config reloads: circuit breakers and rolling latency per model,
// cool-down and rotation state per provider key. Atomics only, so every worker thread updates it
// lock-free.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace switchboard::routing {

std::int64_t steady_now_ms();

// The last kSize latencies of a model, written lock-free; percentiles computed on read.
class LatencyWindow {
 public:
  static constexpr std::size_t kSize = 256;
  void record(double ms);
  // Percentile in [0,1] of the recorded samples; negative when there is no history.
  double percentile(double p) const;
  std::uint64_t samples() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<float>, kSize> slots_{};
  std::atomic<std::uint64_t> count_{0};
};

struct CircuitSettings {
  int failure_threshold = 5;      // consecutive failures that open the circuit
  std::int64_t open_ms = 30'000;  // how long it stays open before a half-open probe
};

class ModelHealth {
 public:
  explicit ModelHealth(CircuitSettings settings = {}) { configure(settings); }
  // New settings (a config reload); the circuit's state is kept. Thread-safe.
  void configure(CircuitSettings settings) {
    failure_threshold_.store(settings.failure_threshold, std::memory_order_relaxed);
    open_ms_.store(settings.open_ms, std::memory_order_relaxed);
  }
  // True when a call may go out now: closed, or half-open and this caller won the probe.
  bool admit(std::int64_t now_ms);
  // True while open (including half-open with a probe in flight); for routing and the gauge.
  bool is_open(std::int64_t now_ms) const;
  void record_success(double latency_ms);
  // True when this failure opened the circuit (for sharing it with other replicas).
  bool record_failure(std::int64_t now_ms);
  // Opens the circuit until `until_ms` because another replica saw it fail (never shortens).
  void open_until(std::int64_t until_ms);
  const LatencyWindow& latency() const { return latency_; }
  int consecutive_failures() const { return failures_.load(std::memory_order_relaxed); }
  std::int64_t open_until_ms() const { return open_until_ms_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int> failure_threshold_{};  // CircuitSettings, set by configure()
  std::atomic<std::int64_t> open_ms_{};
  std::atomic<int> failures_{0};
  std::atomic<std::int64_t> open_until_ms_{0};  // 0 = closed
  std::atomic<bool> probing_{false};
  LatencyWindow latency_;
};

class KeyHealth {
 public:
  bool usable(std::int64_t now_ms) const {
    return !disabled_.load(std::memory_order_relaxed) &&
           cooldown_until_ms_.load(std::memory_order_relaxed) <= now_ms;
  }
  void cool_down(std::int64_t until_ms);
  void disable() { disabled_.store(true, std::memory_order_relaxed); }
  bool disabled() const { return disabled_.load(std::memory_order_relaxed); }
  std::int64_t cooldown_until_ms() const {
    return cooldown_until_ms_.load(std::memory_order_relaxed);
  }
  std::atomic<int>& in_flight() { return in_flight_; }
  int load() const { return in_flight_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> disabled_{false};
  std::atomic<std::int64_t> cooldown_until_ms_{0};
  std::atomic<int> in_flight_{0};
};

// What one replica tells the others (through the shared state backend): a key cooling down
// after a 429, a circuit that opened. Durations, not deadlines: steady clocks differ per host.
struct HealthEvent {
  enum class Kind { key_cooldown, circuit_open };
  Kind kind = Kind::key_cooldown;
  std::string provider;  // key_cooldown
  std::string key_id;    // key_cooldown: the key's fingerprint, never the key
  std::string model;     // circuit_open
  std::int64_t duration_ms = 0;

  std::string encode() const;
  // nullopt for anything malformed (another version, junk on the channel).
  static std::optional<HealthEvent> decode(std::string_view text);
};

// Looked up only when a config snapshot is built, never per request.
class HealthRegistry {
 public:
  std::shared_ptr<ModelHealth> model(const std::string& name);
  std::shared_ptr<KeyHealth> key(const std::string& provider, const std::string& key_id);
  // Applies another replica's event (off the request path) to a model or key this process
  // knows; unknown names are ignored, so the channel cannot grow the registry.
  void apply(const HealthEvent& event, std::int64_t now_ms);

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<ModelHealth>> models_;
  std::unordered_map<std::string, std::shared_ptr<KeyHealth>> keys_;
};

}  // namespace switchboard::routing
