// A provider adapter: a pure translator between OpenAI's wire format and one provider's.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "switchboard/config/config.hpp"
#include "switchboard/protocol/errors.hpp"
#include "switchboard/upstream/call.hpp"

namespace switchboard::providers {

struct ProviderTarget {
  const config::ProviderConfig* provider = nullptr;
  std::string base_path;  // from base_url, without trailing slash
  std::string_view key;   // the rotation pool's pick; empty when the provider has none
};

class ProviderAdapter {
 public:
  virtual ~ProviderAdapter() = default;

  // True when the upstream speaks OpenAI's format, so bodies and SSE events pass
  // through as bytes and only `usage` is read.
  virtual bool openai_wire() const = 0;

  // `request` is the client's OpenAI body with "model" already the provider's id.
  // A field the provider cannot honour is a 400 ApiError, never silently dropped.
  virtual std::optional<protocol::ApiError> build_chat(const nlohmann::json& request, bool stream,
                                                       const ProviderTarget& target,
                                                       upstream::UpstreamRequest& out) const = 0;
  virtual std::optional<protocol::ApiError> build_embeddings(
      const nlohmann::json& request, const ProviderTarget& target,
      upstream::UpstreamRequest& out) const = 0;
};

// The adapter for a provider type; null when this build has none for it.
std::unique_ptr<ProviderAdapter> make_adapter(config::ProviderType type);

}  // namespace switchboard::providers
