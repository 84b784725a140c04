// OpenAI Chat Completions request -> Anthropic Messages request body (provider-formats.md 4.2).
#include <string>
#include <utility>
#include <vector>

#include "anthropic_internal.hpp"
#include "switchboard/providers/anthropic.hpp"

namespace switchboard::providers::anthropic {
namespace {

using nlohmann::json;
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

std::string at(const std::string& param, std::size_t index) {
  return param + "[" + std::to_string(index) + "]";
}

// Parameters Anthropic has no equivalent for. Each changes what the client gets back, so each is
// refused rather than dropped. `seed` is not here: OpenAI itself only promises best effort.
MaybeError check_unsupported(const json& r) {
  if (is_set(r, "n") && !(r["n"].is_number_integer() && r["n"].get<std::int64_t>() == 1))
    return unsupported("n", "Anthropic returns exactly one choice; send n=1 and repeat the call");
  if (is_set(r, "logprobs") && r["logprobs"] != false)
    return unsupported("logprobs", "Anthropic does not return token log probabilities");
  if (is_set(r, "top_logprobs"))
    return unsupported("top_logprobs", "Anthropic does not return token log probabilities");
  if (is_set(r, "logit_bias") && !(r["logit_bias"].is_object() && r["logit_bias"].empty()))
    return unsupported("logit_bias", "Anthropic has no token biasing");
  for (const char* penalty : {"presence_penalty", "frequency_penalty"}) {
    if (is_set(r, penalty) && !(r[penalty].is_number() && r[penalty].get<double>() == 0.0))
      return unsupported(penalty, "Anthropic has no repetition penalties");
  }
  if (is_set(r, "audio")) return unsupported("audio", "Anthropic models do not produce audio");
  if (auto m = r.find("modalities"); m != r.end() && m->is_array()) {
    for (const auto& v : *m)
      if (v == "audio") return unsupported("modalities", "Anthropic models do not produce audio");
  }
  if (is_set(r, "functions") || is_set(r, "function_call")) {
    std::string field = is_set(r, "functions") ? "functions" : "function_call";
    return unsupported(field, "the deprecated functions API is not translated; use `tools`");
  }
  if (is_set(r, "reasoning_effort"))
    return unsupported("reasoning_effort",
                       "extended thinking cannot round-trip through Chat Completions");
  if (is_set(r, "web_search_options"))
    return unsupported("web_search_options", "use an OpenAI search model");
  return std::nullopt;
}

void copy_cache_control(const json& part, json& block) {
  // Not OpenAI's, but clients written for LiteLLM put Anthropic's prompt-caching marker on parts.
  if (auto cc = part.find("cache_control"); cc != part.end() && cc->is_object())
    block["cache_control"] = *cc;
}

// "data:<media type>;base64,<data>" -> (media type, data). False when not base64 data.
bool split_data_url(std::string_view url, std::string& media_type, std::string& data) {
  auto comma = url.find(',');
  if (!url.starts_with("data:") || comma == std::string_view::npos) return false;
  std::string_view meta = url.substr(5, comma - 5);
  if (!meta.ends_with(";base64")) return false;
  media_type = std::string(meta.substr(0, meta.size() - 7));
  data = std::string(url.substr(comma + 1));
  return !media_type.empty();
}

MaybeError image_block(const json& part, const std::string& param, json& block) {
  const json* url = nullptr;
  if (auto it = part.find("image_url"); it != part.end()) {
    if (it->is_string())
      url = &*it;
    else if (it->is_object() && it->contains("url") && (*it)["url"].is_string())
      url = &(*it)["url"];
  }
  if (!url) return bad("image_url.url must be a string", param);
  const auto& u = url->get_ref<const std::string&>();
  std::string media_type, data;
  if (u.starts_with("data:")) {
    if (!split_data_url(u, media_type, data))
      return bad("an image data URL must be base64 (data:<type>;base64,...)", param);
    std::string type = media_type == "application/pdf" ? "document" : "image";
    block = {{"type", type},
             {"source", {{"type", "base64"}, {"media_type", media_type}, {"data", data}}}};
  } else if (u.starts_with("https://") || u.starts_with("http://")) {
    block = {{"type", "image"}, {"source", {{"type", "url"}, {"url", u}}}};
  } else {
    return bad("image_url.url must be an http(s) or base64 data URL", param);
  }
  copy_cache_control(part, block);
  return std::nullopt;
}

MaybeError file_block(const json& part, const std::string& param, json& block) {
  const json& file = part.contains("file") ? part["file"] : json();
  std::string media_type, data;
  if (!file.is_object() || !file.contains("file_data") || !file["file_data"].is_string())
    return unsupported(param, "only inline PDF files (file.file_data) can be sent to Anthropic");
  if (!split_data_url(file["file_data"].get_ref<const std::string&>(), media_type, data) ||
      media_type != "application/pdf")
    return unsupported(param, "only base64 PDF data URLs can be sent to Anthropic as documents");
  block = {{"type", "document"},
           {"source", {{"type", "base64"}, {"media_type", media_type}, {"data", data}}}};
  copy_cache_control(part, block);
  return std::nullopt;
}

void push_text(std::string_view text, json& blocks, const json* part = nullptr) {
  if (text.empty()) return;  // Anthropic rejects empty text blocks
  json block = {{"type", "text"}, {"text", text}};
  if (part) copy_cache_control(*part, block);
  blocks.push_back(std::move(block));
}

// Content that may only hold text (system, developer, assistant, tool messages).
MaybeError text_blocks(const json& content, const std::string& param, json& blocks) {
  if (content.is_null()) return std::nullopt;
  if (content.is_string()) {
    push_text(content.get_ref<const std::string&>(), blocks);
    return std::nullopt;
  }
  if (!content.is_array()) return bad("content must be a string or an array of parts", param);
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    std::string type = part.is_object() ? part.value("type", "") : "";
    const char* key = type == "refusal" ? "refusal" : "text";
    if ((type != "text" && type != "refusal") || !part.contains(key) || !part[key].is_string())
      return bad("only text parts are allowed here", at(param, i));
    push_text(part[key].get_ref<const std::string&>(), blocks, &part);
  }
  return std::nullopt;
}

MaybeError user_blocks(const json& content, const std::string& param, json& blocks) {
  if (!content.is_array()) return text_blocks(content, param, blocks);
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    std::string type = part.is_object() ? part.value("type", "") : "";
    std::string p = at(param, i);
    json block;
    if (type == "text") {
      if (!part.contains("text") || !part["text"].is_string())
        return bad("text must be a string", p);
      push_text(part["text"].get_ref<const std::string&>(), blocks, &part);
      continue;
    }
    MaybeError err;
    if (type == "image_url") {
      err = image_block(part, p, block);
    } else if (type == "file") {
      err = file_block(part, p, block);
    } else if (type == "input_audio") {
      err = unsupported(p, "Anthropic models do not accept audio input");
    } else {
      err = bad("unknown content part type '" + type + "'", p);
    }
    if (err) return err;
    blocks.push_back(std::move(block));
  }
  return std::nullopt;
}

