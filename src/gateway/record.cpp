// The "account" stage: metrics and the trace record, written once from the finished RequestContext.
#include <nlohmann/json.hpp>

#include <array>
#include <ctime>

#include "switchboard/gateway/pipeline.hpp"

namespace switchboard::gateway {

using json = nlohmann::ordered_json;

std::unique_ptr<GatewayMetrics> GatewayMetrics::create(observability::MetricsRegistry& r) {
  auto latency = observability::latency_buckets_seconds();
  auto m = std::unique_ptr<GatewayMetrics>(new GatewayMetrics{
      r.counter("switchboard_requests_total", "Requests answered, by outcome.",
                {"tenant", "workflow", "route", "provider", "model", "status"}),
      r.histogram("switchboard_request_duration_seconds", "Time from request to last byte.",
                  {"route", "provider", "model"}, latency),
      r.histogram("switchboard_time_to_first_token_seconds", "Time from request to first output.",
                  {"provider", "model"}, latency),
      r.histogram("switchboard_gateway_overhead_seconds",
                  "Time spent inside the gateway, upstream waits excluded.", {},
                  observability::overhead_buckets_seconds()),
      r.counter("switchboard_tokens_total", "Tokens billed, by type.",
                {"tenant", "workflow", "provider", "model", "token_type"}),
      r.counter("switchboard_cost_usd_total", "Spend in USD.",
                {"tenant", "workflow", "provider", "model"}),
      r.counter("switchboard_upstream_attempts_total", "Calls made to providers, by status.",
                {"provider", "model", "status"}),
      r.counter("switchboard_config_reloads_total", "Config reloads, by result.", {"result"}),
      r.gauge("switchboard_upstream_connections", "Upstream connections in the pools.",
              {"provider", "state"}),
      r.counter("switchboard_fallbacks_total", "Moves to the next candidate, by route and reason.",
                {"route", "reason"}),
      r.gauge("switchboard_circuit_open", "1 while a model's circuit breaker is open.",
              {"provider", "model"}),
  });
  m->requests.cap_label("workflow", 100);
  m->tokens.cap_label("workflow", 100);
  m->cost.cap_label("workflow", 100);
  return m;
}

namespace {

std::string rfc3339(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

json null_if_empty(const std::string& s) {
  return s.empty() ? json(nullptr) : json(s);
}

}  // namespace

void finish_request(Services& services, RequestContext& ctx) {
  double duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - ctx.start).count();
  double overhead_ms = std::max(0.0, duration_ms - ctx.upstream_ms);
  auto& m = *services.metrics;
  std::string status = std::to_string(ctx.status);

  std::array<std::string_view, 6> request_labels{ctx.tenant_name, ctx.workflow, ctx.route,
                                                 ctx.provider,    ctx.model,    status};
  m.requests.add(request_labels);
  if (!ctx.provider.empty()) {
    std::array<std::string_view, 3> rpm{ctx.route, ctx.provider, ctx.model};
    m.duration.observe(rpm, duration_ms / 1000);
    if (ctx.ttft_ms >= 0) {
      std::array<std::string_view, 2> pm{ctx.provider, ctx.model};
      m.ttft.observe(pm, ctx.ttft_ms / 1000);
    }
    if (ctx.usage.known || ctx.usage.estimated) {
      auto add_tokens = [&](std::string_view type, std::int64_t n) {
        if (n <= 0) return;
        std::array<std::string_view, 5> l{ctx.tenant_name, ctx.workflow, ctx.provider, ctx.model,
                                          type};
        m.tokens.add(l, static_cast<double>(n));
      };
      add_tokens("input", ctx.usage.uncached_input());
      add_tokens("output", ctx.usage.output);
      add_tokens("cached_input", ctx.usage.cached_input);
      add_tokens("cache_write", ctx.usage.cache_write);
      if (ctx.cost_usd > 0) {
        std::array<std::string_view, 4> l{ctx.tenant_name, ctx.workflow, ctx.provider, ctx.model};
        m.cost.add(l, ctx.cost_usd);
      }
    }
  }
  for (const auto& a : ctx.attempts) {
    std::string s = a.status ? std::to_string(a.status) : a.error;
    std::array<std::string_view, 3> l{a.provider, a.model, s};
    m.upstream_attempts.add(l);
  }
  m.overhead.observe({}, overhead_ms / 1000);

  if (!services.traces || !services.traces->enabled()) return;
  json attempts = json::array();
  for (const auto& a : ctx.attempts) {
    attempts.push_back({{"provider", a.provider},
                        {"model", a.model},
                        {"key_id", null_if_empty(a.key_id)},
                        {"status", a.status},
                        {"error", null_if_empty(a.error)},
                        {"ms", std::round(a.ms * 1000) / 1000}});
  }
  json usage = {{"input", ctx.usage.input},
                {"output", ctx.usage.output},
                {"cached_input", ctx.usage.cached_input}};
  if (ctx.usage.cache_write) usage["cache_write"] = ctx.usage.cache_write;
  if (ctx.usage.reasoning) usage["reasoning"] = ctx.usage.reasoning;
  if (ctx.usage.estimated) usage["estimated"] = true;
  json record = {
      {"trace_id", ctx.trace_id},
      {"span_id", ctx.span_id},
      {"parent_span_id", null_if_empty(ctx.parent_span_id)},
      {"time", rfc3339(ctx.wall_start)},
      {"request_id", ctx.request_id},
      {"tenant", ctx.tenant_name},
      {"workflow", ctx.workflow},
      {"user", null_if_empty(ctx.user)},
      {"endpoint", ctx.endpoint},
      {"requested_model", null_if_empty(ctx.requested_model)},
      {"route", null_if_empty(ctx.route)},
      {"policies", ctx.policies},
      {"provider", null_if_empty(ctx.provider)},
      {"model", null_if_empty(ctx.model)},
      {"stream", ctx.stream},
      {"status", ctx.status},
      {"error", null_if_empty(ctx.error)},
      {"attempts", std::move(attempts)},
      {"ttft_ms", ctx.ttft_ms >= 0 ? json(std::round(ctx.ttft_ms * 1000) / 1000) : json(nullptr)},
      {"duration_ms", std::round(duration_ms * 1000) / 1000},
      {"overhead_ms", std::round(overhead_ms * 1000) / 1000},
      {"usage", std::move(usage)},
      {"cost_usd", ctx.cost_usd},
      {"guardrails", json::array()},
  };
  services.traces->write(record.dump(-1, ' ', false, json::error_handler_t::replace));
}

}  // namespace switchboard::gateway
