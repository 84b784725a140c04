// OpenAI Chat Completions request -> Anthropic Messages request body (provider-formats.md 4.2),
// read through a JsonDocument over the client's text and written with BodyWriter: no tree is
// built. The messages are converted in anthropic_request_messages.cpp.
#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "anthropic_internal.hpp"
#include "switchboard/providers/anthropic.hpp"

namespace switchboard::providers::anthropic {

using protocol::ApiError;
using protocol::ErrorCode;
using protocol::JsonType;
using protocol::JsonValue;
using MaybeError = std::optional<ApiError>;

ApiError bad(std::string message, std::string param) {
  return protocol::make_error(ErrorCode::invalid_request, std::move(message), std::move(param));
}

ApiError unsupported(const std::string& field, std::string_view why) {
  return bad("`" + field + "` is not supported by Anthropic models: " + std::string(why), field);
}

bool is_set(JsonValue object, std::string_view key) {
  return !object.find(key).is_null();
}

std::string at(const std::string& param, std::size_t index) {
  return param + "[" + std::to_string(index) + "]";
}

MaybeError type_member(JsonValue object, std::string_view fallback, std::string_view& type) {
  JsonValue v = object.find("type");
  if (!v.present()) {
    type = fallback;
    return std::nullopt;
  }
  if (v.is_string()) {
    type = v.string();
    return std::nullopt;
  }
  static constexpr std::array<std::string_view, 7> kNames = {
      "discarded", "null", "boolean", "number", "string", "array", "object"};  // by JsonType
  return bad("malformed request: [json.exception.type_error.302] type must be string, but is " +
                 std::string(kNames[static_cast<std::size_t>(v.type())]),
             "");
}

BodyWriter& BodyWriter::key_escaped(std::string_view name) {
  if (need_comma_) out_.push_back(',');
  out_.push_back('"');
  observability::append_json_escaped(out_, name);
  out_.append("\":", 2);
  need_comma_ = false;
  return *this;
}

BodyWriter& BodyWriter::string(std::string_view value) {
  if (need_comma_) out_.push_back(',');
  out_.push_back('"');
  observability::append_json_escaped(out_, value);
  out_.push_back('"');
  need_comma_ = true;
  return *this;
}

BodyWriter& BodyWriter::integer(std::int64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return raw(std::string_view(buf, static_cast<std::size_t>(end - buf)));
}

BodyWriter& BodyWriter::number(double value) {
  if (need_comma_) out_.push_back(',');
  observability::JsonWriter(out_).number(value);  // a fresh writer: no comma of its own
  need_comma_ = true;
  return *this;
}

namespace {

// Is member `i` of `object` (of `count`) repeated later, so that nlohmann keeps the later one?
// Small objects compare pairwise; large ones are rare (a big schema) and sorted once.
class Shadowed {
 public:
  explicit Shadowed(JsonValue object) : object_(object), count_(object.size()) {
    if (count_ <= kPairwise) return;
    std::vector<std::pair<std::string_view, std::size_t>> keys;
    keys.reserve(count_);
    for (std::size_t i = 0; i < count_; ++i) keys.emplace_back(object[i].key(), i);
    std::stable_sort(keys.begin(), keys.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    shadowed_.assign(count_, false);
    for (std::size_t k = 0; k + 1 < keys.size(); ++k)
      if (keys[k].first == keys[k + 1].first) shadowed_[keys[k].second] = true;
  }
  bool operator()(std::size_t i) const {
    if (count_ > kPairwise) return shadowed_[i];
    std::string_view key = object_[i].key();
    for (std::size_t j = i + 1; j < count_; ++j)
      if (object_[j].key() == key) return true;
    return false;
  }

 private:
  static constexpr std::size_t kPairwise = 16;
  JsonValue object_;
  std::size_t count_;
  std::vector<bool> shadowed_;
};

}  // namespace

void write_value(Out& out, JsonValue v) {
  switch (v.type()) {
    case JsonType::object: {
      out.w.begin_object();
      const Shadowed shadowed(v);
      for (std::size_t i = 0, n = v.size(); i < n; ++i) {
        if (shadowed(i)) continue;
        JsonValue m = v[i];
        out.w.key_escaped(m.key());
        write_value(out, m);
      }
      out.w.end_object();
      return;
    }
    case JsonType::array:
      out.w.begin_array();
      for (JsonValue item : v) write_value(out, item);
      out.w.end_array();
      return;
    default:  // scalars as the client wrote them: validated JSON
      write_raw(out, v.present() ? v.raw() : std::string_view("null"));
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

// kTopNames' indexes by name length, a bit each: a member is compared with those names only.
constexpr std::array<std::uint32_t, 32> kTopNamesBySize = [] {
  static_assert(kTopNames.size() <= 32);
  std::array<std::uint32_t, 32> t{};
  for (std::size_t i = 0; i < kTopNames.size(); ++i) t[kTopNames[i].size()] |= 1u << i;
  return t;
}();

class Top {
 public:
  explicit Top(JsonValue request) {
    for (JsonValue m : request) {  // a later duplicate replaces an earlier one, as in nlohmann
      std::string_view key = m.key();
      std::uint32_t candidates =
          key.size() < kTopNamesBySize.size() ? kTopNamesBySize[key.size()] : 0;
      while (candidates != 0) {
        const auto i = static_cast<std::size_t>(std::countr_zero(candidates));
        candidates &= candidates - 1;
        if (kTopNames[i] == key) {
          members_[i] = m;
          break;
        }
      }
    }
  }
  // request[name], missing (null) when absent.
  JsonValue operator[](std::size_t index) const { return members_[index]; }

 private:
  std::array<JsonValue, kTopNames.size()> members_{};
};

bool is_set(const Top& r, std::size_t index) {
  return !r[index].is_null();
}

// nlohmann's `v == false`.
bool is_false(JsonValue v) {
  return v.is_boolean() && !v.boolean();
}

// Parameters Anthropic has no equivalent for. Each changes what the client gets back, so each is
// refused rather than dropped. `seed` is not here: OpenAI itself only promises best effort.
MaybeError check_unsupported(const Top& r) {
  if (is_set(r, F("n")) && !(r[F("n")].is_integer() && r[F("n")].int64() == 1))
    return unsupported("n", "Anthropic returns exactly one choice; send n=1 and repeat the call");
  if (is_set(r, F("logprobs")) && !is_false(r[F("logprobs")]))
    return unsupported("logprobs", "Anthropic does not return token log probabilities");
  if (is_set(r, F("top_logprobs")))
    return unsupported("top_logprobs", "Anthropic does not return token log probabilities");
  if (is_set(r, F("logit_bias")) && !(r[F("logit_bias")].is_object() && r[F("logit_bias")].empty()))
    return unsupported("logit_bias", "Anthropic has no token biasing");
  for (std::size_t penalty : {F("presence_penalty"), F("frequency_penalty")}) {
    if (is_set(r, penalty) && !(r[penalty].is_number() && r[penalty].number() == 0.0))
      return unsupported(std::string(kTopNames[penalty]), "Anthropic has no repetition penalties");
  }
  if (is_set(r, F("audio"))) return unsupported("audio", "Anthropic models do not produce audio");
  if (JsonValue m = r[F("modalities")]; m.is_array()) {
    for (JsonValue v : m)
      if (v.equals("audio"))
        return unsupported("modalities", "Anthropic models do not produce audio");
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

MaybeError write_tools(JsonValue tools, Out& out) {
  if (!tools.is_array()) return bad("tools must be an array", "tools");
  for (std::size_t i = 0; i < tools.size(); ++i) {
    JsonValue t = tools[i];
    std::string p = at("tools", i);
    std::string_view type;
    if (!t.is_object()) return unsupported(p, "only function tools can be translated");
    if (auto err = type_member(t, "function", type)) return err;
    if (type != "function") return unsupported(p, "only function tools can be translated");
    JsonValue fn = t.find("function");
    if (!fn.is_object() || !fn.find("name").is_string())
      return bad("a function tool needs function.name", p + ".function.name");
    if (fn.find("name").equals(kAnthropicJsonToolName))
      return bad("the tool name '" + std::string(kAnthropicJsonToolName) +
                     "' is reserved by the gateway for JSON mode",
                 p + ".function.name");
  }
  out.w.key("tools").begin_array();
  for (JsonValue t : tools) {
    JsonValue fn = t.find("function");
    out.w.begin_object().key("name");
    write_string(out, fn.find("name"));
    if (JsonValue d = fn.find("description"); d.is_string()) {
      out.w.key("description");
      write_string(out, d);
    }
    out.w.key("input_schema");
    if (JsonValue params = fn.find("parameters"); params.is_object()) {
      write_value(out, params);
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
  std::string_view type;  // empty: no choice
  JsonValue name;         // for type "tool"
  if (is_set(r, F("tool_choice"))) {
    JsonValue tc = r[F("tool_choice")];
    std::string_view tc_type;
    if (tc.is_object()) {
      if (auto err = type_member(tc, "", tc_type)) return err;
    }
    if (tc.equals("auto")) {
      type = "auto";
    } else if (tc.equals("none")) {
      type = "none";
    } else if (tc.equals("required")) {
      type = "any";
    } else if (tc.is_object() && tc_type == "function" && tc.find("function").is_object() &&
               tc.find("function").find("name").is_string()) {
      type = "tool";
      name = tc.find("function").find("name");
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
  if (is_set(r, F("parallel_tool_calls")) && is_false(r[F("parallel_tool_calls")])) {
    if (type.empty()) type = "auto";
    disable_parallel = type != "none";
  }
  if (type.empty()) return std::nullopt;
  out.w.key("tool_choice").begin_object().key("type").string(type);
  if (name.present()) {
    out.w.key("name");
    write_string(out, name);
  }
  if (disable_parallel) out.w.key("disable_parallel_tool_use").boolean(true);
  out.w.end_object();
  return std::nullopt;
}

// JSON mode, emulated with one forced tool whose input is the answer (see anthropic.hpp).
MaybeError write_response_format(const Top& r, bool has_tools, Out& out) {
  if (!is_set(r, F("response_format"))) return std::nullopt;
  JsonValue rf = r[F("response_format")];
  std::string_view type;
  if (rf.is_object()) {
    if (auto err = type_member(rf, "", type)) return err;
  }
  if (type == "text") return std::nullopt;
  JsonValue schema;
  std::string description = "Give the complete answer as this tool's input: a JSON object.";
  if (type == "json_schema") {
    JsonValue js = rf.find("json_schema");
    if (!js.is_object() || !js.find("schema").is_object())
      return bad("response_format.json_schema.schema must be an object",
                 "response_format.json_schema.schema");
    schema = js.find("schema");
    std::string_view schema_type;
    if (auto err = type_member(schema, "", schema_type)) return err;
    if (schema_type != "object")
      return unsupported("response_format.json_schema.schema",
                         "JSON mode is emulated with a tool, whose input must be an object");
    if (JsonValue name = js.find("name"); name.is_string())
      description += " Schema: " + std::string(name.string()) + ".";
    if (JsonValue d = js.find("description"); d.is_string())
      description += " " + std::string(d.string());
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
  if (schema.present()) {
    write_value(out, schema);
  } else {
    out.w.begin_object().key("type").string("object").end_object();
  }
  out.w.end_object().end_array();
  out.w.key("tool_choice").begin_object().key("type").string("tool");
  out.w.key("name").string(kAnthropicJsonToolName).end_object();
  return std::nullopt;
}

// "0." and one to four digits, the last not 0 ("0.2", "0.75", "0.05"): the text nlohmann writes
// for the double it reads as (checked exhaustively; with more digits its Grisu2 is sometimes
// longer), so a temperature like that is sent as the client wrote it, without converting it.
bool is_short_fraction(std::string_view raw) {
  if (raw.size() < 3 || raw.size() > 6 || raw[0] != '0' || raw[1] != '.' || raw.back() == '0')
    return false;
  for (char c : raw.substr(2))
    if (c < '0' || c > '9') return false;
  return true;
}

MaybeError write_sampling(const Top& r, Out& out) {
  const std::size_t max_key =
      is_set(r, F("max_completion_tokens")) ? F("max_completion_tokens") : F("max_tokens");
  out.w.key("max_tokens");
  if (is_set(r, max_key)) {
    JsonValue v = r[max_key];
    const std::string name(kTopNames[max_key]);
    if (!v.is_integer() || v.int64() < 1) return bad(name + " must be a positive integer", name);
    write_value(out, v);
  } else {
    out.w.integer(kAnthropicDefaultMaxTokens);
  }
  if (is_set(r, F("temperature"))) {
    if (!r[F("temperature")].is_number()) return bad("temperature must be a number", "temperature");
    // OpenAI's range is 0..2, Anthropic's 0..1: the top of OpenAI's range is Anthropic's top.
    out.w.key("temperature");
    if (JsonValue t = r[F("temperature")]; is_short_fraction(t.raw())) {
      out.w.raw(t.raw());  // below 1, and exactly how nlohmann writes it
    } else {
      const double v = t.number();
      out.w.number(v > 1.0 ? 1.0 : v);
    }
  }
  if (is_set(r, F("top_p"))) {
    if (!r[F("top_p")].is_number()) return bad("top_p must be a number", "top_p");
    out.w.key("top_p");
    write_value(out, r[F("top_p")]);
  }
  if (is_set(r, F("top_k"))) {  // not OpenAI's, but vLLM's and Anthropic's: honoured when sent
    if (!r[F("top_k")].is_integer()) return bad("top_k must be an integer", "top_k");
    out.w.key("top_k");
    write_value(out, r[F("top_k")]);
  }
  if (is_set(r, F("stop"))) {
    JsonValue stop = r[F("stop")];
    if (!stop.is_string() && !stop.is_array())
      return bad("stop must be a string or an array of strings", "stop");
    if (stop.is_array()) {
      for (JsonValue s : stop)
        if (!s.is_string()) return bad("stop must be a string or an array of strings", "stop");
    }
    if (stop.is_string() || !stop.empty()) {
      out.w.key("stop_sequences").begin_array();
      if (stop.is_string()) {
        write_string(out, stop);
      } else {
        for (JsonValue s : stop) write_string(out, s);
      }
      out.w.end_array();
    }
  }
  return std::nullopt;
}

}  // namespace

MaybeError messages_body_from_openai(JsonValue request, bool stream, std::string_view model,
                                     std::string& body) {
  if (!request.is_object()) return bad("the request body must be a JSON object", "");
  const Top r(request);
  if (auto err = check_unsupported(r)) return err;
  body.reserve(body.size() + request.raw().size() + 128);
  BodyWriter w(body);
  Out out{w};
  w.begin_object();
  w.key("model").string(model);
  if (auto err = write_messages(r[F("messages")], out)) return err;
  if (auto err = write_sampling(r, out)) return err;
  const bool has_tools = is_set(r, F("tools")) && !r[F("tools")].empty();
  if (has_tools) {
    if (auto err = write_tools(r[F("tools")], out)) return err;
  }
  if (auto err = write_response_format(r, has_tools, out)) return err;
  std::string_view rf_type;  // write_response_format has refused any type but a string
  if (is_set(r, F("response_format"))) type_member(r[F("response_format")], "", rf_type);
  if (!is_set(r, F("response_format")) || rf_type == "text") {
    if (auto err = write_tool_choice(r, has_tools, out)) return err;
  }
  const std::size_t user_key = is_set(r, F("user")) ? F("user") : F("safety_identifier");
  if (is_set(r, user_key)) {
    const std::string name(kTopNames[user_key]);
    if (!r[user_key].is_string()) return bad(name + " must be a string", name);
    w.key("metadata").begin_object().key("user_id");
    write_string(out, r[user_key]);
    w.end_object();
  }
  if (stream) w.key("stream").boolean(true);
  w.end_object();
  return std::nullopt;
}

}  // namespace switchboard::providers::anthropic
