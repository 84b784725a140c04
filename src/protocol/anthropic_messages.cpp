// The Anthropic Messages API front: request validation and translation to OpenAI, and OpenAI
// completions and chunks re-encoded as Anthropic messages and SSE events.
#include "switchboard/protocol/anthropic_messages.hpp"

#include <set>
#include <utility>
#include <vector>

#include "switchboard/protocol/sse.hpp"

namespace switchboard::protocol {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using MaybeError = std::optional<ApiError>;

ApiError bad(const std::string& field, const std::string& message) {
  return make_error(ErrorCode::invalid_request, field + ": " + message, field);
}

ApiError unsupported(const std::string& field, std::string_view why) {
  return bad(field, "not supported by this gateway (" + std::string(why) + ")");
}

std::string path(const std::string& base, std::size_t index) {
  return base + "." + std::to_string(index);
}

bool is_set(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && !it->is_null();
}

std::string string_at(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

template <typename Json>
std::string dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Top-level fields of MessageCreateParams; anything else is refused, as Anthropic does.
const std::set<std::string, std::less<>> kKnownFields = {"model",
                                                         "messages",
                                                         "max_tokens",
                                                         "system",
                                                         "metadata",
                                                         "stop_sequences",
                                                         "stream",
                                                         "temperature",
                                                         "top_p",
                                                         "top_k",
                                                         "tools",
                                                         "tool_choice",
                                                         "thinking",
                                                         "service_tier",
                                                         "output_format",
                                                         "output_config",
                                                         "container",
                                                         "mcp_servers",
                                                         "context_management"};

MaybeError check_top_level(const json& r) {
  for (const auto& [key, _] : r.items()) {
    if (!kKnownFields.contains(key)) return bad(key, "Extra inputs are not permitted");
  }
  if (!r.contains("model") || !r["model"].is_string() ||
      r["model"].get_ref<const std::string&>().empty())
    return bad("model", "Field required (a non-empty string)");
  if (!r.contains("max_tokens") || !r["max_tokens"].is_number_integer() ||
      r["max_tokens"].get<std::int64_t>() < 1)
    return bad("max_tokens", "Field required (an integer of at least 1)");
  if (!r.contains("messages") || !r["messages"].is_array() || r["messages"].empty())
    return bad("messages", "Field required (a non-empty array)");
  for (const char* field : {"container", "mcp_servers", "context_management"}) {
    if (is_set(r, field)) return unsupported(field, "a server-side Anthropic feature");
  }
  if (is_set(r, "thinking")) {
    const json& t = r["thinking"];
    if (!t.is_object() || string_at(t, "type").empty())
      return bad("thinking", "must be an object with a type");
    if (string_at(t, "type") != "disabled")
      return unsupported("thinking", "thinking blocks cannot be carried through Chat Completions");
  }
  return std::nullopt;
}

// "data:<media>;base64,<data>" for an image or document block's base64 source.
MaybeError data_url(const json& block, const std::string& field, std::string& url) {
  const json& source = block.contains("source") ? block["source"] : json();
  std::string type = source.is_object() ? string_at(source, "type") : "";
  if (type == "base64") {
    std::string media = string_at(source, "media_type"), data = string_at(source, "data");
    if (media.empty() || data.empty())
      return bad(field + ".source", "base64 sources need media_type and data");
    url = "data:" + media + ";base64," + data;
    return std::nullopt;
  }
  if (type == "url") {
    url = string_at(source, "url");
    if (url.empty()) return bad(field + ".source.url", "Field required");
    return std::nullopt;
  }
  return unsupported(field + ".source", "only base64 and url sources are translated");
}

// Text of a system prompt or a tool_result: a string or text blocks.
MaybeError text_of(const json& content, const std::string& field, std::vector<std::string>& texts) {
  if (content.is_null()) return std::nullopt;
  if (content.is_string()) {
    texts.push_back(content.get<std::string>());
    return std::nullopt;
  }
  if (!content.is_array()) return bad(field, "must be a string or an array of content blocks");
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& block = content[i];
    if (!block.is_object() || string_at(block, "type") != "text" || !block.contains("text") ||
        !block["text"].is_string())
      return bad(path(field, i), "only text blocks are supported here");
    texts.push_back(block["text"].get<std::string>());
  }
  return std::nullopt;
}

json text_content(const std::vector<std::string>& texts) {
  if (texts.size() == 1) return texts.front();
  json parts = json::array();
  for (const auto& t : texts) parts.push_back({{"type", "text"}, {"text", t}});
  return parts;
}

MaybeError convert_user(const json& content, const std::string& field, json& out) {
  if (content.is_string()) {
    out.push_back({{"role", "user"}, {"content", content}});
    return std::nullopt;
  }
  if (content.empty()) return bad(field, "List should have at least 1 item");
  json parts = json::array();
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& block = content[i];
    std::string f = path(field, i), type = string_at(block, "type");
    if (type == "text") {
      if (!block.contains("text") || !block["text"].is_string())
        return bad(f + ".text", "Field required");
      parts.push_back({{"type", "text"}, {"text", block["text"]}});
    } else if (type == "image") {
      std::string url;
      if (auto err = data_url(block, f, url)) return err;
      parts.push_back({{"type", "image_url"}, {"image_url", {{"url", url}}}});
    } else if (type == "document") {
      const json& source = block.contains("source") ? block["source"] : json();
      if (!source.is_object() || string_at(source, "type") != "base64" ||
          string_at(source, "media_type") != "application/pdf")
        return unsupported(f, "only base64 PDF documents are translated");
      std::string url;
      if (auto err = data_url(block, f, url)) return err;
      parts.push_back(
          {{"type", "file"}, {"file", {{"filename", "document.pdf"}, {"file_data", url}}}});
    } else if (type == "tool_result") {
      std::string id = string_at(block, "tool_use_id");
      if (id.empty()) return bad(f + ".tool_use_id", "Field required");
      std::vector<std::string> texts;
      if (auto err =
              text_of(block.contains("content") ? block["content"] : json(), f + ".content", texts))
        return err;
      std::string text;
      for (const auto& t : texts) text += (text.empty() ? "" : "\n") + t;
      if (block.contains("is_error") && block["is_error"] == true) text = "[tool error] " + text;
      // OpenAI wants tool results right after the assistant turn that called the tools.
      out.push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", text}});
    } else if (type.empty()) {
      return bad(f + ".type", "Field required");
    } else {
      return unsupported(f + ".type", "content block type '" + type + "'");
    }
  }
  if (!parts.empty()) {
    bool one_text = parts.size() == 1 && parts[0]["type"] == "text";
    out.push_back({{"role", "user"}, {"content", one_text ? parts[0]["text"] : parts}});
  }
  return std::nullopt;
}

