// OpenAI Chat Completions request -> Anthropic Messages request body (provider-formats.md 4.2),
// written straight from the request DOM with JsonWriter: no intermediate tree. The messages are
// converted in anthropic_request_messages.cpp.
#include <array>
#include <cstdint>
#include <string>

#include "anthropic_internal.hpp"
#include "switchboard/providers/anthropic.hpp"

namespace switchboard::providers::anthropic {

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

namespace {

// The top-level request members the translation reads. They are found in one pass over the
// request object: a std::map lookup per name (some thirty of them) costs more than writing the
// whole body.
// clang-format off
constexpr std::array<std::string_view, 25> kTopNames = {
    "n", "logprobs", "top_logprobs", "logit_bias", "presence_penalty", "frequency_penalty",
    "audio", "modalities", "functions", "function_call", "reasoning_effort",
    "web_search_options", "messages", "max_completion_tokens", "max_tokens", "temperature",
    "top_p", "top_k", "stop", "tools", "tool_choice", "parallel_tool_calls", "response_format",
    "user", "safety_identifier"};
// clang-format on

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
