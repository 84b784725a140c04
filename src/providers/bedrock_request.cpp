// OpenAI Chat Completions request -> Bedrock Converse request body (provider-formats.md 6.2).
#include <set>
#include <string>
#include <utility>

#include "switchboard/providers/bedrock.hpp"

namespace switchboard::providers::bedrock {
namespace {

using nlohmann::json;
using protocol::ApiError;
using protocol::ErrorCode;
using MaybeError = std::optional<ApiError>;

ApiError bad(std::string message, std::string param) {
  return protocol::make_error(ErrorCode::invalid_request, std::move(message), std::move(param));
}

ApiError unsupported(const std::string& field, std::string_view why) {
  return bad("`" + field + "` is not supported by Bedrock Converse: " + std::string(why), field);
}

bool is_set(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && !it->is_null();
}

std::string at(const std::string& param, std::size_t index) {
  return param + "[" + std::to_string(index) + "]";
}

// Parameters Converse has no equivalent for; each changes what the client gets back.
MaybeError check_unsupported(const json& r) {
  if (is_set(r, "n") && !(r["n"].is_number_integer() && r["n"].get<std::int64_t>() == 1))
    return unsupported("n", "Converse returns exactly one choice; send n=1 and repeat the call");
  if (is_set(r, "logprobs") && r["logprobs"] != false)
    return unsupported("logprobs", "Converse does not return token log probabilities");
  if (is_set(r, "top_logprobs"))
    return unsupported("top_logprobs", "Converse does not return token log probabilities");
  if (is_set(r, "logit_bias") && !(r["logit_bias"].is_object() && r["logit_bias"].empty()))
    return unsupported("logit_bias", "Converse has no token biasing");
  for (const char* penalty : {"presence_penalty", "frequency_penalty"}) {
    if (is_set(r, penalty) && !(r[penalty].is_number() && r[penalty].get<double>() == 0.0))
      return unsupported(penalty, "Converse has no repetition penalties");
  }
  if (is_set(r, "audio")) return unsupported("audio", "Converse does not produce audio");
  if (auto m = r.find("modalities"); m != r.end() && m->is_array()) {
    for (const auto& v : *m)
      if (v == "audio") return unsupported("modalities", "Converse does not produce audio");
  }
  if (is_set(r, "functions") || is_set(r, "function_call")) {
    std::string field = is_set(r, "functions") ? "functions" : "function_call";
    return unsupported(field, "the deprecated functions API is not translated; use `tools`");
  }
  if (is_set(r, "reasoning_effort"))
    return unsupported("reasoning_effort", "reasoning settings are model-specific on Bedrock");
  if (is_set(r, "web_search_options"))
    return unsupported("web_search_options", "Converse has no web search");
  if (is_set(r, "prediction"))
    return unsupported("prediction", "Converse has no predicted outputs");
  return std::nullopt;
}

// LiteLLM's convention: an OpenAI part carrying Anthropic's cache_control marks a cache point.
void push_cache_point(const json& part, json& blocks) {
  if (auto cc = part.find("cache_control"); cc != part.end() && cc->is_object())
    blocks.push_back({{"cachePoint", {{"type", "default"}}}});
}

void push_text(std::string_view text, json& blocks, const json* part = nullptr) {
  if (text.empty()) return;  // Converse rejects empty text blocks
  blocks.push_back({{"text", text}});
  if (part) push_cache_point(*part, blocks);
}

// "data:<media type>;base64,<data>" -> (media type, data). False when not base64 data.
bool split_data_url(std::string_view url, std::string& media_type, std::string& data) {
  auto comma = url.find(',');
  if (!url.starts_with("data:") || comma == std::string_view::npos) return false;
  std::string_view meta = url.substr(5, comma - 5);
  if (!meta.ends_with(";base64")) return false;
  media_type = std::string(meta.substr(0, meta.size() - 7));
  data = std::string(url.substr(comma + 1));
  return !media_type.empty() && !data.empty();
}

std::string image_format(std::string_view media_type) {
  if (media_type == "image/png") return "png";
  if (media_type == "image/jpeg" || media_type == "image/jpg") return "jpeg";
  if (media_type == "image/gif") return "gif";
  if (media_type == "image/webp") return "webp";
  return "";
}

MaybeError image_block(const json& part, const std::string& param, json& blocks) {
  const json* url = nullptr;
  if (auto it = part.find("image_url"); it != part.end()) {
    if (it->is_string())
      url = &*it;
    else if (it->is_object() && it->contains("url") && (*it)["url"].is_string())
      url = &(*it)["url"];
  }
  if (!url) return bad("image_url.url must be a string", param + ".image_url.url");
  const auto& u = url->get_ref<const std::string&>();
  if (u.starts_with("http://") || u.starts_with("https://"))
    return unsupported(param + ".image_url.url",
                       "Converse takes image bytes, not URLs; send a base64 data URL");
  std::string media_type, data;
  if (!split_data_url(u, media_type, data))
    return bad("an image must be a base64 data URL (data:<type>;base64,...)",
               param + ".image_url.url");
  std::string format = image_format(media_type);
  if (format.empty())
    return unsupported(param + ".image_url.url",
                       "images must be png, jpeg, gif or webp, not " + media_type);
  blocks.push_back({{"image", {{"format", format}, {"source", {{"bytes", data}}}}}});
  push_cache_point(part, blocks);
  return std::nullopt;
}

// Converse document names allow letters, digits, single spaces, hyphens, parentheses, brackets.
std::string document_name(const json& file, std::size_t ordinal) {
  std::string name;
  if (file.contains("filename") && file["filename"].is_string()) {
    for (char c : file["filename"].get<std::string>()) {
      bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '(' || c == ')' || c == '[' || c == ']';
      if (ok)
        name.push_back(c);
      else if (c == ' ' && !name.empty() && name.back() != ' ')
        name.push_back(' ');
    }
  }
  while (!name.empty() && name.back() == ' ') name.pop_back();
  return name.empty() ? "document-" + std::to_string(ordinal) : name;
}

MaybeError file_block(const json& part, const std::string& param, std::size_t ordinal,
                      json& blocks) {
  const json& file = part.contains("file") ? part["file"] : json();
  std::string media_type, data;
  if (!file.is_object() || !file.contains("file_data") || !file["file_data"].is_string() ||
      !split_data_url(file["file_data"].get_ref<const std::string&>(), media_type, data) ||
      media_type != "application/pdf")
    return unsupported(param, "only inline base64 PDF files (file.file_data) can be sent");
  blocks.push_back({{"document",
                     {{"format", "pdf"},
                      {"name", document_name(file, ordinal)},
                      {"source", {{"bytes", data}}}}}});
  push_cache_point(part, blocks);
  return std::nullopt;
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

MaybeError user_blocks(const json& content, const std::string& param, std::size_t& documents,
                       json& blocks) {
  if (!content.is_array()) return text_blocks(content, param, blocks);
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    std::string type = part.is_object() ? part.value("type", "") : "";
    std::string p = at(param, i);
    MaybeError err;
    if (type == "text") {
      if (!part.contains("text") || !part["text"].is_string())
        return bad("text must be a string", p + ".text");
      push_text(part["text"].get_ref<const std::string&>(), blocks, &part);
    } else if (type == "image_url") {
      err = image_block(part, p, blocks);
    } else if (type == "file") {
      err = file_block(part, p, ++documents, blocks);
    } else if (type == "input_audio") {
      err = unsupported(p, "Converse does not accept audio input");
    } else {
      err = bad("unknown content part type '" + type + "'", p + ".type");
    }
    if (err) return err;
  }
  return std::nullopt;
}

MaybeError tool_use_blocks(const json& calls, const std::string& param, json& blocks) {
  if (!calls.is_array()) return bad("tool_calls must be an array", param);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const json& call = calls[i];
    std::string p = at(param, i);
    if (!call.is_object() || !call.contains("id") || !call["id"].is_string())
      return bad("a tool call needs a string id", p + ".id");
    const json& fn = call.contains("function") ? call["function"] : json();
    if (!fn.is_object() || !fn.contains("name") || !fn["name"].is_string())
      return bad("a tool call needs function.name", p + ".function.name");
    json input = json::object();
    if (fn.contains("arguments") && !fn["arguments"].is_null()) {
      if (!fn["arguments"].is_string())
        return bad("function.arguments must be a JSON string", p + ".function.arguments");
      const auto& args = fn["arguments"].get_ref<const std::string&>();
      if (!args.empty()) input = json::parse(args, nullptr, false);
      if (input.is_discarded() || !input.is_object())
        return bad("function.arguments must be a JSON object text (Converse tool input)",
                   p + ".function.arguments");
    }
    blocks.push_back(
        {{"toolUse",
          {{"toolUseId", call["id"]}, {"name", fn["name"]}, {"input", std::move(input)}}}});
  }
  return std::nullopt;
}

// Collects the turns; consecutive same-role turns merge, as Converse wants alternation.
class Conversation {
 public:
  void add(const std::string& role, json blocks) {
    if (blocks.empty()) return;
    if (turns_.empty() || turns_.back()["role"] != role)
      turns_.push_back({{"role", role}, {"content", json::array()}});
    auto& content = turns_.back()["content"];
    for (auto& b : blocks) content.push_back(std::move(b));
  }

