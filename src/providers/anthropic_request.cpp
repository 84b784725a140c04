// OpenAI Chat Completions request -> Anthropic Messages request body (provider-formats.md 4.2),
// written straight from the request DOM with JsonWriter: no intermediate tree.
#include <array>
#include <cstdint>
#include <string>

#include "anthropic_internal.hpp"
#include "switchboard/providers/anthropic.hpp"

namespace switchboard::providers::anthropic {
namespace {

using nlohmann::json;
using observability::JsonWriter;
using protocol::ApiError;
using protocol::ErrorCode;
using MaybeError = std::optional<ApiError>;

ApiError bad(std::string message, std::string param) {
  return protocol::make_error(ErrorCode::invalid_request, std::move(message), std::move(param));
}

ApiError unsupported(const std::string& field, std::string_view why) {
  return bad("`" + field + "` is not supported by Anthropic models: " + std::string(why), field);
}

bool is_set(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && !it->is_null();
}

// object[key], or null when absent: a reference, never a copy of the member.
const json& member(const json& object, const char* key) {
  static const json kNull;
  auto it = object.find(key);
  return it != object.end() ? *it : kNull;
}

std::string at(const std::string& param, std::size_t index) {
  return param + "[" + std::to_string(index) + "]";
}

// The top-level request members the translation reads. They are found in one pass over the
// request object: a std::map lookup per name (some thirty of them) costs more than writing the
// whole body.
constexpr std::array<std::string_view, 25> kTopNames = {"n",
                                                        "logprobs",
                                                        "top_logprobs",
                                                        "logit_bias",
                                                        "presence_penalty",
                                                        "frequency_penalty",
                                                        "audio",
                                                        "modalities",
                                                        "functions",
                                                        "function_call",
                                                        "reasoning_effort",
                                                        "web_search_options",
                                                        "messages",
                                                        "max_completion_tokens",
                                                        "max_tokens",
                                                        "temperature",
                                                        "top_p",
                                                        "top_k",
                                                        "stop",
                                                        "tools",
                                                        "tool_choice",
                                                        "parallel_tool_calls",
                                                        "response_format",
                                                        "user",
                                                        "safety_identifier"};

// The index of a member name, checked at compile time.
consteval std::size_t F(std::string_view name) {
  for (std::size_t i = 0; i < kTopNames.size(); ++i)
    if (kTopNames[i] == name) return i;
  throw "not a name in kTopNames";
}

class Top {
 public:
  explicit Top(const json& request) {
    for (auto it = request.begin(); it != request.end(); ++it) {
      std::string_view key = it.key();
      for (std::size_t i = 0; i < kTopNames.size(); ++i) {
        if (kTopNames[i] == key) {
          members_[i] = &it.value();
          break;
        }
      }
    }
  }
  // request[name], or null when absent.
  const json& operator[](std::size_t index) const {
    static const json kNull;
    return members_[index] ? *members_[index] : kNull;
  }

