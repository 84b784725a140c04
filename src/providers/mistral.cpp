// Mistral adapter: OpenAI requests with Mistral's tool call ids and field names, answers back.
#include "switchboard/providers/mistral.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "switchboard/protocol/sse.hpp"

namespace switchboard::providers {

namespace {

using nlohmann::json;
using protocol::ApiError;
using protocol::ErrorCode;

// Mistral rejects unknown fields ("Extra inputs are not permitted"). These OpenAI fields change
// nothing about the answer, so they are dropped; `stream_options` because Mistral sends usage in
// its last chunk unasked.
constexpr std::array kDroppedFields{"stream_options",   "user",     "store",
                                    "service_tier",     "metadata", "prompt_cache_key",
                                    "safety_identifier"};
// OpenAI fields Mistral has no equivalent for that would change the answer: refused by name.
constexpr std::array kRefusedFields{"logit_bias",         "top_logprobs", "audio",
                                    "web_search_options", "functions",    "function_call"};
// What Mistral accepts on each message, by role (clients echo OpenAI's `refusal`,
// `annotations`, ... back in assistant messages; Mistral would reject them).
const std::map<std::string_view, std::vector<std::string_view>> kMessageFields{
    {"system", {"role", "content"}},
    {"user", {"role", "content"}},
    {"assistant", {"role", "content", "tool_calls", "prefix"}},
    {"tool", {"role", "content", "tool_call_id", "name"}},
};

template <std::size_t N>
bool listed(const std::array<const char*, N>& list, std::string_view key) {
  return std::find(list.begin(), list.end(), key) != list.end();
}

bool present(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

ApiError unsupported(const std::string& param, std::string_view why = {}) {
  std::string message = "'" + param + "' is not supported by Mistral models";
  if (!why.empty()) message += ": " + std::string(why);
  return protocol::make_error(ErrorCode::invalid_request, std::move(message), param);
}

ApiError finished_with_error() {
  return protocol::make_error(ErrorCode::upstream_error,
                              "Mistral ended the completion with finish_reason 'error'");
}

void common_headers(const ProviderTarget& target, upstream::UpstreamRequest& out) {
  out.method = "POST";
  out.headers.push_back({"content-type", "application/json"});
  if (!target.key.empty())
    out.headers.push_back({"authorization", "Bearer " + std::string(target.key)});
  if (target.provider) {
    for (const auto& [name, value] : target.provider->headers) out.headers.push_back({name, value});
  }
}

json mistral_message(const json& m) {
  if (!m.is_object()) return m;
  std::string role = m.value("role", "");
  if (role == "developer") role = "system";
  auto fields = kMessageFields.find(role);
  if (fields == kMessageFields.end()) return m;  // Mistral's validation names it
  json out = json::object();
  for (const auto& [key, value] : m.items()) {
    if (std::find(fields->second.begin(), fields->second.end(), key) != fields->second.end())
      out[key] = value;
  }
  out["role"] = role;
  if (auto calls = out.find("tool_calls"); calls != out.end() && calls->is_array()) {
    for (auto& c : *calls) {
      if (!c.is_object()) continue;
      c.erase("extra_content");
      if (c.contains("id") && c["id"].is_string())
        c["id"] = mistral_tool_call_id(c["id"].get<std::string>());
    }
  }
  if (auto id = out.find("tool_call_id"); id != out.end() && id->is_string())
    *id = mistral_tool_call_id(id->get<std::string>());
  return out;
}

// Mistral content is a string or chunks ({type:"text"}, {type:"thinking"}, references...):
// OpenAI's is the text.
json text_content(const json& content) {
  if (!content.is_array()) return content;
  std::string text;
  for (const auto& c : content) {
    if (c.is_object() && c.value("type", "") == "text" && c.contains("text") &&
        c["text"].is_string())
      text += c["text"].get<std::string>();
  }
  return text;
}

// An OpenAI tool call from Mistral's (arguments may arrive as an object; type may be absent).
json openai_tool_call(const json& c) {
  json out = {{"type", "function"}};
  if (c.contains("id") && c["id"].is_string()) out["id"] = c["id"];
  json function = json::object();
  if (auto f = c.find("function"); f != c.end() && f->is_object()) {
    if (f->contains("name")) function["name"] = (*f)["name"];
    if (auto a = f->find("arguments"); a != f->end())
      function["arguments"] = a->is_string() ? *a : json(dump(*a));
  }
  out["function"] = std::move(function);
  return out;
}

json usage_json(const accounting::Usage& u) {
  return {{"prompt_tokens", u.input},
          {"completion_tokens", u.output},
          {"total_tokens", u.input + u.output},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_input}}},
          {"completion_tokens_details", {{"reasoning_tokens", u.reasoning}}}};
}

