// What a config snapshot becomes at load: adapters, key pools, tenant key lookup. Immutable once
// built.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "switchboard/config/config.hpp"
#include "switchboard/guardrails/guardrail.hpp"
#include "switchboard/providers/adapter.hpp"
#include "switchboard/routing/health.hpp"
#include "switchboard/upstream/pool.hpp"

namespace switchboard::gateway {

using Digest = std::array<unsigned char, 32>;

Digest sha256(std::string_view data);
// First 12 hex characters of the key's SHA-256: safe to log and trace.
std::string key_id(std::string_view key);

struct ProviderRuntime {
  const config::ProviderConfig* config = nullptr;
  std::unique_ptr<providers::ProviderAdapter> adapter;
  upstream::UpstreamEndpoint endpoint;  // unused for mock
  std::string pool_fingerprint;         // pools survive a reload when this is unchanged
  std::vector<std::string> key_ids;     // parallel to config->keys
  std::shared_ptr<std::atomic<std::uint64_t>> key_cursor =
      std::make_shared<std::atomic<std::uint64_t>>(0);
  std::shared_ptr<std::atomic<std::uint64_t>> mock_calls =
      std::make_shared<std::atomic<std::uint64_t>>(0);

  std::vector<std::shared_ptr<routing::KeyHealth>> key_health;  // parallel to config->keys

  // The usable key with the fewest calls in flight (ties rotate); -1 when the provider
  // has no keys at all, -2 when every key is cooling down or disabled.
  int pick_key(std::int64_t now_ms) const;
};

// A model's provider and circuit, found once at build so routing never looks them up by name.
struct ModelRefs {
  const ProviderRuntime* provider = nullptr;
  routing::ModelHealth* health = nullptr;
};

// A route as the router uses it; every model is also an implicit one-target route.
struct RouteRuntime {
  std::string name;
  bool implicit = false;
  std::vector<const config::ModelConfig*> targets;
  std::vector<double> weights;         // parallel to targets
  std::vector<ModelRefs> target_refs;  // parallel to targets
  std::vector<const config::ModelConfig*> fallbacks;
  std::vector<ModelRefs> fallback_refs;  // parallel to fallbacks
  config::Strategy strategy = config::Strategy::priority;
  config::RetryConfig retry;
  config::HedgeConfig hedge;
  std::vector<std::string> guardrails;
  std::shared_ptr<std::atomic<std::uint64_t>> rotation =
      std::make_shared<std::atomic<std::uint64_t>>(0);
};

class Runtime {
 public:
  // Builds the derived state; on failure returns null and fills `error`.
  // `health` carries circuit and key state across reloads; null gives the snapshot its own.
  static std::shared_ptr<const Runtime> build(
      config::ConfigPtr config, std::string& error,
      std::shared_ptr<routing::HealthRegistry> health = nullptr);

  const config::Config& config() const { return *config_; }
  const config::ConfigPtr& config_ptr() const { return config_; }
  const ProviderRuntime* provider(const std::string& name) const;
  const RouteRuntime* route(std::string_view name) const;
  routing::ModelHealth* health(const std::string& model) const;
  const std::unordered_map<std::string, ProviderRuntime>& providers() const { return providers_; }
  // The snapshot's guardrails, compiled once (RE2 programs, keyword sets, endpoints).
  const guardrails::GuardrailSet& guardrails() const { return *guardrails_; }
  // The tenant owning `key`, compared as SHA-256 digests in constant time; null when unknown.
  // A key found recently on this thread is answered from a small per-thread cache (compared
  // in constant time, dropped when the snapshot changes) instead of being hashed again. That
  // cache holds the raw keys (up to 8 per thread, matched ones only, wiped when the thread
  // ends), where before only their digests stayed in memory.
  const config::TenantConfig* tenant_for_key(std::string_view key) const;
  bool is_admin_key(std::string_view key) const;

 private:
  struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept;
  };
  // Unique per snapshot (never reused, unlike an address): what the key cache is keyed by.
  std::uint64_t id_ = 0;
  config::ConfigPtr config_;
  std::shared_ptr<routing::HealthRegistry> registry_;
  std::unordered_map<std::string, ProviderRuntime> providers_;
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  std::unordered_map<std::string, RouteRuntime, NameHash, std::equal_to<>> routes_;
  std::unordered_map<std::string, std::shared_ptr<routing::ModelHealth>> model_health_;
  std::unordered_map<Digest, const config::TenantConfig*, DigestHash> tenant_keys_;
  std::vector<Digest> admin_keys_;
  std::shared_ptr<const guardrails::GuardrailSet> guardrails_;
};

using RuntimePtr = std::shared_ptr<const Runtime>;

}  // namespace switchboard::gateway
