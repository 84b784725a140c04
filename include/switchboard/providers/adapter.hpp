// A provider adapter: a pure translator between OpenAI's wire format and one provider's.
// No sockets, no timers, no globals: request out, response in, stream bytes in -> chunks out.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "switchboard/accounting/usage.hpp"
#include "switchboard/config/config.hpp"
#include "switchboard/protocol/errors.hpp"
#include "switchboard/upstream/call.hpp"

namespace switchboard::providers {

struct ProviderTarget {
  const config::ProviderConfig* provider = nullptr;
  std::string base_path;      // from base_url, without trailing slash
  std::string host;           // from base_url (SigV4 signs it)
  std::string_view key;       // the rotation pool's pick; empty when the provider has none
  std::string model_id;       // the provider's own model id (Azure: the deployment)
  std::int64_t now_unix = 0;  // wall clock for request signing (SigV4); 0 = read the clock
  // OpenAI-wire adapters send these bytes instead of re-serialising the request, when the
  // gateway knows they are exactly what it would send (see ForwardOptions::original_body).
  std::string_view verbatim_body;
};

// What the translated response should say about itself.
struct ResponseContext {
  std::string id;     // "chatcmpl-..." to use when the provider gives none
  std::string model;  // the model name to report
  std::int64_t created = 0;
  bool include_usage = false;  // streaming: emit the final usage chunk
};

// Receives a stream translator's chunks as they are written. The view is valid only during the
// call: translators write every chunk into one buffer they reuse, so a chunk costs no allocation.
class ChunkSink {
 public:
  // `json` is one OpenAI chat.completion.chunk object as compact JSON text (no raw line breaks,
  // no "data: " framing). `output_chars` counts the visible output it carries (content text,
  // tool-call names and arguments, in decoded UTF-8 bytes); 0 for role, finish and usage chunks.
  virtual void chunk(std::string_view json, std::size_t output_chars) = 0;

 protected:
  ~ChunkSink() = default;
};

// Collects chunks as strings, for callers that want them all (tests, tools).
class ChunkCollector final : public ChunkSink {
 public:
  explicit ChunkCollector(std::vector<std::string>& out) : out_(out) {}
  void chunk(std::string_view json, std::size_t) override { out_.emplace_back(json); }

 private:
  std::vector<std::string>& out_;
};

// The visible output an OpenAI chunk `delta` object carries, as ChunkSink::chunk counts it: for
// the translators that build their chunks as DOMs (Json: nlohmann::json or ordered_json).
template <typename Json>
std::size_t delta_output_chars(const Json& delta) {
  std::size_t n = 0;
  if (!delta.is_object()) return 0;
  if (auto c = delta.find("content"); c != delta.end() && c->is_string())
    n += c->template get_ref<const std::string&>().size();
  auto calls = delta.find("tool_calls");
  if (calls == delta.end() || !calls->is_array()) return n;
  for (const auto& call : *calls) {
    auto f = call.find("function");
    if (f == call.end() || !f->is_object()) continue;
    for (const char* field : {"name", "arguments"}) {
      if (auto v = f->find(field); v != f->end() && v->is_string())
        n += v->template get_ref<const std::string&>().size();
    }
  }
  return n;
}

// Turns a provider's streamed body into OpenAI chat.completion.chunk objects.
class StreamTranslator {
 public:
  virtual ~StreamTranslator() = default;
  // Feeds raw body bytes in arbitrary pieces; hands each complete OpenAI chunk to `sink`, in
  // order. An error event from the provider, or a malformed frame, returns an ApiError (the
  // stream ends there).
  virtual std::optional<protocol::ApiError> feed(std::string_view bytes, ChunkSink& sink) = 0;
  // The same, appending each chunk to `chunks`.
  std::optional<protocol::ApiError> feed(std::string_view bytes, std::vector<std::string>& chunks) {
    ChunkCollector collector(chunks);
    return feed(bytes, collector);
  }
  // True once the provider's terminal event arrived.
  virtual bool done() const = 0;
  // Usage as far as the provider reported it (known=false if it never did).
  virtual const accounting::Usage& usage() const = 0;
};

class ProviderAdapter {
 public:
  virtual ~ProviderAdapter() = default;

  // True when the upstream speaks OpenAI's format, so bodies and SSE events pass
  // through as bytes and only `usage` is read. The translate_* calls below are then unused.
  virtual bool openai_wire() const = 0;
  // True when build_chat/build_embeddings send ProviderTarget::verbatim_body, when given, as the
  // request body: the gateway then needs no DOM of the request at all.
  virtual bool forwards_verbatim() const { return false; }

  // `request` is the client's OpenAI body. A field the provider cannot honour is a
  // 400 ApiError that says so, never silently dropped.
  virtual std::optional<protocol::ApiError> build_chat(const nlohmann::json& request, bool stream,
                                                       const ProviderTarget& target,
                                                       upstream::UpstreamRequest& out) const = 0;
  virtual std::optional<protocol::ApiError> build_embeddings(
      const nlohmann::json& request, const ProviderTarget& target,
      upstream::UpstreamRequest& out) const = 0;
  // build_chat from the client's body text (`model` as the client sent it; target.model_id is the
  // model sent upstream), for an adapter that reads the text without a DOM: forward.cpp calls it
  // instead of parsing when builds_chat_from_text(). The default parses and calls build_chat.
  virtual bool builds_chat_from_text() const { return false; }
  virtual std::optional<protocol::ApiError> build_chat_text(std::string_view request, bool stream,
                                                            const ProviderTarget& target,
                                                            upstream::UpstreamRequest& out) const {
    auto dom = nlohmann::json::parse(request, nullptr, false);
    if (!dom.is_object())
      return protocol::make_error(protocol::ErrorCode::invalid_request,
                                  "the request body is not valid JSON");
    if (!target.model_id.empty()) dom["model"] = target.model_id;
    return build_chat(dom, stream, target, out);
  }

  // A 200 body -> an OpenAI chat.completion object and its usage.
  virtual std::optional<protocol::ApiError> translate_chat(std::string_view body,
                                                           const ResponseContext& context,
                                                           nlohmann::json& out,
                                                           accounting::Usage& usage) const {
    return protocol::make_error(protocol::ErrorCode::internal_error, "not a translating adapter");
  }
  // The same translation written as the chat.completion's JSON text (appended to `out`), for
  // callers that only send it on. The default dumps translate_chat's DOM; an adapter may write
  // the text directly and skip the tree. Same content as translate_chat, key order aside.
  virtual std::optional<protocol::ApiError> translate_chat_text(std::string_view body,
                                                                const ResponseContext& context,
                                                                std::string& out,
                                                                accounting::Usage& usage) const;
  // A 200 body -> an OpenAI embeddings list object and its usage.
  virtual std::optional<protocol::ApiError> translate_embeddings(std::string_view body,
                                                                 const ResponseContext& context,
                                                                 nlohmann::json& out,
                                                                 accounting::Usage& usage) const {
    return protocol::make_error(protocol::ErrorCode::internal_error, "not a translating adapter");
  }
  virtual std::unique_ptr<StreamTranslator> chat_stream(const ResponseContext& context) const {
    return nullptr;
  }

  // A non-2xx answer -> the error the client sees, keeping the provider's message.
  // `retryable` is set for 429, 5xx, 529 and the provider's "overloaded" shapes.
  virtual protocol::ApiError translate_error(int status, std::string_view body,
                                             bool& retryable) const;
};

// The adapter for a provider type; null when this build has none for it.
std::unique_ptr<ProviderAdapter> make_adapter(config::ProviderType type);

}  // namespace switchboard::providers