// Mistral's errors are flat {"object":"error","message",...}; a 422's message is an object
// ({"detail":[...]}) and FastAPI's own are {"detail":[...]}: keep them readable.
ApiError mistral_error(int status, std::string_view body, bool& retryable) {
  auto j = json::parse(body, nullptr, false);
  std::string message;
  if (j.is_object()) {
    const json* m = nullptr;
    if (j.contains("error") && j["error"].is_object() && j["error"].contains("message")) {
      m = &j["error"]["message"];
    } else if (j.contains("message")) {
      m = &j["message"];
    } else if (j.contains("detail")) {
      m = &j["detail"];
    }
    if (m) message = m->is_string() ? m->get<std::string>() : dump(*m);
  }
  if (message.empty()) message = std::string(body.substr(0, 300));
  retryable = status == 408 || status == 429 || status >= 500;
  auto code = protocol::error_code_for_upstream_status(status);
  if (code == ErrorCode::invalid_request) return protocol::make_error(code, message);
  return protocol::make_error(code, "answered " + std::to_string(status) + ": " + message);
}

// An error object where a completion or chunk should be (a 200 that failed after all).
std::optional<ApiError> error_object(const json& j) {
  if (j.value("object", "") != "error" && !j.contains("error")) return std::nullopt;
  bool retryable = false;
  return mistral_error(502, dump(j), retryable);
}

// Mistral's stream is OpenAI's with its own finish reasons and usage folded into the last
// chunk; the translation splits that usage into the chunk OpenAI clients expect.
class MistralStreamTranslator final : public StreamTranslator {
 public:
  explicit MistralStreamTranslator(ResponseContext context) : context_(std::move(context)) {}

  std::optional<ApiError> feed(std::string_view bytes, ChunkSink& sink) override {
    if (failed_ || done_) return std::nullopt;
    reader_.feed(bytes);
    while (reader_.next(event_)) {
      if (event_.is_comment || event_.data.empty()) continue;
      if (protocol::is_sse_done(event_.data)) {
        finish(sink);
        return std::nullopt;
      }
      auto j = json::parse(event_.data, nullptr, false);
      if (!j.is_object())
        return fail(protocol::make_error(ErrorCode::upstream_error,
                                         "Mistral sent a malformed stream event"));
      if (auto e = error_object(j)) return fail(std::move(*e));
      if (auto e = on_chunk(j, sink)) return fail(std::move(*e));
    }
    if (reader_.overflowed())
      return fail(
          protocol::make_error(ErrorCode::upstream_error, "Mistral sent an oversized event"));
    return std::nullopt;
  }

  bool done() const override { return done_; }
  const accounting::Usage& usage() const override { return usage_; }

 private:
  struct ChoiceState {
    std::vector<std::string> call_ids;  // our tool call index -> id
    int last_call = -1;
  };

  std::optional<ApiError> fail(ApiError error) {
    failed_ = true;
    return error;
  }

  std::optional<ApiError> on_chunk(const json& j, ChunkSink& sink) {
    if (j.contains("id") && j["id"].is_string()) id_ = j["id"].get<std::string>();
    if (auto u = j.find("usage"); u != j.end() && u->is_object())
      usage_ = accounting::usage_from_openai(*u);
    auto choices = j.find("choices");
    if (choices == j.end() || !choices->is_array() || choices->empty()) return std::nullopt;
    json out_choices = json::array();
    std::size_t output = 0;
    for (const auto& c : *choices) {
      if (!c.is_object()) continue;
      int index = c.value("index", 0);
      json delta = c.contains("delta") && c["delta"].is_object() ? c["delta"] : json::object();
      auto& state = states_[index];
      json out_delta = json::object();
      if (!started_.contains(index)) {
        started_.insert(index);
        out_delta["role"] = "assistant";
      }
      if (auto content = delta.find("content"); content != delta.end())
        out_delta["content"] = text_content(*content);
      if (auto calls = delta.find("tool_calls"); calls != delta.end() && calls->is_array()) {
        json out_calls = json::array();
        for (const auto& call : *calls) {
          if (call.is_object()) out_calls.push_back(tool_call_delta(call, state));
        }
        if (!out_calls.empty()) out_delta["tool_calls"] = std::move(out_calls);
      }
      json finish = nullptr;
      if (auto f = c.find("finish_reason"); f != c.end() && f->is_string()) {
        if (*f == "error") return finished_with_error();
        finish = mistral_finish_reason(f->get<std::string>());
      }
      output += delta_output_chars(out_delta);
      out_choices.push_back({{"index", index},
                             {"delta", std::move(out_delta)},
                             {"logprobs", nullptr},
                             {"finish_reason", std::move(finish)}});
    }
    if (!out_choices.empty()) sink.chunk(dump(chunk(std::move(out_choices))), output);
    return std::nullopt;
  }