MaybeError convert_assistant(const json& content, const std::string& field, json& out) {
  if (content.is_string()) {
    out.push_back({{"role", "assistant"}, {"content", content}});
    return std::nullopt;
  }
  std::string text;
  json calls = json::array();
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& block = content[i];
    std::string f = path(field, i), type = string_at(block, "type");
    if (type == "text") {
      text += string_at(block, "text");
    } else if (type == "tool_use") {
      std::string id = string_at(block, "id"), name = string_at(block, "name");
      if (id.empty() || name.empty()) return bad(f, "tool_use blocks need id and name");
      json input = block.contains("input") ? block["input"] : json::object();
      calls.push_back({{"id", id},
                       {"type", "function"},
                       {"function", {{"name", name}, {"arguments", dump(input)}}}});
    } else if (type == "thinking" || type == "redacted_thinking") {
      continue;  // earlier reasoning has no Chat Completions form (see the header)
    } else if (type.empty()) {
      return bad(f + ".type", "Field required");
    } else {
      return unsupported(f + ".type", "content block type '" + type + "'");
    }
  }
  json message = {{"role", "assistant"}};
  message["content"] = text.empty() && !calls.empty() ? json(nullptr) : json(text);
  if (!calls.empty()) message["tool_calls"] = std::move(calls);
  out.push_back(std::move(message));
  return std::nullopt;
}