 private:
  std::array<const json*, kTopNames.size()> members_{};
};

bool is_set(const Top& r, std::size_t index) {
  return !r[index].is_null();
}

// "messages[i]<suffix>", built only for an error message.
std::string message_param(std::size_t i, std::string_view suffix = {}) {
  return at("messages", i) + std::string(suffix);
}

// Where blocks go: a writer when writing, null when only validating and counting. Every converter
// below runs twice: first to validate the whole request (same checks and errors, same order, as
// ever), then to write, so a 400 never leaves half a body behind and the logic exists once.
struct Out {
  JsonWriter& w;
  std::string& text;
};

// JsonWriter has no raw-value call: a null written and replaced keeps its comma state right.
void write_raw(Out& out, std::string_view json_text) {
  out.w.null();
  out.text.resize(out.text.size() - 4);
  out.text.append(json_text);
}

// A value of the request DOM, as nlohmann's dump writes it.
void write_value(Out& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      out.w.begin_object();
      for (auto it = v.begin(); it != v.end(); ++it) {
        out.w.key(it.key());
        write_value(out, it.value());
      }
      out.w.end_object();
      return;
    case json::value_t::array:
      out.w.begin_array();
      for (const auto& item : v) write_value(out, item);
      out.w.end_array();
      return;
    case json::value_t::string:
      out.w.string(v.get_ref<const std::string&>());
      return;
    case json::value_t::boolean:
      out.w.boolean(v.get<bool>());
      return;
    case json::value_t::number_integer:
      out.w.integer(v.get<std::int64_t>());
      return;
    case json::value_t::number_unsigned:  // nlohmann reads every non-negative integer so
      if (auto u = v.get<std::uint64_t>(); u <= static_cast<std::uint64_t>(INT64_MAX)) {
        out.w.integer(static_cast<std::int64_t>(u));
      } else {
        write_raw(out, std::to_string(u));
      }
      return;
    case json::value_t::number_float:
      out.w.number(v.get<double>());
      return;
    default:
      out.w.null();
  }
}

// Parameters Anthropic has no equivalent for. Each changes what the client gets back, so each is
// refused rather than dropped. `seed` is not here: OpenAI itself only promises best effort.
MaybeError check_unsupported(const Top& r) {
  if (is_set(r, F("n")) && !(r[F("n")].is_number_integer() && r[F("n")].get<std::int64_t>() == 1))
    return unsupported("n", "Anthropic returns exactly one choice; send n=1 and repeat the call");
  if (is_set(r, F("logprobs")) && r[F("logprobs")] != false)
    return unsupported("logprobs", "Anthropic does not return token log probabilities");
  if (is_set(r, F("top_logprobs")))
    return unsupported("top_logprobs", "Anthropic does not return token log probabilities");
  if (is_set(r, F("logit_bias")) && !(r[F("logit_bias")].is_object() && r[F("logit_bias")].empty()))
    return unsupported("logit_bias", "Anthropic has no token biasing");
  for (std::size_t penalty : {F("presence_penalty"), F("frequency_penalty")}) {
    if (is_set(r, penalty) && !(r[penalty].is_number() && r[penalty].get<double>() == 0.0))
      return unsupported(std::string(kTopNames[penalty]), "Anthropic has no repetition penalties");
  }
  if (is_set(r, F("audio"))) return unsupported("audio", "Anthropic models do not produce audio");
  if (const json& m = r[F("modalities")]; m.is_array()) {
    for (const auto& v : m)
      if (v == "audio") return unsupported("modalities", "Anthropic models do not produce audio");
  }
  if (is_set(r, F("functions")) || is_set(r, F("function_call"))) {
    std::string field = is_set(r, F("functions")) ? "functions" : "function_call";
    return unsupported(field, "the deprecated functions API is not translated; use `tools`");
  }
  if (is_set(r, F("reasoning_effort")))
    return unsupported("reasoning_effort",
                       "extended thinking cannot round-trip through Chat Completions");
  if (is_set(r, F("web_search_options")))
    return unsupported("web_search_options", "use an OpenAI search model");
  return std::nullopt;
}

void copy_cache_control(const json& part, Out& out) {
  // Not OpenAI's, but clients written for LiteLLM put Anthropic's prompt-caching marker on parts.
  if (auto cc = part.find("cache_control"); cc != part.end() && cc->is_object()) {
    out.w.key("cache_control");
    write_value(out, *cc);
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

MaybeError image_block(const json& part, std::size_t msg, std::size_t index, Out* out) {
  auto param = [&] { return at(message_param(msg, ".content"), index); };
  const json* url = nullptr;
  if (auto it = part.find("image_url"); it != part.end()) {
    if (it->is_string())
      url = &*it;
    else if (it->is_object() && it->contains("url") && (*it)["url"].is_string())
      url = &(*it)["url"];
  }
  if (!url) return bad("image_url.url must be a string", param());
  const auto& u = url->get_ref<const std::string&>();
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
    out->w.key("type").string("url").key("url").string(u).end_object();
  }
  copy_cache_control(part, *out);
  out->w.end_object();
  return std::nullopt;
}

MaybeError file_block(const json& part, std::size_t msg, std::size_t index, Out* out) {
  auto param = [&] { return at(message_param(msg, ".content"), index); };
  const json& file = member(part, "file");
  std::string_view media_type, data;
  if (!file.is_object() || !member(file, "file_data").is_string())
    return unsupported(param(), "only inline PDF files (file.file_data) can be sent to Anthropic");
  if (!split_data_url(member(file, "file_data").get_ref<const std::string&>(), media_type, data) ||
      media_type != "application/pdf")
    return unsupported(param(), "only base64 PDF data URLs can be sent to Anthropic as documents");
  if (!out) return std::nullopt;
  out->w.begin_object();
  write_base64_source(*out, "document", media_type, data);
  copy_cache_control(part, *out);
  out->w.end_object();
  return std::nullopt;
}

void push_text(std::string_view text, Out* out, int& count, const json* part = nullptr) {
  if (text.empty()) return;  // Anthropic rejects empty text blocks
  ++count;
  if (!out) return;
  out->w.begin_object().key("type").string("text").key("text").string(text);
  if (part) copy_cache_control(*part, *out);
  out->w.end_object();
}

// Content that may only hold text (system, developer, assistant, tool messages).
MaybeError text_blocks(const json& content, std::size_t msg, Out* out, int& count) {
  if (content.is_null()) return std::nullopt;
  if (content.is_string()) {
    push_text(content.get_ref<const std::string&>(), out, count);
    return std::nullopt;
  }
  if (!content.is_array())
    return bad("content must be a string or an array of parts", message_param(msg, ".content"));
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    std::string type = part.is_object() ? part.value("type", "") : "";
    const char* key = type == "refusal" ? "refusal" : "text";
    if ((type != "text" && type != "refusal") || !member(part, key).is_string())
      return bad("only text parts are allowed here", at(message_param(msg, ".content"), i));
    push_text(member(part, key).get_ref<const std::string&>(), out, count, &part);
  }
  return std::nullopt;
}

MaybeError user_blocks(const json& content, std::size_t msg, Out* out, int& count) {
  if (!content.is_array()) return text_blocks(content, msg, out, count);
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    std::string type = part.is_object() ? part.value("type", "") : "";
    auto p = [&] { return at(message_param(msg, ".content"), i); };
    MaybeError err;
    if (type == "text") {
      if (!member(part, "text").is_string()) return bad("text must be a string", p());
      push_text(member(part, "text").get_ref<const std::string&>(), out, count, &part);
      continue;
    }
    if (type == "image_url") {
      err = image_block(part, msg, i, out);
    } else if (type == "file") {
      err = file_block(part, msg, i, out);
    } else if (type == "input_audio") {
      err = unsupported(p(), "Anthropic models do not accept audio input");
    } else {
      err = bad("unknown content part type '" + type + "'", p());
    }
    if (err) return err;
    ++count;
  }
  return std::nullopt;
}