  // OpenAI keys tool call fragments by an index counting calls; a new id starts a new call.
  json tool_call_delta(const json& call, ChoiceState& state) const {
    json out = json::object();
    std::string id = call.contains("id") && call["id"].is_string() ? call["id"].get<std::string>()
                                                                   : std::string();
    int index = state.last_call;
    if (!id.empty()) {
      auto it = std::find(state.call_ids.begin(), state.call_ids.end(), id);
      index = static_cast<int>(it - state.call_ids.begin());
      if (it == state.call_ids.end()) {
        state.call_ids.push_back(id);
        out = openai_tool_call(call);
      }
    }
    if (index < 0) index = 0;
    state.last_call = index;
    if (out.empty()) {  // a continuation: only the new argument text
      if (auto f = call.find("function");
          f != call.end() && f->is_object() && f->contains("arguments")) {
        const auto& a = (*f)["arguments"];
        out["function"] = {{"arguments", a.is_string() ? a : json(dump(a))}};
      }
    }
    out["index"] = index;
    return out;
  }

  json chunk(json choices) const {
    json c = {{"id", id_.empty() ? context_.id : id_},
              {"object", "chat.completion.chunk"},
              {"created", context_.created},
              {"model", context_.model},
              {"choices", std::move(choices)}};
    if (context_.include_usage) c["usage"] = nullptr;
    return c;
  }

  void finish(ChunkSink& sink) {
    done_ = true;
    if (!context_.include_usage || !usage_.known) return;
    auto c = chunk(json::array());
    c["usage"] = usage_json(usage_);
    sink.chunk(dump(c), 0);
  }

  ResponseContext context_;
  protocol::SseReader reader_;
  protocol::SseEvent event_;
  std::string id_;
  std::map<int, ChoiceState> states_;
  std::set<int> started_;
  accounting::Usage usage_;
  bool done_ = false;
  bool failed_ = false;
};

class MistralAdapter final : public ProviderAdapter {
 public:
  bool openai_wire() const override { return false; }

  std::optional<ApiError> build_chat(const json& request, bool stream, const ProviderTarget& target,
                                     upstream::UpstreamRequest& out) const override {
    json body = json::object();
    for (const auto& [key, value] : request.items()) {
      if (value.is_null() || listed(kDroppedFields, key)) continue;
      if (listed(kRefusedFields, key)) return unsupported(key);
      if (key == "logprobs") {
        if (value != false) return unsupported(key);
      } else if (key == "modalities") {
        if (value != json::array({"text"})) return unsupported(key, "only text output");
      } else if (key == "max_completion_tokens") {
        body["max_tokens"] = value;  // Mistral has only max_tokens; this one wins when both are set
      } else if (key == "max_tokens") {
        if (!present(request, "max_completion_tokens")) body["max_tokens"] = value;
      } else if (key == "seed") {
        body["random_seed"] = value;
      } else if (key == "messages" && value.is_array()) {
        json messages = json::array();
        for (const auto& m : value) messages.push_back(mistral_message(m));
        body["messages"] = std::move(messages);
      } else {
        body[key] = value;  // Mistral's own fields (safe_prompt, prompt_mode...) pass; it validates
      }
    }
    body["stream"] = stream;
    out.target = target.base_path + "/chat/completions";
    common_headers(target, out);
    if (stream) out.headers.push_back({"accept", "text/event-stream"});
    out.body = dump(body);
    return std::nullopt;
  }

  std::optional<ApiError> build_embeddings(const json& request, const ProviderTarget& target,
                                           upstream::UpstreamRequest& out) const override {
    json body = json::object();
    for (const auto& [key, value] : request.items()) {
      if (value.is_null() || key == "user") continue;
      if (key == "dimensions") {
        body["output_dimension"] = value;
      } else {
        body[key] = value;
      }
    }
    out.target = target.base_path + "/embeddings";
    common_headers(target, out);
    out.body = dump(body);
    return std::nullopt;
  }