MaybeError tool_use_blocks(const json& calls, const std::string& param, json& blocks) {
  if (!calls.is_array()) return bad("tool_calls must be an array", param);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const json& call = calls[i];
    std::string p = at(param, i);
    if (!call.is_object() || !call.contains("id") || !call["id"].is_string())
      return bad("a tool call needs a string id", p);
    const json& fn = call.contains("function") ? call["function"] : json();
    if (!fn.is_object() || !fn.contains("name") || !fn["name"].is_string())
      return bad("a tool call needs function.name", p + ".function");
    json input = json::object();
    if (fn.contains("arguments") && !fn["arguments"].is_null()) {
      if (!fn["arguments"].is_string())
        return bad("function.arguments must be a JSON string", p + ".function.arguments");
      const auto& args = fn["arguments"].get_ref<const std::string&>();
      if (!args.empty()) input = json::parse(args, nullptr, false);
      if (input.is_discarded() || !input.is_object())
        return bad("function.arguments must be a JSON object text (Anthropic tool input)",
                   p + ".function.arguments");
    }
    blocks.push_back({{"type", "tool_use"},
                      {"id", call["id"]},
                      {"name", fn["name"]},
                      {"input", std::move(input)}});
  }
  return std::nullopt;
}

// Collects the turns; consecutive same-role turns merge, as Anthropic wants alternation.
class Conversation {
 public:
  void add(const std::string& role, json blocks) {
    if (blocks.empty()) return;
    if (turns_.empty() || turns_.back()["role"] != role) {
      turns_.push_back({{"role", role}, {"content", json::array()}});
    }
    auto& content = turns_.back()["content"];
    for (auto& b : blocks) content.push_back(std::move(b));
  }

  // Anthropic wants a user turn's tool_result blocks before anything else in it.
  json take_messages() {
    for (auto& turn : turns_) {
      if (turn["role"] != "user") continue;
      json results = json::array(), rest = json::array();
      for (auto& b : turn["content"]) (b["type"] == "tool_result" ? results : rest).push_back(b);
      for (auto& b : rest) results.push_back(std::move(b));
      turn["content"] = std::move(results);
    }
    return std::move(turns_);
  }

 private:
  json turns_ = json::array();
};