MaybeError tool_use_blocks(const json& calls, std::size_t msg, Out* out, int& count) {
  if (!calls.is_array())
    return bad("tool_calls must be an array", message_param(msg, ".tool_calls"));
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const json& call = calls[i];
    auto p = [&] { return at(message_param(msg, ".tool_calls"), i); };
    if (!call.is_object() || !member(call, "id").is_string())
      return bad("a tool call needs a string id", p());
    const json& fn = member(call, "function");
    if (!fn.is_object() || !member(fn, "name").is_string())
      return bad("a tool call needs function.name", p() + ".function");
    std::string_view input = "{}";
    if (!member(fn, "arguments").is_null()) {
      if (!member(fn, "arguments").is_string())
        return bad("function.arguments must be a JSON string", p() + ".function.arguments");
      const auto& args = member(fn, "arguments").get_ref<const std::string&>();
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
    out->w.key("id").string(member(call, "id").get_ref<const std::string&>());
    out->w.key("name").string(member(fn, "name").get_ref<const std::string&>());
    out->w.key("input");
    write_raw(*out, input);
    out->w.end_object();
  }
  return std::nullopt;
}

enum class Turn { none, user, assistant };

// One message: validated, and its blocks written when `out` is set. `turn` is the conversation
// turn it adds blocks to (none: a system message, or nothing to send); system text goes to
// `system` (written only when `system` is set).
MaybeError convert_message(const json& messages, std::size_t i, Out* out, Out* system, Turn& turn,
                           int& system_count) {
  const json& m = messages[i];
  if (!m.is_object() || !member(m, "role").is_string())
    return bad("a message needs a role", message_param(i));
  const auto& role = member(m, "role").get_ref<const std::string&>();
  const json& content = member(m, "content");
  int count = 0;
  turn = Turn::none;
  MaybeError err;
  if (role == "system" || role == "developer") {
    return text_blocks(content, i, system, system_count);
  } else if (role == "user") {
    err = user_blocks(content, i, out, count);
    if (count > 0) turn = Turn::user;
  } else if (role == "assistant") {
    err = text_blocks(content, i, out, count);
    if (!err && is_set(m, "tool_calls"))
      err = tool_use_blocks(member(m, "tool_calls"), i, out, count);
    if (!err && is_set(m, "function_call"))
      err = unsupported(message_param(i, ".function_call"), "use tool_calls");
    if (count > 0) turn = Turn::assistant;
  } else if (role == "tool") {
    if (!member(m, "tool_call_id").is_string())
      return bad("a tool message needs tool_call_id", message_param(i, ".tool_call_id"));
    turn = Turn::user;
    if (content.is_array()) {
      int parts = 0;
      err = text_blocks(content, i, nullptr, parts);  // validated here, written below
    }
    if (!err && out) {
      out->w.begin_object().key("type").string("tool_result");
      out->w.key("tool_use_id").string(member(m, "tool_call_id").get_ref<const std::string&>());
      if (content.is_array()) {
        int parts = 0;
        out->w.key("content").begin_array();
        text_blocks(content, i, out, parts);
        out->w.end_array();
      } else if (content.is_string()) {
        out->w.key("content").string(content.get_ref<const std::string&>());
      }
      out->w.end_object();
    }
  } else {
    err = bad("unsupported role '" + role + "'", message_param(i, ".role"));
  }
  return err;
}