  std::optional<ApiError> translate_chat(std::string_view body, const ResponseContext& context,
                                         json& out, accounting::Usage& usage) const override {
    auto j = json::parse(body, nullptr, false);
    if (!j.is_object())
      return protocol::make_error(ErrorCode::upstream_error, "Mistral answered a malformed body");
    if (auto e = error_object(j)) return e;
    json choices = json::array();
    if (auto c = j.find("choices"); c != j.end() && c->is_array()) {
      for (const auto& choice : *c) {
        if (!choice.is_object()) continue;
        const json message = choice.contains("message") && choice["message"].is_object()
                                 ? choice["message"]
                                 : json::object();
        json m = {
            {"role", "assistant"},
            {"content", message.contains("content") ? text_content(message["content"]) : json()}};
        if (auto calls = message.find("tool_calls");
            calls != message.end() && calls->is_array() && !calls->empty()) {
          json out_calls = json::array();
          for (const auto& call : *calls) {
            if (call.is_object()) out_calls.push_back(openai_tool_call(call));
          }
          m["tool_calls"] = std::move(out_calls);
        }
        std::string reason = choice.value("finish_reason", "stop");
        if (reason == "error") return finished_with_error();
        choices.push_back({{"index", choice.value("index", static_cast<int>(choices.size()))},
                           {"message", std::move(m)},
                           {"logprobs", nullptr},
                           {"finish_reason", mistral_finish_reason(reason)}});
      }
    }
    usage = j.contains("usage") ? accounting::usage_from_openai(j["usage"]) : accounting::Usage{};
    out = {{"id", j.value("id", context.id)},
           {"object", "chat.completion"},
           {"created", j.value("created", context.created)},
           {"model", context.model.empty() ? j.value("model", "") : context.model},
           {"choices", std::move(choices)}};
    if (usage.known) out["usage"] = usage_json(usage);
    return std::nullopt;
  }

  std::optional<ApiError> translate_embeddings(std::string_view body,
                                               const ResponseContext& context, json& out,
                                               accounting::Usage& usage) const override {
    auto j = json::parse(body, nullptr, false);
    if (!j.is_object() || !j.contains("data") || !j["data"].is_array())
      return protocol::make_error(ErrorCode::upstream_error,
                                  "Mistral answered a malformed embeddings body");
    json data = j["data"];
    std::stable_sort(data.begin(), data.end(), [](const json& a, const json& b) {
      return a.value("index", 0) < b.value("index", 0);
    });
    usage = j.contains("usage") ? accounting::usage_from_openai(j["usage"]) : accounting::Usage{};
    out = {{"object", "list"},
           {"data", std::move(data)},
           {"model", context.model.empty() ? j.value("model", "") : context.model},
           {"usage", {{"prompt_tokens", usage.input}, {"total_tokens", usage.input}}}};
    return std::nullopt;
  }

  std::unique_ptr<StreamTranslator> chat_stream(const ResponseContext& context) const override {
    return std::make_unique<MistralStreamTranslator>(context);
  }

  ApiError translate_error(int status, std::string_view body, bool& retryable) const override {
    return mistral_error(status, body, retryable);
  }
};

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool is_mistral_id(std::string_view id) {
  return id.size() == 9 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
         });
}

}  // namespace

std::string mistral_tool_call_id(std::string_view id) {
  if (is_mistral_id(id)) return std::string(id);
  static constexpr char kDigits[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  auto h = fnv1a(id);
  std::string out(9, '0');
  for (auto& c : out) {
    c = kDigits[h % 62];
    h /= 62;
  }
  return out;
}

std::string_view mistral_finish_reason(std::string_view reason) {
  if (reason == "model_length" || reason == "length") return "length";
  if (reason == "tool_calls") return "tool_calls";
  if (reason == "content_filter") return "content_filter";
  return "stop";
}

MistralToolCallIds MistralToolCallIds::from_request(const json& request) {
  MistralToolCallIds ids;
  auto messages = request.find("messages");
  if (messages == request.end() || !messages->is_array()) return ids;
  auto note = [&](const json& id) {
    if (!id.is_string()) return;
    auto original = id.get<std::string>();
    auto rewritten = mistral_tool_call_id(original);
    if (rewritten != original) ids.to_client_[rewritten] = original;
  };
  for (const auto& m : *messages) {
    if (!m.is_object()) continue;
    if (m.contains("tool_call_id")) note(m["tool_call_id"]);
    if (auto calls = m.find("tool_calls"); calls != m.end() && calls->is_array()) {
      for (const auto& c : *calls) {
        if (c.is_object() && c.contains("id")) note(c["id"]);
      }
    }
  }
  return ids;
}

std::string_view MistralToolCallIds::original(std::string_view mistral_id) const {
  auto it = to_client_.find(mistral_id);
  return it == to_client_.end() ? mistral_id : std::string_view(it->second);
}

void MistralToolCallIds::restore(json& completion) const {
  if (to_client_.empty()) return;
  auto choices = completion.find("choices");
  if (choices == completion.end() || !choices->is_array()) return;
  for (auto& c : *choices) {
    for (const char* holder : {"message", "delta"}) {
      if (!c.contains(holder) || !c[holder].is_object()) continue;
      auto calls = c[holder].find("tool_calls");
      if (calls == c[holder].end() || !calls->is_array()) continue;
      for (auto& call : *calls) {
        if (call.is_object() && call.contains("id") && call["id"].is_string())
          call["id"] = std::string(original(call["id"].get<std::string>()));
      }
    }
  }
}

std::unique_ptr<ProviderAdapter> make_mistral_adapter() {
  return std::make_unique<MistralAdapter>();
}

}  // namespace switchboard::providers
