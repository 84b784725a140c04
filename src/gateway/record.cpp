// The "account" stage: metrics, the OTLP span and the trace record, written once from the
// finished RequestContext.
#include <array>
#include <charconv>
#include <cmath>
#include <ctime>
#include <limits>

#include "switchboard/gateway/admit.hpp"
#include "switchboard/gateway/pipeline.hpp"
#include "switchboard/gateway/trace_record.hpp"
#include "switchboard/observability/otlp.hpp"
#include "switchboard/observability/trace_sink.hpp"

namespace switchboard::gateway {

std::unique_ptr<GatewayMetrics> GatewayMetrics::create(observability::MetricsRegistry& r) {
  auto m = std::unique_ptr<GatewayMetrics>(new GatewayMetrics{
      r.counter("switchboard_requests_total", "Requests answered, by outcome.",
                {"tenant", "workflow", "route", "provider", "model", "status"}),
      r.histogram("switchboard_request_duration_seconds", "Time from request to last byte.",
                  {"route", "provider", "model"}, observability::duration_buckets_seconds()),
      r.histogram("switchboard_time_to_first_token_seconds", "Time from request to first output.",
                  {"provider", "model"}, observability::ttft_buckets_seconds()),
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
      r.counter("switchboard_rate_limited_total",
                "Requests refused by a tenant's rate limit or budget.", {"tenant", "reason"}),
      r.counter("switchboard_guardrail_actions_total", "Guardrail matches, by action taken.",
                {"guardrail", "stage", "action"}),
      r.gauge("switchboard_budget_remaining_usd", "What remains of a tenant's budget this period.",
              {"tenant"}),
  });
  m->requests.cap_label("workflow", 100);
  m->tokens.cap_label("workflow", 100);
  m->cost.cap_label("workflow", 100);
  return m;
}

namespace {

// `v` in decimal, in `buf` (16 bytes): metric labels without a std::string.
std::string_view decimal(char (&buf)[16], int v) {
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return {buf, static_cast<std::size_t>(end - buf)};
}

// The series one kind of request updates (same tenant, workflow, route, provider, model and
// status), kept per thread so a repeat request updates them through their handles instead of
// resolving each family's labels. Direct-mapped and small: a miss only costs resolving as before.
struct RequestSeries {
  static constexpr std::size_t kSlots = 32;  // a power of two
  const GatewayMetrics* metrics = nullptr;
  int status = 0;
  std::array<std::string, 5> key;  // tenant, workflow, route, provider, model
  observability::SeriesRef requests, duration, ttft, cost;
  std::array<observability::SeriesRef, 4> tokens;  // input, output, cached_input, cache_write
  std::string attempt_status;  // the label of `attempt`, an attempt under (provider, model)
  observability::SeriesRef attempt;
};

// Picks the slot only; the key is compared exactly.
std::size_t series_slot(int status, const std::array<std::string_view, 5>& key) {
  std::uint64_t h = static_cast<std::uint64_t>(status);
  for (std::string_view v : key) {
    std::uint64_t edge = v.empty() ? 0
                                   : static_cast<unsigned char>(v.front()) << 8 |
                                         static_cast<unsigned char>(v.back()) << 16;
    h = (h ^ (v.size() | edge)) * 0x9E3779B97F4A7C15ull;
  }
  return static_cast<std::size_t>(h >> 59) & (RequestSeries::kSlots - 1);
}

// The slot of this request's series, emptied first when it held another key.
RequestSeries& request_series(const GatewayMetrics& m, int status,
                              const std::array<std::string_view, 5>& key) {
  thread_local std::array<RequestSeries, RequestSeries::kSlots> slots;
  RequestSeries& s = slots[series_slot(status, key)];
  bool same = s.metrics == &m && s.status == status;
  for (std::size_t i = 0; same && i < key.size(); ++i) same = s.key[i] == key[i];
  if (!same) {  // reused in place: the strings keep their buffers
    s.metrics = &m;
    s.status = status;
    for (std::size_t i = 0; i < key.size(); ++i) s.key[i] = key[i];
    s.requests = s.duration = s.ttft = s.cost = s.attempt = {};
    s.tokens = {};
    s.attempt_status.clear();
  }
  return s;
}

void record_metrics(GatewayMetrics& m, const RequestContext& ctx, double duration_ms,
                    double overhead_ms, double billed_failures) {
  RequestSeries& series = request_series(
      m, ctx.status, {ctx.tenant_name, ctx.workflow, ctx.route, ctx.provider, ctx.model});
  char status_buf[16];
  std::string_view status = decimal(status_buf, ctx.status);

  std::array<std::string_view, 6> request_labels{ctx.tenant_name, ctx.workflow, ctx.route,
                                                 ctx.provider,    ctx.model,    status};
  m.requests.add(series.requests, request_labels);
  if (!ctx.provider.empty()) {
    std::array<std::string_view, 3> rpm{ctx.route, ctx.provider, ctx.model};
    m.duration.observe(series.duration, rpm, duration_ms / 1000);
    if (ctx.ttft_ms >= 0) {
      std::array<std::string_view, 2> pm{ctx.provider, ctx.model};
      m.ttft.observe(series.ttft, pm, ctx.ttft_ms / 1000);
    }
    if (ctx.usage.known || ctx.usage.estimated) {
      auto add_tokens = [&](std::size_t i, std::string_view type, std::int64_t n) {
        if (n <= 0) return;
        std::array<std::string_view, 5> l{ctx.tenant_name, ctx.workflow, ctx.provider, ctx.model,
                                          type};
        m.tokens.add(series.tokens[i], l, static_cast<double>(n));
      };
      add_tokens(0, "input", ctx.usage.uncached_input());
      add_tokens(1, "output", ctx.usage.output);
      add_tokens(2, "cached_input", ctx.usage.cached_input);
      add_tokens(3, "cache_write", ctx.usage.cache_write);
      if (ctx.cost_usd - billed_failures > 0) {
        std::array<std::string_view, 4> l{ctx.tenant_name, ctx.workflow, ctx.provider, ctx.model};
        m.cost.add(series.cost, l, ctx.cost_usd - billed_failures);
      }
    }
  }
  for (const auto& a : ctx.attempts) {
    if (a.billed_usd > 0) {  // under the provider and model that billed it
      std::array<std::string_view, 4> l{ctx.tenant_name, ctx.workflow, a.provider, a.model};
      m.cost.add(l, a.billed_usd);
    }
    char attempt_buf[16];
    std::string_view s = a.status ? decimal(attempt_buf, a.status) : std::string_view(a.error);
    std::array<std::string_view, 3> l{a.provider, a.model, s};
    if (a.provider == ctx.provider && a.model == ctx.model) {
      // The handle holds one status label's series: another status resolves and replaces it.
      if (series.attempt_status != s) {
        series.attempt_status = s;
        series.attempt = {};
      }
      m.upstream_attempts.add(series.attempt, l);
    } else {
      m.upstream_attempts.add(l);
    }
  }
  thread_local observability::SeriesRef overhead;
  m.overhead.observe(overhead, {}, overhead_ms / 1000);
}

}  // namespace

double billed_by_failed_attempts(const std::vector<Attempt>& attempts) {
  double total = 0;
  for (const auto& a : attempts) total += a.billed_usd;
  return total;
}

void finish_request(Services& services, RequestContext& ctx) {
  double duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - ctx.start).count();
  double overhead_ms = std::max(0.0, duration_ms - ctx.upstream_ms);
  // Failed attempts the provider billed are charged even when no attempt answered.
  double billed_failures = billed_by_failed_attempts(ctx.attempts);
  if (ctx.cost_usd < billed_failures) ctx.cost_usd = billed_failures;
  settle_request(services, ctx);
  if (!ctx.runtime || ctx.runtime->config().observability.metrics.enabled) {
    record_metrics(*services.metrics, ctx, duration_ms, overhead_ms, billed_failures);
  }

  bool traced = services.traces && services.traces->enabled();
  bool spanned = services.otlp && services.otlp->sampled(ctx.trace_id);
  if (!traced && !spanned) return;
  // The record is packed once (no JSON here, no allocation once warm): in place into the trace
  // sink's per-thread buffer. The sink's writer thread encodes its line and hands it on to the
  // OTLP exporter, which encodes the span on its own thread.
  if (!traced) {
    thread_local std::string packed;
    packed.clear();
    pack_trace_record(packed, ctx, duration_ms, overhead_ms);
    services.otlp->submit(&append_packed_record_span, packed);
    return;
  }
  bool forwarded = spanned && services.traces->forwards_spans();
  std::string& buffer = services.traces->begin_record(&append_packed_trace_record, forwarded);
  std::size_t at = buffer.size();
  pack_trace_record(buffer, ctx, duration_ms, overhead_ms);
  if (spanned && !forwarded) {  // a sink that does not forward: copied here
    services.otlp->submit(&append_packed_record_span, std::string_view(buffer).substr(at));
  }
  services.traces->end_record();
}

}  // namespace switchboard::gateway