  // The tool results answering an assistant turn lead the user turn that follows it.
  json take_messages() {
    for (auto& turn : turns_) {
      if (turn["role"] != "user") continue;
      json results = json::array(), rest = json::array();
      for (auto& b : turn["content"]) (b.contains("toolResult") ? results : rest).push_back(b);
      for (auto& b : rest) results.push_back(std::move(b));
      turn["content"] = std::move(results);
    }
    return std::move(turns_);
  }

 private:
  json turns_ = json::array();
};

MaybeError tool_result(const json& m, const std::string& p, json& blocks) {
  if (!m.contains("tool_call_id") || !m["tool_call_id"].is_string())
    return bad("a tool message needs tool_call_id", p + ".tool_call_id");
  json texts = json::array();
  const json& content = m.contains("content") ? m["content"] : json();
  if (auto err = text_blocks(content, p + ".content", texts)) return err;
  json parts = json::array();
  for (auto& b : texts)
    if (b.contains("text")) parts.push_back(std::move(b));  // cache points do not belong here
  blocks.push_back(
      {{"toolResult",
        {{"toolUseId", m["tool_call_id"]}, {"content", std::move(parts)}, {"status", "success"}}}});
  return std::nullopt;
}

MaybeError convert_messages(const json& messages, json& system, json& out) {
  if (!messages.is_array() || messages.empty())
    return bad("messages must be a non-empty array", "messages");
  Conversation conversation;
  std::size_t documents = 0;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    std::string p = at("messages", i);
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return bad("a message needs a role", p + ".role");
    const auto& role = m["role"].get_ref<const std::string&>();
    const json& content = m.contains("content") ? m["content"] : json();
    json blocks = json::array();
    MaybeError err;
    if (role == "system" || role == "developer") {
      err = text_blocks(content, p + ".content", system);
    } else if (role == "user") {
      err = user_blocks(content, p + ".content", documents, blocks);
      if (!err) conversation.add("user", std::move(blocks));
    } else if (role == "assistant") {
      err = text_blocks(content, p + ".content", blocks);
      if (!err && is_set(m, "tool_calls"))
        err = tool_use_blocks(m["tool_calls"], p + ".tool_calls", blocks);
      if (!err && is_set(m, "function_call"))
        err = unsupported(p + ".function_call", "use tool_calls");
      if (!err) conversation.add("assistant", std::move(blocks));
    } else if (role == "tool") {
      err = tool_result(m, p, blocks);
      if (!err) conversation.add("user", std::move(blocks));
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
    json spec = {{"name", fn["name"]}};
    if (fn.contains("description") && fn["description"].is_string())
      spec["description"] = fn["description"];
    json schema = fn.contains("parameters") && fn["parameters"].is_object()
                      ? fn["parameters"]
                      : json{{"type", "object"}, {"properties", json::object()}};
    spec["inputSchema"] = {{"json", std::move(schema)}};
    if (fn.value("strict", json()) == true) spec["strict"] = true;
    out.push_back({{"toolSpec", std::move(spec)}});
  }
  return std::nullopt;
}

// The tool names the history uses, in first-use order.
std::vector<std::string> history_tool_names(const json& messages, bool& has_tool_blocks) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const auto& turn : messages) {
    for (const auto& block : turn["content"]) {
      if (block.contains("toolResult")) has_tool_blocks = true;
      if (!block.contains("toolUse")) continue;
      has_tool_blocks = true;
      auto name = block["toolUse"]["name"].get<std::string>();
      if (seen.insert(name).second) names.push_back(name);
    }
  }
  return names;
}

