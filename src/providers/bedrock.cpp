// The Bedrock adapter: SigV4-signed Converse and InvokeModel requests; Converse bodies, embeddings
// and errors back to OpenAI's shapes.
#include "switchboard/providers/bedrock.hpp"

#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "switchboard/providers/sigv4.hpp"

namespace switchboard::providers {
namespace bedrock {

using nlohmann::json;

std::string model_path(std::string_view model_id, std::string_view action) {
  return "/model/" + sigv4::uri_encode(model_id) + "/" + std::string(action);
}

std::string_view finish_reason(std::string_view stop_reason) {
  if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded")
    return "length";
  if (stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "guardrail_intervened" || stop_reason == "content_filtered")
    return "content_filter";
  return "stop";  // end_turn, stop_sequence and anything newer
}

namespace {
std::int64_t count(const json& usage, const char* key) {
  auto it = usage.find(key);
  return it != usage.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

// "com.amazon.coral.service#ThrottlingException:http://..." -> "throttlingexception".
std::string exception_key(std::string_view name) {
  if (auto hash = name.rfind('#'); hash != std::string_view::npos) name.remove_prefix(hash + 1);
  if (auto colon = name.find(':'); colon != std::string_view::npos) name = name.substr(0, colon);
  std::string out(name);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}
}  // namespace

accounting::Usage usage_from_converse(const json& u) {
  accounting::Usage usage;
  if (!u.is_object()) return usage;
  usage.known = true;
  usage.cached_input = count(u, "cacheReadInputTokens");
  usage.cache_write = count(u, "cacheWriteInputTokens");
  usage.input = count(u, "inputTokens") + usage.cached_input + usage.cache_write;
  usage.output = count(u, "outputTokens");
  return usage;
}

nlohmann::ordered_json openai_usage(const accounting::Usage& u) {
  nlohmann::ordered_json out;
  out["prompt_tokens"] = u.input;
  out["completion_tokens"] = u.output;
  out["total_tokens"] = u.input + u.output;
  out["prompt_tokens_details"] = {{"cached_tokens", u.cached_input}};
  out["completion_tokens_details"] = {{"reasoning_tokens", u.reasoning}};
  out["cache_read_input_tokens"] = u.cached_input;
  out["cache_creation_input_tokens"] = u.cache_write;
  return out;
}

protocol::ErrorCode error_code(std::string_view exception, int status) {
  using protocol::ErrorCode;
  std::string key = exception_key(exception);
  if (key == "serviceunavailableexception") return ErrorCode::no_healthy_upstream;
  if (status != 0) return protocol::error_code_for_upstream_status(status);
  // Inside a stream there is no status: the exception says what happened.
  if (key == "throttlingexception" || key == "modelnotreadyexception")
    return ErrorCode::rate_limit_exceeded;
  if (key == "validationexception") return ErrorCode::invalid_request;
  if (key == "modeltimeoutexception") return ErrorCode::upstream_timeout;
  return ErrorCode::upstream_error;
}

bool retryable_exception(std::string_view exception) {
  std::string key = exception_key(exception);
  return key == "throttlingexception" || key == "serviceunavailableexception" ||
         key == "modelnotreadyexception" || key == "internalserverexception" ||
         key == "modeltimeoutexception";
}

}  // namespace bedrock

namespace {

using bedrock::dump;
using nlohmann::json;
using protocol::ApiError;
using protocol::ErrorCode;

ApiError bad(std::string message, std::string param) {
  return protocol::make_error(ErrorCode::invalid_request, std::move(message), std::move(param));
}

ApiError unsupported(const std::string& field, std::string_view why) {
  return bad("`" + field + "` is not supported by this Bedrock model: " + std::string(why), field);
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// The Host header as the transport sends it: base_url's authority, without a default port.
std::string host_header(const ProviderTarget& target) {
  std::string_view url = target.provider ? std::string_view(target.provider->base_url) : "";
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return target.host;
  std::string_view scheme = url.substr(0, scheme_end);
  std::string_view authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (authority.empty()) return target.host;
  std::string host = lower(authority);
  std::string_view default_port = lower(scheme) == "https" ? ":443" : ":80";
  if (host.size() > default_port.size() && host.ends_with(default_port))
    host.resize(host.size() - default_port.size());
  return host;
}

// The config's region, else the one in "bedrock-runtime.{region}.amazonaws.com".
std::string signing_region(const ProviderTarget& target, std::string_view host) {
  if (target.provider && !target.provider->region.empty()) return target.provider->region;
  constexpr std::string_view kPrefix = "bedrock-runtime.";
  if (host.starts_with(kPrefix)) {
    std::string_view rest = host.substr(kPrefix.size());
    return std::string(rest.substr(0, rest.find('.')));
  }
  return "us-east-1";
}

// Headers the signature owns: a provider's `headers` may not override them.
bool reserved_header(std::string_view lower_name) {
  return lower_name == "host" || lower_name == "authorization" || lower_name == "x-amz-date" ||
         lower_name == "x-amz-security-token" || lower_name == "x-amz-content-sha256";
}

void add_default(const ProviderTarget& target, std::string name, std::string value,
                 upstream::UpstreamRequest& out) {
  if (target.provider) {
    for (const auto& [configured, _] : target.provider->headers)
      if (lower(configured) == name) return;
  }
  out.headers.push_back({std::move(name), std::move(value)});
}

std::optional<ApiError> finish_request(const ProviderTarget& target, std::string path,
                                       std::string accept, std::string body,
                                       upstream::UpstreamRequest& out) {
  if (!target.provider)
    return protocol::make_error(ErrorCode::internal_error, "Bedrock target without a provider");
  const auto& provider = *target.provider;
  out.method = "POST";
  out.target = target.base_path + path;
  out.body = std::move(body);
  out.headers.clear();
  std::string host = host_header(target);
  out.headers.push_back({"host", host});
  add_default(target, "content-type", "application/json", out);
  add_default(target, "accept", std::move(accept), out);
  for (const auto& [name, value] : provider.headers) {
    std::string lower_name = lower(name);
    if (!reserved_header(lower_name)) out.headers.push_back({lower_name, value});
  }
  if (provider.access_key_id.empty()) {
    // A Bedrock API key from the rotation pool instead of SigV4 (provider-formats.md 6.1).
    if (target.key.empty())
      return protocol::make_error(ErrorCode::internal_error,
                                  "Bedrock provider has neither access_key_id nor keys");
    out.headers.push_back({"authorization", "Bearer " + std::string(target.key)});
    return std::nullopt;
  }
  sigv4::Credentials credentials{provider.access_key_id, provider.secret_access_key,
                                 provider.session_token};
  sigv4::Scope scope{signing_region(target, host), std::string(bedrock::kSigningService)};
  std::int64_t now = target.now_unix != 0 ? target.now_unix : std::time(nullptr);
  sigv4::sign(out, credentials, scope, now);
  return std::nullopt;
}

enum class EmbeddingFamily { unknown, titan_v1, titan_v2, cohere_v3, cohere_v4 };

// Chosen by the model id; inference profiles ("us.cohere...") and ARNs contain the same names.
EmbeddingFamily embedding_family(std::string_view model_id) {
  if (model_id.find("amazon.titan-embed-text-v1") != std::string_view::npos ||
      model_id.find("amazon.titan-embed-g1") != std::string_view::npos)
    return EmbeddingFamily::titan_v1;
  if (model_id.find("amazon.titan-embed") != std::string_view::npos)
    return EmbeddingFamily::titan_v2;
  if (model_id.find("cohere.embed-v4") != std::string_view::npos) return EmbeddingFamily::cohere_v4;
  if (model_id.find("cohere.embed") != std::string_view::npos) return EmbeddingFamily::cohere_v3;
  return EmbeddingFamily::unknown;
}

constexpr std::size_t kCohereMaxTexts = 96;

std::optional<ApiError> embeddings_body(const json& r, EmbeddingFamily family, json& body) {
  bool titan = family == EmbeddingFamily::titan_v1 || family == EmbeddingFamily::titan_v2;
  for (const auto& [key, value] : r.items()) {
    if (value.is_null() || key == "model" || key == "input" || key == "user") continue;
    if (key == "encoding_format") {
      if (value == "float") continue;
      return unsupported("encoding_format", "Bedrock embeddings are returned as floats");
    }
    if (key == "dimensions" &&
        (family == EmbeddingFamily::titan_v2 || family == EmbeddingFamily::cohere_v4))
      continue;
    if (key == "input_type" && !titan) continue;  // Cohere's own field, passed through
    return unsupported(
        key, key == "dimensions" ? "this model has a fixed size" : "it has no equivalent here");
  }
  static const json kNull;
  const json& input = r.contains("input") ? r["input"] : kNull;
  std::vector<std::string> texts;
  if (input.is_string()) {
    texts.push_back(input.get<std::string>());
  } else if (input.is_array()) {
    for (std::size_t i = 0; i < input.size(); ++i) {
      if (!input[i].is_string())
        return unsupported("input[" + std::to_string(i) + "]", "Bedrock embeds text, not tokens");
      texts.push_back(input[i].get<std::string>());
    }
  }
  if (texts.empty()) return bad("'input' must be a string or an array of strings", "input");
  const json* dimensions =
      r.contains("dimensions") && !r["dimensions"].is_null() ? &r["dimensions"] : nullptr;
  if (dimensions && !dimensions->is_number_integer())
    return bad("dimensions must be an integer", "dimensions");
  if (titan) {
    if (texts.size() > 1)
      return unsupported("input",
                         "Titan embeds one text per call; send a single string (or route to a "
                         "Cohere embedding model, which takes up to 96)");
    body = {{"inputText", std::move(texts.front())}};
    if (family == EmbeddingFamily::titan_v2) {
      body["normalize"] = true;  // OpenAI's embeddings are unit length
      if (dimensions) body["dimensions"] = *dimensions;
    }
    return std::nullopt;
  }
  if (texts.size() > kCohereMaxTexts)
    return unsupported("input", "Cohere on Bedrock embeds at most 96 texts per call");
  std::string input_type = "search_document";
  if (r.contains("input_type") && !r["input_type"].is_null()) {
    if (!r["input_type"].is_string()) return bad("input_type must be a string", "input_type");
    input_type = r["input_type"].get<std::string>();
  }
  body = {{"texts", std::move(texts)},
          {"input_type", std::move(input_type)},
          {"embedding_types", json::array({"float"})}};
  if (dimensions) body["output_dimension"] = *dimensions;
  return std::nullopt;
}

// Titan {"embedding":[...],"inputTextTokenCount":n} or Cohere {"embeddings":[[...]] | {"float":
// [[...]]}} -> the vectors, in order.
std::optional<ApiError> embedding_vectors(const json& j, json& vectors, accounting::Usage& usage) {
  usage = {};
  vectors = json::array();
  if (j.contains("embedding") && j["embedding"].is_array()) {
    vectors.push_back(j["embedding"]);
    if (j.contains("inputTextTokenCount") && j["inputTextTokenCount"].is_number_integer()) {
      usage.input = j["inputTextTokenCount"].get<std::int64_t>();
      usage.known = true;
    }
    return std::nullopt;
  }
  const json* list = j.contains("embeddings") ? &j["embeddings"] : nullptr;
  if (list && list->is_object()) list = list->contains("float") ? &(*list)["float"] : nullptr;
  if (!list || !list->is_array())
    return protocol::make_error(ErrorCode::upstream_error,
                                "Bedrock answered an embeddings body without vectors");
  for (const auto& v : *list) {
    if (!v.is_array())
      return protocol::make_error(ErrorCode::upstream_error,
                                  "Bedrock answered an embedding that is not an array");
    vectors.push_back(v);
  }
  // Cohere reports tokens only in response headers, unless meta.billed_units says.
  const json& billed = j.contains("meta") && j["meta"].is_object() &&
                               j["meta"].contains("billed_units") &&
                               j["meta"]["billed_units"].is_object()
                           ? j["meta"]["billed_units"]
                           : json();
  if (billed.is_object() && billed.contains("input_tokens") &&
      billed["input_tokens"].is_number_integer()) {
    usage.input = billed["input_tokens"].get<std::int64_t>();
    usage.known = true;
  }
  return std::nullopt;
}

std::string string_at(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

class BedrockAdapter final : public ProviderAdapter {
 public:
  bool openai_wire() const override { return false; }

  std::optional<ApiError> build_chat(const json& request, bool stream, const ProviderTarget& target,
                                     upstream::UpstreamRequest& out) const override {
    json body;
    if (auto err = bedrock::converse_body_from_openai(request, body)) return err;
    return finish_request(
        target, bedrock::model_path(target.model_id, stream ? "converse-stream" : "converse"),
        stream ? "application/vnd.amazon.eventstream" : "application/json", dump(body), out);
  }

  std::optional<ApiError> build_embeddings(const json& request, const ProviderTarget& target,
                                           upstream::UpstreamRequest& out) const override {
    if (!request.is_object()) return bad("the request body must be a JSON object", "");
    EmbeddingFamily family = embedding_family(target.model_id);
    if (family == EmbeddingFamily::unknown)
      return bad("the Bedrock model '" + target.model_id +
                     "' is not a known embedding family (amazon.titan-embed-*, cohere.embed-*)",
                 "model");
    json body;
    if (auto err = embeddings_body(request, family, body)) return err;
    return finish_request(target, bedrock::model_path(target.model_id, "invoke"),
                          "application/json", dump(body), out);
  }

  std::optional<ApiError> translate_chat(std::string_view body, const ResponseContext& context,
                                         json& out, accounting::Usage& usage) const override {
    try {
      return translate_converse(json::parse(body, nullptr, false), context, out, usage);
    } catch (const json::exception& e) {
      return protocol::make_error(ErrorCode::upstream_error,
                                  std::string("Bedrock answered a malformed body: ") + e.what());
    }
  }

  std::optional<ApiError> translate_embeddings(std::string_view body,
                                               const ResponseContext& context, json& out,
                                               accounting::Usage& usage) const override {
    auto j = json::parse(body, nullptr, false);
    if (!j.is_object())
      return protocol::make_error(ErrorCode::upstream_error,
                                  "Bedrock answered a malformed embeddings body");
    json vectors;
    if (auto err = embedding_vectors(j, vectors, usage)) return err;
    json data = json::array();
    for (auto& v : vectors)
      data.push_back(
          {{"object", "embedding"}, {"index", data.size()}, {"embedding", std::move(v)}});
    out = {{"object", "list"},
           {"data", std::move(data)},
           {"model", context.model},
           {"usage", {{"prompt_tokens", usage.input}, {"total_tokens", usage.input}}}};
    return std::nullopt;
  }

  std::unique_ptr<StreamTranslator> chat_stream(const ResponseContext& context) const override {
    return bedrock::make_stream_translator(context);
  }

  ApiError translate_error(int status, std::string_view body, bool& retryable) const override {
    auto j = json::parse(body, nullptr, false);
    std::string message, type;
    if (j.is_object()) {
      message = string_at(j, "message");
      if (message.empty()) message = string_at(j, "Message");
      type = string_at(j, "__type");
      if (type.empty()) type = string_at(j, "code");
    }
    if (message.empty()) message = std::string(body.substr(0, 300));
    retryable = status == 408 || status == 429 || status >= 500 ||
                bedrock::retryable_exception(type) ||
                message.find("ModelNotReady") != std::string::npos;
    ErrorCode code = bedrock::error_code(type, status);
    if (code == ErrorCode::invalid_request) return protocol::make_error(code, message);
    std::string what = std::to_string(status);
    if (!type.empty()) {
      std::string_view name = type;
      if (auto hash = name.rfind('#'); hash != std::string_view::npos) name.remove_prefix(hash + 1);
      what += " " + std::string(name.substr(0, name.find(':')));
    }
    return protocol::make_error(code, "Bedrock answered " + what + ": " + message);
  }

 private:
  static std::optional<ApiError> translate_converse(const json& j, const ResponseContext& context,
                                                    json& out, accounting::Usage& usage) {
    const json* content = nullptr;
    if (j.is_object() && j.contains("output") && j["output"].is_object() &&
        j["output"].contains("message") && j["output"]["message"].is_object() &&
        j["output"]["message"].contains("content") && j["output"]["message"]["content"].is_array())
      content = &j["output"]["message"]["content"];
    if (!content)
      return protocol::make_error(ErrorCode::upstream_error,
                                  "Bedrock answered a body that is not a Converse response");
    std::string text;
    json tool_calls = json::array();
    for (const auto& block : *content) {
      if (!block.is_object()) continue;
      if (block.contains("text") && block["text"].is_string()) {
        text += block["text"].get_ref<const std::string&>();
      } else if (block.contains("toolUse") && block["toolUse"].is_object()) {
        const json& use = block["toolUse"];
        const json input = use.contains("input") ? use["input"] : json::object();
        tool_calls.push_back(
            {{"id", string_at(use, "toolUseId")},
             {"type", "function"},
             {"function", {{"name", string_at(use, "name")}, {"arguments", dump(input)}}}});
      }
      // reasoningContent, citations and guardrail blocks have no Chat Completions form.
    }
    std::string stop = string_at(j, "stopReason");
    usage = bedrock::usage_from_converse(j.contains("usage") ? j["usage"] : json());

    json message = {{"role", "assistant"}, {"refusal", nullptr}};
    message["content"] = text.empty() && !tool_calls.empty() ? json(nullptr) : json(text);
    if (!tool_calls.empty()) message["tool_calls"] = std::move(tool_calls);
    out = json::object();
    out["id"] = context.id;  // Converse answers carry no id
    out["object"] = "chat.completion";
    out["created"] = context.created;
    out["model"] = context.model;
    out["choices"] = json::array({{{"index", 0},
                                   {"message", std::move(message)},
                                   {"logprobs", nullptr},
                                   {"finish_reason", bedrock::finish_reason(stop)}}});
    if (usage.known) out["usage"] = json(bedrock::openai_usage(usage));
    return std::nullopt;
  }
};

}  // namespace

std::unique_ptr<ProviderAdapter> make_bedrock_adapter() {
  return std::make_unique<BedrockAdapter>();
}

}  // namespace switchboard::providers
