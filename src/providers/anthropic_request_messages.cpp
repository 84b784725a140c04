// The OpenAI messages -> Anthropic's messages and system blocks, validated, then written with
// BodyWriter (part of the request translation in anthropic_request.cpp).
#include <array>
#include <cstdint>
#include <string>

#include "anthropic_internal.hpp"
#include "switchboard/providers/anthropic.hpp"

namespace switchboard::providers::anthropic {

using protocol::ApiError;
using protocol::ErrorCode;
using protocol::JsonValue;
using MaybeError = std::optional<ApiError>;

namespace {

// "messages[i]<suffix>", built only for an error message.
std::string message_param(std::size_t i, std::string_view suffix = {}) {
  return at("messages", i) + std::string(suffix);
}

void copy_cache_control(JsonValue part, Out& out) {
  // Not OpenAI's, but clients written for LiteLLM put Anthropic's prompt-caching marker on parts.
  if (JsonValue cc = part.find("cache_control"); cc.is_object()) {
    out.w.key("cache_control");
    write_value(out, cc);
  }
}

// "data:<media type>;base64,<data>" -> (media type, data). False when not base64 data.
bool split_data_url(std::string_view url, std::string_view& media_type, std::string_view& data) {
  auto comma = url.find(',');
  if (!url.starts_with("data:") || comma == std::string_view::npos) return false;
  std::string_view meta = url.substr(5, comma - 5);
  if (!meta.ends_with(";base64")) return false;
  media_type = meta.substr(0, meta.size() - 7);
  data = url.substr(comma + 1);
  return !media_type.empty();
}

void write_base64_source(Out& out, std::string_view type, std::string_view media_type,
                         std::string_view data) {
  out.w.key("type").string(type).key("source").begin_object();
  out.w.key("type").string("base64").key("media_type").string(media_type);
  out.w.key("data").string(data).end_object();
}

MaybeError image_block(JsonValue part, std::size_t msg, std::size_t index, Out* out) {
  auto param = [&] { return at(message_param(msg, ".content"), index); };
  JsonValue url;
  if (JsonValue image = part.find("image_url"); image.is_string())
    url = image;
  else if (image.is_object() && image.find("url").is_string())
    url = image.find("url");
  if (!url.present()) return bad("image_url.url must be a string", param());
  std::string_view u = url.string();
  std::string_view media_type, data;
  bool base64 = u.starts_with("data:");
  if (base64 && !split_data_url(u, media_type, data))
    return bad("an image data URL must be base64 (data:<type>;base64,...)", param());
  if (!base64 && !u.starts_with("https://") && !u.starts_with("http://"))
    return bad("image_url.url must be an http(s) or base64 data URL", param());
  if (!out) return std::nullopt;
  out->w.begin_object();
  if (base64) {
    write_base64_source(*out, media_type == "application/pdf" ? "document" : "image", media_type,
                        data);
  } else {
    out->w.key("type").string("image").key("source").begin_object();
    out->w.key("type").string("url").key("url");
    write_string(*out, url);
    out->w.end_object();
  }
  copy_cache_control(part, *out);
  out->w.end_object();
  return std::nullopt;
}

MaybeError file_block(JsonValue part, std::size_t msg, std::size_t index, Out* out) {
  auto param = [&] { return at(message_param(msg, ".content"), index); };
  JsonValue file = part.find("file");
  std::string_view media_type, data;
  if (!file.is_object() || !file.find("file_data").is_string())
    return unsupported(param(), "only inline PDF files (file.file_data) can be sent to Anthropic");
  if (!split_data_url(file.find("file_data").string(), media_type, data) ||
      media_type != "application/pdf")
    return unsupported(param(), "only base64 PDF data URLs can be sent to Anthropic as documents");
  if (!out) return std::nullopt;
  out->w.begin_object();
  write_base64_source(*out, "document", media_type, data);
  copy_cache_control(part, *out);
  out->w.end_object();
  return std::nullopt;
}

// `text` is a string value; `part` the content part holding it, if any.
void push_text(JsonValue text, Out* out, int& count, JsonValue part = {}) {
  if (text.raw().size() <= 2) return;  // "": Anthropic rejects empty text blocks
  ++count;
  if (!out) return;
  out->w.begin_object_with(R"("type":"text","text":)");
  write_string(*out, text);
  if (part.present()) copy_cache_control(part, *out);
  out->w.end_object();
}

// Content that may only hold text (system, developer, assistant, tool messages).
MaybeError text_blocks(JsonValue content, std::size_t msg, Out* out, int& count) {
  if (content.is_null()) return std::nullopt;
  if (content.is_string()) {
    push_text(content, out, count);
    return std::nullopt;
  }
  if (!content.is_array())
    return bad("content must be a string or an array of parts", message_param(msg, ".content"));
  for (std::size_t i = 0; i < content.size(); ++i) {
    JsonValue part = content[i];
    std::string_view type;
    if (part.is_object()) {
      if (auto err = type_member(part, "", type)) return err;
    }
    JsonValue text = part.find(type == "refusal" ? "refusal" : "text");
    if ((type != "text" && type != "refusal") || !text.is_string())
      return bad("only text parts are allowed here", at(message_param(msg, ".content"), i));
    push_text(text, out, count, part);
  }
  return std::nullopt;
}

MaybeError user_blocks(JsonValue content, std::size_t msg, Out* out, int& count) {
  if (!content.is_array()) return text_blocks(content, msg, out, count);
  for (std::size_t i = 0; i < content.size(); ++i) {
    JsonValue part = content[i];
    std::string_view type;
    if (part.is_object()) {
      if (auto err = type_member(part, "", type)) return err;
    }
    auto p = [&] { return at(message_param(msg, ".content"), i); };
    MaybeError err;
    if (type == "text") {
      JsonValue text = part.find("text");
      if (!text.is_string()) return bad("text must be a string", p());
      push_text(text, out, count, part);
      continue;
    }
    if (type == "image_url") {
      err = image_block(part, msg, i, out);
    } else if (type == "file") {
      err = file_block(part, msg, i, out);
    } else if (type == "input_audio") {
      err = unsupported(p(), "Anthropic models do not accept audio input");
    } else {
      err = bad("unknown content part type '" + std::string(type) + "'", p());
    }
    if (err) return err;
    ++count;
  }
  return std::nullopt;
}

MaybeError tool_use_blocks(JsonValue calls, std::size_t msg, Out* out, int& count) {
  if (!calls.is_array())
    return bad("tool_calls must be an array", message_param(msg, ".tool_calls"));
  for (std::size_t i = 0; i < calls.size(); ++i) {
    JsonValue call = calls[i];
    auto p = [&] { return at(message_param(msg, ".tool_calls"), i); };
    if (!call.is_object() || !call.find("id").is_string())
      return bad("a tool call needs a string id", p());
    JsonValue fn = call.find("function");
    if (!fn.is_object() || !fn.find("name").is_string())
      return bad("a tool call needs function.name", p() + ".function");
    std::string_view input = "{}";
    if (JsonValue arguments = fn.find("arguments"); !arguments.is_null()) {
      if (!arguments.is_string())
        return bad("function.arguments must be a JSON string", p() + ".function.arguments");
      std::string_view args = arguments.string();
      if (!args.empty()) {
        // Validated, then sent as the client wrote it: no parse into a tree and back.
        protocol::JsonReader reader(args);
        if (reader.peek() != protocol::JsonType::object || !reader.raw_value(input) ||
            !reader.finish())
          return bad("function.arguments must be a JSON object text (Anthropic tool input)",
                     p() + ".function.arguments");
      }
    }
    ++count;
    if (!out) continue;
    out->w.begin_object().key("type").string("tool_use");
    out->w.key("id");
    write_string(*out, call.find("id"));
    out->w.key("name");
    write_string(*out, fn.find("name"));
    out->w.key("input");
    write_raw(*out, input);
    out->w.end_object();
  }
  return std::nullopt;
}

enum class Turn { none, user, assistant };

// A message's role; system stands for developer too.
enum class Role : std::uint8_t { system, user, assistant, tool, other };

Role role_of(std::string_view role) {
  if (role == "user") return Role::user;
  if (role == "assistant") return Role::assistant;
  if (role == "system" || role == "developer") return Role::system;
  if (role == "tool") return Role::tool;
  return Role::other;
}

// One message: validated, and its blocks written when `out` is set. `turn` is the conversation
// turn it adds blocks to (none: a system message, or nothing to send); system text goes to
// `system` (written only when `system` is set). `role_out`, when set, receives the role once it
// is known.
MaybeError convert_message(JsonValue messages, std::size_t i, Out* out, Out* system, Turn& turn,
                           int& system_count, Role* role_out = nullptr) {
  JsonValue m = messages[i];
  JsonValue role_value = m.find("role");  // missing when m is no object
  if (!role_value.is_string()) return bad("a message needs a role", message_param(i));
  std::string_view role = role_value.string();
  const Role kind = role_of(role);
  if (role_out) *role_out = kind;
  JsonValue content = m.find("content");
  int count = 0;
  turn = Turn::none;
  MaybeError err;
  if (kind == Role::system) {
    return text_blocks(content, i, system, system_count);
  } else if (kind == Role::user) {
    err = user_blocks(content, i, out, count);
    if (count > 0) turn = Turn::user;
  } else if (kind == Role::assistant) {
    err = text_blocks(content, i, out, count);
    if (!err && is_set(m, "tool_calls")) err = tool_use_blocks(m.find("tool_calls"), i, out, count);
    if (!err && is_set(m, "function_call"))
      err = unsupported(message_param(i, ".function_call"), "use tool_calls");
    if (count > 0) turn = Turn::assistant;
  } else if (kind == Role::tool) {
    if (!m.find("tool_call_id").is_string())
      return bad("a tool message needs tool_call_id", message_param(i, ".tool_call_id"));
    turn = Turn::user;
    if (content.is_array()) {
      int parts = 0;
      err = text_blocks(content, i, nullptr, parts);  // validated here, written below
    }
    if (!err && out) {
      out->w.begin_object().key("type").string("tool_result");
      out->w.key("tool_use_id");
      write_string(*out, m.find("tool_call_id"));
      if (content.is_array()) {
        int parts = 0;
        out->w.key("content").begin_array();
        text_blocks(content, i, out, parts);
        out->w.end_array();
      } else if (content.is_string()) {
        out->w.key("content");
        write_string(*out, content);
      }
      out->w.end_object();
    }
  } else {
    err = bad("unsupported role '" + std::string(role) + "'", message_param(i, ".role"));
  }
  return err;
}

Turn turn_of(JsonValue messages, std::size_t i) {
  Turn turn = Turn::none;
  int ignored = 0;
  convert_message(messages, i, nullptr, nullptr, turn, ignored);
  return turn;
}

// On a validated message.
Role role_at(JsonValue messages, std::size_t i) {
  return role_of(messages[i].find("role").string());
}

}  // namespace

// Consecutive same-role turns merge, as Anthropic wants alternation, and a user turn's
// tool_result blocks go before anything else in it.
MaybeError write_messages(JsonValue messages, Out& out) {
  if (!messages.is_array() || messages.empty())
    return bad("messages must be a non-empty array", "messages");
  const std::size_t n = messages.size();
  // Each message's turn and role, kept from the validation pass for the first messages (most
  // requests); recomputed past them.
  std::array<Turn, 32> turns;
  std::array<Role, 32> roles;
  auto turn_at = [&](std::size_t i) { return i < turns.size() ? turns[i] : turn_of(messages, i); };
  auto role = [&](std::size_t i) { return i < roles.size() ? roles[i] : role_at(messages, i); };
  int system_count = 0;
  bool any = false;
  for (std::size_t i = 0; i < n; ++i) {
    Turn turn = Turn::none;
    Role kind = Role::other;
    if (auto err = convert_message(messages, i, nullptr, nullptr, turn, system_count, &kind))
      return err;
    if (i < turns.size()) {
      turns[i] = turn;
      roles[i] = kind;
    }
    any = any || turn != Turn::none;
  }
  if (!any) return bad("messages hold no content to send", "messages");

  int ignored = 0;
  Turn turn = Turn::none;
  out.w.key("messages").begin_array();
  for (std::size_t i = 0; i < n;) {
    const Turn side = turn_at(i);
    if (side == Turn::none) {
      ++i;
      continue;
    }
    // The run of messages this turn merges: up to the next message that adds to the other role.
    std::size_t end = i + 1;
    while (end < n && (turn = turn_at(end), turn == Turn::none || turn == side)) ++end;
    if (side == Turn::user) {
      out.w.begin_object_with(R"("role":"user","content":)");
    } else {
      out.w.begin_object_with(R"("role":"assistant","content":)");
    }
    out.w.begin_array();
    // A user turn takes its tool results first (pass 0), then the user messages (pass 1).
    const Role own_role = side == Turn::user ? Role::user : Role::assistant;
    for (int pass = side == Turn::user ? 0 : 1; pass < 2; ++pass) {
      for (std::size_t k = i; k < end; ++k) {
        if (role(k) == (pass == 0 ? Role::tool : own_role))
          convert_message(messages, k, &out, nullptr, turn, ignored);
      }
    }
    out.w.end_array().end_object();
    i = end;
  }
  out.w.end_array();
  if (system_count > 0) {
    out.w.key("system").begin_array();
    for (std::size_t i = 0; i < n; ++i) {
      if (role(i) == Role::system) convert_message(messages, i, nullptr, &out, turn, ignored);
    }
    out.w.end_array();
  }
  return std::nullopt;
}

}  // namespace switchboard::providers::anthropic