MaybeError convert_messages(const json& messages, json& system, json& out) {
  if (!messages.is_array() || messages.empty())
    return bad("messages must be a non-empty array", "messages");
  Conversation conversation;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    std::string p = at("messages", i);
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return bad("a message needs a role", p);
    const auto& role = m["role"].get_ref<const std::string&>();
    const json& content = m.contains("content") ? m["content"] : json();
    json blocks = json::array();
    MaybeError err;
    if (role == "system" || role == "developer") {
      err = text_blocks(content, p + ".content", system);
    } else if (role == "user") {
      err = user_blocks(content, p + ".content", blocks);
      if (!err) conversation.add("user", std::move(blocks));
    } else if (role == "assistant") {
      err = text_blocks(content, p + ".content", blocks);
      if (!err && is_set(m, "tool_calls"))
        err = tool_use_blocks(m["tool_calls"], p + ".tool_calls", blocks);
      if (!err && is_set(m, "function_call"))
        err = unsupported(p + ".function_call", "use tool_calls");
      if (!err) conversation.add("assistant", std::move(blocks));
    } else if (role == "tool") {
      if (!m.contains("tool_call_id") || !m["tool_call_id"].is_string())
        return bad("a tool message needs tool_call_id", p + ".tool_call_id");
      json result = {{"type", "tool_result"}, {"tool_use_id", m["tool_call_id"]}};
      if (content.is_array()) {
        json parts = json::array();
        err = text_blocks(content, p + ".content", parts);
        result["content"] = std::move(parts);
      } else if (content.is_string()) {
        result["content"] = content;
      }
      if (!err) conversation.add("user", json::array({std::move(result)}));
    } else {
      err = bad("unsupported role '" + role + "'", p + ".role");
    }
    if (err) return err;
  }
  out = conversation.take_messages();
  if (out.empty()) return bad("messages hold no content to send", "messages");
  return std::nullopt;
}

MaybeError convert_tools(const json& tools, json& out) {
  if (!tools.is_array()) return bad("tools must be an array", "tools");
  out = json::array();
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const json& t = tools[i];
    std::string p = at("tools", i);
    if (!t.is_object() || t.value("type", "function") != "function")
      return unsupported(p, "only function tools can be translated");
    const json& fn = t.contains("function") ? t["function"] : json();
    if (!fn.is_object() || !fn.contains("name") || !fn["name"].is_string())
      return bad("a function tool needs function.name", p + ".function.name");
    if (fn["name"] == kAnthropicJsonToolName)
      return bad("the tool name '" + std::string(kAnthropicJsonToolName) +
                     "' is reserved by the gateway for JSON mode",
                 p + ".function.name");
    json tool = {{"name", fn["name"]}};
    if (fn.contains("description") && fn["description"].is_string())
      tool["description"] = fn["description"];
    tool["input_schema"] = fn.contains("parameters") && fn["parameters"].is_object()
                               ? fn["parameters"]
                               : json{{"type", "object"}, {"properties", json::object()}};
    out.push_back(std::move(tool));
  }
  return std::nullopt;
}

MaybeError convert_tool_choice(const json& r, bool has_tools, json& body) {
  json choice;
  if (is_set(r, "tool_choice")) {
    const json& tc = r["tool_choice"];
    if (tc == "auto") {
      choice = {{"type", "auto"}};
    } else if (tc == "none") {
      choice = {{"type", "none"}};
    } else if (tc == "required") {
      choice = {{"type", "any"}};
    } else if (tc.is_object() && tc.value("type", "") == "function" && tc.contains("function") &&
               tc["function"].is_object() && tc["function"].contains("name") &&
               tc["function"]["name"].is_string()) {
      choice = {{"type", "tool"}, {"name", tc["function"]["name"]}};
    } else {
      return bad("tool_choice must be auto, none, required or {type:function,function:{name}}",
                 "tool_choice");
    }
    if (!has_tools) {
      if (choice["type"] == "auto" || choice["type"] == "none") return std::nullopt;
      return bad("tool_choice requires tools", "tool_choice");
    }
  }
  if (!has_tools) return std::nullopt;
  if (is_set(r, "parallel_tool_calls") && r["parallel_tool_calls"] == false) {
    if (choice.is_null()) choice = {{"type", "auto"}};
    if (choice["type"] != "none") choice["disable_parallel_tool_use"] = true;
  }
  if (!choice.is_null()) body["tool_choice"] = std::move(choice);
  return std::nullopt;
}

