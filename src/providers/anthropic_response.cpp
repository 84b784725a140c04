// Anthropic message -> OpenAI chat.completion text without a DOM: the body is read with the pull
// reader and the answer written with JsonWriter (the translation path's hot half).
#include <charconv>
#include <cstring>
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

bool read_usage(JsonReader& r, UsageCounts& counts, unsigned* given) {
  if (!r.begin_object()) {
    r.skip();
    return false;
  }
  std::string_view key;
  while (r.next_key(key)) {
    int bit = key == "input_tokens"                  ? 0
              : key == "output_tokens"               ? 1
              : key == "cache_read_input_tokens"     ? 2
              : key == "cache_creation_input_tokens" ? 3
                                                     : -1;
    std::int64_t* slot = bit == 0   ? &counts.input
                         : bit == 1 ? &counts.output
                         : bit == 2 ? &counts.cache_read
                         : bit == 3 ? &counts.cache_write
                                    : nullptr;
    if (slot && r.read_int64(*slot)) {
      if (given) *given |= 1u << bit;
    } else {
      r.skip();
    }
  }
  return r.ok();
}

void append_int(std::string& out, std::int64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
}

void append_openai_usage(std::string& out, const accounting::Usage& u) {
  // Assembled on the stack and appended once: seven numbers and their keys.
  char buf[512];
  char* p = buf;
  auto text = [&p](std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  auto number = [&p, &buf](std::int64_t v) { p = std::to_chars(p, buf + sizeof buf, v).ptr; };
  text(R"({"prompt_tokens":)");
  number(u.input);
  text(R"(,"completion_tokens":)");
  number(u.output);
  text(R"(,"total_tokens":)");
  number(u.input + u.output);
  text(R"(,"prompt_tokens_details":{"cached_tokens":)");
  number(u.cached_input);
  text(R"(},"completion_tokens_details":{"reasoning_tokens":)");
  number(u.reasoning);
  text(R"(},"cache_read_input_tokens":)");
  number(u.cached_input);
  text(R"(,"cache_creation_input_tokens":)");
  number(u.cache_write);
  text("}");
  out.append(buf, static_cast<std::size_t>(p - buf));
}

void append_string_span(std::string& out, std::string_view json_value, std::string& scratch) {
  if (json_value.empty() || json_value.front() != '"') {
    out.append("\"\"", 2);
  } else if (json_value.find('\\') == std::string_view::npos) {
    out.append(json_value);  // validated: no quote, control character or bad UTF-8 inside
  } else {
    out.push_back('"');
    observability::append_json_escaped(out, string_value(json_value, scratch));
    out.push_back('"');
  }
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
  // A validated span of up to 18 digits (an optional '-' before them): summed here.
  const bool negative = !raw.empty() && raw.front() == '-';
  const std::string_view digits = raw.substr(negative ? 1 : 0);
  if (!digits.empty() && digits.size() <= 18) {
    std::uint64_t v = 0;
    bool all_digits = true;
    for (char c : digits) {
      all_digits = all_digits && c >= '0' && c <= '9';
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (all_digits) return negative ? -static_cast<std::int64_t>(v) : static_cast<std::int64_t>(v);
  }
  // Otherwise a JSON integer is exactly what from_chars reads, to the end ("1.0", "1e2", strings
  // and out-of-range values stop it early or fail).
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
  return !raw.empty() && ec == std::errc{} && end == raw.data() + raw.size() ? v : fallback;
}

bool canonical_escapes(std::string_view raw, std::size_t& decoded_size) {
  decoded_size = raw.size();
  for (std::size_t i = raw.find('\\'); i != std::string_view::npos; i = raw.find('\\', i)) {
    // Validated: a complete escape follows the backslash.
    switch (raw[i + 1]) {
      case '"':
      case '\\':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        decoded_size -= 1;
        i += 2;
        continue;
      case 'u':
        break;
      default:  // \/ : JsonWriter writes a plain slash
        return false;
    }
    // \u00xx: a control character without a short escape, its hex digits in lower case.
    const char high = raw[i + 4], low = raw[i + 5];
    if (raw[i + 2] != '0' || raw[i + 3] != '0' || (high != '0' && high != '1')) return false;
    int v = 0;
    if (low >= '0' && low <= '9') {
      v = low - '0';
    } else if (low >= 'a' && low <= 'f') {
      v = low - 'a' + 10;
    } else {
      return false;
    }
    v += (high - '0') * 16;
    if (v == '\b' || v == '\t' || v == '\n' || v == '\f' || v == '\r') return false;
    decoded_size -= 5;
    i += 6;
  }
  return true;
}

void append_contents(std::string& out, std::string_view text, bool verbatim) {
  if (verbatim) {
    out.append(text);
  } else {
    observability::append_json_escaped(out, text);
  }
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

// The message's text. A single text block whose string is JSON-ready as written (no escapes, or
// only those JsonWriter writes: see canonical_escapes) stays a view of the body and is copied
// out as it is; otherwise the pieces are decoded and joined, to be escaped when written.
class Text {
 public:
  // A text block's `text`: a validated string value, quotes included.
  void add_string(std::string_view raw, std::string& scratch) {
    const std::string_view contents = raw.substr(1, raw.size() - 2);
    if (contents.empty()) return;
    std::size_t size = 0;
    if (!joined_ && view_.empty() && canonical_escapes(contents, size)) {
      view_ = contents;
      view_raw_ = raw;
      return;
    }
    join(string_value(raw, scratch));
  }
  // Decoded text (JSON mode's arguments).
  void add_decoded(std::string_view piece) {
    if (!piece.empty()) join(piece);
  }
  void clear() {
    view_ = {};
    buffer_.clear();
    joined_ = false;
  }
  // JSON string contents when !joined(), else the decoded text.
  std::string_view view() const { return joined_ ? std::string_view(buffer_) : view_; }
  bool joined() const { return joined_; }
  bool empty() const { return view().empty(); }

 private:
  void join(std::string_view decoded) {
    if (!joined_) {
      buffer_.clear();
      if (!view_.empty()) {  // the first piece, decoded now
        std::string first;
        buffer_.assign(string_value(view_raw_, first));
      }
      joined_ = true;
    }
    buffer_.append(decoded);
  }

  std::string_view view_, view_raw_;
  std::string buffer_;
  bool joined_ = false;
};

// At a `content` array: walks it once; writes tool calls when `w` is set, else collects the text.
bool read_content(JsonReader& r, Text* text, JsonWriter* w, int& tool_calls, bool& json_tool) {
  if (!r.begin_array()) return false;
  BlockFields b;
  std::string scratch, arguments;
  while (r.next_element()) {
    if (!read_block(r, b)) return false;
    if (is_string(b.type, "text")) {
      if (text && !b.text.empty() && b.text.front() == '"') text->add_string(b.text, scratch);
      continue;
    }
    if (!is_string(b.type, "tool_use")) continue;  // thinking, redacted_thinking, server tools
    std::string_view name = string_value(b.name, scratch);
    if (name == kAnthropicJsonToolName) {
      json_tool = true;
      if (text) {
        arguments.clear();
        append_arguments(arguments, b.input);
        text->add_decoded(arguments);
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

// What the translation takes from a message. The last of a duplicated key wins, as in a DOM.
struct Message {
  std::string_view id, model, stop_reason;  // raw values
  std::string_view content;                 // the raw `content` array; empty when it is no array
  Text text;
  int tool_calls = 0;
  bool json_tool = false;
  bool usage_object = false;
  UsageCounts counts;
};

// One pass over the message: the content array and usage object are read where they stand.
// False when the body is no object (see r.ok() for a syntax error).
bool read_message(JsonReader& r, Message& m) {
  if (!r.begin_object()) {
    r.skip();
    return false;
  }
  std::string_view key;
  while (r.next_key(key)) {
    bool ok = true;
    if (key == "content") {
      m.content = {};
      m.text.clear();
      m.tool_calls = 0;
      m.json_tool = false;
      if (r.peek() == JsonType::array) {
        const std::size_t begin = r.offset();
        ok = read_content(r, &m.text, nullptr, m.tool_calls, m.json_tool);
        if (ok) m.content = r.text().substr(begin, r.offset() - begin);
      } else {
        ok = r.skip();
      }
    } else if (key == "usage") {
      m.counts = {};
      m.usage_object = r.peek() == JsonType::object;
      ok = m.usage_object ? read_usage(r, m.counts) : r.skip();
    } else if (key == "id") {
      ok = r.raw_value(m.id);
    } else if (key == "model") {
      ok = r.raw_value(m.model);
    } else if (key == "stop_reason") {
      ok = r.raw_value(m.stop_reason);
    } else {
      ok = r.skip();
    }
    if (!ok) return false;
  }
  return r.ok();
}

}  // namespace

std::optional<ApiError> write_chat_completion(std::string_view body, const ResponseContext& context,
                                              std::string& out, accounting::Usage& usage) {
  Message m;
  JsonReader r(body);
  if (!read_message(r, m) && r.ok()) return not_a_message();
  if (!r.finish()) return malformed(r);
  if (m.content.empty()) return not_a_message();
  usage = m.usage_object ? m.counts.usage() : accounting::Usage{};

  // Written as JsonWriter writes it (compact, nlohmann's escaping), the fixed parts as literals.
  std::string scratch;
  const std::string_view text = m.text.view();
  out.reserve(out.size() + text.size() + m.id.size() + context.model.size() + m.model.size() +
              (m.tool_calls > 0 ? body.size() : 0) + 400);
  out.append(R"({"id":)");
  if (!m.id.empty() && m.id.front() == '"') {
    append_string_span(out, m.id, scratch);
  } else {
    out.push_back('"');
    observability::append_json_escaped(out, context.id);
    out.push_back('"');
  }
  out.append(R"(,"object":"chat.completion","created":)");
  append_int(out, context.created);
  out.append(R"(,"model":)");
  if (context.model.empty()) {
    append_string_span(out, m.model, scratch);
  } else {
    out.push_back('"');
    observability::append_json_escaped(out, context.model);
    out.push_back('"');
  }
  out.append(R"(,"choices":[{"index":0,"message":{"role":"assistant","content":)");
  if (text.empty() && m.tool_calls > 0) {
    out.append("null", 4);
  } else {
    out.push_back('"');
    if (!m.text.joined()) {  // JSON-ready as the body has it
      out.append(text);
    } else {
      observability::append_json_escaped(out, text);
    }
    out.push_back('"');
  }
  out.append(R"(,"refusal":null)");
  if (m.tool_calls > 0) {
    out.append(R"(,"tool_calls":[)");
    JsonWriter w(out);
    JsonReader c(m.content);
    int written = 0;
    bool ignored = false;
    read_content(c, nullptr, &w, written, ignored);
    out.push_back(']');
  }
  std::string_view stop = !m.stop_reason.empty() && m.stop_reason.front() == '"'
                              ? string_value(m.stop_reason, scratch)
                              : std::string_view("end_turn");
  out.append(R"(},"logprobs":null,"finish_reason":")");
  out.append(finish_reason(stop, m.json_tool));  // a fixed word: nothing to escape
  out.append(R"("}],"usage":)");
  append_openai_usage(out, usage);
  out.push_back('}');
  return std::nullopt;
}

}  // namespace switchboard::providers::anthropic
