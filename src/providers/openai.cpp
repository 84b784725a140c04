// OpenAI and OpenAI-compatible upstreams (OpenAI, vLLM, Ollama, the mock): the wire format is ours.
#include <string>

#include "switchboard/providers/adapter.hpp"
#include "switchboard/providers/anthropic.hpp"
#include "switchboard/providers/azure.hpp"
#include "switchboard/providers/bedrock.hpp"
#include "switchboard/providers/gemini.hpp"
#include "switchboard/providers/mistral.hpp"

namespace switchboard::providers {

namespace {

void common_headers(const ProviderTarget& target, upstream::UpstreamRequest& out) {
  out.headers.reserve(4 + target.provider->headers.size());
  out.headers.push_back({"content-type", "application/json"});
  if (!target.key.empty()) {
    std::string bearer;  // in one allocation
    bearer.reserve(7 + target.key.size());
    bearer.append("Bearer ").append(target.key);
    out.headers.push_back({"authorization", std::move(bearer)});
  }
  for (const auto& [name, value] : target.provider->headers) out.headers.push_back({name, value});
}

class OpenAiAdapter final : public ProviderAdapter {
 public:
  bool openai_wire() const override { return true; }
  bool forwards_verbatim() const override { return true; }

  std::optional<protocol::ApiError> build_chat(const nlohmann::json& request, bool stream,
                                               const ProviderTarget& target,
                                               upstream::UpstreamRequest& out) const override {
    out.method = "POST";
    out.target.reserve(target.base_path.size() + 17);
    out.target.assign(target.base_path).append("/chat/completions");
    common_headers(target, out);
    if (stream) out.headers.push_back({"accept", "text/event-stream"});
    out.body = target.verbatim_body.empty()
                   ? request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                   : std::string(target.verbatim_body);
    return std::nullopt;
  }

  std::optional<protocol::ApiError> build_embeddings(
      const nlohmann::json& request, const ProviderTarget& target,
      upstream::UpstreamRequest& out) const override {
    out.method = "POST";
    out.target = target.base_path + "/embeddings";
    common_headers(target, out);
    out.body = target.verbatim_body.empty()
                   ? request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                   : std::string(target.verbatim_body);
    return std::nullopt;
  }
};

}  // namespace

std::optional<protocol::ApiError> ProviderAdapter::translate_chat_text(
    std::string_view body, const ResponseContext& context, std::string& out,
    accounting::Usage& usage) const {
  nlohmann::json translated;
  if (auto error = translate_chat(body, context, translated, usage)) return error;
  out += translated.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return std::nullopt;
}

protocol::ApiError ProviderAdapter::translate_error(int status, std::string_view body,
                                                    bool& retryable) const {
  // OpenAI's shape {"error":{"message",...}}; most providers are close enough to read it.
  std::string message;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object()) {
    if (auto e = j.find("error"); e != j.end()) {
      if (e->is_object() && e->contains("message") && (*e)["message"].is_string()) {
        message = (*e)["message"].get<std::string>();
      } else if (e->is_string()) {
        message = e->get<std::string>();
      }
    } else if (auto m = j.find("message"); m != j.end() && m->is_string()) {
      message = m->get<std::string>();
    }
  }
  if (message.empty()) message = std::string(body.substr(0, 300));
  retryable = status == 408 || status == 429 || status >= 500;
  if (status == 400 || status == 404 || status == 409 || status == 413 || status == 422) {
    auto e = protocol::make_error(protocol::ErrorCode::invalid_request, message);
    e.status = status;
    return e;
  }
  return protocol::make_error(protocol::ErrorCode::upstream_error,
                              "answered " + std::to_string(status) + ": " + message);
}

std::unique_ptr<ProviderAdapter> make_adapter(config::ProviderType type) {
  switch (type) {
    case config::ProviderType::openai:
    case config::ProviderType::openai_compatible:
    case config::ProviderType::mock:
      return std::make_unique<OpenAiAdapter>();
    case config::ProviderType::azure:
      return make_azure_adapter();
    case config::ProviderType::gemini:
      return make_gemini_adapter();
    case config::ProviderType::mistral:
      return make_mistral_adapter();
    case config::ProviderType::bedrock:
      return make_bedrock_adapter();
    case config::ProviderType::anthropic:
      return make_anthropic_adapter();
  }
  return nullptr;
}

}  // namespace switchboard::providers