Turn turn_of(const json& messages, std::size_t i) {
  Turn turn = Turn::none;
  int ignored = 0;
  convert_message(messages, i, nullptr, nullptr, turn, ignored);
  return turn;
}

// On a validated message. (Comparing the json to a literal would build a json from it first.)
bool is_role(const json& m, std::string_view role) {
  return m.find("role")->get_ref<const std::string&>() == role;
}

// Writes "messages" (then "system"): consecutive same-role turns merge, as Anthropic wants
// alternation, and a user turn's tool_result blocks go before anything else in it.
MaybeError write_messages(const json& messages, Out& out) {
  if (!messages.is_array() || messages.empty())
    return bad("messages must be a non-empty array", "messages");
  const std::size_t n = messages.size();
  // Each message's turn, kept from the validation pass for the first messages (most requests);
  // recomputed past them.
  std::array<Turn, 32> turns;
  auto turn_at = [&](std::size_t i) { return i < turns.size() ? turns[i] : turn_of(messages, i); };
  int system_count = 0;
  bool any = false;
  for (std::size_t i = 0; i < n; ++i) {
    Turn turn = Turn::none;
    if (auto err = convert_message(messages, i, nullptr, nullptr, turn, system_count)) return err;
    if (i < turns.size()) turns[i] = turn;
    any = any || turn != Turn::none;
  }
  if (!any) return bad("messages hold no content to send", "messages");

  int ignored = 0;
  Turn turn = Turn::none;
  out.w.key("messages").begin_array();
  for (std::size_t i = 0; i < n;) {
    Turn role = turn_at(i);
    if (role == Turn::none) {
      ++i;
      continue;
    }
    // The run of messages this turn merges: up to the next message that adds to the other role.
    std::size_t end = i + 1;
    while (end < n && (turn = turn_at(end), turn == Turn::none || turn == role)) ++end;
    out.w.begin_object().key("role").string(role == Turn::user ? "user" : "assistant");
    out.w.key("content").begin_array();
    // A user turn takes its tool results first (pass 0), then the user messages (pass 1).
    const char* own_role = role == Turn::user ? "user" : "assistant";
    for (int pass = role == Turn::user ? 0 : 1; pass < 2; ++pass) {
      for (std::size_t k = i; k < end; ++k) {
        bool wanted = pass == 0 ? is_role(messages[k], "tool") : is_role(messages[k], own_role);
        if (wanted) convert_message(messages, k, &out, nullptr, turn, ignored);
      }
    }
    out.w.end_array().end_object();
    i = end;
  }
  out.w.end_array();
  if (system_count > 0) {
    out.w.key("system").begin_array();
    for (std::size_t i = 0; i < n; ++i) {
      if (is_role(messages[i], "system") || is_role(messages[i], "developer"))
        convert_message(messages, i, nullptr, &out, turn, ignored);
    }
    out.w.end_array();
  }
  return std::nullopt;
}