MaybeError convert_messages(const json& r, json& out) {
  out = json::array();
  if (is_set(r, "system")) {
    std::vector<std::string> texts;
    if (auto err = text_of(r["system"], "system", texts)) return err;
    if (!texts.empty()) out.push_back({{"role", "system"}, {"content", text_content(texts)}});
  }
  const json& messages = r["messages"];
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    std::string f = path("messages", i);
    if (!m.is_object()) return bad(f, "must be an object");
    std::string role = string_at(m, "role");
    if (role != "user" && role != "assistant")
      return bad(f + ".role", "Input should be 'user' or 'assistant'");
    const json& content = m.contains("content") ? m["content"] : json();
    if (!content.is_string() && !content.is_array())
      return bad(f + ".content", "must be a string or an array of content blocks");
    for (std::size_t j = 0; content.is_array() && j < content.size(); ++j) {
      if (!content[j].is_object()) return bad(path(f + ".content", j), "must be an object");
    }
    auto err = role == "user" ? convert_user(content, f + ".content", out)
                              : convert_assistant(content, f + ".content", out);
    if (err) return err;
  }
  return std::nullopt;
}

MaybeError convert_tools(const json& r, json& out) {
  if (!is_set(r, "tools")) return std::nullopt;
  const json& tools = r["tools"];
  if (!tools.is_array()) return bad("tools", "must be an array");
  if (tools.empty()) return std::nullopt;
  json list = json::array();
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const json& t = tools[i];
    std::string f = path("tools", i);
    if (!t.is_object()) return bad(f, "must be an object");
    std::string type = string_at(t, "type");
    if (!type.empty() && type != "custom")
      return unsupported(f + ".type", "server tool '" + type + "'");
    std::string name = string_at(t, "name");
    if (name.empty()) return bad(f + ".name", "Field required");
    if (!t.contains("input_schema") || !t["input_schema"].is_object())
      return bad(f + ".input_schema", "Field required (an object)");
    json fn = {{"name", name}, {"parameters", t["input_schema"]}};
    if (t.contains("description") && t["description"].is_string())
      fn["description"] = t["description"];
    list.push_back({{"type", "function"}, {"function", std::move(fn)}});
  }
  out["tools"] = std::move(list);
  return std::nullopt;
}

MaybeError convert_tool_choice(const json& r, json& out) {
  if (!is_set(r, "tool_choice")) return std::nullopt;
  const json& tc = r["tool_choice"];
  std::string type = tc.is_object() ? string_at(tc, "type") : "";
  if (type == "auto") {
    out["tool_choice"] = "auto";
  } else if (type == "any") {
    out["tool_choice"] = "required";
  } else if (type == "none") {
    out["tool_choice"] = "none";
  } else if (type == "tool") {
    std::string name = string_at(tc, "name");
    if (name.empty()) return bad("tool_choice.name", "Field required");
    out["tool_choice"] = {{"type", "function"}, {"function", {{"name", name}}}};
  } else {
    return bad("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'");
  }
  if (!out.contains("tools")) {
    if (type == "auto" || type == "none")
      out.erase("tool_choice");
    else
      return bad("tool_choice", "requires tools");
  }
  if (out.contains("tools") && tc.contains("disable_parallel_tool_use") &&
      tc["disable_parallel_tool_use"] == true)
    out["parallel_tool_calls"] = false;
  return std::nullopt;
}

