// Gemini adapter: OpenAI chat and embeddings requests -> generateContent, whole answers back.
#include "switchboard/providers/gemini.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace switchboard::providers {

namespace {

using nlohmann::json;
using protocol::ApiError;
using protocol::ErrorCode;

// Fields the translation honours, fields that change nothing a client sees (dropped), and
// everything else is refused by name: a silently ignored `logit_bias` would change the answer.
constexpr std::array kChatFields{"model",
                                 "messages",
                                 "stream",
                                 "stream_options",
                                 "max_tokens",
                                 "max_completion_tokens",
                                 "temperature",
                                 "top_p",
                                 "stop",
                                 "n",
                                 "seed",
                                 "presence_penalty",
                                 "frequency_penalty",
                                 "tools",
                                 "tool_choice",
                                 "response_format",
                                 "reasoning_effort",
                                 "parallel_tool_calls",
                                 "logprobs",
                                 "modalities"};
constexpr std::array kDroppedFields{
    "user", "store", "metadata", "service_tier", "prompt_cache_key", "safety_identifier"};

// Sent back for a function call that carries no thought signature (a call made by another
// provider, or a client that dropped the field): Google documents this value as the way to
// skip Gemini 3's signature validation for such calls.
constexpr std::string_view kSkipThoughtSignature = "skip_thought_signature_validator";

template <std::size_t N>
bool listed(const std::array<const char*, N>& list, std::string_view key) {
  return std::find(list.begin(), list.end(), key) != list.end();
}

ApiError invalid(std::string message, std::string param) {
  return protocol::make_error(ErrorCode::invalid_request, std::move(message), std::move(param));
}

ApiError unsupported(const std::string& param, std::string_view why = {}) {
  std::string message = "'" + param + "' is not supported by Gemini models";
  if (!why.empty()) message += ": " + std::string(why);
  return invalid(std::move(message), param);
}

bool present(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Percent-encodes everything but RFC 3986 unreserved characters and '/'.
std::string encode_path(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// "{base}/v1beta/models/{model}:{method}"; a base_url that already names the version keeps it.
std::string method_path(const ProviderTarget& target, std::string_view method) {
  std::string path = target.base_path;
  auto ends_with = [&](std::string_view tail) {
    return path.size() >= tail.size() &&
           path.compare(path.size() - tail.size(), tail.size(), tail) == 0;
  };
  if (!ends_with("/v1beta") && !ends_with("/v1") && !ends_with("/v1alpha")) path += "/v1beta";
  std::string_view model = target.model_id;
  path += '/';
  if (!model.starts_with("models/") && !model.starts_with("tunedModels/")) path += "models/";
  path += encode_path(model);
  path += ':';
  path += method;
  return path;
}

void common_headers(const ProviderTarget& target, upstream::UpstreamRequest& out) {
  out.method = "POST";
  out.headers.push_back({"content-type", "application/json"});
  if (!target.key.empty()) out.headers.push_back({"x-goog-api-key", std::string(target.key)});
  if (target.provider) {
    for (const auto& [name, value] : target.provider->headers) out.headers.push_back({name, value});
  }
}

std::string lower_extension(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  auto slash = url.rfind('/');
  auto dot = url.rfind('.');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) return {};
  std::string ext(url.substr(dot + 1));
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

std::string_view mime_for_extension(std::string_view ext) {
  static const std::map<std::string_view, std::string_view> kTypes{
      {"png", "image/png"},   {"jpg", "image/jpeg"},      {"jpeg", "image/jpeg"},
      {"webp", "image/webp"}, {"gif", "image/gif"},       {"heic", "image/heic"},
      {"heif", "image/heif"}, {"pdf", "application/pdf"}, {"mp3", "audio/mp3"},
      {"wav", "audio/wav"},   {"mp4", "video/mp4"},       {"txt", "text/plain"}};
  auto it = kTypes.find(ext);
  return it == kTypes.end() ? std::string_view{} : it->second;
}

// "data:<mime>[;...];base64,<data>" -> inlineData; http(s) and gs:// URLs -> fileData, which
// Gemini fetches itself.
std::optional<ApiError> url_part(std::string_view url, const std::string& where, json& part) {
  if (url.starts_with("data:")) {
    auto comma = url.find(',');
    if (comma == std::string_view::npos) return invalid(where + " is a malformed data URL", where);
    std::string_view meta = url.substr(5, comma - 5);
    if (meta.size() < 7 || meta.substr(meta.size() - 7) != ";base64")
      return invalid(where + " must be a base64 data URL", where);
    std::string_view mime = meta.substr(0, meta.find(';'));
    if (mime.empty()) return invalid(where + " data URL has no media type", where);
    part = {{"inlineData", {{"mimeType", mime}, {"data", url.substr(comma + 1)}}}};
    return std::nullopt;
  }
  if (url.starts_with("https://") || url.starts_with("http://") || url.starts_with("gs://")) {
    json file = {{"fileUri", url}};
    if (auto mime = mime_for_extension(lower_extension(url)); !mime.empty())
      file["mimeType"] = mime;
    part = {{"fileData", std::move(file)}};
    return std::nullopt;
  }
  return invalid(where + ": Gemini takes data:, https:// or gs:// URLs", where);
}

// One OpenAI content part -> one Gemini part.
std::optional<ApiError> content_part(const json& p, const std::string& where, json& part) {
  if (!p.is_object() || !p.contains("type") || !p["type"].is_string())
    return invalid(where + " must be an object with a 'type'", where);
  const auto& type = p["type"].get_ref<const std::string&>();
  if (type == "text") {
    if (!p.contains("text") || !p["text"].is_string())
      return invalid(where + ".text must be a string", where + ".text");
    part = {{"text", p["text"]}};
    return std::nullopt;
  }
  if (type == "image_url") {
    const json* url = nullptr;
    if (auto it = p.find("image_url"); it != p.end()) {
      if (it->is_string()) url = &*it;
      if (it->is_object() && it->contains("url") && (*it)["url"].is_string()) url = &(*it)["url"];
    }
    if (!url) return invalid(where + ".image_url.url must be a string", where + ".image_url.url");
    return url_part(url->get_ref<const std::string&>(), where + ".image_url.url", part);
  }
  if (type == "input_audio") {
    auto it = p.find("input_audio");
    if (it == p.end() || !it->is_object() || !it->contains("data") || !(*it)["data"].is_string())
      return invalid(where + ".input_audio.data must be a string", where + ".input_audio.data");
    std::string format = it->value("format", "wav");
    part = {{"inlineData", {{"mimeType", "audio/" + format}, {"data", (*it)["data"]}}}};
    return std::nullopt;
  }
  if (type == "file") {
    auto it = p.find("file");
    if (it != p.end() && it->is_object() && it->contains("file_data") &&
        (*it)["file_data"].is_string()) {
      return url_part((*it)["file_data"].get_ref<const std::string&>(), where + ".file.file_data",
                      part);
    }
    return unsupported(where + ".file.file_id", "send the file inline as file_data");
  }
  return unsupported(where + ".type '" + type + "'");
}

// The text of a system or tool message (a string or text parts).
std::optional<ApiError> plain_text(const json& content, const std::string& where,
                                   std::string& text) {
  if (content.is_null()) return std::nullopt;
  if (content.is_string()) {
    text = content.get<std::string>();
    return std::nullopt;
  }
  for (std::size_t j = 0; j < content.size(); ++j) {
    const auto& p = content[j];
    if (!p.is_object() || p.value("type", "") != "text" || !p.contains("text") ||
        !p["text"].is_string()) {
      auto w = where + "[" + std::to_string(j) + "]";
      return invalid(w + ": only text parts are allowed here", w);
    }
    if (!text.empty()) text += '\n';
    text += p["text"].get<std::string>();
  }
  return std::nullopt;
}

// Builds `contents` (user/model turns, consecutive same-role turns merged) and the system
// instruction from OpenAI messages.
class TurnBuilder {
 public:
  std::optional<ApiError> add_all(const json& messages) {
    remember_tool_names(messages);
    for (std::size_t i = 0; i < messages.size(); ++i) {
      if (auto e = add(messages[i], "messages[" + std::to_string(i) + "]")) return e;
    }
    return std::nullopt;
  }
  json& contents() { return contents_; }
  json& system_parts() { return system_; }

 private:
  // Gemini answers a functionResponse by function *name*; OpenAI gives only the call's id.
  void remember_tool_names(const json& messages) {
    for (const auto& m : messages) {
      if (!m.is_object() || m.value("role", "") != "assistant") continue;
      auto calls = m.find("tool_calls");
      if (calls == m.end() || !calls->is_array()) continue;
      for (const auto& c : *calls) {
        if (c.is_object() && c.contains("id") && c["id"].is_string() && c.contains("function") &&
            c["function"].is_object() && c["function"].contains("name") &&
            c["function"]["name"].is_string()) {
          names_[c["id"].get<std::string>()] = c["function"]["name"].get<std::string>();
        }
      }
    }
  }

  void push(std::string_view role, json part) {
    if (contents_.empty() || contents_.back()["role"] != role) {
      contents_.push_back({{"role", role}, {"parts", json::array()}});
    }
    contents_.back()["parts"].push_back(std::move(part));
  }

  std::optional<ApiError> add(const json& m, const std::string& where) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return invalid(where + ".role is required", where + ".role");
    const auto& role = m["role"].get_ref<const std::string&>();
    static const json kNull;
    const json& content = m.contains("content") ? m["content"] : kNull;
    if (role == "system" || role == "developer") {
      std::string text;
      if (auto e = plain_text(content, where + ".content", text)) return e;
      system_.push_back({{"text", text}});
      return std::nullopt;
    }
    if (role == "user") return add_user(content, where);
    if (role == "assistant") return add_assistant(m, where);
    if (role == "tool") return add_tool(m, where);
    return unsupported(where + ".role '" + role + "'", "use tools and tool messages");
  }

  std::optional<ApiError> add_user(const json& content, const std::string& where) {
    if (content.is_string()) {
      push("user", {{"text", content}});
      return std::nullopt;
    }
    if (!content.is_array() || content.empty())
      return invalid(where + ".content must be a string or a non-empty array", where + ".content");
    for (std::size_t j = 0; j < content.size(); ++j) {
      json part;
      if (auto e = content_part(content[j], where + ".content[" + std::to_string(j) + "]", part))
        return e;
      push("user", std::move(part));
    }
    return std::nullopt;
  }

  std::optional<ApiError> add_assistant(const json& m, const std::string& where) {
    if (auto c = m.find("content"); c != m.end() && !c->is_null()) {
      std::string text;
      if (c->is_string()) {
        text = c->get<std::string>();
      } else if (c->is_array()) {
        for (const auto& p : *c) {
          if (p.is_object() && p.contains("text") && p["text"].is_string())
            text += p["text"].get<std::string>();
        }
      }
      if (!text.empty()) push("model", {{"text", text}});
    }
    auto calls = m.find("tool_calls");
    if (calls == m.end() || calls->is_null()) return std::nullopt;
    if (!calls->is_array())
      return invalid(where + ".tool_calls must be an array", where + ".tool_calls");
    bool any_signature = false;
    for (const auto& c : *calls) any_signature = any_signature || !signature_of(c).empty();
    for (std::size_t j = 0; j < calls->size(); ++j) {
      auto w = where + ".tool_calls[" + std::to_string(j) + "]";
      const auto& c = (*calls)[j];
      if (!c.is_object() || !c.contains("function") || !c["function"].is_object() ||
          !c["function"].contains("name") || !c["function"]["name"].is_string())
        return invalid(w + ".function.name is required", w + ".function.name");
      json args = json::object();
      if (auto a = c["function"].find("arguments");
          a != c["function"].end() && a->is_string() && !a->get_ref<const std::string&>().empty()) {
        args = json::parse(a->get_ref<const std::string&>(), nullptr, false);
        if (!args.is_object())
          return invalid(w + ".function.arguments must be a JSON object text",
                         w + ".function.arguments");
      } else if (a != c["function"].end() && a->is_object()) {
        args = *a;
      }
      json part = {{"functionCall", {{"name", c["function"]["name"]}, {"args", std::move(args)}}}};
      auto signature = signature_of(c);
      if (!signature.empty()) {
        part["thoughtSignature"] = signature;
      } else if (!any_signature && j == 0) {
        part["thoughtSignature"] = kSkipThoughtSignature;
      }
      push("model", std::move(part));
    }
    return std::nullopt;
  }

  static std::string signature_of(const json& call) {
    if (!call.is_object()) return {};
    auto ec = call.find("extra_content");
    if (ec == call.end() || !ec->is_object()) return {};
    auto g = ec->find("google");
    if (g == ec->end() || !g->is_object()) return {};
    auto s = g->find("thought_signature");
    return s != g->end() && s->is_string() ? s->get<std::string>() : std::string();
  }

  std::optional<ApiError> add_tool(const json& m, const std::string& where) {
    std::string id = m.contains("tool_call_id") && m["tool_call_id"].is_string()
                         ? m["tool_call_id"].get<std::string>()
                         : std::string();
    auto name = names_.find(id);
    if (name == names_.end()) {
      return invalid(
          where + ".tool_call_id '" + id + "' answers no tool call of an earlier assistant message",
          where + ".tool_call_id");
    }
    std::string text;
    if (auto e =
            plain_text(m.contains("content") ? m["content"] : json(), where + ".content", text))
      return e;
    // Gemini wants an object: a JSON object result goes as it is, anything else as "output".
    json response = json::parse(text, nullptr, false);
    if (!response.is_object()) response = {{"output", text}};
    push("user",
         {{"functionResponse", {{"name", name->second}, {"response", std::move(response)}}}});
    return std::nullopt;
  }

  json contents_ = json::array();
  json system_ = json::array();
  std::map<std::string, std::string> names_;
};

std::optional<ApiError> map_tools(const json& request, json& body) {
  auto tools = request.find("tools");
  bool has_tools = tools != request.end() && tools->is_array() && !tools->empty();
  if (has_tools) {
    json declarations = json::array();
    for (std::size_t i = 0; i < tools->size(); ++i) {
      auto w = "tools[" + std::to_string(i) + "]";
      const auto& t = (*tools)[i];
      if (!t.is_object() || t.value("type", "") != "function")
        return unsupported(w + ".type", "only function tools can be sent to Gemini");
      if (!t.contains("function") || !t["function"].is_object() ||
          !t["function"].contains("name") || !t["function"]["name"].is_string())
        return invalid(w + ".function.name is required", w + ".function.name");
      const auto& f = t["function"];
      json d = {{"name", f["name"]}};
      if (present(f, "description")) d["description"] = f["description"];
      // JSON Schema as it is: parametersJsonSchema takes what `parameters` (OpenAPI subset)
      // rejects.
      if (present(f, "parameters")) d["parametersJsonSchema"] = f["parameters"];
      declarations.push_back(std::move(d));
    }
    body["tools"] = json::array({{{"functionDeclarations", std::move(declarations)}}});
  }
  auto choice = request.find("tool_choice");
  if (choice == request.end() || choice->is_null()) return std::nullopt;
  json config;
  if (choice->is_string()) {
    const auto& c = choice->get_ref<const std::string&>();
    if (c == "auto") {
      config = {{"mode", "AUTO"}};
    } else if (c == "none") {
      config = {{"mode", "NONE"}};
    } else if (c == "required") {
      config = {{"mode", "ANY"}};
    } else {
      return invalid("tool_choice '" + c + "' is not one of none, auto, required", "tool_choice");
    }
  } else if (choice->is_object() && choice->value("type", "") == "function" &&
             choice->contains("function") && (*choice)["function"].is_object() &&
             (*choice)["function"].contains("name") && (*choice)["function"]["name"].is_string()) {
    config = {{"mode", "ANY"},
              {"allowedFunctionNames", json::array({(*choice)["function"]["name"]})}};
  } else {
    return unsupported("tool_choice", "use none, auto, required or a named function");
  }
  if (!has_tools) {
    if (config["mode"] == "ANY") return invalid("tool_choice requires tools", "tool_choice");
    return std::nullopt;
  }
  body["toolConfig"] = {{"functionCallingConfig", std::move(config)}};
  return std::nullopt;
}

std::optional<ApiError> map_generation(const json& request, json& body) {
  json gen = json::object();
  if (present(request, "max_completion_tokens")) {
    gen["maxOutputTokens"] = request["max_completion_tokens"];
  } else if (present(request, "max_tokens")) {
    gen["maxOutputTokens"] = request["max_tokens"];
  }
  if (present(request, "temperature")) gen["temperature"] = request["temperature"];
  if (present(request, "top_p")) gen["topP"] = request["top_p"];
  if (present(request, "n")) gen["candidateCount"] = request["n"];
  if (present(request, "seed")) gen["seed"] = request["seed"];
  if (present(request, "presence_penalty")) gen["presencePenalty"] = request["presence_penalty"];
  if (present(request, "frequency_penalty")) gen["frequencyPenalty"] = request["frequency_penalty"];
  if (present(request, "stop")) {
    const auto& stop = request["stop"];
    if (stop.is_string()) {
      gen["stopSequences"] = json::array({stop});
    } else if (stop.is_array() &&
               std::all_of(stop.begin(), stop.end(), [](const json& s) { return s.is_string(); })) {
      gen["stopSequences"] = stop;
    } else {
      return invalid("'stop' must be a string or an array of strings", "stop");
    }
  }
  if (present(request, "response_format")) {
    const auto& rf = request["response_format"];
    std::string type = rf.is_object() ? rf.value("type", "") : "";
    if (type == "json_object") {
      gen["responseMimeType"] = "application/json";
    } else if (type == "json_schema") {
      gen["responseMimeType"] = "application/json";
      if (rf.contains("json_schema") && rf["json_schema"].is_object() &&
          present(rf["json_schema"], "schema")) {
        gen["responseJsonSchema"] = rf["json_schema"]["schema"];
      }
    } else if (type != "text") {
      return unsupported("response_format", "use text, json_object or json_schema");
    }
  }
  if (present(request, "reasoning_effort")) {
    // The budgets Google's own OpenAI-compatible endpoint uses for these levels.
    static const std::map<std::string, int, std::less<>> kBudgets{
        {"none", 0}, {"minimal", 1024}, {"low", 1024}, {"medium", 8192}, {"high", 24576}};
    const auto& effort = request["reasoning_effort"];
    auto it = effort.is_string() ? kBudgets.find(effort.get<std::string>()) : kBudgets.end();
    if (it == kBudgets.end())
      return unsupported("reasoning_effort", "use none, minimal, low, medium or high");
    gen["thinkingConfig"] = {{"thinkingBudget", it->second}};
  }
  if (!gen.empty()) body["generationConfig"] = std::move(gen);
  return std::nullopt;
}

// Fields accepted only with the value that means "the default".
std::optional<ApiError> check_defaults(const json& request) {
  if (present(request, "parallel_tool_calls") && request["parallel_tool_calls"] != true)
    return unsupported("parallel_tool_calls", "Gemini cannot be limited to one call per turn");
  if (present(request, "logprobs") && request["logprobs"] != false) return unsupported("logprobs");
  if (present(request, "modalities") && request["modalities"] != json::array({"text"}))
    return unsupported("modalities", "only text output");
  return std::nullopt;
}

json choice_from(const json& candidate, int position, std::string_view response_id) {
  int index = candidate.value("index", position);
  std::string text;
  json calls = json::array();
  if (auto content = candidate.find("content");
      content != candidate.end() && content->is_object()) {
    if (auto parts = content->find("parts"); parts != content->end() && parts->is_array()) {
      for (const auto& p : *parts) {
        if (!p.is_object()) continue;
        if (p.contains("functionCall")) {
          calls.push_back(gemini_tool_call(p, response_id, index, static_cast<int>(calls.size())));
        } else if (p.contains("text") && p["text"].is_string() && !p.value("thought", false)) {
          text += p["text"].get<std::string>();
        }
      }
    }
  }
  json message = {{"role", "assistant"}};
  message["content"] = calls.empty() || !text.empty() ? json(text) : json(nullptr);
  if (!calls.empty()) message["tool_calls"] = calls;
  std::string reason = candidate.value("finishReason", "STOP");
  return {{"index", index},
          {"message", std::move(message)},
          {"logprobs", nullptr},
          {"finish_reason", gemini_finish_reason(reason, !calls.empty())}};
}

class GeminiAdapter final : public ProviderAdapter {
 public:
  bool openai_wire() const override { return false; }

  std::optional<ApiError> build_chat(const json& request, bool stream, const ProviderTarget& target,
                                     upstream::UpstreamRequest& out) const override {
    for (const auto& [key, value] : request.items()) {
      if (value.is_null() || listed(kChatFields, key) || listed(kDroppedFields, key)) continue;
      return unsupported(key);
    }
    if (auto e = check_defaults(request)) return e;
    auto messages = request.find("messages");
    if (messages == request.end() || !messages->is_array())
      return invalid("'messages' must be an array", "messages");
    TurnBuilder turns;
    if (auto e = turns.add_all(*messages)) return e;
    if (turns.contents().empty())
      return invalid("Gemini needs at least one user, assistant or tool message", "messages");
    json body = {{"contents", std::move(turns.contents())}};
    if (!turns.system_parts().empty())
      body["systemInstruction"] = {{"parts", std::move(turns.system_parts())}};
    if (auto e = map_tools(request, body)) return e;
    if (auto e = map_generation(request, body)) return e;

    out.target = method_path(target, stream ? "streamGenerateContent?alt=sse" : "generateContent");
    common_headers(target, out);
    if (stream) out.headers.push_back({"accept", "text/event-stream"});
    out.body = dump(body);
    return std::nullopt;
  }

  std::optional<ApiError> build_embeddings(const json& request, const ProviderTarget& target,
                                           upstream::UpstreamRequest& out) const override {
    for (const auto& [key, value] : request.items()) {
      if (value.is_null() || key == "model" || key == "input" || key == "dimensions" ||
          key == "user")
        continue;
      if (key == "encoding_format") {
        if (value == "float") continue;
        // The translated body cannot know the format was asked for, so it could only
        // answer floats where the client decodes base64: refuse rather than mislead.
        return unsupported("encoding_format", "Gemini embeddings are returned as floats");
      }
      return unsupported(key);
    }
    static const json kNull;
    const auto& input = request.contains("input") ? request["input"] : kNull;
    std::vector<std::string> texts;
    if (input.is_string()) {
      texts.push_back(input.get<std::string>());
    } else if (input.is_array()) {
      for (std::size_t i = 0; i < input.size(); ++i) {
        if (!input[i].is_string()) {
          return unsupported("input[" + std::to_string(i) + "]",
                             "Gemini embeds text, not token arrays");
        }
        texts.push_back(input[i].get<std::string>());
      }
    }
    if (texts.empty()) return invalid("'input' must be a string or an array of strings", "input");
    std::string model = target.model_id;
    if (!model.starts_with("models/") && !model.starts_with("tunedModels/"))
      model = "models/" + model;
    json requests = json::array();
    for (auto& t : texts) {
      json r = {{"model", model},
                {"content", {{"parts", json::array({{{"text", std::move(t)}}})}}}};
      if (present(request, "dimensions")) r["outputDimensionality"] = request["dimensions"];
      requests.push_back(std::move(r));
    }
    out.target = method_path(target, "batchEmbedContents");
    common_headers(target, out);
    out.body = dump(json{{"requests", std::move(requests)}});
    return std::nullopt;
  }

  std::optional<ApiError> translate_chat(std::string_view body, const ResponseContext& context,
                                         json& out, accounting::Usage& usage) const override {
    auto j = json::parse(body, nullptr, false);
    if (!j.is_object())
      return protocol::make_error(ErrorCode::upstream_error, "Gemini answered a malformed body");
    if (j.contains("error")) {
      bool retryable = false;
      return gemini_error(200, body, retryable);  // the status comes from error.code
    }
    std::string response_id = j.value("responseId", context.id);
    json choices = json::array();
    if (auto c = j.find("candidates"); c != j.end() && c->is_array()) {
      for (std::size_t i = 0; i < c->size(); ++i) {
        if ((*c)[i].is_object())
          choices.push_back(choice_from((*c)[i], static_cast<int>(i), response_id));
      }
    }
    if (choices.empty()) {
      // A blocked prompt: no candidates, promptFeedback.blockReason says why.
      if (!j.contains("promptFeedback"))
        return protocol::make_error(ErrorCode::upstream_error, "Gemini answered no candidates");
      choices.push_back({{"index", 0},
                         {"message", {{"role", "assistant"}, {"content", ""}}},
                         {"logprobs", nullptr},
                         {"finish_reason", "content_filter"}});
    }
    std::sort(choices.begin(), choices.end(),
              [](const json& a, const json& b) { return a["index"] < b["index"]; });
    usage = j.contains("usageMetadata") ? gemini_usage(j["usageMetadata"]) : accounting::Usage{};
    out = {{"id", context.id},
           {"object", "chat.completion"},
           {"created", context.created},
           {"model", context.model},
           {"choices", std::move(choices)}};
    if (usage.known) out["usage"] = openai_usage_json(usage);
    return std::nullopt;
  }

  std::optional<ApiError> translate_embeddings(std::string_view body,
                                               const ResponseContext& context, json& out,
                                               accounting::Usage& usage) const override {
    auto j = json::parse(body, nullptr, false);
    if (!j.is_object() || !j.contains("embeddings") || !j["embeddings"].is_array())
      return protocol::make_error(ErrorCode::upstream_error,
                                  "Gemini answered a malformed embeddings body");
    json data = json::array();
    for (const auto& e : j["embeddings"]) {
      if (!e.is_object() || !e.contains("values") || !e["values"].is_array())
        return protocol::make_error(ErrorCode::upstream_error,
                                    "Gemini answered an embedding without values");
      data.push_back({{"object", "embedding"}, {"index", data.size()}, {"embedding", e["values"]}});
    }
    // batchEmbedContents reports no token counts; the gateway estimates when known is false.
    usage = {};
    if (auto u = j.find("usageMetadata"); u != j.end() && u->is_object()) {
      usage.input = u->value("promptTokenCount", std::int64_t{0});
      usage.known = true;
    }
    out = {{"object", "list"},
           {"data", std::move(data)},
           {"model", context.model},
           {"usage", {{"prompt_tokens", usage.input}, {"total_tokens", usage.input}}}};
    return std::nullopt;
  }

  std::unique_ptr<StreamTranslator> chat_stream(const ResponseContext& context) const override {
    return make_gemini_stream(context);
  }

  ApiError translate_error(int status, std::string_view body, bool& retryable) const override {
    return gemini_error(status, body, retryable);
  }
};

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

std::string_view gemini_finish_reason(std::string_view reason, bool has_tool_calls) {
  if (reason == "STOP") return has_tool_calls ? "tool_calls" : "stop";
  if (reason == "MAX_TOKENS") return "length";
  static const std::set<std::string_view> kFiltered{
      "SAFETY",      "RECITATION", "BLOCKLIST",    "PROHIBITED_CONTENT",       "SPII",
      "LANGUAGE",    "OTHER",      "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION",
      "IMAGE_OTHER", "MODEL_ARMOR"};
  if (kFiltered.contains(reason) || reason.starts_with("IMAGE_")) return "content_filter";
  // MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS, FINISH_REASON_UNSPECIFIED
  // and reasons newer than this list: the turn ended, with whatever it produced.
  return has_tool_calls ? "tool_calls" : "stop";
}

accounting::Usage gemini_usage(const json& m) {
  accounting::Usage u;
  if (!m.is_object()) return u;
  auto count = [&](const char* key) {
    auto it = m.find(key);
    return it != m.end() && it->is_number_integer() ? it->get<std::int64_t>() : std::int64_t{0};
  };
  u.known = true;
  u.input = count("promptTokenCount") + count("toolUsePromptTokenCount");
  u.cached_input = count("cachedContentTokenCount");
  u.reasoning = count("thoughtsTokenCount");
  u.output = count("candidatesTokenCount") + u.reasoning;
  return u;
}

json openai_usage_json(const accounting::Usage& u) {
  return {{"prompt_tokens", u.input},
          {"completion_tokens", u.output},
          {"total_tokens", u.input + u.output},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_input}}},
          {"completion_tokens_details", {{"reasoning_tokens", u.reasoning}}}};
}

