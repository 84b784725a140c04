// One attempt upstream and the relay back: whole bodies pass through as bytes, streams event by
// event.
#include "switchboard/gateway/forward.hpp"

#include <charconv>

#include "switchboard/gateway/pipeline.hpp"
#include "switchboard/gateway/worker.hpp"
#include "switchboard/protocol/sse.hpp"
#include "switchboard/upstream/call.hpp"

namespace switchboard::gateway {

namespace net = boost::asio;
using nlohmann::json;
using protocol::ErrorCode;
using protocol::make_error;
using upstream::CallError;

namespace {

constexpr std::size_t kMaxUpstreamBody = 64ull * 1024 * 1024;
constexpr std::size_t kMaxErrorBody = 1024 * 1024;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string format_cost(double usd) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, usd, std::chars_format::fixed, 8);
  return std::string(buf, end);
}

// The provider's own error message, when the body is OpenAI-shaped.
std::string upstream_message(std::string_view body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    auto e = j.find("error");
    if (e != j.end()) {
      if (e->is_object() && e->contains("message") && (*e)["message"].is_string())
        return (*e)["message"].get<std::string>();
      if (e->is_string()) return e->get<std::string>();
    }
    if (auto m = j.find("message"); m != j.end() && m->is_string()) return m->get<std::string>();
  }
  return std::string(body.substr(0, 200));
}

protocol::ApiError call_failure(const std::string& provider, CallError e) {
  if (e == CallError::timeout) {
    return make_error(ErrorCode::upstream_timeout, "provider '" + provider + "' timed out");
  }
  return make_error(ErrorCode::upstream_error, "provider '" + provider + "' failed: " +
                                                   std::string(upstream::call_error_name(e)));
}

// Maps a non-200 upstream answer to what the client gets. Client errors pass through
// (they are about the request); auth failures are the gateway's credentials, not the
// client's, so they become 502 like every other upstream failure.
protocol::ApiError upstream_status_error(const std::string& provider, int status,
                                         std::string_view body) {
  auto message = upstream_message(body);
  if (status == 400 || status == 404 || status == 409 || status == 413 || status == 422) {
    auto e = make_error(ErrorCode::invalid_request, message);
    e.status = status;
    return e;
  }
  return make_error(ErrorCode::upstream_error, "provider '" + provider + "' answered " +
                                                   std::to_string(status) + ": " + message);
}

bool is_passthrough_client_error(int status) {
  return status == 400 || status == 404 || status == 409 || status == 413 || status == 422;
}

net::awaitable<CallError> read_all(upstream::UpstreamCall& call, std::string& body,
                                   std::size_t limit) {
  while (!call.done()) {
    auto e = co_await call.read(body);
    if (e != CallError::none) co_return e;
    if (body.size() > limit) co_return CallError::protocol;
  }
  co_return CallError::none;
}

// Does this SSE data carry visible output (content or a tool call)?
bool carries_output(std::string_view data) {
  auto c = data.find("\"content\":\"");
  if (c != std::string_view::npos && c + 11 < data.size() && data[c + 11] != '"') return true;
  return data.find("\"tool_calls\"") != std::string_view::npos;
}

bool usage_only_chunk(std::string_view data) {
  auto j = json::parse(data, nullptr, false);
  if (!j.is_object()) return false;
  auto c = j.find("choices");
  return c != j.end() && c->is_array() && c->empty();
}

std::size_t content_chars(std::string_view data) {
  auto c = data.find("\"content\":\"");
  if (c == std::string_view::npos) return 0;
  auto end = data.find('"', c + 11);
  return end == std::string_view::npos ? 0 : end - (c + 11);
}

net::awaitable<void> relay_stream(RequestContext& ctx, upstream::UpstreamCall& call,
                                  const ForwardOptions& options, Attempt& attempt,
                                  server::ResponseWriter& out) {
  auto headers = response_headers(ctx);
  headers.push_back({"content-type", "text/event-stream"});
  headers.push_back({"cache-control", "no-cache"});
  if (!co_await out.start_stream(200, std::move(headers))) {
    call.cancel();
    ctx.status = 499;
    ctx.error = "client_disconnected";
    co_return;
  }
  ctx.status = 200;
  out.on_client_gone([&call] { call.cancel(); });

  protocol::SseReader reader;
  protocol::SseEvent event;
  std::string in, batch;
  in.reserve(16384);
  batch.reserve(16384);
  bool saw_done = false;
  std::size_t streamed_chars = 0;
  CallError failure = CallError::none;
  while (!call.done()) {
    in.clear();
    failure = co_await call.read(in);
    if (failure != CallError::none) break;
    reader.feed(in);
    batch.clear();
    while (reader.next(event)) {
      std::string_view data = event.data;
      if (data == "[DONE]") {
        saw_done = true;
        batch += event.raw;
        continue;
      }
      if (data.find("\"usage\"") != std::string_view::npos) {
        if (auto usage = accounting::find_openai_usage(data)) {
          ctx.usage = *usage;
          if (!options.client_wants_usage && usage_only_chunk(data)) continue;
        }
      }
      if (ctx.ttft_ms < 0 && carries_output(data)) ctx.ttft_ms = ms_since(ctx.start);
      streamed_chars += content_chars(data);
      batch += event.raw;
    }
    if (reader.overflowed()) {
      failure = CallError::protocol;
      break;
    }
    if (!batch.empty() && !co_await out.write(batch)) break;
  }
  out.on_client_gone(nullptr);
  ctx.upstream_ms += call.upstream_ms();
  attempt.ms = ms_since(ctx.start);

  if (out.client_gone()) {
    call.cancel();
    ctx.status = 499;
    ctx.error = "client_disconnected";
  } else if (failure != CallError::none || !saw_done) {
    // The head is out: tell the client in-band, as OpenAI does, then end the stream.
    auto error = make_error(ErrorCode::upstream_error,
                            "the provider's stream ended early: " +
                                std::string(upstream::call_error_name(
                                    failure == CallError::none ? CallError::reset : failure)));
    std::string tail;
    protocol::append_sse_data(tail, protocol::openai_error_body(error));
    co_await out.write(tail);
    ctx.status = 502;
    ctx.error = "stream_interrupted";
    attempt.error = ctx.error;
  }
  co_await out.finish();
  if (!ctx.usage.known) {  // cut short: estimate what was generated (about 4 characters a token)
    ctx.usage.output = static_cast<std::int64_t>((streamed_chars + 3) / 4);
    ctx.usage.estimated = true;
  }
}

}  // namespace