MaybeError convert_tool_config(const json& r, json& body) {
  json tools = json::array();
  if (is_set(r, "tools")) {
    if (auto err = convert_tools(r["tools"], tools)) return err;
  }
  bool history_tools = false;
  auto names = history_tool_names(body["messages"], history_tools);

  json choice;
  bool none = false;
  if (is_set(r, "tool_choice")) {
    const json& tc = r["tool_choice"];
    if (tc == "auto") {
      choice = {{"auto", json::object()}};
    } else if (tc == "none") {
      none = true;
    } else if (tc == "required") {
      choice = {{"any", json::object()}};
    } else if (tc.is_object() && tc.value("type", "") == "function" && tc.contains("function") &&
               tc["function"].is_object() && tc["function"].contains("name") &&
               tc["function"]["name"].is_string()) {
      choice = {{"tool", {{"name", tc["function"]["name"]}}}};
    } else {
      return bad("tool_choice must be auto, none, required or {type:function,function:{name}}",
                 "tool_choice");
    }
    if (tools.empty() && !choice.is_null() && !choice.contains("auto"))
      return bad("tool_choice requires tools", "tool_choice");
  }
  if (none) {
    if (history_tools)
      return unsupported("tool_choice",
                         "'none' cannot be expressed when the messages hold tool calls or results "
                         "(Converse then requires the tools to be declared)");
    return std::nullopt;  // no toolConfig: the model cannot call a tool
  }
  if (!tools.empty() && is_set(r, "parallel_tool_calls") && r["parallel_tool_calls"] == false)
    return unsupported("parallel_tool_calls", "Converse cannot limit a turn to one tool call");
  if (tools.empty()) {
    if (!history_tools) return std::nullopt;
    // provider-formats.md 6.2 gotcha 1: tool blocks without toolConfig are a ValidationException.
    for (const auto& name : names)
      tools.push_back({{"toolSpec",
                        {{"name", name},
                         {"description", "Declared by the gateway: the conversation used it."},
                         {"inputSchema", {{"json", {{"type", "object"}}}}}}}});
    if (tools.empty()) return std::nullopt;
  }
  json config = {{"tools", std::move(tools)}};
  if (!choice.is_null()) config["toolChoice"] = std::move(choice);
  body["toolConfig"] = std::move(config);
  return std::nullopt;
}

