// Route, then try candidates in order: retries with backoff and Retry-After, key rotation and
// cool-downs, circuit breakers, fallbacks that never break a constraint, one answer to the client.
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <optional>
#include <random>

#include "switchboard/gateway/admit.hpp"
#include "switchboard/gateway/forward.hpp"
#include "switchboard/gateway/pipeline.hpp"
#include "switchboard/routing/router.hpp"

namespace switchboard::gateway {

namespace net = boost::asio;
using nlohmann::json;
using protocol::ErrorCode;

namespace {

std::int64_t max_output_tokens(const json& body) {
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    auto it = body.find(key);
    if (it != body.end() && it->is_number_integer()) return it->get<std::int64_t>();
  }
  return 0;
}

// Exponential backoff with full jitter in [base/2, base], capped.
std::chrono::milliseconds backoff_delay(const config::RetryConfig& retry, int try_index) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  double base = static_cast<double>(retry.backoff.count()) * std::pow(2.0, try_index);
  base = std::min(base, static_cast<double>(retry.max_backoff.count()));
  double jittered = std::uniform_real_distribution<double>(base / 2, base)(rng);
  return std::chrono::milliseconds(static_cast<std::int64_t>(jittered));
}

std::string failure_reason(const AttemptResult& r) {
  if (r.upstream_status == 429) return "rate_limited";
  if (r.upstream_status >= 500) return "http_" + std::to_string(r.upstream_status);
  if (r.error.code == ErrorCode::upstream_timeout) return "timeout";
  if (r.upstream_status == 401 || r.upstream_status == 403) return "auth";
  return "error";
}

// Other replicas open the same circuit for what remains of this one's open period.
void publish_open(Services& services, const routing::Candidate& candidate, std::int64_t now) {
  if (!services.publish_health) return;
  routing::HealthEvent event;
  event.kind = routing::HealthEvent::Kind::circuit_open;
  event.model = candidate.model->name;
  event.duration_ms = candidate.health->open_until_ms() - now;
  if (event.duration_ms > 0) services.publish_health(event);
}

}  // namespace

