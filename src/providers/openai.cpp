// OpenAI and OpenAI-compatible upstreams (OpenAI, vLLM, Ollama, the mock): the wire format is ours.
#include <string>

#include "switchboard/providers/adapter.hpp"

namespace switchboard::providers {

namespace {

void common_headers(const ProviderTarget& target, upstream::UpstreamRequest& out) {
  out.headers.reserve(4 + target.provider->headers.size());
  out.headers.push_back({"content-type", "application/json"});
  if (!target.key.empty())
    out.headers.push_back({"authorization", "Bearer " + std::string(target.key)});
  for (const auto& [name, value] : target.provider->headers) out.headers.push_back({name, value});
}

class OpenAiAdapter final : public ProviderAdapter {
 public:
  bool openai_wire() const override { return true; }

  std::optional<protocol::ApiError> build_chat(const nlohmann::json& request, bool stream,
                                               const ProviderTarget& target,
                                               upstream::UpstreamRequest& out) const override {
    out.method = "POST";
    out.target = target.base_path + "/chat/completions";
    common_headers(target, out);
    if (stream) out.headers.push_back({"accept", "text/event-stream"});
    out.body = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return std::nullopt;
  }

  std::optional<protocol::ApiError> build_embeddings(
      const nlohmann::json& request, const ProviderTarget& target,
      upstream::UpstreamRequest& out) const override {
    out.method = "POST";
    out.target = target.base_path + "/embeddings";
    common_headers(target, out);
    out.body = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return std::nullopt;
  }
};

}  // namespace

std::unique_ptr<ProviderAdapter> make_adapter(config::ProviderType type) {
  switch (type) {
    case config::ProviderType::openai:
    case config::ProviderType::openai_compatible:
    case config::ProviderType::mistral:  // OpenAI-shaped; its own adapter comes with the provider
                                         // issue
    case config::ProviderType::mock:
      return std::make_unique<OpenAiAdapter>();
    default:
      return nullptr;  // translated providers arrive with their adapters
  }
}

}  // namespace switchboard::providers