// Structured outputs (output_config.format, or the beta output_format) -> response_format.
MaybeError convert_output_format(const json& r, json& out) {
  const json* format = nullptr;
  std::string field;
  if (is_set(r, "output_config")) {
    const json& oc = r["output_config"];
    if (!oc.is_object()) return bad("output_config", "must be an object");
    for (const auto& [key, _] : oc.items()) {
      if (key != "format") return unsupported("output_config." + key, "only format is translated");
    }
    if (is_set(oc, "format")) format = &oc["format"], field = "output_config.format";
  }
  if (!format && is_set(r, "output_format")) format = &r["output_format"], field = "output_format";
  if (!format) return std::nullopt;
  if (!format->is_object() || string_at(*format, "type") != "json_schema" ||
      !format->contains("schema") || !(*format)["schema"].is_object())
    return bad(field, "must be {type: 'json_schema', schema: {...}}");
  out["response_format"] = {
      {"type", "json_schema"},
      {"json_schema", {{"name", "output"}, {"schema", (*format)["schema"]}, {"strict", true}}}};
  return std::nullopt;
}

MaybeError convert_sampling(const json& r, json& out) {
  out["max_completion_tokens"] = r["max_tokens"];
  for (const char* key : {"temperature", "top_p"}) {
    if (!is_set(r, key)) continue;
    if (!r[key].is_number()) return bad(key, "must be a number");
    out[key] = r[key];
  }
  if (is_set(r, "top_k")) {
    if (!r["top_k"].is_number_integer()) return bad("top_k", "must be an integer");
    out["top_k"] = r["top_k"];  // non-standard; see the header
  }
  if (is_set(r, "stop_sequences")) {
    const json& stops = r["stop_sequences"];
    if (!stops.is_array()) return bad("stop_sequences", "must be an array of strings");
    for (const auto& s : stops)
      if (!s.is_string()) return bad("stop_sequences", "must be an array of strings");
    if (!stops.empty()) out["stop"] = stops;
  }
  if (is_set(r, "metadata")) {
    const json& md = r["metadata"];
    if (!md.is_object()) return bad("metadata", "must be an object");
    for (const auto& [key, value] : md.items()) {
      if (key != "user_id") return bad("metadata." + key, "Extra inputs are not permitted");
      if (!value.is_null() && !value.is_string())
        return bad("metadata.user_id", "must be a string");
      if (value.is_string()) out["user"] = value;
    }
  }
  if (is_set(r, "stream")) {
    if (!r["stream"].is_boolean()) return bad("stream", "must be a boolean");
    if (r["stream"] == true) {
      out["stream"] = true;
      out["stream_options"] = {{"include_usage", true}};
    }
  }
  return std::nullopt;
}

// Anthropic's usage object from the gateway's counts: input_tokens excludes the cache.
ordered_json anthropic_usage(const accounting::Usage& u) {
  ordered_json usage;
  usage["input_tokens"] = u.uncached_input();
  usage["output_tokens"] = u.output;
  usage["cache_creation_input_tokens"] = u.cache_write;
  usage["cache_read_input_tokens"] = u.cached_input;
  return usage;
}

accounting::Usage usage_of(const json& completion) {
  if (!completion.contains("usage")) return {};
  const json& u = completion["usage"];
  accounting::Usage usage = accounting::usage_from_openai(u);
  // The gateway's Anthropic adapter (and LiteLLM) add the cache-write count beside OpenAI's.
  if (u.is_object() && u.contains("cache_creation_input_tokens") &&
      u["cache_creation_input_tokens"].is_number_integer())
    usage.cache_write = u["cache_creation_input_tokens"].get<std::int64_t>();
  return usage;
}

}  // namespace

std::optional<ApiError> anthropic_request_to_openai(const json& r, json& out) {
  if (!r.is_object()) return bad("body", "must be a JSON object");
  try {
    if (auto err = check_top_level(r)) return err;
    out = json::object();
    out["model"] = r["model"];
    json messages;
    if (auto err = convert_messages(r, messages)) return err;
    out["messages"] = std::move(messages);
    if (auto err = convert_sampling(r, out)) return err;
    if (auto err = convert_tools(r, out)) return err;
    if (auto err = convert_tool_choice(r, out)) return err;
    if (auto err = convert_output_format(r, out)) return err;
  } catch (const json::exception& e) {
    return bad("body", std::string("malformed request: ") + e.what());
  }
  return std::nullopt;
}