MaybeError convert_response_format(const json& r, json& body) {
  if (!is_set(r, "response_format")) return std::nullopt;
  const json& rf = r["response_format"];
  std::string type = rf.is_object() ? rf.value("type", "") : "";
  if (type == "text") return std::nullopt;
  if (type == "json_object")
    return unsupported("response_format",
                       "Converse has no schema-less JSON mode; send a json_schema response_format");
  if (type != "json_schema")
    return bad("response_format.type must be text, json_object or json_schema",
               "response_format.type");
  const json& js = rf.contains("json_schema") ? rf["json_schema"] : json();
  if (!js.is_object() || !js.contains("schema") || !js["schema"].is_object())
    return bad("response_format.json_schema.schema must be an object",
               "response_format.json_schema.schema");
  json definition = {
      {"schema", dump(js["schema"])},  // Converse takes the schema as a JSON text
      {"name", js.contains("name") && js["name"].is_string() ? js["name"] : json("response")}};
  if (js.contains("description") && js["description"].is_string())
    definition["description"] = js["description"];
  body["outputConfig"] = {
      {"textFormat",
       {{"type", "json_schema"}, {"structure", {{"jsonSchema", std::move(definition)}}}}}};
  return std::nullopt;
}

MaybeError convert_inference_config(const json& r, json& body) {
  json config = json::object();
  const char* max_key = is_set(r, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (is_set(r, max_key)) {
    const json& v = r[max_key];
    if (!v.is_number_integer() || v.get<std::int64_t>() < 1)
      return bad(std::string(max_key) + " must be a positive integer", max_key);
    config["maxTokens"] = v;
  }
  // Ranges differ per model (most take 0..1); Bedrock validates and its 400 reaches the client.
  if (is_set(r, "temperature")) {
    if (!r["temperature"].is_number()) return bad("temperature must be a number", "temperature");
    config["temperature"] = r["temperature"];
  }
  if (is_set(r, "top_p")) {
    if (!r["top_p"].is_number()) return bad("top_p must be a number", "top_p");
    config["topP"] = r["top_p"];
  }
  if (is_set(r, "stop")) {
    const json& stop = r["stop"];
    json sequences = stop.is_string() ? json::array({stop}) : stop;
    if (!sequences.is_array()) return bad("stop must be a string or an array of strings", "stop");
    for (const auto& s : sequences)
      if (!s.is_string()) return bad("stop must be a string or an array of strings", "stop");
    if (!sequences.empty()) config["stopSequences"] = std::move(sequences);
  }
  if (!config.empty()) body["inferenceConfig"] = std::move(config);
  if (is_set(r, "top_k")) {
    if (!r["top_k"].is_number_integer()) return bad("top_k must be an integer", "top_k");
    body["additionalModelRequestFields"] = {{"top_k", r["top_k"]}};
  }
  return std::nullopt;
}

}  // namespace

MaybeError converse_body_from_openai(const json& r, json& body) {
  if (!r.is_object()) return bad("the request body must be a JSON object", "");
  try {
    if (auto err = check_unsupported(r)) return err;
    body = json::object();
    json system = json::array();
    json messages;
    if (auto err =
            convert_messages(r.contains("messages") ? r["messages"] : json(), system, messages))
      return err;
    body["messages"] = std::move(messages);
    if (!system.empty()) body["system"] = std::move(system);
    if (auto err = convert_inference_config(r, body)) return err;
    if (auto err = convert_tool_config(r, body)) return err;
    if (auto err = convert_response_format(r, body)) return err;
  } catch (const json::exception& e) {
    // The checks above guard every access; this is a net for a shape they missed.
    return bad(std::string("malformed request: ") + e.what(), "");
  }
  return std::nullopt;
}

}  // namespace switchboard::providers::bedrock