// JSON mode, emulated with one forced tool whose input is the answer (see anthropic.hpp).
MaybeError convert_response_format(const json& r, json& body) {
  if (!is_set(r, "response_format")) return std::nullopt;
  const json& rf = r["response_format"];
  std::string type = rf.is_object() ? rf.value("type", "") : "";
  if (type == "text") return std::nullopt;
  json schema = {{"type", "object"}};
  std::string description = "Give the complete answer as this tool's input: a JSON object.";
  if (type == "json_schema") {
    const json& js = rf.contains("json_schema") ? rf["json_schema"] : json();
    if (!js.is_object() || !js.contains("schema") || !js["schema"].is_object())
      return bad("response_format.json_schema.schema must be an object",
                 "response_format.json_schema.schema");
    if (js["schema"].value("type", "") != "object")
      return unsupported("response_format.json_schema.schema",
                         "JSON mode is emulated with a tool, whose input must be an object");
    schema = js["schema"];
    if (js.contains("name") && js["name"].is_string())
      description += " Schema: " + js["name"].get<std::string>() + ".";
    if (js.contains("description") && js["description"].is_string())
      description += " " + js["description"].get<std::string>();
  } else if (type != "json_object") {
    return bad("response_format.type must be text, json_object or json_schema",
               "response_format.type");
  }
  if (body.contains("tools"))
    return unsupported(
        "response_format",
        "JSON mode is emulated with a forced tool and cannot be combined with tools");
  body["tools"] = json::array({{{"name", kAnthropicJsonToolName},
                                {"description", description},
                                {"input_schema", std::move(schema)}}});
  body["tool_choice"] = {{"type", "tool"}, {"name", kAnthropicJsonToolName}};
  return std::nullopt;
}

MaybeError convert_sampling(const json& r, json& body) {
  const char* max_key = is_set(r, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (is_set(r, max_key)) {
    const json& v = r[max_key];
    if (!v.is_number_integer() || v.get<std::int64_t>() < 1)
      return bad(std::string(max_key) + " must be a positive integer", max_key);
    body["max_tokens"] = v;
  } else {
    body["max_tokens"] = kAnthropicDefaultMaxTokens;
  }
  if (is_set(r, "temperature")) {
    if (!r["temperature"].is_number()) return bad("temperature must be a number", "temperature");
    // OpenAI's range is 0..2, Anthropic's 0..1: the top of OpenAI's range is Anthropic's top.
    double t = r["temperature"].get<double>();
    body["temperature"] = t > 1.0 ? 1.0 : t;
  }
  if (is_set(r, "top_p")) {
    if (!r["top_p"].is_number()) return bad("top_p must be a number", "top_p");
    body["top_p"] = r["top_p"];
  }
  if (is_set(r, "top_k")) {  // not OpenAI's, but vLLM's and Anthropic's: honoured when sent
    if (!r["top_k"].is_number_integer()) return bad("top_k must be an integer", "top_k");
    body["top_k"] = r["top_k"];
  }
  if (is_set(r, "stop")) {
    const json& stop = r["stop"];
    json sequences = stop.is_string() ? json::array({stop}) : stop;
    if (!sequences.is_array()) return bad("stop must be a string or an array of strings", "stop");
    for (const auto& s : sequences)
      if (!s.is_string()) return bad("stop must be a string or an array of strings", "stop");
    if (!sequences.empty()) body["stop_sequences"] = std::move(sequences);
  }
  return std::nullopt;
}

}  // namespace

MaybeError messages_body_from_openai(const json& r, bool stream, const std::string& model,
                                     json& body) {
  if (!r.is_object()) return bad("the request body must be a JSON object", "");
  try {
    if (auto err = check_unsupported(r)) return err;
    body = json::object();
    body["model"] = model;
    json system = json::array();
    json messages;
    if (auto err =
            convert_messages(r.contains("messages") ? r["messages"] : json(), system, messages))
      return err;
    if (!system.empty()) body["system"] = std::move(system);
    body["messages"] = std::move(messages);
    if (auto err = convert_sampling(r, body)) return err;
    if (is_set(r, "tools") && !r["tools"].empty()) {
      json tools;
      if (auto err = convert_tools(r["tools"], tools)) return err;
      body["tools"] = std::move(tools);
    }
    if (auto err = convert_response_format(r, body)) return err;
    if (!is_set(r, "response_format") || r["response_format"].value("type", "") == "text") {
      if (auto err = convert_tool_choice(r, body.contains("tools"), body)) return err;
    }
    const char* user_key = is_set(r, "user") ? "user" : "safety_identifier";
    if (is_set(r, user_key)) {
      if (!r[user_key].is_string())
        return bad(std::string(user_key) + " must be a string", user_key);
      body["metadata"] = {{"user_id", r[user_key]}};
    }
    if (stream) body["stream"] = true;
  } catch (const json::exception& e) {
    // The checks above guard every access; this is a net for a shape they missed.
    return bad(std::string("malformed request: ") + e.what(), "");
  }
  return std::nullopt;
}

}  // namespace switchboard::providers::anthropic