std::string gemini_tool_call_id(std::string_view response_id, int candidate, int ordinal) {
  static constexpr char kDigits[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string key(response_id);
  key += '/' + std::to_string(candidate) + '/' + std::to_string(ordinal);
  auto h = fnv1a(key);
  std::string id = "call_";
  for (int i = 0; i < 11; ++i) {
    id += kDigits[h % 62];
    h /= 62;
  }
  return id;
}

json gemini_tool_call(const json& part, std::string_view response_id, int candidate, int ordinal) {
  const auto& fc = part["functionCall"];
  std::string id;
  if (fc.is_object() && fc.contains("id") && fc["id"].is_string()) id = fc["id"].get<std::string>();
  if (id.empty()) id = gemini_tool_call_id(response_id, candidate, ordinal);
  json args = fc.is_object() && fc.contains("args") ? fc["args"] : json::object();
  json call = {{"id", id},
               {"type", "function"},
               {"function",
                {{"name", fc.is_object() ? fc.value("name", "") : ""}, {"arguments", dump(args)}}}};
  if (auto s = part.find("thoughtSignature"); s != part.end() && s->is_string())
    call["extra_content"] = {{"google", {{"thought_signature", *s}}}};
  return call;
}

ApiError gemini_error(int status, std::string_view body, bool& retryable) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_array() && !j.empty()) j = j[0];
  std::string message, rpc_status;
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const auto& e = j["error"];
    message = e.value("message", "");
    rpc_status = e.value("status", "");
    if (status < 400 && e.contains("code") && e["code"].is_number_integer())
      status = e["code"].get<int>();  // an error inside a 200 stream carries its own code
  }
  if (message.empty()) message = std::string(body.substr(0, 300));
  static const std::set<std::string_view> kRetryable{"RESOURCE_EXHAUSTED", "UNAVAILABLE",
                                                     "INTERNAL", "DEADLINE_EXCEEDED"};
  retryable = status == 408 || status == 429 || status >= 500 || kRetryable.contains(rpc_status);
  auto code = protocol::error_code_for_upstream_status(status);
  if (code == ErrorCode::invalid_request) return protocol::make_error(code, message);
  std::string prefix = "answered " + std::to_string(status);
  if (!rpc_status.empty()) prefix += " " + rpc_status;
  return protocol::make_error(code, prefix + ": " + message);
}

std::unique_ptr<ProviderAdapter> make_gemini_adapter() {
  return std::make_unique<GeminiAdapter>();
}

}  // namespace switchboard::providers
