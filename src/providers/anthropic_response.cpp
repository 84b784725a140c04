// Anthropic message -> OpenAI chat.completion text without a DOM: the body is read with the pull
// reader and the answer written with JsonWriter (the translation path's hot half).
#include <charconv>
#include <string>

#include "anthropic_internal.hpp"
#include "switchboard/providers/anthropic.hpp"

namespace switchboard::providers::anthropic {

using observability::JsonWriter;
using protocol::ApiError;
using protocol::ErrorCode;
using protocol::JsonReader;
using protocol::JsonType;

accounting::Usage UsageCounts::usage() const {
  accounting::Usage u;
  u.known = true;
  u.cached_input = cache_read;
  u.cache_write = cache_write;
  u.input = input + cache_read + cache_write;
  u.output = output;
  return u;
}

bool read_usage(JsonReader& r, UsageCounts& counts) {
  if (!r.begin_object()) {
    r.skip();
    return false;
  }
  std::string_view key;
  while (r.next_key(key)) {
    std::int64_t* slot = key == "input_tokens"                  ? &counts.input
                         : key == "output_tokens"               ? &counts.output
                         : key == "cache_read_input_tokens"     ? &counts.cache_read
                         : key == "cache_creation_input_tokens" ? &counts.cache_write
                                                                : nullptr;
    if (!slot || !r.read_int64(*slot)) r.skip();
  }
  return r.ok();
}

void write_openai_usage(JsonWriter& w, const accounting::Usage& u) {
  w.begin_object();
  w.key("prompt_tokens").integer(u.input);
  w.key("completion_tokens").integer(u.output);
  w.key("total_tokens").integer(u.input + u.output);
  w.key("prompt_tokens_details").begin_object().key("cached_tokens").integer(u.cached_input);
  w.end_object();
  w.key("completion_tokens_details").begin_object().key("reasoning_tokens").integer(u.reasoning);
  w.end_object();
  w.key("cache_read_input_tokens").integer(u.cached_input);
  w.key("cache_creation_input_tokens").integer(u.cache_write);
  w.end_object();
}

std::string_view string_value(std::string_view json_value, std::string& scratch) {
  // A validated string span without escapes is its own contents.
  if (json_value.size() >= 2 && json_value.front() == '"' &&
      json_value.find('\\') == std::string_view::npos)
    return json_value.substr(1, json_value.size() - 2);
  std::string_view value;
  JsonReader r(json_value);
  return r.read_string(value, scratch) ? value : std::string_view();
}

bool read_fields(JsonReader& r, std::initializer_list<Field> fields) {
  if (!r.begin_object()) {
    r.skip();
    return false;
  }
  std::string_view key;
  while (r.next_key(key)) {
    std::string_view* slot = nullptr;
    for (const auto& f : fields) {
      if (f.name == key) {
        slot = f.value;
        break;
      }
    }
    if (slot ? !r.raw_value(*slot) : !r.skip()) return false;
  }
  return r.ok();
}

bool read_fields(std::string_view json_value, std::initializer_list<Field> fields) {
  JsonReader r(json_value);
  return read_fields(r, fields);
}

bool is_string(std::string_view raw, std::string_view text) {
  if (raw.size() == text.size() + 2 && raw.front() == '"' && raw.substr(1, text.size()) == text)
    return true;
  std::string scratch;  // escaped spellings of `text` are compared decoded
  return raw.find('\\') != std::string_view::npos && string_value(raw, scratch) == text;
}

std::int64_t int_value(std::string_view raw, std::int64_t fallback) {
  // A validated span: a JSON integer is exactly what from_chars reads, to the end ("1.0", "1e2",
  // strings and out-of-range values stop it early or fail).
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
  return !raw.empty() && ec == std::errc{} && end == raw.data() + raw.size() ? v : fallback;
}

void append_arguments(std::string& out, std::string_view input) {
  if (input.empty()) {
    out.append("{}");
  } else {
    protocol::append_minified(out, input);
  }
}

namespace {

// One content block's fields as raw JSON spans of the body (its keys may come in any order).
struct BlockFields {
  std::string_view type, text, id, name, input;
};

bool read_block(JsonReader& r, BlockFields& b) {
  b = {};
  return read_fields(r, {{"type", &b.type},
                         {"text", &b.text},
                         {"id", &b.id},
                         {"name", &b.name},
                         {"input", &b.input}}) ||
         r.ok();
}

// The message's text: a single piece that lies in the body stays a view; more are joined.
class Text {
 public:
  // `in_body`: the piece views the body (not a buffer that is reused afterwards).
  void add(std::string_view piece, bool in_body) {
    if (piece.empty()) return;
    if (!joined_ && view_.empty() && in_body) {
      view_ = piece;
      return;
    }
    if (!joined_) buffer_.assign(view_);
    joined_ = true;
    buffer_.append(piece);
  }
  std::string_view view() const { return joined_ ? std::string_view(buffer_) : view_; }
  bool empty() const { return view().empty(); }