MaybeError write_tools(const json& tools, Out& out) {
  if (!tools.is_array()) return bad("tools must be an array", "tools");
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const json& t = tools[i];
    std::string p = at("tools", i);
    if (!t.is_object() || t.value("type", "function") != "function")
      return unsupported(p, "only function tools can be translated");
    const json& fn = member(t, "function");
    if (!fn.is_object() || !member(fn, "name").is_string())
      return bad("a function tool needs function.name", p + ".function.name");
    if (member(fn, "name") == kAnthropicJsonToolName)
      return bad("the tool name '" + std::string(kAnthropicJsonToolName) +
                     "' is reserved by the gateway for JSON mode",
                 p + ".function.name");
  }
  out.w.key("tools").begin_array();
  for (const json& t : tools) {
    const json& fn = member(t, "function");
    out.w.begin_object().key("name").string(member(fn, "name").get_ref<const std::string&>());
    if (member(fn, "description").is_string())
      out.w.key("description").string(member(fn, "description").get_ref<const std::string&>());
    out.w.key("input_schema");
    if (member(fn, "parameters").is_object()) {
      write_value(out, member(fn, "parameters"));
    } else {
      out.w.begin_object().key("type").string("object").key("properties").begin_object();
      out.w.end_object().end_object();
    }
    out.w.end_object();
  }
  out.w.end_array();
  return std::nullopt;
}

MaybeError write_tool_choice(const Top& r, bool has_tools, Out& out) {
  std::string_view type;       // empty: no choice
  const json* name = nullptr;  // for type "tool"
  if (is_set(r, F("tool_choice"))) {
    const json& tc = r[F("tool_choice")];
    if (tc == "auto") {
      type = "auto";
    } else if (tc == "none") {
      type = "none";
    } else if (tc == "required") {
      type = "any";
    } else if (tc.is_object() && tc.value("type", "") == "function" && tc.contains("function") &&
               tc["function"].is_object() && tc["function"].contains("name") &&
               tc["function"]["name"].is_string()) {
      type = "tool";
      name = &tc["function"]["name"];
    } else {
      return bad("tool_choice must be auto, none, required or {type:function,function:{name}}",
                 "tool_choice");
    }
    if (!has_tools) {
      if (type == "auto" || type == "none") return std::nullopt;
      return bad("tool_choice requires tools", "tool_choice");
    }
  }
  if (!has_tools) return std::nullopt;
  bool disable_parallel = false;
  if (is_set(r, F("parallel_tool_calls")) && r[F("parallel_tool_calls")] == false) {
    if (type.empty()) type = "auto";
    disable_parallel = type != "none";
  }
  if (type.empty()) return std::nullopt;
  out.w.key("tool_choice").begin_object().key("type").string(type);
  if (name) out.w.key("name").string(name->get_ref<const std::string&>());
  if (disable_parallel) out.w.key("disable_parallel_tool_use").boolean(true);
  out.w.end_object();
  return std::nullopt;
}

// JSON mode, emulated with one forced tool whose input is the answer (see anthropic.hpp).
MaybeError write_response_format(const Top& r, bool has_tools, Out& out) {
  if (!is_set(r, F("response_format"))) return std::nullopt;
  const json& rf = r[F("response_format")];
  std::string type = rf.is_object() ? rf.value("type", "") : "";
  if (type == "text") return std::nullopt;
  const json* schema = nullptr;
  std::string description = "Give the complete answer as this tool's input: a JSON object.";
  if (type == "json_schema") {
    const json& js = member(rf, "json_schema");
    if (!js.is_object() || !member(js, "schema").is_object())
      return bad("response_format.json_schema.schema must be an object",
                 "response_format.json_schema.schema");
    if (member(js, "schema").value("type", "") != "object")
      return unsupported("response_format.json_schema.schema",
                         "JSON mode is emulated with a tool, whose input must be an object");
    schema = &member(js, "schema");
    if (member(js, "name").is_string())
      description += " Schema: " + member(js, "name").get<std::string>() + ".";
    if (member(js, "description").is_string())
      description += " " + member(js, "description").get<std::string>();
  } else if (type != "json_object") {
    return bad("response_format.type must be text, json_object or json_schema",
               "response_format.type");
  }
  if (has_tools)
    return unsupported(
        "response_format",
        "JSON mode is emulated with a forced tool and cannot be combined with tools");
  out.w.key("tools").begin_array().begin_object();
  out.w.key("name").string(kAnthropicJsonToolName).key("description").string(description);
  out.w.key("input_schema");
  if (schema) {
    write_value(out, *schema);
  } else {
    out.w.begin_object().key("type").string("object").end_object();
  }
  out.w.end_object().end_array();
  out.w.key("tool_choice").begin_object().key("type").string("tool");
  out.w.key("name").string(kAnthropicJsonToolName).end_object();
  return std::nullopt;
}

