// The chat and embeddings endpoints: parse once, validate like OpenAI does, resolve, forward.
#include "switchboard/gateway/forward.hpp"
#include "switchboard/gateway/guard.hpp"
#include "switchboard/gateway/pipeline.hpp"
#include "switchboard/protocol/anthropic_messages.hpp"

namespace switchboard::gateway {

namespace net = boost::asio;
using nlohmann::json;
using protocol::ErrorCode;
using protocol::make_error;

namespace {

std::optional<protocol::ApiError> invalid(std::string message, std::string param = "") {
  return make_error(ErrorCode::invalid_request, std::move(message), std::move(param));
}

std::optional<protocol::ApiError> parse_body(const std::string& text, json& out) {
  if (text.empty()) return invalid("the request body is empty; expected a JSON object");
  out = json::parse(text, nullptr, false);
  if (out.is_discarded()) return invalid("the request body is not valid JSON");
  if (!out.is_object()) return invalid("the request body must be a JSON object");
  if (!out.contains("model")) return invalid("missing required parameter: 'model'", "model");
  if (!out["model"].is_string() || out["model"].get_ref<const std::string&>().empty())
    return invalid("'model' must be a non-empty string", "model");
  return std::nullopt;
}

std::optional<protocol::ApiError> check_number(const json& body, const char* key, double lo,
                                               double hi) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return invalid(std::string("'") + key + "' must be a number", key);
  double v = it->get<double>();
  if (v < lo || v > hi) {
    return invalid(
        std::string("'") + key + "' must be between " + json(lo).dump() + " and " + json(hi).dump(),
        key);
  }
  return std::nullopt;
}

std::optional<protocol::ApiError> check_positive_int(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer() || it->get<std::int64_t>() < 1)
    return invalid(std::string("'") + key + "' must be a positive integer", key);
  return std::nullopt;
}

std::optional<protocol::ApiError> validate_chat(const json& body) {
  auto messages = body.find("messages");
  if (messages == body.end()) return invalid("missing required parameter: 'messages'", "messages");
  if (!messages->is_array()) return invalid("'messages' must be an array", "messages");
  if (messages->empty()) return invalid("'messages' must contain at least one message", "messages");
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const auto& m = (*messages)[i];
    std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return invalid(where + " must be an object", where);
    auto role = m.find("role");
    if (role == m.end() || !role->is_string())
      return invalid(where + ".role is required and must be a string", where + ".role");
    const auto& r = role->get_ref<const std::string&>();
    if (r != "system" && r != "developer" && r != "user" && r != "assistant" && r != "tool" &&
        r != "function") {
      return invalid(
          where + ".role '" + r + "' is not one of system, developer, user, assistant, tool",
          where + ".role");
    }
    auto content = m.find("content");
    if (content != m.end() && !content->is_string() && !content->is_array() && !content->is_null())
      return invalid(where + ".content must be a string or an array of content parts",
                     where + ".content");
    if (r == "tool" && (!m.contains("tool_call_id") || !m["tool_call_id"].is_string()))
      return invalid(where + ".tool_call_id is required for tool messages",
                     where + ".tool_call_id");
  }
  if (auto it = body.find("stream"); it != body.end() && !it->is_null() && !it->is_boolean())
    return invalid("'stream' must be a boolean", "stream");
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return invalid("'stream_options' must be an object", "stream_options");
    if (auto iu = it->find("include_usage"); iu != it->end() && !iu->is_boolean())
      return invalid("'stream_options.include_usage' must be a boolean",
                     "stream_options.include_usage");
  }
  for (const char* key : {"max_tokens", "max_completion_tokens", "n"}) {
    if (auto e = check_positive_int(body, key)) return e;
  }
  if (auto e = check_number(body, "temperature", 0, 2)) return e;
  if (auto e = check_number(body, "top_p", 0, 1)) return e;
  if (auto e = check_number(body, "presence_penalty", -2, 2)) return e;
  if (auto e = check_number(body, "frequency_penalty", -2, 2)) return e;
  if (auto it = body.find("tools"); it != body.end() && !it->is_null() && !it->is_array())
    return invalid("'tools' must be an array", "tools");
  if (auto it = body.find("user"); it != body.end() && !it->is_null() && !it->is_string())
    return invalid("'user' must be a string", "user");
  return std::nullopt;
}

