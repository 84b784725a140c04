// Anthropic Messages SSE stream -> OpenAI chat.completion.chunk objects (provider-formats.md 4.4).
// Each event is read once (anthropic_stream_event.cpp) and each chunk written into one reused
// buffer from per-stream templates: no DOM, no allocation per event.
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

class AnthropicStreamTranslator final : public StreamTranslator {
 public:
  explicit AnthropicStreamTranslator(ResponseContext context) : context_(std::move(context)) {
    // One allocation each at a size most chunks fit, rather than growing through several.
    chunk_.reserve(512);
    envelope_.reserve(192);
    delta_open_.reserve(224);
  }

  std::optional<ApiError> feed(std::string_view bytes, ChunkSink& sink) override {
    if (done_ || failed_) return std::nullopt;
    reader_.feed(bytes);
    while (!done_ && reader_.next(event_)) {
      if (event_.is_comment) continue;
      if (auto err = on_event(event_.data, sink)) {
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

  std::optional<ApiError> on_event(std::string_view data, ChunkSink& sink) {
    EventFields f;
    if (auto problem = read_event_data(data, f, delta_scratch_)) return malformed(*problem);
    std::string_view type = string_value(f.type, scratch_);
    if (type.empty()) type = event_.event;
    const std::int64_t index = int_value(f.index, -1);
    if (type == "error") return stream_error(f);
    if (type == "content_block_delta") {  // the most frequent event first
      start(sink);
      if (f.has_delta) on_block_delta(index, f.delta, sink);
    } else if (type == "message_start") {
      if (f.has_message) {
        id_ = string_value(f.message.id, scratch_);
        provider_model_ = string_value(f.message.model, scratch_);
        templates_ready_ = false;
        update_usage(f.message.usage);
      }
      start(sink);
    } else if (type == "content_block_start") {
      start(sink);
      if (f.has_block) on_block_start(index, f.block, sink);
    } else if (type == "content_block_stop") {
      on_block_stop(index, sink);
    } else if (type == "message_delta") {
      start(sink);
      update_usage(f.usage);
      const std::string_view stop_reason = f.delta.stop_reason;
      if (f.has_delta && !stop_reason.empty() && stop_reason.front() == '"')
        finish(string_value(stop_reason, scratch_), sink);
    } else if (type == "message_stop") {
      start(sink);
      finish("end_turn", sink);  // no-op when message_delta already said why
      if (context_.include_usage) {
        begin_chunk();
        chunk_.append(R"("choices":[],"usage":)");
        append_openai_usage(chunk_, usage_);
        end_chunk(sink, 0);
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

  void on_block_start(std::int64_t index, const EventFields::ContentBlock& b, ChunkSink& sink) {
    const std::string_view type = b.type, text = b.text, id = b.id, name = b.name, input = b.input;
    if (is_string(type, "text")) {
      open_block(index, Block::Kind::text);
      std::string_view piece = string_value(text, scratch_);
      if (!piece.empty()) emit_content(piece, sink, !in_scratch(piece));
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
      end_delta(sink, tool_name.size());
    }
    // thinking / redacted_thinking (never requested: reasoning_effort is refused) and server-tool
    // blocks have no Chat Completions form and are dropped.
  }

  void on_block_delta(std::int64_t index, const EventFields::Delta& d, ChunkSink& sink) {
    Block* block = find_block(index);
    if (!block) return;
    const std::string_view type = d.type, text = d.text, partial_json = d.partial_json;
    // A string value, whether it is ready to copy (see append_contents' `verbatim`) and its
    // decoded size.
    bool verbatim = false;
    std::size_t size = 0;
    auto value = [&](std::string_view raw) {
      if (d.has_value) {
        verbatim = d.value_is_json;
        size = d.value_size;
        return d.value;
      }
      std::string_view s = string_value(raw, scratch_);
      verbatim = !in_scratch(s);
      size = s.size();
      return s;
    };
    if (is_string(type, "text_delta")) {
      std::string_view piece = value(text);
      if (!piece.empty()) emit_content(piece, sink, verbatim, size);
    } else if (is_string(type, "input_json_delta")) {
      std::string_view part = value(partial_json);
      if (part.empty()) return;  // the first partial_json is often ""
      block->has_input = true;
      if (block->kind == Block::Kind::json_answer) {
        emit_content(part, sink, verbatim, size);
      } else if (block->kind == Block::Kind::tool) {
        emit_arguments(*block, part, sink, verbatim, size);
      }
    }
    // thinking_delta, signature_delta and citations_delta are dropped with their blocks.
  }

  void on_block_stop(std::int64_t index, ChunkSink& sink) {
    Block* block = find_block(index);
    if (!block) return;
    // A tool without parameters streams no JSON at all; OpenAI clients parse the arguments, so
    // they get the (empty) object from content_block_start instead of "".
    if (!block->has_input) {
      if (block->kind == Block::Kind::tool) emit_arguments(*block, block->start_input, sink);
      if (block->kind == Block::Kind::json_answer) emit_content(block->start_input, sink);
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

  void update_usage(const UsageUpdate& u) {
    if (!u.object) return;
    // message_delta counts are cumulative: a present field replaces the message_start value.
    if (u.given & 1u) counts_.input = u.counts.input;
    if (u.given & 2u) counts_.output = u.counts.output;
    if (u.given & 4u) counts_.cache_read = u.counts.cache_read;
    if (u.given & 8u) counts_.cache_write = u.counts.cache_write;
    usage_ = counts_.usage();
  }

  // The first chunk always carries the role, whatever event arrives first.
  void start(ChunkSink& sink) {
    if (started_) return;
    started_ = true;
    begin_delta_text();
    chunk_.append(R"("role":"assistant","content":"")");
    end_delta(sink, 0);
  }

  void finish(std::string_view stop_reason, ChunkSink& sink) {
    if (finished_) return;
    finished_ = true;
    auto reason = finish_reason(stop_reason, json_answer_ && tool_count_ == 0);
    begin_chunk();
    chunk_.append(R"("choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":")");
    observability::append_json_escaped(chunk_, reason);
    chunk_.append(R"("}])");
    if (context_.include_usage) chunk_.append(R"(,"usage":null)");
    end_chunk(sink, 0);
  }

  // Did string_value decode `s` into scratch_ (rather than view the event's data)?
  bool in_scratch(std::string_view s) const {
    return !scratch_.empty() && s.data() == scratch_.data();
  }

  // `verbatim`: see append_contents. `size`: the text's decoded size when it is given escaped.
  void emit_content(std::string_view text, ChunkSink& sink, bool verbatim = false,
                    std::size_t size = std::string_view::npos) {
    begin_delta_text();
    chunk_.append(R"("content":")");
    append_contents(chunk_, text, verbatim);
    chunk_.push_back('"');
    end_delta(sink, size == std::string_view::npos ? text.size() : size);
  }

  void emit_arguments(const Block& block, std::string_view arguments, ChunkSink& sink,
                      bool verbatim = false, std::size_t size = std::string_view::npos) {
    begin_delta_text();
    chunk_.append(R"("tool_calls":[{"index":)");
    append_int(chunk_, block.tool_index);
    chunk_.append(R"(,"function":{"arguments":")");
    append_contents(chunk_, arguments, verbatim);
    chunk_.append(R"("}}])");
    end_delta(sink, size == std::string_view::npos ? arguments.size() : size);
  }

  // Every chunk is written into chunk_ (reused) and handed to the sink as a view. The text that is
  // the same in every chunk of the stream is written once (again after message_start names the
  // id and model), as JsonWriter would write it:
  //   envelope_     `{"id":...,"object":"chat.completion.chunk","created":...,"model":...,`
  //   delta_open_   envelope_ + `"choices":[{"index":0,"delta":{`
  //   delta_close_  `},"logprobs":null,"finish_reason":null}]` [+ `,"usage":null`] + `}`
  void write_templates() {
    templates_ready_ = true;
    envelope_.assign(R"({"id":")");
    observability::append_json_escaped(envelope_, id_.empty() ? context_.id : id_);
    envelope_.append(R"(","object":"chat.completion.chunk","created":)");
    append_int(envelope_, context_.created);
    envelope_.append(R"(,"model":")");
    observability::append_json_escaped(envelope_,
                                       context_.model.empty() ? provider_model_ : context_.model);
    envelope_.append(R"(",)");
    delta_open_.assign(envelope_).append(R"("choices":[{"index":0,"delta":{)");
    delta_close_.assign(R"(},"logprobs":null,"finish_reason":null}])");
    if (context_.include_usage) delta_close_.append(R"(,"usage":null)");
    delta_close_.push_back('}');
  }

  // chunk_ = the envelope; the chunk's own members follow, then end_chunk.
  void begin_chunk() {
    if (!templates_ready_) write_templates();
    chunk_.assign(envelope_);
  }

  void end_chunk(ChunkSink& sink, std::size_t output_chars) {
    chunk_.push_back('}');
    sink.chunk(chunk_, output_chars);
  }

  // A content chunk: begin_delta(_text), the delta's members, end_delta.
  void begin_delta_text() {
    if (!templates_ready_) write_templates();
    chunk_.assign(delta_open_);
  }

  // A writer positioned inside the delta object, before its first member.
  JsonWriter begin_delta() {
    begin_delta_text();
    return JsonWriter(chunk_);
  }

  void end_delta(ChunkSink& sink, std::size_t output_chars) {
    chunk_.append(delta_close_);
    sink.chunk(chunk_, output_chars);
  }

  ResponseContext context_;
  protocol::SseReader reader_;
  protocol::SseEvent event_;
  std::vector<Block> blocks_;     // open blocks, and free slots for the next ones
  bool templates_ready_ = false;  // false: envelope_, delta_open_, delta_close_ to (re)write
  std::string envelope_;
  std::string delta_open_;
  std::string delta_close_;
  std::string chunk_;          // the chunk being written
  std::string scratch_;        // decoded strings of the current event
  std::string delta_scratch_;  // a delta's decoded string (read_event_data)
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
