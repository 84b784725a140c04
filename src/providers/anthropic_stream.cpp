// Anthropic Messages SSE stream -> OpenAI chat.completion.chunk objects (provider-formats.md 4.4).
// Each event is read in one pass with the pull reader (nested objects included) and each chunk
// written into one reused buffer from per-stream templates: no DOM, no allocation per event.
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

// A `usage` object's counts, read where it stands: those given as integers (bits of `given`,
// input first) replace the stream's, the others are kept. `object` is false when there was none.
struct UsageUpdate {
  bool object = false;
  unsigned given = 0;
  UsageCounts counts;
};

// At a value (the last of duplicate `usage` keys wins, as a DOM keeps it).
bool read_usage_update(JsonReader& r, UsageUpdate& u) {
  u = {};
  if (r.peek() != protocol::JsonType::object) return r.skip();
  u.object = true;
  return read_usage(r, u.counts, &u.given);
}

// The members of an event this translator reads, as raw spans of its data: the top level's and
// those of its nested `message`, `content_block` and `delta` objects (the last duplicate wins);
// usage objects as their counts.
struct EventFields {
  std::string_view type, index, error;
  UsageUpdate usage;
  struct Message {
    std::string_view id, model;
    UsageUpdate usage;
  } message;
  bool has_message = false;
  struct ContentBlock {
    std::string_view type, text, id, name, input;
  } block;
  bool has_block = false;
  struct Delta {
    std::string_view type, text, partial_json, stop_reason;
    // read_canonical_delta's reading of text / partial_json (it validated the string anyway), so
    // the string is not read a second time: `value` is JSON string contents ready to copy when
    // `value_is_json` (no escapes, or only those JsonWriter writes), else the decoded text;
    // `value_size` is the decoded size either way.
    std::string_view value;
    std::size_t value_size = 0;
    bool has_value = false, value_is_json = false;
  } delta;
  bool has_delta = false;
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
    if (!read_canonical_delta(data, f) && !read_canonical_stop(data, f)) {
      JsonReader r(data);
      bool object = read_event(r, f);
      if (!r.finish() || !object) {
        if (r.ok()) return malformed("an event's data is not a JSON object");
        return malformed(std::string(protocol::describe(r.error())) + " at byte " +
                         std::to_string(r.error_offset()));
      }
    }
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

  // The event Anthropic sends for every few tokens, written exactly as Anthropic writes it:
  //   {"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":"..."}}
  // (or input_json_delta with partial_json). Data that is byte for byte that shape gets the
  // fields read_event would store, without the general reader: the fixed text is compared, the
  // index's digits checked, the string validated by the reader. False for anything else (other
  // spacing or key order, more members, a malformed string): read_event then reads it.
  bool read_canonical_delta(std::string_view data, EventFields& f) {
    constexpr std::string_view kHead = R"({"type":"content_block_delta","index":)";
    constexpr std::string_view kText = R"(,"delta":{"type":"text_delta","text":)";
    constexpr std::string_view kJson = R"(,"delta":{"type":"input_json_delta","partial_json":)";
    constexpr std::string_view kEventType = R"("content_block_delta")";
    constexpr std::string_view kTextType = R"("text_delta")";
    constexpr std::string_view kJsonType = R"("input_json_delta")";
    constexpr std::size_t kTypeAt = kHead.find(kEventType);
    constexpr std::size_t kTextTypeAt = kText.find(kTextType);
    constexpr std::size_t kJsonTypeAt = kJson.find(kJsonType);
    if (!data.starts_with(kHead)) return false;
    // The index: 0, or up to 18 digits without a leading zero (what int_value sums).
    const std::size_t digits = kHead.size();
    std::size_t i = digits;
    if (i < data.size() && data[i] == '0') {
      ++i;
    } else {
      while (i < data.size() && i - digits < 18 && data[i] >= '0' && data[i] <= '9') ++i;
    }
    if (i == digits) return false;
    const std::string_view index = data.substr(digits, i - digits);
    const std::string_view rest = data.substr(i);
    const bool text = rest.starts_with(kText);
    if (!text && !rest.starts_with(kJson)) return false;
    const std::size_t at = i + (text ? kText.size() : kJson.size());  // the string's quote
    if (at >= data.size() || data[at] != '"') return false;
    JsonReader r(data.substr(at));
    std::string_view contents;
    if (!r.read_string_raw(contents)) return false;
    const std::size_t end = at + r.offset();
    if (data.substr(end) != "}}") return false;
    std::size_t size = 0;
    const bool ready = canonical_escapes(contents, size);
    if (!ready) {  // other escapes: decoded, to be escaped JsonWriter's way
      JsonReader decode(data.substr(at));
      decode.read_string(contents, delta_scratch_);
      size = contents.size();
    }
    f.type = data.substr(kTypeAt, kEventType.size());
    f.index = index;
    f.has_delta = true;
    f.delta = {};
    f.delta.type = text ? data.substr(i + kTextTypeAt, kTextType.size())
                        : data.substr(i + kJsonTypeAt, kJsonType.size());
    (text ? f.delta.text : f.delta.partial_json) = data.substr(at, end - at);
    f.delta.value = contents;
    f.delta.value_size = size;
    f.delta.has_value = true;
    f.delta.value_is_json = ready;
    return true;
  }

