// Circuit breakers, key cool-downs and rolling latency windows.
#include "switchboard/routing/health.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include <nlohmann/json.hpp>

namespace switchboard::routing {

std::int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void LatencyWindow::record(double ms) {
  auto n = count_.fetch_add(1, std::memory_order_relaxed);
  slots_[n % kSize].store(static_cast<float>(ms), std::memory_order_relaxed);
}

double LatencyWindow::percentile(double p) const {
  auto n = std::min<std::uint64_t>(count_.load(std::memory_order_relaxed), kSize);
  if (n == 0) return -1;
  std::array<float, kSize> copy;
  for (std::size_t i = 0; i < n; ++i) copy[i] = slots_[i].load(std::memory_order_relaxed);
  auto rank = static_cast<std::size_t>(p * static_cast<double>(n - 1) + 0.5);
  std::nth_element(copy.begin(), copy.begin() + static_cast<std::ptrdiff_t>(rank),
                   copy.begin() + static_cast<std::ptrdiff_t>(n));
  return copy[rank];
}

bool ModelHealth::admit(std::int64_t now_ms) {
  auto until = open_until_ms_.load(std::memory_order_acquire);
  if (until == 0) return true;
  if (now_ms < until) return false;
  // Half-open: exactly one probe goes out; the others wait for its verdict.
  bool expected = false;
  return probing_.compare_exchange_strong(expected, true, std::memory_order_acq_rel);
}

bool ModelHealth::is_open(std::int64_t now_ms) const {
  auto until = open_until_ms_.load(std::memory_order_acquire);
  if (until == 0) return false;
  return now_ms < until || probing_.load(std::memory_order_relaxed);
}

void ModelHealth::record_success(double latency_ms) {
  latency_.record(latency_ms);
  failures_.store(0, std::memory_order_relaxed);
  open_until_ms_.store(0, std::memory_order_release);
  probing_.store(false, std::memory_order_release);
}

bool ModelHealth::record_failure(std::int64_t now_ms) {
  auto failures = failures_.fetch_add(1, std::memory_order_relaxed) + 1;
  bool was_probe = probing_.exchange(false, std::memory_order_acq_rel);
  if (was_probe || failures >= failure_threshold_.load(std::memory_order_relaxed)) {
    auto open_ms = open_ms_.load(std::memory_order_relaxed);
    auto before = open_until_ms_.exchange(now_ms + open_ms, std::memory_order_acq_rel);
    return before == 0 || before <= now_ms;  // newly opened, not an open one extended
  }
  return false;
}

void ModelHealth::open_until(std::int64_t until_ms) {
  auto current = open_until_ms_.load(std::memory_order_relaxed);
  while (current < until_ms &&
         !open_until_ms_.compare_exchange_weak(current, until_ms, std::memory_order_acq_rel)) {
  }
}

void KeyHealth::cool_down(std::int64_t until_ms) {
  auto current = cooldown_until_ms_.load(std::memory_order_relaxed);
  while (current < until_ms &&
         !cooldown_until_ms_.compare_exchange_weak(current, until_ms, std::memory_order_relaxed)) {
  }
}

std::shared_ptr<ModelHealth> HealthRegistry::model(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto& slot = models_[name];
  if (!slot) slot = std::make_shared<ModelHealth>();
  return slot;
}

std::shared_ptr<KeyHealth> HealthRegistry::key(const std::string& provider,
                                               const std::string& key_id) {
  std::lock_guard lock(mutex_);
  auto& slot = keys_[provider + "/" + key_id];
  if (!slot) slot = std::make_shared<KeyHealth>();
  return slot;
}

void HealthRegistry::apply(const HealthEvent& e, std::int64_t now_ms) {
  if (e.duration_ms <= 0) return;
  std::lock_guard lock(mutex_);
  if (e.kind == HealthEvent::Kind::key_cooldown) {
    auto it = keys_.find(e.provider + "/" + e.key_id);
    if (it != keys_.end()) it->second->cool_down(now_ms + e.duration_ms);
  } else {
    auto it = models_.find(e.model);
    if (it != models_.end()) it->second->open_until(now_ms + e.duration_ms);
  }
}

std::string HealthEvent::encode() const {
  nlohmann::json j;
  if (kind == Kind::key_cooldown) {
    j = {{"event", "key_cooldown"}, {"provider", provider}, {"key_id", key_id}};
  } else {
    j = {{"event", "circuit_open"}, {"model", model}};
  }
  j["ms"] = duration_ms;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<HealthEvent> HealthEvent::decode(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("event") || !j["event"].is_string() || !j.contains("ms") ||
      !j["ms"].is_number_integer())
    return std::nullopt;
  HealthEvent e;
  e.duration_ms = j["ms"].get<std::int64_t>();
  // Bounded: a bogus message cannot take a key or model out for long.
  if (e.duration_ms <= 0 || e.duration_ms > 24 * 3600 * 1000) return std::nullopt;
  auto str = [&](const char* name, std::string& out) {
    if (!j.contains(name) || !j[name].is_string()) return false;
    out = j[name].get<std::string>();
    return !out.empty();
  };
  auto kind = j["event"].get<std::string>();
  if (kind == "key_cooldown") {
    e.kind = Kind::key_cooldown;
    if (!str("provider", e.provider) || !str("key_id", e.key_id)) return std::nullopt;
  } else if (kind == "circuit_open") {
    e.kind = Kind::circuit_open;
    if (!str("model", e.model)) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return e;
}

}  // namespace switchboard::routing
