// Bedrock ConverseStream event stream -> OpenAI chat.completion.chunk objects (provider-formats.md
// 6.4 and 6.5).
#include <string>
#include <unordered_map>
#include <utility>

#include "switchboard/protocol/eventstream.hpp"
#include "switchboard/providers/bedrock.hpp"

namespace switchboard::providers::bedrock {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using protocol::ApiError;
using protocol::ErrorCode;

std::string string_at(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const json& member(const json& j, const char* key) {
  static const json kNull;
  auto it = j.find(key);
  return it != j.end() ? *it : kNull;
}

// A toolUse content block, by Converse's contentBlockIndex.
struct ToolBlock {
  int tool_index = 0;      // OpenAI's tool_calls[].index: counts tool blocks only
  bool has_input = false;  // an input fragment arrived
};

class BedrockStreamTranslator final : public StreamTranslator {
 public:
  explicit BedrockStreamTranslator(ResponseContext context) : context_(std::move(context)) {}

  std::optional<ApiError> feed(std::string_view bytes, ChunkSink& sink) override {
    if (done_ || failed_) return std::nullopt;
    decoder_.feed(bytes);
    while (!done_) {
      auto status = decoder_.next(message_);
      if (status == protocol::EventStreamDecoder::Status::need_more) break;
      std::optional<ApiError> err;
      if (status == protocol::EventStreamDecoder::Status::error) {
        err = malformed(decoder_.error());
      } else {
        try {
          err = on_message(sink);
        } catch (const json::exception& e) {
          err = malformed(e.what());
        }
      }
      if (err) {
        failed_ = true;
        return err;
      }
    }
    return std::nullopt;
  }

  bool done() const override { return done_; }
  const accounting::Usage& usage() const override { return usage_; }

 private:
  static ApiError malformed(std::string_view what) {
    return protocol::make_error(ErrorCode::upstream_error,
                                "Bedrock sent a malformed stream: " + std::string(what));
  }

  std::optional<ApiError> on_message(ChunkSink& sink) {
    std::string_view message_type = message_.header(":message-type");
    if (message_type == "exception") {
      std::string exception(message_.header(":exception-type"));
      auto j = json::parse(message_.payload, nullptr, false);
      std::string text = j.is_object() ? string_at(j, "message") : "";
      if (text.empty()) text = string_at(j.is_object() ? j : json::object(), "Message");
      if (text.empty()) text = message_.payload.substr(0, 300);
      return protocol::make_error(error_code(exception, 0),
                                  "Bedrock stream exception " + exception + ": " + text);
    }
    if (message_type == "error") {
      std::string code(message_.header(":error-code"));
      return protocol::make_error(
          error_code(code, 0),
          "Bedrock stream error " + code + ": " + std::string(message_.header(":error-message")));
    }
    if (message_type != "event") return std::nullopt;  // unknown message types carry nothing
    std::string_view type = message_.header(":event-type");
    auto j = json::parse(message_.payload, nullptr, false);
    if (!j.is_object()) return malformed("an event's payload is not a JSON object");
    if (type == "messageStart") {
      start(sink);
    } else if (type == "contentBlockStart") {
      start(sink);
      on_block_start(j, sink);
    } else if (type == "contentBlockDelta") {
      start(sink);
      on_block_delta(j, sink);
    } else if (type == "contentBlockStop") {
      on_block_stop(j, sink);
    } else if (type == "messageStop") {
      start(sink);
      finish(string_at(j, "stopReason"), sink);
    } else if (type == "metadata") {
      start(sink);
      usage_ = usage_from_converse(member(j, "usage"));
      finish("end_turn", sink);  // no-op when messageStop already said why
      if (context_.include_usage) {
        ordered_json chunk = envelope();
        chunk["choices"] = ordered_json::array();
        chunk["usage"] = openai_usage(usage_);
        sink.chunk(dump(chunk), 0);
      }
      done_ = true;
    }
    // Event types newer than this adapter carry nothing for the client.
    return std::nullopt;
  }

  void on_block_start(const json& j, ChunkSink& sink) {
    const json& tool_use = member(member(j, "start"), "toolUse");
    if (!tool_use.is_object()) return;  // text blocks usually have no start; others are dropped
    ToolBlock& block = tools_[index_of(j)];
    block.tool_index = tool_count_++;
    ordered_json call;
    call["index"] = block.tool_index;
    call["id"] = string_at(tool_use, "toolUseId");
    call["type"] = "function";
    call["function"] = {{"name", string_at(tool_use, "name")}, {"arguments", ""}};
    emit_delta({{"tool_calls", ordered_json::array({std::move(call)})}}, sink);
  }

  void on_block_delta(const json& j, ChunkSink& sink) {
    const json& delta = member(j, "delta");
    if (!delta.is_object()) return;
    if (delta.contains("text") && delta["text"].is_string()) {
      std::string text = delta["text"].get<std::string>();
      if (!text.empty()) emit_delta({{"content", std::move(text)}}, sink);
      return;
    }
    const json& tool_use = member(delta, "toolUse");
    if (!tool_use.is_object()) return;  // reasoningContent and citations are dropped
    auto it = tools_.find(index_of(j));
    if (it == tools_.end()) return;
    std::string input = string_at(tool_use, "input");
    if (input.empty()) return;
    it->second.has_input = true;
    emit_arguments(it->second, std::move(input), sink);
  }

  void on_block_stop(const json& j, ChunkSink& sink) {
    auto it = tools_.find(index_of(j));
    if (it == tools_.end()) return;
    // A tool without parameters may stream no input at all; OpenAI clients parse the arguments,
    // so they get an empty object rather than "" (as the whole-body translation gives them).
    if (!it->second.has_input) emit_arguments(it->second, "{}", sink);
    tools_.erase(it);
  }

  static std::int64_t index_of(const json& j) {
    auto it = j.find("contentBlockIndex");
    return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : -1;
  }

  // The first chunk always carries the role, whatever event arrives first.
  void start(ChunkSink& sink) {
    if (started_) return;
    started_ = true;
    emit_delta({{"role", "assistant"}, {"content", ""}}, sink);
  }

  void finish(const std::string& stop_reason, ChunkSink& sink) {
    if (finished_) return;
    finished_ = true;
    ordered_json chunk = envelope();
    chunk["choices"] = ordered_json::array({{{"index", 0},
                                             {"delta", ordered_json::object()},
                                             {"logprobs", nullptr},
                                             {"finish_reason", finish_reason(stop_reason)}}});
    if (context_.include_usage) chunk["usage"] = nullptr;
    sink.chunk(dump(chunk), 0);
  }

  void emit_arguments(const ToolBlock& block, std::string arguments, ChunkSink& sink) {
    ordered_json call;
    call["index"] = block.tool_index;
    call["function"] = {{"arguments", std::move(arguments)}};
    emit_delta({{"tool_calls", ordered_json::array({std::move(call)})}}, sink);
  }

  void emit_delta(ordered_json delta, ChunkSink& sink) {
    const std::size_t output = delta_output_chars(delta);
    ordered_json chunk = envelope();
    chunk["choices"] = ordered_json::array({{{"index", 0},
                                             {"delta", std::move(delta)},
                                             {"logprobs", nullptr},
                                             {"finish_reason", nullptr}}});
    if (context_.include_usage) chunk["usage"] = nullptr;
    sink.chunk(dump(chunk), output);
  }

  ordered_json envelope() const {
    ordered_json chunk;
    chunk["id"] = context_.id;
    chunk["object"] = "chat.completion.chunk";
    chunk["created"] = context_.created;
    chunk["model"] = context_.model;
    return chunk;
  }

  ResponseContext context_;
  protocol::EventStreamDecoder decoder_;
  protocol::EventMessage message_;
  std::unordered_map<std::int64_t, ToolBlock> tools_;  // open toolUse blocks
  int tool_count_ = 0;
  bool started_ = false;
  bool finished_ = false;
  bool done_ = false;
  bool failed_ = false;
  accounting::Usage usage_;
};

}  // namespace

std::unique_ptr<StreamTranslator> make_stream_translator(const ResponseContext& context) {
  return std::make_unique<BedrockStreamTranslator>(context);
}

}  // namespace switchboard::providers::bedrock
