// The chat request reader: one validating pass over the client's bytes with the pull reader, no
// DOM, no allocation beyond the strings it returns. Duplicate keys resolve as a DOM would: the
// last one wins. Rules are checked after the whole text has been read, so invalid JSON anywhere
// is reported as such before any rule.
#include "switchboard/gateway/chat_scan.hpp"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "switchboard/observability/json_writer.hpp"
#include "switchboard/protocol/json_reader.hpp"

namespace switchboard::gateway {

namespace {

using protocol::ErrorCode;
using protocol::JsonReader;
using protocol::JsonType;

std::optional<protocol::ApiError> invalid(std::string message, std::string param = "") {
  return protocol::make_error(ErrorCode::invalid_request, std::move(message), std::move(param));
}

// A top-level member as far as the rules need it. type == invalid: the key was absent.
struct Field {
  JsonType type = JsonType::invalid;
  bool is_integer = false;  // an integer literal that fits in int64
  std::int64_t integer = 0;
  double number = 0;
};

bool read_field(JsonReader& r, Field& f) {
  f = {};
  f.type = r.peek();
  if (f.type != JsonType::number) return r.skip();
  std::string_view text;
  if (!r.read_number(text)) return false;
  const char* end = text.data() + text.size();
  auto [ip, iec] = std::from_chars(text.data(), end, f.integer);
  f.is_integer = iec == std::errc() && ip == end;
  auto [dp, dec] = std::from_chars(text.data(), end, f.number);
  if (dec == std::errc::result_out_of_range) f.number = text[0] == '-' ? -HUGE_VAL : HUGE_VAL;
  return true;
}

bool given(const Field& f) {
  return f.type != JsonType::invalid && f.type != JsonType::null;
}

// The `messages` array: the count and characters the prompt estimate needs, and the first
// message that breaks a rule.
struct Messages {
  JsonType type = JsonType::invalid;
  std::size_t count = 0;
  std::size_t chars = 0;
  std::optional<protocol::ApiError> error;
};

bool is_role(std::string_view r) {
  return r == "system" || r == "developer" || r == "user" || r == "assistant" || r == "tool" ||
         r == "function";
}

// Content parts: the characters of each part's `text` string.
bool read_parts(JsonReader& r, std::size_t& chars, std::string& scratch) {
  r.begin_array();
  while (r.next_element()) {
    if (r.peek() != JsonType::object) {
      if (!r.skip()) return false;
      continue;
    }
    r.begin_object();
    std::size_t part_chars = 0;
    std::string_view key;
    while (r.next_key(key)) {
      if (key == "text" && r.peek() == JsonType::string) {
        std::string_view text;
        if (!r.read_string(text, scratch)) return false;
        part_chars = text.size();
      } else {
        if (key == "text") part_chars = 0;
        if (!r.skip()) return false;
      }
    }
    if (!r.ok()) return false;
    chars += part_chars;
  }
  return r.ok();
}

bool read_message(JsonReader& r, Messages& m, std::string& scratch) {
  const std::size_t index = m.count++;
  auto where = [index] { return "messages[" + std::to_string(index) + "]"; };
  if (r.peek() != JsonType::object) {
    if (!m.error) m.error = invalid(where() + " must be an object", where());
    return r.skip();
  }
  r.begin_object();
  JsonType role_type = JsonType::invalid, content_type = JsonType::invalid;
  JsonType tool_call_id_type = JsonType::invalid;
  std::string role;
  std::size_t chars = 0;
  std::string_view key;
  while (r.next_key(key)) {
    if (key == "role") {
      role_type = r.peek();
      std::string_view value;
      if (role_type == JsonType::string) {
        if (!r.read_string(value, scratch)) return false;
        role.assign(value);
      } else if (!r.skip()) {
        return false;
      }
    } else if (key == "content") {
      content_type = r.peek();
      chars = 0;
      if (content_type == JsonType::string) {
        std::string_view text;
        if (!r.read_string(text, scratch)) return false;
        chars = text.size();
      } else if (content_type == JsonType::array) {
        if (!read_parts(r, chars, scratch)) return false;
      } else if (!r.skip()) {
        return false;
      }
    } else {
      if (key == "tool_call_id") tool_call_id_type = r.peek();
      if (!r.skip()) return false;
    }
  }
  if (!r.ok()) return false;
  m.chars += chars;
  if (m.error) return true;
  if (role_type != JsonType::string) {
    m.error = invalid(where() + ".role is required and must be a string", where() + ".role");
  } else if (!is_role(role)) {
    m.error = invalid(
        where() + ".role '" + role + "' is not one of system, developer, user, assistant, tool",
        where() + ".role");
  } else if (content_type != JsonType::invalid && content_type != JsonType::string &&
             content_type != JsonType::array && content_type != JsonType::null) {
    m.error = invalid(where() + ".content must be a string or an array of content parts",
                      where() + ".content");
  } else if (role == "tool" && tool_call_id_type != JsonType::string) {
    m.error =
        invalid(where() + ".tool_call_id is required for tool messages", where() + ".tool_call_id");
  }
  return true;
}

std::optional<protocol::ApiError> check_positive_int(const Field& f, const char* key) {
  if (given(f) && (!f.is_integer || f.integer < 1))
    return invalid(std::string("'") + key + "' must be a positive integer", key);
  return std::nullopt;
}

std::optional<protocol::ApiError> check_number(const Field& f, const char* key, double lo,
                                               double hi) {
  if (!given(f)) return std::nullopt;
  if (f.type != JsonType::number)
    return invalid(std::string("'") + key + "' must be a number", key);
  if (f.number < lo || f.number > hi) {
    return invalid(std::string("'") + key + "' must be between " + nlohmann::json(lo).dump() +
                       " and " + nlohmann::json(hi).dump(),
                   key);
  }
  return std::nullopt;
}

}  // namespace

std::optional<protocol::ApiError> scan_chat_request(std::string_view text, ChatScan& out) {
  if (text.empty()) return invalid("the request body is empty; expected a JSON object");
  JsonReader r(text);
  if (r.peek() != JsonType::object) {
    if (r.ok() && r.skip() && r.finish()) return invalid("the request body must be a JSON object");
    return invalid("the request body is not valid JSON");
  }
  r.begin_object();
  out = {};
  out.members_begin = r.offset();

  JsonType model_type = JsonType::invalid, stream_type = JsonType::invalid;
  JsonType stream_options_type = JsonType::invalid, include_usage_type = JsonType::invalid;
  JsonType tools_type = JsonType::invalid, user_type = JsonType::invalid;
  Field max_tokens, max_completion_tokens, n, temperature, top_p, presence, frequency;
  Messages messages;
  int model_keys = 0, stream_options_keys = 0;
  std::size_t extra_chars = 0;  // tools and `input`, for the estimate
  std::string scratch;
  std::string_view key, value;
  bool ok = true;
  while (ok && r.next_key(key)) {
    if (key == "model") {
      ++model_keys;
      model_type = r.peek();
      if (model_type == JsonType::string) {
        out.model_begin = r.offset();
        ok = r.read_string(value, scratch);
        out.model_end = r.offset();
        out.model.assign(value);
      } else {
        ok = r.skip();
      }
    } else if (key == "messages") {
      messages = {};
      messages.type = r.peek();
      if (messages.type == JsonType::array) {
        r.begin_array();
        while (ok && r.next_element()) ok = read_message(r, messages, scratch);
        ok = ok && r.ok();
      } else {
        ok = r.skip();
      }
    } else if (key == "stream") {
      stream_type = r.peek();
      out.stream = false;
      ok = stream_type == JsonType::boolean ? r.read_bool(out.stream) : r.skip();
    } else if (key == "stream_options") {
      ++stream_options_keys;
      stream_options_type = r.peek();
      include_usage_type = JsonType::invalid;
      out.include_usage = false;
      if (stream_options_type == JsonType::object) {
        r.begin_object();
        while (ok && r.next_key(key)) {
          if (key == "include_usage") {
            include_usage_type = r.peek();
            out.include_usage = false;
            if (include_usage_type == JsonType::boolean) {
              ok = r.read_bool(out.include_usage);
              continue;
            }
          }
          ok = r.skip();
        }
        ok = ok && r.ok();
      } else {
        ok = r.skip();
      }
    } else if (key == "max_tokens") {
      ok = read_field(r, max_tokens);
    } else if (key == "max_completion_tokens") {
      ok = read_field(r, max_completion_tokens);
    } else if (key == "n") {
      ok = read_field(r, n);
    } else if (key == "temperature") {
      ok = read_field(r, temperature);
    } else if (key == "top_p") {
      ok = read_field(r, top_p);
    } else if (key == "presence_penalty") {
      ok = read_field(r, presence);
    } else if (key == "frequency_penalty") {
      ok = read_field(r, frequency);
    } else if (key == "tools") {
      tools_type = r.peek();
      if (tools_type == JsonType::array) {
        ok = r.raw_value(value);
        if (ok) {
          scratch.clear();
          protocol::append_minified(scratch, value);
          extra_chars += scratch.size();
        }
      } else {
        ok = r.skip();
      }
    } else if (key == "user") {
      user_type = r.peek();
      out.user.clear();
      if (user_type == JsonType::string) {
        ok = r.read_string(value, scratch);
        out.user.assign(value.substr(0, 256));
      } else {
        ok = r.skip();
      }
    } else if (key == "input") {  // not a chat field, but the estimate counts it as a DOM would
      if (r.peek() == JsonType::string) {
        ok = r.read_string(value, scratch);
        extra_chars += value.size();
      } else if (r.peek() == JsonType::array) {
        r.begin_array();
        while (ok && r.next_element()) {
          if (r.peek() == JsonType::string) {
            ok = r.read_string(value, scratch);
            extra_chars += value.size();
          } else {
            ok = r.skip();
          }
        }
        ok = ok && r.ok();
      } else {
        ok = r.skip();
      }
    } else {
      ok = r.skip();
    }
  }
  if (!ok || !r.finish()) return invalid("the request body is not valid JSON");

  if (model_type == JsonType::invalid)
    return invalid("missing required parameter: 'model'", "model");
  if (model_type != JsonType::string || out.model.empty())
    return invalid("'model' must be a non-empty string", "model");
  if (messages.type == JsonType::invalid)
    return invalid("missing required parameter: 'messages'", "messages");
  if (messages.type != JsonType::array) return invalid("'messages' must be an array", "messages");
  if (messages.count == 0)
    return invalid("'messages' must contain at least one message", "messages");
  if (messages.error) return messages.error;
  if (stream_type != JsonType::invalid && stream_type != JsonType::null &&
      stream_type != JsonType::boolean)
    return invalid("'stream' must be a boolean", "stream");
  if (stream_options_type != JsonType::invalid && stream_options_type != JsonType::null) {
    if (stream_options_type != JsonType::object)
      return invalid("'stream_options' must be an object", "stream_options");
    if (include_usage_type != JsonType::invalid && include_usage_type != JsonType::boolean)
      return invalid("'stream_options.include_usage' must be a boolean",
                     "stream_options.include_usage");
  }
  if (auto e = check_positive_int(max_tokens, "max_tokens")) return e;
  if (auto e = check_positive_int(max_completion_tokens, "max_completion_tokens")) return e;
  if (auto e = check_positive_int(n, "n")) return e;
  if (auto e = check_number(temperature, "temperature", 0, 2)) return e;
  if (auto e = check_number(top_p, "top_p", 0, 1)) return e;
  if (auto e = check_number(presence, "presence_penalty", -2, 2)) return e;
  if (auto e = check_number(frequency, "frequency_penalty", -2, 2)) return e;
  if (tools_type != JsonType::invalid && tools_type != JsonType::null &&
      tools_type != JsonType::array)
    return invalid("'tools' must be an array", "tools");
  if (user_type != JsonType::invalid && user_type != JsonType::null &&
      user_type != JsonType::string)
    return invalid("'user' must be a string", "user");

  out.stream_options_present = stream_options_type != JsonType::invalid;
  out.duplicate_keys = model_keys > 1 || stream_options_keys > 1;
  if (max_completion_tokens.is_integer)
    out.max_output_tokens = max_completion_tokens.integer;
  else if (max_tokens.is_integer)
    out.max_output_tokens = max_tokens.integer;
  out.prompt_tokens = static_cast<std::int64_t>((messages.chars + extra_chars + 3) / 4) +
                      4 * static_cast<std::int64_t>(messages.count);
  return std::nullopt;
}

std::string replace_model(std::string_view text, std::size_t begin, std::size_t end,
                          std::string_view model) {
  std::string out;
  out.reserve(text.size() + model.size() + 8);
  out.append(text.substr(0, begin));
  out.push_back('"');
  observability::append_json_escaped(out, model);
  out.push_back('"');
  out.append(text.substr(end));
  return out;
}

std::string insert_include_usage(std::string_view text, std::size_t at) {
  constexpr std::string_view kMember = R"("stream_options":{"include_usage":true},)";
  std::string out;
  out.reserve(text.size() + kMember.size());
  out.append(text.substr(0, at));
  out.append(kMember);
  out.append(text.substr(at));
  return out;
}

}  // namespace switchboard::gateway