net::awaitable<void> route_and_forward(Services& services, RequestContext& ctx, json& body,
                                       const ForwardOptions& options,
                                       const server::HttpHeaders& headers,
                                       server::ResponseWriter& out) {
  routing::RequestTraits traits;
  traits.tenant = ctx.tenant;
  traits.tenant_name = ctx.tenant_name;
  traits.workflow = ctx.workflow;
  traits.headers = &headers;
  traits.requested = ctx.requested_model;
  traits.kind =
      options.kind == CallKind::chat ? config::ModelKind::chat : config::ModelKind::embedding;
  traits.prompt_tokens =
      options.prompt_tokens >= 0 ? options.prompt_tokens : routing::estimate_prompt_tokens(body);
  ctx.prompt_tokens_estimate = traits.prompt_tokens;
  traits.max_output_tokens =
      options.max_output_tokens >= 0 ? options.max_output_tokens : max_output_tokens(body);
  auto decided = routing::decide(*ctx.runtime, traits, routing::steady_now_ms());
  if (auto* error = std::get_if<protocol::ApiError>(&decided)) {
    co_await reply_error(ctx, out, *error);
    co_return;
  }
  const auto& decision = std::get<routing::Decision>(decided);
  ctx.route = decision.route->name;
  ctx.policies = decision.policies;
  const auto& retry = decision.route->retry;
  if (admission_needed(services, ctx)) {  // most tenants have no limits: no coroutine frame
    bool admitted = co_await admit_request(
        services, ctx, decision.candidates.empty() ? nullptr : decision.candidates.front().model,
        traits.max_output_tokens, out);
    if (!admitted) co_return;
  }

  AttemptResult last;
  bool attempted = false;
  // Made on the first backoff only: a timer costs a service lookup and a cancel on destruction.
  std::optional<net::steady_timer> timer;
  for (std::size_t ci = 0; ci < decision.candidates.size(); ++ci) {
    const auto& candidate = decision.candidates[ci];
    const auto& provider_name = candidate.model->provider;
    if (candidate.health && !candidate.health->admit(routing::steady_now_ms())) continue;
    int tries = std::max(1, retry.attempts);
    for (int t = 0; t < tries; ++t) {
      int key = candidate.provider->pick_key(routing::steady_now_ms());
      if (key == -2) {
        last = AttemptResult{};
        last.retryable = true;
        last.upstream_status = 429;
        last.error =
            protocol::make_error(ErrorCode::upstream_error,
                                 "provider '" + provider_name +
                                     "' has no usable key (cooling down after 429 or disabled)");
        attempted = true;  // a reason to report, unlike a candidate skipped for its open circuit
        break;
      }
      routing::KeyHealth* key_health =
          key >= 0 ? candidate.provider->key_health[static_cast<std::size_t>(key)].get() : nullptr;
      if (key_health) key_health->in_flight().fetch_add(1, std::memory_order_relaxed);
      auto begin = Clock::now();
      // Hedging: on the first try, a second candidate may race this one after `hedge.after`.
      const routing::Candidate* partner = nullptr;
      int partner_key = -1;
      if (t == 0 && decision.route->hedge.after.count() > 0) {
        for (std::size_t ni = ci + 1; ni < decision.candidates.size() && !partner; ++ni) {
          const auto& next = decision.candidates[ni];
          if (next.health && !next.health->admit(routing::steady_now_ms())) continue;
          partner_key = next.provider->pick_key(routing::steady_now_ms());
          if (partner_key != -2) partner = &next;
        }
      }
      AttemptResult result;
      if (partner) {
        result = co_await hedged_attempt(services, ctx, body,
                                         Resolved{candidate.model, candidate.provider, key},
                                         Resolved{partner->model, partner->provider, partner_key},
                                         decision.route->hedge.after, options, out);
      } else {
        result = co_await attempt_once(
            services, ctx, body, Resolved{candidate.model, candidate.provider, key}, options, out);
      }
      if (key_health) key_health->in_flight().fetch_sub(1, std::memory_order_relaxed);
      attempted = true;
      auto now = routing::steady_now_ms();
      if (result.responded) {
        if (result.partner_won) {
          if (partner->health && ctx.status == 200) {
            partner->health->record_success(
                std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
          }
          co_return;
        }
        if (candidate.health) {
          if (ctx.status == 502) {
            // The stream broke after its first byte.
            if (candidate.health->record_failure(now)) publish_open(services, candidate, now);
          } else if (ctx.status != 499) {
            candidate.health->record_success(
                std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
          }
        }
        co_return;
      }
      if (key_health && result.upstream_status == 429) {
        auto cool_ms = result.retry_after_ms > 0 ? result.retry_after_ms : 1000;
        key_health->cool_down(now + cool_ms);
        if (services.publish_health) {
          routing::HealthEvent event;
          event.provider = provider_name;
          event.key_id = candidate.provider->key_ids[static_cast<std::size_t>(key)];
          event.duration_ms = cool_ms;
          services.publish_health(event);
        }
      }
      if (key_health && (result.upstream_status == 401 || result.upstream_status == 403)) {
        key_health->disable();
        spdlog::warn("provider '{}' rejected key {} with {}: taken out of rotation until reload",
                     provider_name, candidate.provider->key_ids[static_cast<std::size_t>(key)],
                     result.upstream_status);
        result.retryable = true;  // another key or candidate may work; the client is not at fault
      }
      if (candidate.health && result.retryable && result.upstream_status != 429 &&
          result.upstream_status != 401 && result.upstream_status != 403) {
        if (candidate.health->record_failure(now)) publish_open(services, candidate, now);
      }
      last = std::move(result);
      if (!last.retryable) {
        if (last.passthrough_body) {
          ctx.status = last.error.status;
          ctx.error = "upstream_" + std::to_string(last.error.status);
          auto response = response_headers(ctx);
          response.push_back({"content-type", "application/json"});
          co_await out.send(last.error.status, std::move(response),
                            std::move(*last.passthrough_body));
        } else {
          co_await reply_error(ctx, out, last.error);
        }
        co_return;
      }
      if (t + 1 >= tries) break;
      auto delay = backoff_delay(retry, t);
      if (last.retry_after_ms > 0) {
        if (last.retry_after_ms > retry.max_backoff.count())
          break;  // not worth waiting: next candidate
        delay = std::chrono::milliseconds(last.retry_after_ms);
      }
      if (candidate.health && !candidate.health->admit(routing::steady_now_ms())) break;
      if (!timer) {
        auto executor = co_await net::this_coro::executor;
        timer.emplace(executor);
      }
      timer->expires_after(delay);
      co_await timer->async_wait(net::as_tuple(net::use_awaitable));
    }
    if (ci + 1 < decision.candidates.size()) {
      std::string reason = failure_reason(last);
      std::array<std::string_view, 2> labels{decision.route->name, reason};
      services.metrics->fallbacks.add(labels);
    }
  }
  if (!attempted) {
    co_await reply_error(ctx, out,
                         protocol::make_error(ErrorCode::no_healthy_upstream,
                                              "every candidate for '" + ctx.requested_model +
                                                  "' has its circuit open"));
    co_return;
  }
  auto error = last.error;
  if (error.code != ErrorCode::upstream_timeout) {
    auto message = std::move(error.message);
    error = protocol::make_error(ErrorCode::upstream_error, std::move(message));
  }
  co_await reply_error(ctx, out, error);
}

}  // namespace switchboard::gateway