MaybeError write_sampling(const Top& r, Out& out) {
  const std::size_t max_key =
      is_set(r, F("max_completion_tokens")) ? F("max_completion_tokens") : F("max_tokens");
  out.w.key("max_tokens");
  if (is_set(r, max_key)) {
    const json& v = r[max_key];
    const std::string name(kTopNames[max_key]);
    if (!v.is_number_integer() || v.get<std::int64_t>() < 1)
      return bad(name + " must be a positive integer", name);
    write_value(out, v);
  } else {
    out.w.integer(kAnthropicDefaultMaxTokens);
  }
  if (is_set(r, F("temperature"))) {
    if (!r[F("temperature")].is_number()) return bad("temperature must be a number", "temperature");
    // OpenAI's range is 0..2, Anthropic's 0..1: the top of OpenAI's range is Anthropic's top.
    double t = r[F("temperature")].get<double>();
    out.w.key("temperature").number(t > 1.0 ? 1.0 : t);
  }
  if (is_set(r, F("top_p"))) {
    if (!r[F("top_p")].is_number()) return bad("top_p must be a number", "top_p");
    out.w.key("top_p");
    write_value(out, r[F("top_p")]);
  }
  if (is_set(r, F("top_k"))) {  // not OpenAI's, but vLLM's and Anthropic's: honoured when sent
    if (!r[F("top_k")].is_number_integer()) return bad("top_k must be an integer", "top_k");
    out.w.key("top_k");
    write_value(out, r[F("top_k")]);
  }
  if (is_set(r, F("stop"))) {
    const json& stop = r[F("stop")];
    if (!stop.is_string() && !stop.is_array())
      return bad("stop must be a string or an array of strings", "stop");
    if (stop.is_array()) {
      for (const auto& s : stop)
        if (!s.is_string()) return bad("stop must be a string or an array of strings", "stop");
    }
    if (stop.is_string() || !stop.empty()) {
      out.w.key("stop_sequences").begin_array();
      if (stop.is_string()) {
        out.w.string(stop.get_ref<const std::string&>());
      } else {
        for (const auto& s : stop) out.w.string(s.get_ref<const std::string&>());
      }
      out.w.end_array();
    }
  }
  return std::nullopt;
}

}  // namespace

MaybeError messages_body_from_openai(const json& request, bool stream, const std::string& model,
                                     std::string& body) {
  if (!request.is_object()) return bad("the request body must be a JSON object", "");
  try {
    const Top r(request);
    if (auto err = check_unsupported(r)) return err;
    JsonWriter w(body);
    Out out{w, body};
    w.begin_object();
    w.key("model").string(model);
    if (auto err = write_messages(r[F("messages")], out)) return err;
    if (auto err = write_sampling(r, out)) return err;
    const bool has_tools = is_set(r, F("tools")) && !r[F("tools")].empty();
    if (has_tools) {
      if (auto err = write_tools(r[F("tools")], out)) return err;
    }
    if (auto err = write_response_format(r, has_tools, out)) return err;
    if (!is_set(r, F("response_format")) || r[F("response_format")].value("type", "") == "text") {
      if (auto err = write_tool_choice(r, has_tools, out)) return err;
    }
    const std::size_t user_key = is_set(r, F("user")) ? F("user") : F("safety_identifier");
    if (is_set(r, user_key)) {
      const std::string name(kTopNames[user_key]);
      if (!r[user_key].is_string()) return bad(name + " must be a string", name);
      w.key("metadata")
          .begin_object()
          .key("user_id")
          .string(r[user_key].get_ref<const std::string&>());
      w.end_object();
    }
    if (stream) w.key("stream").boolean(true);
    w.end_object();
  } catch (const json::exception& e) {
    // The checks above guard every access; this is a net for a shape they missed.
    return bad(std::string("malformed request: ") + e.what(), "");
  }
  return std::nullopt;
}

}  // namespace switchboard::providers::anthropic