std::string_view anthropic_stop_reason(std::string_view finish_reason) {
  if (finish_reason == "length") return "max_tokens";
  if (finish_reason == "tool_calls" || finish_reason == "function_call") return "tool_use";
  if (finish_reason == "content_filter") return "refusal";
  return "end_turn";
}

std::string anthropic_message_id(std::string_view openai_id) {
  if (openai_id.starts_with("msg_")) return std::string(openai_id);
  if (openai_id.starts_with("chatcmpl-")) openai_id.remove_prefix(9);
  return "msg_" + std::string(openai_id.empty() ? "gateway" : openai_id);
}

json openai_response_to_anthropic(const json& completion, const std::string& model,
                                  const accounting::Usage* usage) {
  ordered_json content = ordered_json::array();
  std::string finish = "stop";
  const json* message = nullptr;
  if (completion.contains("choices") && completion["choices"].is_array() &&
      !completion["choices"].empty() && completion["choices"][0].is_object()) {
    const json& choice = completion["choices"][0];
    finish = string_at(choice, "finish_reason");
    if (choice.contains("message") && choice["message"].is_object()) message = &choice["message"];
  }
  if (message) {
    std::string text = string_at(*message, "content");
    if (text.empty()) text = string_at(*message, "refusal");
    if (!text.empty()) content.push_back({{"type", "text"}, {"text", text}});
    const json& calls = message->contains("tool_calls") ? (*message)["tool_calls"] : json();
    for (std::size_t i = 0; calls.is_array() && i < calls.size(); ++i) {
      const json& call = calls[i];
      const json& fn = call.contains("function") ? call["function"] : json();
      ordered_json input = ordered_json::parse(string_at(fn, "arguments"), nullptr, false);
      // A model's malformed arguments cannot be an Anthropic input object; an empty one is.
      if (!input.is_object()) input = ordered_json::object();
      ordered_json block;
      block["type"] = "tool_use";
      block["id"] = string_at(call, "id");
      block["name"] = string_at(fn, "name");
      block["input"] = std::move(input);
      content.push_back(std::move(block));
    }
  }
  ordered_json out;
  out["id"] = anthropic_message_id(string_at(completion, "id"));
  out["type"] = "message";
  out["role"] = "assistant";
  out["model"] = model;
  out["content"] = std::move(content);
  out["stop_reason"] = anthropic_stop_reason(finish);
  out["stop_sequence"] = nullptr;
  out["usage"] = anthropic_usage(usage ? *usage : usage_of(completion));
  return json::parse(dump(out));
}

AnthropicStreamEncoder::AnthropicStreamEncoder(std::string model) : model_(std::move(model)) {}

namespace {
void append_event(std::string& sse_out, std::string_view type, const ordered_json& data) {
  append_sse_event(sse_out, type, dump(data));
}
}  // namespace

void AnthropicStreamEncoder::start(std::string_view openai_id, std::string& sse_out) {
  if (started_) return;
  started_ = true;
  ordered_json message;
  message["id"] = anthropic_message_id(openai_id);
  message["type"] = "message";
  message["role"] = "assistant";
  message["model"] = model_;
  message["content"] = ordered_json::array();
  message["stop_reason"] = nullptr;
  message["stop_sequence"] = nullptr;
  message["usage"] = anthropic_usage({});
  ordered_json event;
  event["type"] = "message_start";
  event["message"] = std::move(message);
  append_event(sse_out, "message_start", event);
}

void AnthropicStreamEncoder::close_block(std::string& sse_out) {
  if (open_block_ < 0) return;
  ordered_json event;
  event["type"] = "content_block_stop";
  event["index"] = open_block_;
  append_event(sse_out, "content_block_stop", event);
  open_block_ = -1;
}

