// The chat and embeddings endpoints: parse once, validate like OpenAI does, resolve, forward.
#include "switchboard/gateway/chat_scan.hpp"
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

std::optional<protocol::ApiError> check_positive_int(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer() || it->get<std::int64_t>() < 1)
    return invalid(std::string("'") + key + "' must be a positive integer", key);
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
  ChatScan scan;
  if (auto error = scan_chat_request(request.body, scan)) {
    co_await reply_error(ctx, out, *error);
    co_return;
  }
  ctx.requested_model = std::move(scan.model);
  ctx.stream = scan.stream;
  if (ctx.user.empty()) ctx.user = std::move(scan.user);
  ForwardOptions options;
  options.kind = CallKind::chat;
  options.prompt_tokens = scan.prompt_tokens;
  options.max_output_tokens = scan.max_output_tokens;
  options.client_wants_usage = ctx.stream && scan.include_usage;
  // Usage is always requested upstream so cost is known; the client sees it only if it asked.
  // Without stream_options that is one member put in front; anything else goes through the DOM.
  std::string with_usage;
  const std::string* forward = &request.body;
  bool needs_dom = scan.duplicate_keys || has_guardrails(ctx);
  if (ctx.stream && !scan.include_usage) {
    if (scan.stream_options_present) {
      needs_dom = true;
    } else {
      with_usage = insert_include_usage(request.body, scan.members_begin);
      const auto shift = with_usage.size() - request.body.size();
      scan.model_begin += shift;
      scan.model_end += shift;
      forward = &with_usage;
    }
  }
  json body;  // null until a stage needs the DOM; attempt_once parses it for adapters that do
  if (!needs_dom) {
    options.original_body = forward;
    options.model_begin = scan.model_begin;
    options.model_end = scan.model_end;
  } else {
    body = json::parse(request.body, nullptr, false);
    if (!body.is_object()) {
      co_await reply_error(ctx, out, *invalid("the request body is not valid JSON"));
      co_return;
    }
    if (ctx.stream) {
      auto& so = body["stream_options"];
      if (!so.is_object()) so = json::object();
      so["include_usage"] = true;
    }
    // A guardrail may redact the body: it is re-serialised from the DOM (original_body unset).
    if (has_guardrails(ctx) &&
        !co_await guard_input_or_reply(services, ctx, body, /*embeddings=*/false, out))
      co_return;
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
