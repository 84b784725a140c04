// Anthropic Messages SSE stream -> OpenAI chat.completion.chunk objects (provider-formats.md 4.4).
// Each event is read with the pull reader and each chunk written with JsonWriter into reused
// buffers: no DOM per event.
#include <string>
#include <utility>
#include <vector>

#include "anthropic_internal.hpp"
#include "switchboard/protocol/sse.hpp"
#include "switchboard/providers/anthropic.hpp"

namespace switchboard::providers::anthropic {
namespace {

using observability::JsonWriter;
using protocol::ApiError;
using protocol::ErrorCode;
using protocol::JsonReader;

// What one Anthropic content block turns into.
struct Block {
  enum class Kind { text, tool, json_answer };
  std::int64_t index = -1;  // Anthropic's block index (-1: the event had none)
  bool open = false;        // false: a free slot
  Kind kind = Kind::text;
  int tool_index = 0;       // OpenAI's tool_calls[].index: counts tool blocks only
  std::string start_input;  // content_block_start's input as arguments text, sent if no
                            // input_json_delta came
  bool has_input = false;   // a non-empty partial_json arrived
};

// The members of an event this translator reads, as raw spans of its data.
struct EventFields {
  std::string_view type, index, message, content_block, delta, usage, error, text;
};

class AnthropicStreamTranslator final : public StreamTranslator {
 public:
  explicit AnthropicStreamTranslator(ResponseContext context) : context_(std::move(context)) {}