// The input guard stage, before routing: a blocked request never reaches a provider.
net::awaitable<bool> guard_input_or_reply(Services& services, RequestContext& ctx, json& body,
                                          bool embeddings, server::ResponseWriter& out) {
  auto blocked = co_await guard_input(services, ctx, body, embeddings);
  if (!blocked) co_return true;
  co_await reply_error(ctx, out, *blocked);
  co_return false;
}

}  // namespace

net::awaitable<void> serve_chat(Services& services, RequestContext& ctx,
                                server::HttpRequest& request, server::ResponseWriter& out) {
  json body;
  auto error = parse_body(request.body, body);
  if (!error) error = validate_chat(body);
  if (error) {
    co_await reply_error(ctx, out, *error);
    co_return;
  }
  ctx.requested_model = body["model"].get<std::string>();
  ctx.stream = body.value("stream", false);
  if (ctx.user.empty()) {
    if (auto u = body.find("user"); u != body.end() && u->is_string())
      ctx.user = u->get<std::string>().substr(0, 256);
  }
  ForwardOptions options;
  options.kind = CallKind::chat;
  options.original_body = &request.body;
  if (ctx.stream) {
    // Usage is always requested upstream so cost is known; the client sees it only if it asked.
    auto& so = body["stream_options"];
    if (!so.is_object()) so = json::object();
    options.client_wants_usage = so.value("include_usage", false);
    if (!options.client_wants_usage) options.original_body = nullptr;  // the body changes
    so["include_usage"] = true;
  }
  if (has_guardrails(ctx)) {
    options.original_body = nullptr;  // a guardrail may redact the body
    if (!co_await guard_input_or_reply(services, ctx, body, /*embeddings=*/false, out)) co_return;
  }
  co_await route_and_forward(services, ctx, body, options, request.headers, out);
}

net::awaitable<void> serve_messages(Services& services, RequestContext& ctx,
                                    server::HttpRequest& request, server::ResponseWriter& out) {
  ctx.anthropic_client = true;
  json anthropic = json::parse(request.body, nullptr, false);
  if (anthropic.is_discarded() || !anthropic.is_object()) {
    co_await reply_error(ctx, out, *invalid("the request body must be a JSON object"));
    co_return;
  }
  json body;
  if (auto error = protocol::anthropic_request_to_openai(anthropic, body)) {
    co_await reply_error(ctx, out, *error);
    co_return;
  }
  ctx.requested_model = body.value("model", "");
  ctx.stream = body.value("stream", false);
  if (ctx.user.empty()) {
    if (auto u = body.find("user"); u != body.end() && u->is_string())
      ctx.user = u->get<std::string>().substr(0, 256);
  }
  ForwardOptions options;
  options.kind = CallKind::chat;
  options.client = ClientFormat::anthropic;
  if (ctx.stream) body["stream_options"] = {{"include_usage", true}};
  if (has_guardrails(ctx)) {
    options.original_body = nullptr;  // a guardrail may redact the body
    if (!co_await guard_input_or_reply(services, ctx, body, /*embeddings=*/false, out)) co_return;
  }
  co_await route_and_forward(services, ctx, body, options, request.headers, out);
}

net::awaitable<void> serve_embeddings(Services& services, RequestContext& ctx,
                                      server::HttpRequest& request, server::ResponseWriter& out) {
  json body;
  auto error = parse_body(request.body, body);
  if (!error) {
    auto input = body.find("input");
    if (input == body.end()) {
      error = invalid("missing required parameter: 'input'", "input");
    } else if (!(input->is_string() || (input->is_array() && !input->empty()))) {
      error = invalid("'input' must be a string or a non-empty array", "input");
    } else if (auto e = check_positive_int(body, "dimensions")) {
      error = e;
    }
  }
  if (error) {
    co_await reply_error(ctx, out, *error);
    co_return;
  }
  ctx.requested_model = body["model"].get<std::string>();
  if (ctx.user.empty()) {
    if (auto u = body.find("user"); u != body.end() && u->is_string())
      ctx.user = u->get<std::string>().substr(0, 256);
  }
  ForwardOptions options;
  options.kind = CallKind::embeddings;
  options.original_body = &request.body;
  if (has_guardrails(ctx)) {
    options.original_body = nullptr;  // a guardrail may redact the body
    if (!co_await guard_input_or_reply(services, ctx, body, /*embeddings=*/true, out)) co_return;
  }
  co_await route_and_forward(services, ctx, body, options, request.headers, out);
}

}  // namespace switchboard::gateway
