// The Anthropic adapter: builds POST /v1/messages, translates messages and errors back to OpenAI.
#include "switchboard/providers/anthropic.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <tuple>
#include <utility>

#include "anthropic_internal.hpp"

namespace switchboard::providers {
namespace anthropic {

using nlohmann::json;

std::string_view finish_reason(std::string_view stop_reason, bool json_tool) {
  if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded")
    return "length";
  if (stop_reason == "tool_use") return json_tool ? "stop" : "tool_calls";
  if (stop_reason == "refusal") return "content_filter";
  return "stop";  // end_turn, stop_sequence, pause_turn and anything newer
}

namespace {
std::int64_t count(const json& usage, const char* key) {
  auto it = usage.find(key);
  return it != usage.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}
}  // namespace

accounting::Usage usage_from_anthropic(const json& u) {
  if (!u.is_object()) return {};
  UsageCounts counts;  // the arithmetic is UsageCounts::usage(), shared with the text readers
  counts.input = count(u, "input_tokens");
  counts.output = count(u, "output_tokens");
  counts.cache_read = count(u, "cache_read_input_tokens");
  counts.cache_write = count(u, "cache_creation_input_tokens");
  return counts.usage();
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

protocol::ErrorCode error_code(std::string_view type, int status) {
  using protocol::ErrorCode;
  if (type == "overloaded_error") return ErrorCode::no_healthy_upstream;
  if (status != 0) return protocol::error_code_for_upstream_status(status);
  // Inside a stream there is no status: the type says what happened.
  if (type == "rate_limit_error") return ErrorCode::rate_limit_exceeded;
  if (type == "invalid_request_error") return ErrorCode::invalid_request;
  if (type == "request_too_large") return ErrorCode::request_too_large;
  if (type == "timeout_error") return ErrorCode::upstream_timeout;
  return ErrorCode::upstream_error;
}

}  // namespace anthropic

namespace {

using nlohmann::json;
using protocol::ApiError;
using protocol::ErrorCode;

bool same_name(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

void add_header_unless_configured(const ProviderTarget& target, std::string name, std::string value,
                                  upstream::UpstreamRequest& out) {
  if (target.provider) {
    for (const auto& [configured, _] : target.provider->headers)
      if (same_name(configured, name)) return;
  }
  out.headers.push_back({std::move(name), std::move(value)});
}

// {"type":"error","error":{"type","message"}} -> (type, message); empty when not that shape.
std::pair<std::string, std::string> read_error(const json& j) {
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return {};
  const json& e = j["error"];
  auto string_at = [&e](const char* key) {
    return e.contains(key) && e[key].is_string() ? e[key].get<std::string>() : std::string();
  };
  return {string_at("type"), string_at("message")};
}

class AnthropicAdapter final : public ProviderAdapter {
 public:
  bool openai_wire() const override { return false; }

  // The DOM entry point, for callers that hold only a tree: the builder reads text, so the tree
  // is written out and read back (the gateway's request path calls build_chat_text).
  std::optional<ApiError> build_chat(const json& request, bool stream, const ProviderTarget& target,
                                     upstream::UpstreamRequest& out) const override {
    return build_chat_text(anthropic::dump(request), stream, target, out);
  }

  bool builds_chat_from_text() const override { return true; }

  std::optional<ApiError> build_chat_text(std::string_view request, bool stream,
                                          const ProviderTarget& target,
                                          upstream::UpstreamRequest& out) const override {
    // One document per thread: its arena is reused, so a warm thread allocates nothing for it.
    thread_local protocol::JsonDocument doc;
    struct Shrink {  // one huge request should not pin its memory for the thread's lifetime
      protocol::JsonDocument& doc;
      ~Shrink() { doc.shrink_to(std::size_t{4} << 20); }
    } shrink{doc};
    // nlohmann, which read requests before, also refuses numbers beyond double's range.
    if (!doc.parse(request) || doc.number_overflow())
      return protocol::make_error(ErrorCode::invalid_request, "the request body is not valid JSON");
    const protocol::JsonValue root = doc.root();
    // The configured provider model id; the client's name only when none is configured.
    std::string_view model = target.model_id;
    if (model.empty()) model = root.find("model").string();
    out.body.clear();
    if (auto err = anthropic::messages_body_from_openai(root, stream, model, out.body)) {
      out.body.clear();
      return err;
    }
    out.method = "POST";
    out.target = target.base_path + "/v1/messages";
    // Room for this adapter's four headers, the provider's own and the two the gateway adds
    // (traceparent, x-request-id): the vector is sized once.
    out.headers.reserve(out.headers.size() + 6 +
                        (target.provider ? target.provider->headers.size() : 0));
    add_header_unless_configured(target, "content-type", "application/json", out);
    if (!target.key.empty())
      add_header_unless_configured(target, "x-api-key", std::string(target.key), out);
    // provider-formats.md 10: the version is configurable through the provider's headers.
    add_header_unless_configured(target, "anthropic-version", std::string(kAnthropicVersion), out);
    if (stream) add_header_unless_configured(target, "accept", "text/event-stream", out);
    if (target.provider) {
      for (const auto& [name, value] : target.provider->headers)
        out.headers.push_back({name, value});
    }
    return std::nullopt;
  }

  std::optional<ApiError> build_embeddings(const json&, const ProviderTarget&,
                                           upstream::UpstreamRequest&) const override {
    return protocol::make_error(ErrorCode::invalid_request,
                                "Anthropic has no embeddings API; route embeddings to another "
                                "provider",
                                "model");
  }

  std::optional<ApiError> translate_chat(std::string_view body, const ResponseContext& context,
                                         json& out, accounting::Usage& usage) const override {
    try {
      return translate_message(json::parse(body, nullptr, false), context, out, usage);
    } catch (const json::exception& e) {
      return protocol::make_error(
          ErrorCode::upstream_error,
          std::string("Anthropic answered a malformed message: ") + e.what());
    }
  }

  std::optional<ApiError> translate_chat_text(std::string_view body, const ResponseContext& context,
                                              std::string& out,
                                              accounting::Usage& usage) const override {
    return anthropic::write_chat_completion(body, context, out, usage);
  }

  std::unique_ptr<StreamTranslator> chat_stream(const ResponseContext& context) const override {
    return anthropic::make_stream_translator(context);
  }

  ApiError translate_error(int status, std::string_view body, bool& retryable) const override;

 private:
  static std::optional<ApiError> translate_message(const json& j, const ResponseContext& context,
                                                   json& out, accounting::Usage& usage) {
    if (!j.is_object() || !j.contains("content") || !j["content"].is_array())
      return protocol::make_error(ErrorCode::upstream_error,
                                  "Anthropic answered with a body that is not a message");
    std::string text;
    json tool_calls = json::array();
    bool json_tool = false;
    for (const auto& block : j["content"]) {
      std::string type = block.is_object() ? block.value("type", "") : "";
      if (type == "text" && block.contains("text") && block["text"].is_string()) {
        text += block["text"].get_ref<const std::string&>();
      } else if (type == "tool_use") {
        const json input = block.contains("input") ? block["input"] : json::object();
        if (block.value("name", "") == kAnthropicJsonToolName) {
          json_tool = true;
          text += anthropic::dump(input);
          continue;
        }
        tool_calls.push_back(
            {{"id", block.value("id", "")},
             {"type", "function"},
             {"function",
              {{"name", block.value("name", "")}, {"arguments", anthropic::dump(input)}}}});
      }
      // thinking, redacted_thinking and server-tool blocks have no Chat Completions form.
    }
    std::string stop = j.contains("stop_reason") && j["stop_reason"].is_string()
                           ? j["stop_reason"].get<std::string>()
                           : "end_turn";
    usage = anthropic::usage_from_anthropic(j.contains("usage") ? j["usage"] : json());

    json message = {{"role", "assistant"}, {"refusal", nullptr}};
    message["content"] = text.empty() && !tool_calls.empty() ? json(nullptr) : json(text);
    if (!tool_calls.empty()) message["tool_calls"] = std::move(tool_calls);
    out = json::object();
    out["id"] = j.contains("id") && j["id"].is_string() ? j["id"].get<std::string>() : context.id;
    out["object"] = "chat.completion";
    out["created"] = context.created;
    out["model"] = context.model.empty() ? j.value("model", "") : context.model;
    out["choices"] = json::array({{{"index", 0},
                                   {"message", std::move(message)},
                                   {"logprobs", nullptr},
                                   {"finish_reason", anthropic::finish_reason(stop, json_tool)}}});
    out["usage"] = json(anthropic::openai_usage(usage));
    return std::nullopt;
  }
};

ApiError AnthropicAdapter::translate_error(int status, std::string_view body,
                                           bool& retryable) const {
  std::string type, message;
  bool spend_limit = false;
  try {
    auto j = json::parse(body, nullptr, false);
    std::tie(type, message) = read_error(j);
    // A 429 for a spent spend limit will not clear by retrying (provider-formats.md 4.5).
    const json* details = j.is_object() && j.contains("error") && j["error"].is_object() &&
                                  j["error"].contains("details")
                              ? &j["error"]["details"]
                              : nullptr;
    spend_limit = details && details->is_object() &&
                  details->value("error_code", json()) == "enforced_spend_limit_reached";
  } catch (const json::exception&) {
    type.clear();  // not Anthropic's shape: the raw body below says what happened
  }
  if (message.empty()) message = std::string(body.substr(0, 300));
  retryable = !spend_limit &&
              (status == 408 || status == 429 || status >= 500 || type == "overloaded_error");
  ErrorCode code = anthropic::error_code(type, status);
  if (code == ErrorCode::invalid_request) return protocol::make_error(code, message);
  std::string what = type.empty() ? std::to_string(status) : std::to_string(status) + " " + type;
  return protocol::make_error(code, "Anthropic answered " + what + ": " + message);
}

}  // namespace

std::unique_ptr<ProviderAdapter> make_anthropic_adapter() {
  return std::make_unique<AnthropicAdapter>();
}

}  // namespace switchboard::providers
