// Anthropic Messages SSE stream -> OpenAI chat.completion.chunk objects (provider-formats.md 4.4).
#include <string>
#include <unordered_map>
#include <utility>

#include "anthropic_internal.hpp"
#include "switchboard/protocol/sse.hpp"
#include "switchboard/providers/anthropic.hpp"

namespace switchboard::providers::anthropic {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using protocol::ApiError;
using protocol::ErrorCode;

std::string string_at(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// What one Anthropic content block turns into.
struct Block {
  enum class Kind { text, tool, json_answer, ignored };
  Kind kind = Kind::ignored;
  int tool_index = 0;      // OpenAI's tool_calls[].index: counts tool blocks only
  json start_input;        // content_block_start's input, sent if no input_json_delta came
  bool has_input = false;  // a non-empty partial_json arrived
};

class AnthropicStreamTranslator final : public StreamTranslator {
 public:
  explicit AnthropicStreamTranslator(ResponseContext context) : context_(std::move(context)) {}

  std::optional<ApiError> feed(std::string_view bytes, std::vector<std::string>& chunks) override {
    if (done_ || failed_) return std::nullopt;
    reader_.feed(bytes);
    while (!done_ && reader_.next(event_)) {
      if (event_.is_comment) continue;
      std::optional<ApiError> err;
      try {
        err = on_event(json::parse(event_.data, nullptr, false), chunks);
      } catch (const json::exception& e) {
        err = malformed(e.what());
      }
      if (err) {
        failed_ = true;
        return err;
      }
    }
    if (reader_.overflowed()) {
      failed_ = true;
      return malformed("an event exceeds the size limit");
    }
    return std::nullopt;
  }

  bool done() const override { return done_; }
  const accounting::Usage& usage() const override { return usage_; }

 private:
  static ApiError malformed(std::string_view what) {
    return protocol::make_error(ErrorCode::upstream_error,
                                "Anthropic sent a malformed stream: " + std::string(what));
  }

  std::optional<ApiError> on_event(const json& j, std::vector<std::string>& chunks) {
    if (!j.is_object()) return malformed("an event's data is not a JSON object");
    std::string type = string_at(j, "type");
    if (type.empty()) type = event_.event;
    if (type == "error") {
      const json& e = j.contains("error") && j["error"].is_object() ? j["error"] : j;
      std::string error_type = string_at(e, "type");
      return protocol::make_error(
          error_code(error_type, 0),
          "Anthropic stream error " + error_type + ": " + string_at(e, "message"));
    }
    if (type == "message_start") {
      const json& message = j.contains("message") ? j["message"] : json();
      if (message.is_object()) {
        id_ = string_at(message, "id");
        provider_model_ = string_at(message, "model");
        if (message.contains("usage")) update_usage(message["usage"]);
      }
      start(chunks);
    } else if (type == "content_block_start") {
      start(chunks);
      on_block_start(j, chunks);
    } else if (type == "content_block_delta") {
      start(chunks);
      on_block_delta(j, chunks);
    } else if (type == "content_block_stop") {
      on_block_stop(j, chunks);
    } else if (type == "message_delta") {
      start(chunks);
      if (j.contains("usage")) update_usage(j["usage"]);
      const json& delta = j.contains("delta") ? j["delta"] : json();
      if (delta.is_object() && delta.contains("stop_reason") && delta["stop_reason"].is_string())
        finish(delta["stop_reason"].get<std::string>(), chunks);
    } else if (type == "message_stop") {
      start(chunks);
      finish("end_turn", chunks);  // no-op when message_delta already said why
      if (context_.include_usage) {
        ordered_json chunk = envelope();
        chunk["choices"] = ordered_json::array();
        chunk["usage"] = openai_usage(usage_);
        chunks.push_back(dump(chunk));
      }
      done_ = true;
    }
    // ping and event types newer than this adapter carry nothing for the client.
    return std::nullopt;
  }

  void on_block_start(const json& j, std::vector<std::string>& chunks) {
    const json& cb = j.contains("content_block") ? j["content_block"] : json();
    std::string type = cb.is_object() ? string_at(cb, "type") : "";
    Block& block = blocks_[index_of(j)];
    if (type == "text") {
      block.kind = Block::Kind::text;
      std::string text = string_at(cb, "text");
      if (!text.empty()) emit_delta({{"content", text}}, chunks);
    } else if (type == "tool_use" && string_at(cb, "name") == kAnthropicJsonToolName) {
      block.kind = Block::Kind::json_answer;
      block.start_input = cb.contains("input") ? cb["input"] : json::object();
      json_answer_ = true;
    } else if (type == "tool_use") {
      block.kind = Block::Kind::tool;
      block.tool_index = tool_count_++;
      block.start_input = cb.contains("input") ? cb["input"] : json::object();
      ordered_json call;
      call["index"] = block.tool_index;
      call["id"] = string_at(cb, "id");
      call["type"] = "function";
      call["function"] = {{"name", string_at(cb, "name")}, {"arguments", ""}};
      emit_delta({{"tool_calls", ordered_json::array({std::move(call)})}}, chunks);
    }
    // thinking / redacted_thinking (never requested: reasoning_effort is refused) and server-tool
    // blocks have no Chat Completions form and are dropped.
  }

  void on_block_delta(const json& j, std::vector<std::string>& chunks) {
    auto it = blocks_.find(index_of(j));
    if (it == blocks_.end()) return;
    Block& block = it->second;
    const json& delta = j.contains("delta") ? j["delta"] : json();
    if (!delta.is_object()) return;
    std::string type = string_at(delta, "type");
    if (type == "text_delta") {
      std::string text = string_at(delta, "text");
      if (!text.empty()) emit_delta({{"content", std::move(text)}}, chunks);
    } else if (type == "input_json_delta") {
      std::string part = string_at(delta, "partial_json");
      if (part.empty()) return;  // the first partial_json is often ""
      block.has_input = true;
      if (block.kind == Block::Kind::json_answer) {
        emit_delta({{"content", std::move(part)}}, chunks);
      } else if (block.kind == Block::Kind::tool) {
        emit_arguments(block, std::move(part), chunks);
      }
    }
    // thinking_delta, signature_delta and citations_delta are dropped with their blocks.
  }

  void on_block_stop(const json& j, std::vector<std::string>& chunks) {
    auto it = blocks_.find(index_of(j));
    if (it == blocks_.end()) return;
    Block& block = it->second;
    // A tool without parameters streams no JSON at all; OpenAI clients parse the arguments, so
    // they get the (empty) object from content_block_start instead of "".
    if (!block.has_input) {
      if (block.kind == Block::Kind::tool) emit_arguments(block, dump(block.start_input), chunks);
      if (block.kind == Block::Kind::json_answer)
        emit_delta({{"content", dump(block.start_input)}}, chunks);
    }
    blocks_.erase(it);
  }

  static std::int64_t index_of(const json& j) {
    auto it = j.find("index");
    return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : -1;
  }

  void update_usage(const json& u) {
    if (!u.is_object()) return;
    // message_delta counts are cumulative: a present field replaces the message_start value.
    for (auto& [key, slot] :
         {std::pair{"input_tokens", &input_tokens_}, std::pair{"output_tokens", &output_tokens_},
          std::pair{"cache_read_input_tokens", &cache_read_},
          std::pair{"cache_creation_input_tokens", &cache_write_}}) {
      if (auto it = u.find(key); it != u.end() && it->is_number_integer())
        *slot = it->get<std::int64_t>();
    }
    usage_ = usage_from_anthropic({{"input_tokens", input_tokens_},
                                   {"output_tokens", output_tokens_},
                                   {"cache_read_input_tokens", cache_read_},
                                   {"cache_creation_input_tokens", cache_write_}});
  }

  // The first chunk always carries the role, whatever event arrives first.
  void start(std::vector<std::string>& chunks) {
    if (started_) return;
    started_ = true;
    emit_delta({{"role", "assistant"}, {"content", ""}}, chunks);
  }

  void finish(const std::string& stop_reason, std::vector<std::string>& chunks) {
    if (finished_) return;
    finished_ = true;
    auto reason = finish_reason(stop_reason, json_answer_ && tool_count_ == 0);
    ordered_json chunk = envelope();
    chunk["choices"] = ordered_json::array({{{"index", 0},
                                             {"delta", ordered_json::object()},
                                             {"logprobs", nullptr},
                                             {"finish_reason", reason}}});
    if (context_.include_usage) chunk["usage"] = nullptr;
    chunks.push_back(dump(chunk));
  }

  void emit_arguments(const Block& block, std::string arguments, std::vector<std::string>& chunks) {
    ordered_json call;
    call["index"] = block.tool_index;
    call["function"] = {{"arguments", std::move(arguments)}};
    emit_delta({{"tool_calls", ordered_json::array({std::move(call)})}}, chunks);
  }

  void emit_delta(ordered_json delta, std::vector<std::string>& chunks) {
    ordered_json chunk = envelope();
    chunk["choices"] = ordered_json::array({{{"index", 0},
                                             {"delta", std::move(delta)},
                                             {"logprobs", nullptr},
                                             {"finish_reason", nullptr}}});
    if (context_.include_usage) chunk["usage"] = nullptr;
    chunks.push_back(dump(chunk));
  }

  ordered_json envelope() const {
    ordered_json chunk;
    chunk["id"] = id_.empty() ? context_.id : id_;
    chunk["object"] = "chat.completion.chunk";
    chunk["created"] = context_.created;
    chunk["model"] = context_.model.empty() ? provider_model_ : context_.model;
    return chunk;
  }

  ResponseContext context_;
  protocol::SseReader reader_;
  protocol::SseEvent event_;
  std::unordered_map<std::int64_t, Block> blocks_;  // open blocks by Anthropic index
  std::string id_;
  std::string provider_model_;
  int tool_count_ = 0;
  bool json_answer_ = false;
  bool started_ = false;
  bool finished_ = false;
  bool done_ = false;
  bool failed_ = false;
  std::int64_t input_tokens_ = 0, output_tokens_ = 0, cache_read_ = 0, cache_write_ = 0;
  accounting::Usage usage_;
};

}  // namespace

std::unique_ptr<StreamTranslator> make_stream_translator(const ResponseContext& context) {
  return std::make_unique<AnthropicStreamTranslator>(context);
}

}  // namespace switchboard::providers::anthropic
