// What a config snapshot becomes at load: adapters, key pools, tenant key lookup. Immutable once
// built.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "switchboard/config/config.hpp"
#include "switchboard/providers/adapter.hpp"
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

  // Index of the key for the next call (round robin); -1 when the provider has none.
  int next_key() const;
};

class Runtime {
 public:
  // Builds the derived state; on failure returns null and fills `error`.
  static std::shared_ptr<const Runtime> build(config::ConfigPtr config, std::string& error);

  const config::Config& config() const { return *config_; }
  const config::ConfigPtr& config_ptr() const { return config_; }
  const ProviderRuntime* provider(const std::string& name) const;
  // The tenant owning `key`, compared as SHA-256 digests in constant time; null when unknown.
  const config::TenantConfig* tenant_for_key(std::string_view key) const;
  bool is_admin_key(std::string_view key) const;

 private:
  struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept;
  };
  config::ConfigPtr config_;
  std::unordered_map<std::string, ProviderRuntime> providers_;
  std::unordered_map<Digest, const config::TenantConfig*, DigestHash> tenant_keys_;
  std::vector<Digest> admin_keys_;
};

using RuntimePtr = std::shared_ptr<const Runtime>;

}  // namespace switchboard::gateway