net::awaitable<void> forward(Services& services, RequestContext& ctx, const json& body,
                             const Resolved& target, const ForwardOptions& options,
                             server::ResponseWriter& out) {
  auto* worker = Worker::current();
  const auto& provider_name = target.model->provider;
  const auto& pconf = *target.provider->config;
  ctx.provider = provider_name;
  ctx.model = target.model->name;

  Attempt attempt;
  attempt.provider = provider_name;
  attempt.model = target.model->name;
  int key_index = target.provider->next_key();
  providers::ProviderTarget ptarget{&pconf, target.provider->endpoint.base_path, {}};
  if (key_index >= 0) {
    ptarget.key = pconf.keys[static_cast<std::size_t>(key_index)];
    attempt.key_id = target.provider->key_ids[static_cast<std::size_t>(key_index)];
  }

  upstream::UpstreamRequest request;
  auto build_error = options.kind == CallKind::chat
                         ? target.provider->adapter->build_chat(body, ctx.stream, ptarget, request)
                         : target.provider->adapter->build_embeddings(body, ptarget, request);
  if (build_error) {
    co_await reply_error(ctx, out, *build_error);
    co_return;
  }
  request.headers.push_back({"traceparent", "00-" + ctx.trace_id + "-" + ctx.span_id + "-01"});
  request.headers.push_back({"x-request-id", ctx.request_id});

  auto begin = Clock::now();
  auto call = worker->make_call(provider_name, *target.provider);
  auto started = co_await call->start(std::move(request));
  attempt.status = call->status();
  if (started != CallError::none) {
    attempt.error = std::string(upstream::call_error_name(started));
    attempt.ms = ms_since(begin);
    ctx.attempts.push_back(std::move(attempt));
    ctx.upstream_ms += call->upstream_ms();
    co_await reply_error(ctx, out, call_failure(provider_name, started));
    co_return;
  }

  int status = call->status();
  if (status != 200) {
    std::string error_body;
    auto read = co_await read_all(*call, error_body, kMaxErrorBody);
    attempt.error = "http_" + std::to_string(status);
    attempt.ms = ms_since(begin);
    ctx.attempts.push_back(std::move(attempt));
    ctx.upstream_ms += call->upstream_ms();
    if (read != CallError::none && error_body.empty()) {
      co_await reply_error(ctx, out, call_failure(provider_name, read));
    } else if (is_passthrough_client_error(status) && target.provider->adapter->openai_wire() &&
               json::accept(error_body)) {
      // An OpenAI-shaped client error: the client sees exactly what the provider said.
      ctx.status = status;
      ctx.error = "upstream_" + std::to_string(status);
      auto headers = response_headers(ctx);
      headers.push_back({"content-type", "application/json"});
      co_await out.send(status, std::move(headers), std::move(error_body));
    } else {
      co_await reply_error(ctx, out, upstream_status_error(provider_name, status, error_body));
    }
    co_return;
  }

  if (ctx.stream) {
    ctx.attempts.push_back(attempt);
    co_await relay_stream(ctx, *call, options, ctx.attempts.back(), out);
  } else {
    std::string response_body;
    auto read = co_await read_all(*call, response_body, kMaxUpstreamBody);
    attempt.ms = ms_since(begin);
    ctx.upstream_ms += call->upstream_ms();
    if (read != CallError::none) {
      attempt.error = std::string(upstream::call_error_name(read));
      ctx.attempts.push_back(std::move(attempt));
      co_await reply_error(ctx, out, call_failure(provider_name, read));
      co_return;
    }
    ctx.attempts.push_back(std::move(attempt));
    ctx.ttft_ms = ms_since(ctx.start);
    if (auto usage = accounting::find_openai_usage(response_body)) ctx.usage = *usage;
    ctx.cost_usd = accounting::cost_usd(ctx.usage, target.model->price);
    ctx.status = 200;
    auto headers = response_headers(ctx);
    headers.push_back({"content-type", "application/json"});
    headers.push_back({"x-switchboard-cost-usd", format_cost(ctx.cost_usd)});
    co_await out.send(200, std::move(headers), std::move(response_body));
  }
  if (ctx.stream) ctx.cost_usd = accounting::cost_usd(ctx.usage, target.model->price);
  (void)services;
}

}  // namespace switchboard::gateway