  std::optional<ApiError> feed(std::string_view bytes, std::vector<std::string>& chunks) override {
    if (done_ || failed_) return std::nullopt;
    reader_.feed(bytes);
    while (!done_ && reader_.next(event_)) {
      if (event_.is_comment) continue;
      if (auto err = on_event(event_.data, chunks)) {
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

  std::optional<ApiError> on_event(std::string_view data, std::vector<std::string>& chunks) {
    EventFields f;
    JsonReader r(data);
    bool object = read_fields(r, {{"type", &f.type},
                                  {"index", &f.index},
                                  {"message", &f.message},
                                  {"content_block", &f.content_block},
                                  {"delta", &f.delta},
                                  {"usage", &f.usage},
                                  {"error", &f.error}});
    if (!r.finish() || !object) {
      if (r.ok()) return malformed("an event's data is not a JSON object");
      return malformed(std::string(protocol::describe(r.error())) + " at byte " +
                       std::to_string(r.error_offset()));
    }
    std::string_view type = string_value(f.type, scratch_);
    if (type.empty()) type = event_.event;
    const std::int64_t index = int_value(f.index, -1);
    if (type == "error") return stream_error(f);
    if (type == "message_start") {
      std::string_view id, model, usage;
      if (read_fields(f.message, {{"id", &id}, {"model", &model}, {"usage", &usage}})) {
        id_ = string_value(id, scratch_);
        provider_model_ = string_value(model, scratch_);
        envelope_.clear();
        update_usage(usage);
      }
      start(chunks);
    } else if (type == "content_block_start") {
      start(chunks);
      on_block_start(index, f.content_block, chunks);
    } else if (type == "content_block_delta") {
      start(chunks);
      on_block_delta(index, f.delta, chunks);
    } else if (type == "content_block_stop") {
      on_block_stop(index, chunks);
    } else if (type == "message_delta") {
      start(chunks);
      update_usage(f.usage);
      std::string_view stop_reason;
      if (read_fields(f.delta, {{"stop_reason", &stop_reason}}) && !stop_reason.empty() &&
          stop_reason.front() == '"')
        finish(string_value(stop_reason, scratch_), chunks);
    } else if (type == "message_stop") {
      start(chunks);
      finish("end_turn", chunks);  // no-op when message_delta already said why
      if (context_.include_usage) {
        JsonWriter w = begin_chunk();
        w.key("choices").begin_array().end_array();
        w.key("usage");
        write_openai_usage(w, usage_);
        end_chunk(w, chunks);
      }
      done_ = true;
    }
    // ping and event types newer than this adapter carry nothing for the client.
    return std::nullopt;
  }

  ApiError stream_error(const EventFields& f) {
    // {"type":"error","error":{"type","message"}}; without the object, the event's own fields.
    std::string_view type, message;
    if (!read_fields(f.error, {{"type", &type}, {"message", &message}})) {
      type = f.type;
      read_fields(event_.data, {{"message", &message}});
    }
    std::string error_type(string_value(type, scratch_));
    return protocol::make_error(error_code(error_type, 0),
                                "Anthropic stream error " + error_type + ": " +
                                    std::string(string_value(message, scratch_)));
  }

  void on_block_start(std::int64_t index, std::string_view content_block,
                      std::vector<std::string>& chunks) {
    std::string_view type, text, id, name, input;
    if (!read_fields(
            content_block,
            {{"type", &type}, {"text", &text}, {"id", &id}, {"name", &name}, {"input", &input}}))
      return;
    if (is_string(type, "text")) {
      open_block(index, Block::Kind::text);
      std::string_view piece = string_value(text, scratch_);
      if (!piece.empty()) emit_content(piece, chunks);
    } else if (is_string(type, "tool_use") && is_string(name, kAnthropicJsonToolName)) {
      Block& block = open_block(index, Block::Kind::json_answer);
      append_arguments(block.start_input, input);
      json_answer_ = true;
    } else if (is_string(type, "tool_use")) {
      Block& block = open_block(index, Block::Kind::tool);
      block.tool_index = tool_count_++;
      append_arguments(block.start_input, input);
      // The id is decoded into its own buffer: the name's decoding would reuse scratch_.
      std::string_view tool_id = string_value(id, id_scratch_);
      std::string_view tool_name = string_value(name, scratch_);
      JsonWriter w = begin_delta();
      w.key("tool_calls").begin_array().begin_object();
      w.key("index").integer(block.tool_index);
      w.key("id").string(tool_id);
      w.key("type").string("function");
      w.key("function").begin_object().key("name").string(tool_name);
      w.key("arguments").string("").end_object();
      w.end_object().end_array();
      end_delta(w, chunks);
    }
    // thinking / redacted_thinking (never requested: reasoning_effort is refused) and server-tool
    // blocks have no Chat Completions form and are dropped.
  }

  void on_block_delta(std::int64_t index, std::string_view delta_json,
                      std::vector<std::string>& chunks) {
    Block* block = find_block(index);
    if (!block) return;
    std::string_view type, text, partial_json;
    if (!read_fields(delta_json,
                     {{"type", &type}, {"text", &text}, {"partial_json", &partial_json}}))
      return;
    if (is_string(type, "text_delta")) {
      std::string_view piece = string_value(text, scratch_);
      if (!piece.empty()) emit_content(piece, chunks);
    } else if (is_string(type, "input_json_delta")) {
      std::string_view part = string_value(partial_json, scratch_);
      if (part.empty()) return;  // the first partial_json is often ""
      block->has_input = true;
      if (block->kind == Block::Kind::json_answer) {
        emit_content(part, chunks);
      } else if (block->kind == Block::Kind::tool) {
        emit_arguments(*block, part, chunks);
      }
    }
    // thinking_delta, signature_delta and citations_delta are dropped with their blocks.
  }

  void on_block_stop(std::int64_t index, std::vector<std::string>& chunks) {
    Block* block = find_block(index);
    if (!block) return;
    // A tool without parameters streams no JSON at all; OpenAI clients parse the arguments, so
    // they get the (empty) object from content_block_start instead of "".
    if (!block->has_input) {
      if (block->kind == Block::Kind::tool) emit_arguments(*block, block->start_input, chunks);
      if (block->kind == Block::Kind::json_answer) emit_content(block->start_input, chunks);
    }
    block->open = false;  // free for reuse
  }

  Block& open_block(std::int64_t index, Block::Kind kind) {
    Block* block = find_block(index);
    for (auto& b : blocks_) {
      if (!block && !b.open) block = &b;
    }
    if (!block) block = &blocks_.emplace_back();
    block->open = true;
    block->index = index;
    block->kind = kind;
    block->tool_index = 0;
    block->start_input.clear();
    block->has_input = false;
    return *block;
  }

  Block* find_block(std::int64_t index) {
    for (auto& b : blocks_)
      if (b.open && b.index == index) return &b;
    return nullptr;
  }

  void update_usage(std::string_view usage) {
    if (usage.empty() || usage.front() != '{') return;
    // message_delta counts are cumulative: a present field replaces the message_start value.
    JsonReader r(usage);
    read_usage(r, counts_);
    usage_ = counts_.usage();
  }

  // The first chunk always carries the role, whatever event arrives first.
  void start(std::vector<std::string>& chunks) {
    if (started_) return;
    started_ = true;
    JsonWriter w = begin_delta();
    w.key("role").string("assistant").key("content").string("");
    end_delta(w, chunks);
  }

  void finish(std::string_view stop_reason, std::vector<std::string>& chunks) {
    if (finished_) return;
    finished_ = true;
    auto reason = finish_reason(stop_reason, json_answer_ && tool_count_ == 0);
    JsonWriter w = begin_chunk();
    w.key("choices").begin_array().begin_object();
    w.key("index").integer(0).key("delta").begin_object().end_object();
    w.key("logprobs").null().key("finish_reason").string(reason);
    w.end_object().end_array();
    if (context_.include_usage) w.key("usage").null();
    end_chunk(w, chunks);
  }

  void emit_content(std::string_view text, std::vector<std::string>& chunks) {
    JsonWriter w = begin_delta();
    w.key("content").string(text);
    end_delta(w, chunks);
  }

  void emit_arguments(const Block& block, std::string_view arguments,
                      std::vector<std::string>& chunks) {
    JsonWriter w = begin_delta();
    w.key("tool_calls").begin_array().begin_object();
    w.key("index").integer(block.tool_index);
    w.key("function").begin_object().key("arguments").string(arguments).end_object();
    w.end_object().end_array();
    end_delta(w, chunks);
  }

  // A chunk is written into chunk_ (reused) and copied out once, at its final size. Its opening
  // members are the same in every chunk of the stream: written once (again after message_start
  // names the id and model), with the comma that follows them, so the writer returned here starts
  // with no comma pending, as after a member.
  JsonWriter begin_chunk() {
    if (envelope_.empty()) {
      JsonWriter e(envelope_);
      e.begin_object();
      e.key("id").string(id_.empty() ? context_.id : id_);
      e.key("object").string("chat.completion.chunk");
      e.key("created").integer(context_.created);
      e.key("model").string(context_.model.empty() ? provider_model_ : context_.model);
      envelope_.push_back(',');
    }
    chunk_.assign(envelope_);
    return JsonWriter(chunk_);
  }

  void end_chunk(JsonWriter& w, std::vector<std::string>& chunks) {
    w.end_object();
    chunks.emplace_back(chunk_);
  }

  // A content chunk: begin_delta, the delta's members, end_delta.
  JsonWriter begin_delta() {
    JsonWriter w = begin_chunk();
    w.key("choices").begin_array().begin_object();
    w.key("index").integer(0).key("delta").begin_object();
    return w;
  }

  void end_delta(JsonWriter& w, std::vector<std::string>& chunks) {
    w.end_object();
    w.key("logprobs").null().key("finish_reason").null();
    w.end_object().end_array();
    if (context_.include_usage) w.key("usage").null();
    end_chunk(w, chunks);
  }

  ResponseContext context_;
  protocol::SseReader reader_;
  protocol::SseEvent event_;
  std::vector<Block> blocks_;  // open blocks, and free slots for the next ones
  std::string envelope_;       // `{"id":...,"model":...,` of every chunk; empty: to write
  std::string chunk_;          // the chunk being written
  std::string scratch_;        // decoded strings of the current event
  std::string id_scratch_;
  std::string id_;
  std::string provider_model_;
  int tool_count_ = 0;
  bool json_answer_ = false;
  bool started_ = false;
  bool finished_ = false;
  bool done_ = false;
  bool failed_ = false;
  UsageCounts counts_;
  accounting::Usage usage_;
};

}  // namespace

std::unique_ptr<StreamTranslator> make_stream_translator(const ResponseContext& context) {
  return std::make_unique<AnthropicStreamTranslator>(context);
}

}  // namespace switchboard::providers::anthropic