void AnthropicStreamEncoder::open_text(std::string& sse_out) {
  if (open_block_ >= 0 && open_is_text_) return;
  close_block(sse_out);
  open_block_ = next_block_++;
  open_is_text_ = true;
  ordered_json event;
  event["type"] = "content_block_start";
  event["index"] = open_block_;
  event["content_block"] = {{"type", "text"}, {"text", ""}};
  append_event(sse_out, "content_block_start", event);
}

void AnthropicStreamEncoder::open_tool(std::int64_t tool_index, const std::string& id,
                                       const std::string& name, std::string& sse_out) {
  close_block(sse_out);
  open_block_ = next_block_++;
  open_is_text_ = false;
  tool_blocks_[tool_index] = open_block_;
  ordered_json block;
  block["type"] = "tool_use";
  block["id"] = id;
  block["name"] = name;
  block["input"] = ordered_json::object();
  ordered_json event;
  event["type"] = "content_block_start";
  event["index"] = open_block_;
  event["content_block"] = std::move(block);
  append_event(sse_out, "content_block_start", event);
}

void AnthropicStreamEncoder::on_chunk(const json& chunk, std::string& sse_out) {
  if (finished_ || !chunk.is_object()) return;
  start(string_at(chunk, "id"), sse_out);
  const json& choices = chunk.contains("choices") ? chunk["choices"] : json();
  if (!choices.is_array() || choices.empty() || !choices[0].is_object()) return;
  const json& choice = choices[0];
  const json& delta = choice.contains("delta") ? choice["delta"] : json();
  if (delta.is_object()) {
    std::string text = string_at(delta, "content");
    if (!text.empty()) {
      open_text(sse_out);
      ordered_json event;
      event["type"] = "content_block_delta";
      event["index"] = open_block_;
      event["delta"] = {{"type", "text_delta"}, {"text", text}};
      append_event(sse_out, "content_block_delta", event);
    }
    const json& calls = delta.contains("tool_calls") ? delta["tool_calls"] : json();
    for (std::size_t i = 0; calls.is_array() && i < calls.size(); ++i) {
      const json& call = calls[i];
      if (!call.is_object()) continue;
      std::int64_t index = call.contains("index") && call["index"].is_number_integer()
                               ? call["index"].get<std::int64_t>()
                               : static_cast<std::int64_t>(i);
      const json& fn = call.contains("function") ? call["function"] : json();
      std::string id = string_at(call, "id");
      if (!id.empty() || !tool_blocks_.contains(index))
        open_tool(index, id, fn.is_object() ? string_at(fn, "name") : "", sse_out);
      std::string args = fn.is_object() ? string_at(fn, "arguments") : "";
      if (args.empty()) continue;
      // A fragment for an earlier call (never seen from OpenAI) still names its own block.
      ordered_json event;
      event["type"] = "content_block_delta";
      event["index"] = tool_blocks_[index];
      event["delta"] = {{"type", "input_json_delta"}, {"partial_json", args}};
      append_event(sse_out, "content_block_delta", event);
    }
  }
  std::string finish = string_at(choice, "finish_reason");
  if (!finish.empty()) {
    stop_reason_ = anthropic_stop_reason(finish);
    close_block(sse_out);
  }
}

void AnthropicStreamEncoder::finish(const accounting::Usage& usage, std::string& sse_out) {
  if (finished_) return;
  start("", sse_out);
  close_block(sse_out);
  finished_ = true;
  ordered_json event;
  event["type"] = "message_delta";
  event["delta"] = {{"stop_reason", stop_reason_}, {"stop_sequence", nullptr}};
  event["usage"] = anthropic_usage(usage);
  append_event(sse_out, "message_delta", event);
  append_event(sse_out, "message_stop", ordered_json{{"type", "message_stop"}});
}

void AnthropicStreamEncoder::fail(const ApiError& error, std::string& sse_out) {
  if (finished_) return;
  finished_ = true;
  append_sse_event(sse_out, "error", anthropic_error_body(error));
}

}  // namespace switchboard::protocol
