// One attempt upstream and the relay back: OpenAI bodies pass through as bytes, other providers are
// translated; streams are relayed event by event as they arrive.
#include "switchboard/gateway/forward.hpp"

#include <charconv>
#include <cstring>
#include <random>

#include "switchboard/gateway/chat_scan.hpp"
#include "switchboard/gateway/chunk_facts.hpp"
#include "switchboard/gateway/guard.hpp"
#include "switchboard/gateway/pipeline.hpp"
#include "switchboard/gateway/usd_format.hpp"
#include "switchboard/gateway/worker.hpp"
#include "switchboard/protocol/anthropic_messages.hpp"
#include "switchboard/protocol/base64.hpp"
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

std::string completion_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kAlphabet[] =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  char id[19] = {'c', 'h', 'a', 't', 'c', 'm', 'p', 'l', '-'};  // built whole: one allocation
  auto bits = rng();
  for (int i = 9; i < 19; ++i, bits /= 62) id[i] = kAlphabet[bits % 62];
  return std::string(id, sizeof id);
}

protocol::ApiError call_failure(const std::string& provider, CallError e) {
  if (e == CallError::timeout) {
    return make_error(ErrorCode::upstream_timeout, "provider '" + provider + "' timed out");
  }
  return make_error(ErrorCode::upstream_error, "provider '" + provider + "' failed: " +
                                                   std::string(upstream::call_error_name(e)));
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

// The client's bytes go upstream only when one "model" key can be in them: with duplicates,
// the provider might read another one than the gateway routed on.
// Finds a JSON key such as "\"usage\"" by memchr on its first letter, then a compare: JSON has a
// '"' every few bytes, so string_view::find (memchr on the needle's first character) and memmem
// both cost several instructions a byte here.
std::size_t find_text(std::string_view hay, std::string_view needle, std::size_t from = 0) {
  const std::size_t k = needle.size() > 1 && needle[0] == '"' ? 1 : 0;
  if (needle.empty() || from + needle.size() > hay.size()) return std::string_view::npos;
  const char* base = hay.data();
  const char* p = base + from + k;
  const char* last = base + hay.size() - needle.size() + k;  // where needle[k] may be, at most
  while (p <= last) {
    p = static_cast<const char*>(std::memchr(p, needle[k], static_cast<std::size_t>(last - p) + 1));
    if (!p) break;
    if (std::memcmp(p - k, needle.data(), needle.size()) == 0)
      return static_cast<std::size_t>(p - k - base);
    ++p;
  }
  return std::string_view::npos;
}

bool single_model_key(std::string_view body) {
  auto first = find_text(body, "\"model\"");
  return first != std::string_view::npos &&
         find_text(body, "\"model\"", first + 7) == std::string_view::npos;
}

// The final usage chunk has `"choices": []`; found by a scan, not a parse, on the hot path.
bool usage_only_chunk(std::string_view data) {
  auto skip_ws = [&](std::size_t i) {
    while (i < data.size() &&
           (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
      ++i;
    return i;
  };
  for (auto at = find_text(data, "\"choices\""); at != std::string_view::npos;
       at = find_text(data, "\"choices\"", at + 9)) {
    auto i = skip_ws(at + 9);
    if (i >= data.size() || data[i] != ':') continue;
    i = skip_ws(i + 1);
    if (i >= data.size() || data[i] != '[') return false;
    i = skip_ws(i + 1);
    return i < data.size() && data[i] == ']';
  }
  return false;
}

// Retry-After in seconds (possibly fractional) or an HTTP date is not worth parsing: seconds only.
std::int64_t parse_retry_after(std::string_view v) {
  if (v.empty()) return -1;
  double seconds = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
  if (ec != std::errc{} || seconds < 0) return -1;
  return static_cast<std::int64_t>(seconds * 1000);
}

// A call the provider accepted (200) and then failed: it billed at least the prompt.
double prompt_cost(const RequestContext& ctx, const config::ModelConfig& model) {
  return static_cast<double>(ctx.prompt_tokens_estimate) * model.price.input / 1e6;
}

// A ChunkSink that calls `f(json, output_chars)`.
template <typename F>
class SinkFn final : public providers::ChunkSink {
 public:
  explicit SinkFn(F& f) : f_(f) {}
  void chunk(std::string_view json, std::size_t output_chars) override { f_(json, output_chars); }

 private:
  F& f_;
};

// Everything one attempt needs, fixed before the call.
struct AttemptPlan {
  const Resolved& target;
  const ForwardOptions& options;
  providers::ResponseContext response;
};

// The stream relay. The head goes out before the first upstream byte is read, so from
// here on the attempt owns the response: failures are reported in-band.
net::awaitable<void> relay_stream(RequestContext& ctx, upstream::UpstreamCall& call,
                                  const AttemptPlan& plan, Attempt& attempt,
                                  server::ResponseWriter& out, std::string first_bytes,
                                  StreamGuard* guard) {
  const auto& adapter = *plan.target.provider->adapter;
  auto translator = adapter.openai_wire() ? nullptr : adapter.chat_stream(plan.response);
  // An Anthropic client gets Anthropic's event stream, re-encoded from the OpenAI chunks.
  std::unique_ptr<protocol::AnthropicStreamEncoder> encoder;
  if (plan.options.client == ClientFormat::anthropic) {
    encoder = std::make_unique<protocol::AnthropicStreamEncoder>(ctx.requested_model);
  }
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
  std::string in = std::move(first_bytes), batch;
  in.reserve(16384);
  batch.reserve(16384);
  bool pending = !in.empty();  // bytes read before the head went out
  bool saw_done = false;
  std::size_t streamed_chars = 0;
  CallError failure = CallError::none;
  std::optional<protocol::ApiError> stream_error;
  // Chunks of unknown content are scanned for output; a translator says what its chunks carry.
  auto note_output = [&](const ChunkFacts& facts) {
    if (ctx.ttft_ms < 0 && facts.carries_output) ctx.ttft_ms = ms_since(ctx.start);
    streamed_chars += facts.content_chars;
  };
  auto count_output = [&](std::size_t chars) {
    if (chars == 0) return;
    if (ctx.ttft_ms < 0) ctx.ttft_ms = ms_since(ctx.start);
    streamed_chars += chars;
  };
  // Appends one OpenAI chunk for the client; `raw` is the provider's own framing when it has one.
  // `facts`: scan_chunk(data) when the caller has it already.
  auto send_chunk = [&](std::string_view data, std::string_view raw,
                        const ChunkFacts* facts = nullptr) {
    note_output(facts ? *facts : scan_chunk(data));
    if (encoder) {
      auto chunk = json::parse(data, nullptr, false);
      if (chunk.is_object()) encoder->on_chunk(chunk, batch);
    } else if (!raw.empty()) {
      batch += raw;
    } else {
      protocol::append_sse_data(batch, data);
    }
  };
  // With output guardrails, chunks go through the guard first (see guard.hpp).
  std::vector<std::string> guarded;
  bool blocked = false;
  auto emit = [&](std::string_view data, std::string_view raw, const ChunkFacts* facts = nullptr) {
    if (!guard) return send_chunk(data, raw, facts);
    if (blocked) return;
    guarded.clear();
    blocked = !guard->on_chunk(data, guarded);
    for (const auto& c : guarded) send_chunk(c, {});
  };
  auto release_held = [&]() -> net::awaitable<void> {
    if (!guard || blocked) co_return;
    guarded.clear();
    blocked = !co_await guard->finish(guarded);
    for (const auto& c : guarded) send_chunk(c, {});
  };
  // A translator's chunks arrive as views into its buffer. Unguarded, for an OpenAI client, each
  // is framed here as one data line: a translator writes compact JSON, without raw line breaks.
  auto on_translated = [&](std::string_view data, std::size_t output_chars) {
    if (guard) return emit(data, {});
    count_output(output_chars);
    if (encoder) {
      auto chunk = json::parse(data, nullptr, false);
      if (chunk.is_object()) encoder->on_chunk(chunk, batch);
      return;
    }
    batch.append("data: ", 6).append(data).append("\n\n", 2);
  };
  SinkFn translated(on_translated);
  while (pending || !call.done()) {
    if (!pending) {
      in.clear();
      failure = co_await call.read(in);
      if (failure != CallError::none) break;
    }
    pending = false;
    batch.clear();
    if (translator) {
      stream_error = translator->feed(in, translated);
      if (translator->done() && !saw_done) {
        co_await release_held();
        saw_done = true;
        if (!encoder) batch += protocol::kSseDone;
      }
    } else {
      reader.feed(in);
      while (reader.next(event)) {
        std::string_view data = event.data;
        if (data == "[DONE]") {
          co_await release_held();
          saw_done = true;
          if (!encoder) batch += event.raw;
          continue;
        }
        const ChunkFacts facts = scan_chunk(data);
        if (facts.usage) {
          if (auto usage = accounting::find_openai_usage(data)) {
            ctx.usage = *usage;
            if (!plan.options.client_wants_usage && usage_only_chunk(data)) continue;
          }
        }
        emit(data, event.raw, &facts);  // OpenAI clients get it as the provider framed it
      }
      if (reader.overflowed()) failure = CallError::protocol;
    }
    if (blocked && !saw_done) {  // a guardrail ended the stream: content_filter, then [DONE]
      if (!encoder) batch += protocol::kSseDone;
      saw_done = true;
      call.cancel();
    }
    if (!batch.empty() && !co_await out.write(batch)) break;
    if (blocked) break;
    if (stream_error || failure != CallError::none) break;
  }
  out.on_client_gone(nullptr);
  if (translator) ctx.usage = translator->usage();
  ctx.upstream_ms += call.upstream_ms();
  attempt.ms = ms_since(ctx.start);

  if (out.client_gone()) {
    call.cancel();
    ctx.status = 499;
    ctx.error = "client_disconnected";
  } else if (stream_error || failure != CallError::none || !saw_done) {
    // The head is out: tell the client in-band, as OpenAI does, then end the stream.
    auto error =
        stream_error
            ? *stream_error
            : make_error(ErrorCode::upstream_error,
                         "the provider's stream ended early: " +
                             std::string(upstream::call_error_name(
                                 failure == CallError::none ? CallError::reset : failure)));
    std::string tail;
    if (encoder) {
      encoder->fail(error, tail);
    } else {
      protocol::append_sse_data(tail, protocol::openai_error_body(error));
    }
    co_await out.write(tail);
    ctx.status = 502;
    ctx.error = "stream_interrupted";
    attempt.error = ctx.error;
  }
  if (encoder && !out.client_gone() && ctx.status == 200) {
    std::string tail;
    encoder->finish(ctx.usage, tail);
    co_await out.write(tail);
  }
  co_await out.finish();
  if (!ctx.usage.known) {  // cut short: estimate what was generated (about 4 characters a token)
    ctx.usage.input = ctx.prompt_tokens_estimate;
    ctx.usage.output = static_cast<std::int64_t>((streamed_chars + 3) / 4);
    ctx.usage.estimated = true;
  }
}

}  // namespace

net::awaitable<AttemptResult> attempt_once(Services& services, RequestContext& ctx, json& body,
                                           const Resolved& target, const ForwardOptions& options,
                                           server::ResponseWriter& out) {
  auto* worker = Worker::current();
  const auto& provider_name = target.model->provider;
  const auto& pconf = *target.provider->config;
  const auto& adapter = *target.provider->adapter;
  ctx.provider = provider_name;
  ctx.model = target.model->name;
  ctx.provider_model = target.model->model;
  ctx.provider_config = &pconf;

  Attempt attempt;
  attempt.provider = provider_name;
  attempt.model = target.model->name;
  int key_index = target.key_index;
  providers::ProviderTarget ptarget;
  ptarget.provider = &pconf;
  ptarget.base_path = target.provider->endpoint.base_path;
  ptarget.host = target.provider->endpoint.host;
  ptarget.model_id = target.model->model;
  // The client's bytes go out as they are when the adapter sends a body unchanged; only `model`
  // may be replaced, in place.
  std::string with_model;
  if (options.original_body && adapter.forwards_verbatim()) {
    const bool scanned = options.model_end > 0;
    if (ctx.requested_model == target.model->model &&
        (scanned || single_model_key(*options.original_body))) {
      ptarget.verbatim_body = *options.original_body;
    } else if (scanned) {
      with_model = replace_model(*options.original_body, options.model_begin, options.model_end,
                                 target.model->model);
      ptarget.verbatim_body = with_model;
    }
  }
  // An adapter that builds from the client's text needs no DOM: it gets the forwarded bytes (with
  // any stream_options serve_chat added, which it ignores) and sends target.model_id.
  const bool text_build = ptarget.verbatim_body.empty() && options.kind == CallKind::chat &&
                          body.is_null() && options.original_body &&
                          adapter.builds_chat_from_text();
  if (ptarget.verbatim_body.empty() && !text_build) {
    if (body.is_null() && options.original_body) {  // this adapter needs the DOM: parse it now
      body = json::parse(*options.original_body, nullptr, false);
      if (!body.is_object()) {
        body = nullptr;
        AttemptResult invalid;
        invalid.error =
            make_error(ErrorCode::invalid_request, "the request body is not valid JSON");
        co_return invalid;
      }
    }
    body["model"] = target.model->model;
  }
  if (key_index >= 0) {
    ptarget.key = pconf.keys[static_cast<std::size_t>(key_index)];
    attempt.key_id = target.provider->key_ids[static_cast<std::size_t>(key_index)];
  }

  AttemptResult result;
  upstream::UpstreamRequest request;
  // Translating adapters return floats; the client's base64 (the OpenAI SDK's default) is
  // produced here, so the provider is asked for floats.
  bool base64_embeddings = false;
  if (options.kind == CallKind::embeddings && !adapter.openai_wire()) {
    auto f = body.find("encoding_format");
    base64_embeddings = f != body.end() && *f == "base64";
    if (base64_embeddings) body.erase(f);
  }
  auto build_error =
      text_build ? adapter.build_chat_text(*options.original_body, ctx.stream, ptarget, request)
      : options.kind == CallKind::chat ? adapter.build_chat(body, ctx.stream, ptarget, request)
                                       : adapter.build_embeddings(body, ptarget, request);
  if (base64_embeddings) body["encoding_format"] = "base64";  // as the client sent it
  if (build_error) {  // the request cannot be expressed for this provider: not retryable
    result.error = std::move(*build_error);
    co_return result;
  }
  std::string traceparent;  // 00-<trace id>-<span id>-01, in one allocation
  traceparent.reserve(7 + ctx.trace_id.size() + ctx.span_id.size());
  traceparent.append("00-").append(ctx.trace_id).append("-").append(ctx.span_id).append("-01");
  request.headers.push_back({"traceparent", std::move(traceparent)});
  request.headers.push_back({"x-request-id", ctx.request_id});

  auto begin = Clock::now();
  auto call = worker->make_call(provider_name, *target.provider);
  // A hedged leg is cancelled through the writer when the other leg wins; cleared on return.
  struct CancelHook {
    server::ResponseWriter& out;
    bool armed;
    ~CancelHook() {
      if (armed) out.on_client_gone(nullptr);
    }
  } cancel_hook{out, options.cancel_before_response};
  if (cancel_hook.armed) out.on_client_gone([c = call.get()] { c->cancel(); });
  auto started = co_await call->start(std::move(request));
  attempt.status = call->status();
  if (started != CallError::none) {
    attempt.error = std::string(upstream::call_error_name(started));
    attempt.ms = ms_since(begin);
    // Cancelled while the provider had the whole request (a hedge that lost the race): it was
    // working on it and bills at least the prompt, estimated as for any failed attempt it billed.
    if (started == CallError::cancelled && call->request_sent()) {
      attempt.billed_usd = prompt_cost(ctx, *target.model);
    }
    ctx.attempts.push_back(std::move(attempt));
    ctx.upstream_ms += call->upstream_ms();
    result.error = call_failure(provider_name, started);
    result.retryable = started != CallError::cancelled;
    co_return result;
  }

  int status = call->status();
  if (status < 200 || status > 299) {
    std::string error_body;
    auto read = co_await read_all(*call, error_body, kMaxErrorBody);
    attempt.error = "http_" + std::to_string(status);
    attempt.ms = ms_since(begin);
    ctx.attempts.push_back(std::move(attempt));
    ctx.upstream_ms += call->upstream_ms();
    if (read != CallError::none && error_body.empty()) {
      result.error = call_failure(provider_name, read);
      result.retryable = true;
      co_return result;
    }
    result.error = adapter.translate_error(status, error_body, result.retryable);
    result.upstream_status = status;
    result.retry_after_ms = parse_retry_after(call->header("retry-after"));
    if (result.error.code == ErrorCode::upstream_error) {
      result.error.message = "provider '" + provider_name + "' " + result.error.message;
    }
    // An OpenAI-shaped client error reaches the client exactly as the provider said it.
    if (adapter.openai_wire() && options.client == ClientFormat::openai && !result.retryable &&
        status >= 400 && status < 500 && status != 401 && status != 403 &&
        json::accept(error_body)) {
      result.passthrough_body = std::move(error_body);
    }
    co_return result;
  }

  AttemptPlan plan{target, options, {}};
  // What a translated answer says about itself; an OpenAI-wire answer is relayed as the
  // provider wrote it, so it needs none of it.
  if (!adapter.openai_wire()) {
    plan.response = options.response;
    if (plan.response.id.empty()) plan.response.id = completion_id();
    if (plan.response.model.empty()) plan.response.model = target.model->model;
    if (plan.response.created == 0) {
      plan.response.created = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
    }
    plan.response.include_usage = options.client_wants_usage;
  }

  result.responded = true;
  if (ctx.stream) {
    // Nothing reaches the client before the provider's first bytes: until then a failed
    // stream is an ordinary retryable failure and fails over transparently.
    std::string first;
    while (first.empty() && !call->done()) {
      auto read = co_await call->read(first);
      if (read != CallError::none) {
        attempt.error = std::string(upstream::call_error_name(read));
        attempt.ms = ms_since(begin);
        attempt.billed_usd = prompt_cost(ctx, *target.model);
        ctx.attempts.push_back(std::move(attempt));
        ctx.upstream_ms += call->upstream_ms();
        result.responded = false;
        result.retryable = read != CallError::cancelled;
        result.error = call_failure(provider_name, read);
        co_return result;
      }
    }
    ctx.attempts.push_back(attempt);
    auto guard = make_stream_guard(services, ctx);
    co_await relay_stream(ctx, *call, plan, ctx.attempts.back(), out, std::move(first),
                          guard.get());
    if (guard) guard->close();
    ctx.cost_usd = accounting::cost_usd(ctx.usage, target.model->price) +
                   billed_by_failed_attempts(ctx.attempts);
    co_return result;
  }

  std::string response_body;
  auto read = co_await read_all(*call, response_body, kMaxUpstreamBody);
  attempt.ms = ms_since(begin);
  ctx.upstream_ms += call->upstream_ms();
  if (read != CallError::none) {
    attempt.error = std::string(upstream::call_error_name(read));
    attempt.billed_usd = prompt_cost(ctx, *target.model);
    ctx.attempts.push_back(std::move(attempt));
    result.responded = false;
    result.retryable = true;
    result.error = call_failure(provider_name, read);
    co_return result;
  }
  if (!adapter.openai_wire()) {
    // An OpenAI client's chat answer with no output guardrails is only sent on: the adapter
    // writes its text directly, with no DOM in between.
    const bool text_only = options.kind == CallKind::chat &&
                           options.client == ClientFormat::openai && !has_output_guardrails(ctx);
    json translated;
    std::string text;
    accounting::Usage usage;
    auto error =
        text_only ? adapter.translate_chat_text(response_body, plan.response, text, usage)
        : options.kind == CallKind::chat
            ? adapter.translate_chat(response_body, plan.response, translated, usage)
            : adapter.translate_embeddings(response_body, plan.response, translated, usage);
    if (error) {
      attempt.error = "translation_failed";
      attempt.billed_usd = prompt_cost(ctx, *target.model);
      ctx.attempts.push_back(std::move(attempt));
      result.responded = false;
      result.error = std::move(*error);
      co_return result;
    }
    ctx.usage = usage;
    if (options.kind == CallKind::chat && has_output_guardrails(ctx)) {
      co_await guard_completion(services, ctx, translated);
    }
    if (base64_embeddings && translated.contains("data") && translated["data"].is_array()) {
      for (auto& item : translated["data"]) {
        if (item.contains("embedding") && item["embedding"].is_array()) {
          item["embedding"] =
              protocol::base64_float32(item["embedding"].get<std::vector<double>>());
        }
      }
    }
    if (options.client == ClientFormat::anthropic) {
      translated =
          protocol::openai_response_to_anthropic(translated, ctx.requested_model, &ctx.usage);
    }
    response_body = text_only ? std::move(text)
                              : translated.dump(-1, ' ', false, json::error_handler_t::replace);
  } else {
    if (auto usage = accounting::find_openai_usage(response_body)) ctx.usage = *usage;
    if (options.kind == CallKind::chat && has_output_guardrails(ctx)) {
      co_await guard_completion_body(services, ctx, response_body);
    }
    if (options.client == ClientFormat::anthropic) {
      auto completion = json::parse(response_body, nullptr, false);
      if (!completion.is_object()) {
        attempt.error = "malformed_body";
        attempt.billed_usd = ctx.usage.known ? accounting::cost_usd(ctx.usage, target.model->price)
                                             : prompt_cost(ctx, *target.model);
        ctx.usage = {};
        ctx.attempts.push_back(std::move(attempt));
        result.responded = false;
        result.retryable = true;
        result.error = make_error(ErrorCode::upstream_error,
                                  "provider '" + provider_name + "' sent a malformed body");
        co_return result;
      }
      response_body =
          protocol::openai_response_to_anthropic(completion, ctx.requested_model, &ctx.usage)
              .dump(-1, ' ', false, json::error_handler_t::replace);
    }
  }
  ctx.attempts.push_back(std::move(attempt));
  ctx.ttft_ms = ms_since(ctx.start);
  ctx.cost_usd = accounting::cost_usd(ctx.usage, target.model->price) +
                 billed_by_failed_attempts(ctx.attempts);
  ctx.status = 200;
  auto headers = response_headers(ctx);
  headers.push_back({"content-type", "application/json"});
  headers.push_back({"x-switchboard-cost-usd", format_usd_fixed8(ctx.cost_usd)});
  co_await out.send(200, std::move(headers), std::move(response_body));
  co_return result;
}

}  // namespace switchboard::gateway
