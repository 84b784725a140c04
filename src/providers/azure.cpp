// Azure OpenAI adapter: OpenAI bodies pass through; the URL names the deployment and api-version.
#include "switchboard/providers/azure.hpp"

#include <cctype>
#include <string>

#include <nlohmann/json.hpp>

namespace switchboard::providers {

namespace {

using nlohmann::json;

std::string encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void build(const nlohmann::json& request, const ProviderTarget& target, std::string_view operation,
           upstream::UpstreamRequest& out) {
  out.method = "POST";
  out.target = azure_target(target, operation);
  out.headers.push_back({"content-type", "application/json"});
  if (!target.key.empty()) out.headers.push_back({"api-key", std::string(target.key)});
  if (target.provider) {
    for (const auto& [name, value] : target.provider->headers) out.headers.push_back({name, value});
  }
  out.body = request.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Azure's content filter refusing a prompt: 400 with error.code "content_filter" (the inner
// error says ResponsibleAIPolicyViolation).
bool prompt_filtered(const json& j) {
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return false;
  const auto& e = j["error"];
  if (e.value("code", "") == "content_filter") return true;
  auto inner = e.find("innererror");
  return inner != e.end() && inner->is_object() &&
         inner->value("code", "") == "ResponsibleAIPolicyViolation";
}

class AzureAdapter final : public ProviderAdapter {
 public:
  bool openai_wire() const override { return true; }

  std::optional<protocol::ApiError> build_chat(const json& request, bool stream,
                                               const ProviderTarget& target,
                                               upstream::UpstreamRequest& out) const override {
    build(request, target, "chat/completions", out);
    if (stream) out.headers.push_back({"accept", "text/event-stream"});
    return std::nullopt;
  }

  std::optional<protocol::ApiError> build_embeddings(
      const json& request, const ProviderTarget& target,
      upstream::UpstreamRequest& out) const override {
    build(request, target, "embeddings", out);
    return std::nullopt;
  }

  protocol::ApiError translate_error(int status, std::string_view body,
                                     bool& retryable) const override {
    auto error = ProviderAdapter::translate_error(status, body, retryable);
    if (status == 400 && prompt_filtered(json::parse(body, nullptr, false))) {
      auto filtered = protocol::make_error(protocol::ErrorCode::content_filter,
                                           std::move(error.message), "prompt");
      retryable = false;
      return filtered;
    }
    return error;
  }
};

}  // namespace

std::string azure_target(const ProviderTarget& target, std::string_view operation) {
  std::string path = target.base_path;
  // A base_url given with its "/openai" suffix is taken as it is.
  constexpr std::string_view kOpenAi = "/openai";
  if (path.size() < kOpenAi.size() ||
      path.compare(path.size() - kOpenAi.size(), kOpenAi.size(), kOpenAi) != 0) {
    path += kOpenAi;
  }
  std::string_view version = target.provider ? target.provider->api_version : std::string_view{};
  if (version == "v1") return path + "/v1/" + std::string(operation);
  path += "/deployments/" + encode(target.model_id) + "/" + std::string(operation);
  if (!version.empty()) path += "?api-version=" + encode(version);
  return path;
}

std::unique_ptr<ProviderAdapter> make_azure_adapter() {
  return std::make_unique<AzureAdapter>();
}

}  // namespace switchboard::providers