  // The events that end a block and the message, spelled as Anthropic spells them:
  //   {"type":"content_block_stop","index":N}   {"type":"message_stop"}
  // Their fields without the general reader, as read_canonical_delta does for deltas.
  static bool read_canonical_stop(std::string_view data, EventFields& f) {
    constexpr std::string_view kTypeKey = R"({"type":)";
    constexpr std::string_view kMessageStop = R"("message_stop")";
    constexpr std::string_view kBlockStop = R"("content_block_stop")";
    constexpr std::string_view kIndexKey = R"(,"index":)";
    if (!data.starts_with(kTypeKey) || !data.ends_with('}')) return false;
    const std::string_view rest = data.substr(kTypeKey.size(), data.size() - kTypeKey.size() - 1);
    if (rest == kMessageStop) {
      f.type = rest;
      return true;
    }
    if (!rest.starts_with(kBlockStop) ||
        rest.substr(kBlockStop.size(), kIndexKey.size()) != kIndexKey)
      return false;
    const std::string_view index = rest.substr(kBlockStop.size() + kIndexKey.size());
    if (index.empty() || index.size() > 18 || (index[0] == '0' && index.size() > 1)) return false;
    for (char c : index)
      if (c < '0' || c > '9') return false;
    f.type = rest.substr(0, kBlockStop.size());
    f.index = index;
    return true;
  }

  // At the event's value: reads its members, descending into the nested objects this translator
  // reads rather than storing them to parse again. False when it is not an object (or on an
  // error: see r.ok()).
  static bool read_event(JsonReader& r, EventFields& f) {
    if (!r.begin_object()) return false;
    std::string_view key;
    while (r.next_key(key)) {
      bool ok = true;
      if (key == "type") {
        ok = r.raw_value(f.type);
      } else if (key == "index") {
        ok = r.raw_value(f.index);
      } else if (key == "delta") {
        f.delta = {};
        f.has_delta = read_fields(r, {{"type", &f.delta.type},
                                      {"text", &f.delta.text},
                                      {"partial_json", &f.delta.partial_json},
                                      {"stop_reason", &f.delta.stop_reason}});
        ok = r.ok();
      } else if (key == "content_block") {
        f.block = {};
        f.has_block = read_fields(r, {{"type", &f.block.type},
                                      {"text", &f.block.text},
                                      {"id", &f.block.id},
                                      {"name", &f.block.name},
                                      {"input", &f.block.input}});
        ok = r.ok();
      } else if (key == "message") {
        f.message = {};
        f.has_message = read_message(r, f.message);
        ok = r.ok();
      } else if (key == "usage") {
        ok = read_usage_update(r, f.usage);
      } else if (key == "error") {
        ok = r.raw_value(f.error);
      } else {
        ok = r.skip();
      }
      if (!ok) return false;
    }
    return r.ok();
  }

  // At a value: a message_start's `message` (id, model and usage). False when it is no object.
  static bool read_message(JsonReader& r, EventFields::Message& m) {
    if (!r.begin_object()) {
      r.skip();
      return false;
    }
    std::string_view key;
    while (r.next_key(key)) {
      bool ok = true;
      if (key == "id") {
        ok = r.raw_value(m.id);
      } else if (key == "model") {
        ok = r.raw_value(m.model);
      } else if (key == "usage") {
        ok = read_usage_update(r, m.usage);
      } else {
        ok = r.skip();
      }
      if (!ok) return false;
    }
    return r.ok();
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
  std::string delta_scratch_;  // read_canonical_delta's decoded string
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