 private:
  std::string_view view_;
  std::string buffer_;
  bool joined_ = false;
};

// Walks `content` (an array) once; writes tool calls when `w` is set, else collects the text.
bool read_content(std::string_view content, Text* text, JsonWriter* w, int& tool_calls,
                  bool& json_tool) {
  JsonReader r(content);
  if (!r.begin_array()) return false;
  BlockFields b;
  std::string scratch, arguments;
  while (r.next_element()) {
    if (!read_block(r, b)) return false;
    if (is_string(b.type, "text")) {
      if (text && !b.text.empty() && b.text.front() == '"') {
        std::string_view piece = string_value(b.text, scratch);
        text->add(piece, piece.data() != scratch.data());
      }
      continue;
    }
    if (!is_string(b.type, "tool_use")) continue;  // thinking, redacted_thinking, server tools
    std::string_view name = string_value(b.name, scratch);
    if (name == kAnthropicJsonToolName) {
      json_tool = true;
      if (text) {
        arguments.clear();
        append_arguments(arguments, b.input);
        text->add(arguments, false);
      }
      continue;
    }
    ++tool_calls;
    if (!w) continue;
    arguments.clear();
    append_arguments(arguments, b.input);
    std::string id_scratch;
    w->begin_object();
    w->key("id").string(string_value(b.id, id_scratch));
    w->key("type").string("function");
    w->key("function").begin_object();
    w->key("name").string(name).key("arguments").string(arguments);
    w->end_object().end_object();
  }
  return r.ok();
}

ApiError malformed(const JsonReader& r) {
  return protocol::make_error(
      ErrorCode::upstream_error,
      "Anthropic answered a malformed message: " + std::string(protocol::describe(r.error())) +
          " at byte " + std::to_string(r.error_offset()));
}

ApiError not_a_message() {
  return protocol::make_error(ErrorCode::upstream_error,
                              "Anthropic answered with a body that is not a message");
}

}  // namespace

std::optional<ApiError> write_chat_completion(std::string_view body, const ResponseContext& context,
                                              std::string& out, accounting::Usage& usage) {
  // One pass over the message for the top-level fields (any order, the last duplicate wins),
  // keeping raw spans; the content array is then walked for the text, and again for tool calls.
  std::string_view id, model, stop_reason, content, usage_span;
  JsonReader r(body);
  if (!read_fields(r, {{"id", &id},
                       {"model", &model},
                       {"stop_reason", &stop_reason},
                       {"content", &content},
                       {"usage", &usage_span}}) &&
      r.ok())
    return not_a_message();
  if (!r.finish()) return malformed(r);
  if (content.empty() || content.front() != '[') return not_a_message();

  Text text;
  int tool_calls = 0;
  bool json_tool = false;
  read_content(content, &text, nullptr, tool_calls, json_tool);
  UsageCounts counts;
  usage = {};
  if (!usage_span.empty() && usage_span.front() == '{') {
    JsonReader u(usage_span);
    read_usage(u, counts);
    usage = counts.usage();
  }

  std::string id_scratch, model_scratch, stop_scratch;
  out.reserve(out.size() + body.size() + 320);
  JsonWriter w(out);
  w.begin_object();
  w.key("id").string(!id.empty() && id.front() == '"' ? string_value(id, id_scratch)
                                                      : std::string_view(context.id));
  w.key("object").string("chat.completion");
  w.key("created").integer(context.created);
  w.key("model").string(context.model.empty() ? string_value(model, model_scratch)
                                              : std::string_view(context.model));
  w.key("choices").begin_array().begin_object();
  w.key("index").integer(0);
  w.key("message").begin_object();
  w.key("role").string("assistant");
  w.key("content");
  if (text.empty() && tool_calls > 0) {
    w.null();
  } else {
    w.string(text.view());
  }
  w.key("refusal").null();
  if (tool_calls > 0) {
    w.key("tool_calls").begin_array();
    int written = 0;
    bool ignored = false;
    read_content(content, nullptr, &w, written, ignored);
    w.end_array();
  }
  w.end_object();
  w.key("logprobs").null();
  std::string_view stop = !stop_reason.empty() && stop_reason.front() == '"'
                              ? string_value(stop_reason, stop_scratch)
                              : std::string_view("end_turn");
  w.key("finish_reason").string(finish_reason(stop, json_tool));
  w.end_object().end_array();
  w.key("usage");
  write_openai_usage(w, usage);
  w.end_object();
  return std::nullopt;
}

}  // namespace switchboard::providers::anthropic
