// The "account" stage: metrics and the trace record, written once from the finished RequestContext.
#include <array>
#include <charconv>
#include <cmath>
#include <ctime>
#include <limits>

#include "switchboard/gateway/admit.hpp"
#include "switchboard/gateway/pipeline.hpp"
#include "switchboard/observability/json_writer.hpp"
#include "switchboard/observability/otlp.hpp"

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

// "2026-11-24T10:00:00.123Z". The date and time of day change once a second: formatted once
// per second and thread, not per record.
void append_rfc3339(std::string& out, std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
  thread_local std::int64_t cached_secs = std::numeric_limits<std::int64_t>::min();
  thread_local std::array<char, 40> cached{};
  thread_local int cached_len = 0;
  if (secs.time_since_epoch().count() != cached_secs) {
    std::time_t tt = std::chrono::system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    cached_len = std::snprintf(cached.data(), cached.size(), "%04d-%02d-%02dT%02d:%02d:%02d",
                               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                               tm.tm_sec);
    cached_secs = secs.time_since_epoch().count();
  }
  out.append(cached.data(), static_cast<std::size_t>(cached_len));
  if (ms >= 0 && ms < 1000) {
    char frac[6] = {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                    static_cast<char>('0' + ms % 10), 'Z'};
    out.append(frac, 5);
  } else {  // before 1970 the cast truncates towards zero: kept as printf wrote it
    char frac[24];
    int n = std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms));
    out.append(frac, static_cast<std::size_t>(n));
  }
}

double round_ms(double ms) {
  return std::round(ms * 1000) / 1000;
}

// gen_ai.provider.name: the semconv's well-known value for a provider type; for an
// openai-compatible server or the mock, the provider's config name.
std::string_view genai_provider_name(config::ProviderType type, std::string_view config_name) {
  switch (type) {
    case config::ProviderType::openai:
      return "openai";
    case config::ProviderType::azure:
      return "azure.ai.openai";
    case config::ProviderType::anthropic:
      return "anthropic";
    case config::ProviderType::gemini:
      return "gcp.gemini";
    case config::ProviderType::bedrock:
      return "aws.bedrock";
    case config::ProviderType::mistral:
      return "mistral_ai";
    case config::ProviderType::openai_compatible:
    case config::ProviderType::mock:
      break;
  }
  return config_name;
}

void export_span(observability::OtlpExporter& otlp, const RequestContext& ctx, double duration_ms) {
  observability::OtlpSpan s;
  s.trace_id = ctx.trace_id;
  s.span_id = ctx.span_id;
  s.parent_span_id = ctx.parent_span_id;
  s.operation = ctx.endpoint == "/v1/embeddings" ? "embeddings" : "chat";
  auto start =
      std::chrono::duration_cast<std::chrono::nanoseconds>(ctx.wall_start.time_since_epoch())
          .count();
  s.start_unix_nano = static_cast<std::int64_t>(start);
  s.end_unix_nano = s.start_unix_nano + static_cast<std::int64_t>(duration_ms * 1e6);
  s.request_model = ctx.requested_model;
  if (ctx.runtime && !ctx.provider.empty()) {
    const auto& cfg = ctx.runtime->config();
    if (auto p = cfg.providers.find(ctx.provider); p != cfg.providers.end()) {
      s.provider_name = genai_provider_name(p->second.type, ctx.provider);
    }
    if (auto m = cfg.models.find(ctx.model); m != cfg.models.end()) {
      s.response_model = m->second.model;
    }
  }
  s.usage_known = ctx.usage.known || ctx.usage.estimated;
  s.input_tokens = ctx.usage.input;
  s.output_tokens = ctx.usage.output;
  s.cached_input_tokens = ctx.usage.cached_input;
  s.cache_write_tokens = ctx.usage.cache_write;
  s.request_id = ctx.request_id;
  s.endpoint = ctx.endpoint;
  s.tenant = ctx.tenant_name;
  s.workflow = ctx.workflow;
  s.user = ctx.user;
  s.route = ctx.route;
  s.provider = ctx.provider;
  s.model = ctx.model;
  s.stream = ctx.stream;
  s.status = ctx.status;
  s.error = ctx.error;
  s.attempts = static_cast<int>(ctx.attempts.size());
  s.cost_usd = ctx.cost_usd;
  s.ttft_ms = ctx.ttft_ms;
  otlp.submit(s);
}

}  // namespace

double billed_by_failed_attempts(const std::vector<Attempt>& attempts) {
  double total = 0;
  for (const auto& a : attempts) total += a.billed_usd;
  return total;
}

namespace {

// The record is mostly fixed text: written as literal fragments around the values (the keys
// and separators exactly as a JsonWriter would put them; tests/unit/gateway/record_test.cpp
// holds it to nlohmann's output byte for byte).
struct RecordWriter {
  std::string& out;

  void lit(std::string_view s) { out.append(s); }
  void str(std::string_view v) {
    out.push_back('"');
    observability::append_json_escaped(out, v);
    out.push_back('"');
  }
  void str_or_null(std::string_view v) {
    if (v.empty()) {
      out.append("null", 4);
    } else {
      str(v);
    }
  }
  void integer(std::int64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
  }
  void number(double v) { observability::JsonWriter(out).number(v); }  // null when not finite
  void boolean(bool v) {
    if (v) {
      out.append("true", 4);
    } else {
      out.append("false", 5);
    }
  }
};

}  // namespace

void append_trace_record(std::string& out, const RequestContext& ctx, double duration_ms,
                         double overhead_ms) {
  RecordWriter w{out};
  w.lit(R"({"trace_id":)");
  w.str(ctx.trace_id);
  w.lit(R"(,"span_id":)");
  w.str(ctx.span_id);
  w.lit(R"(,"parent_span_id":)");
  w.str_or_null(ctx.parent_span_id);
  w.lit(R"(,"time":")");
  append_rfc3339(out, ctx.wall_start);  // digits and punctuation: nothing to escape
  w.lit(R"(","request_id":)");
  w.str(ctx.request_id);
  w.lit(R"(,"tenant":)");
  w.str(ctx.tenant_name);
  w.lit(R"(,"workflow":)");
  w.str(ctx.workflow);
  w.lit(R"(,"user":)");
  w.str_or_null(ctx.user);
  w.lit(R"(,"endpoint":)");
  w.str(ctx.endpoint);
  w.lit(R"(,"requested_model":)");
  w.str_or_null(ctx.requested_model);
  w.lit(R"(,"route":)");
  w.str_or_null(ctx.route);
  w.lit(R"(,"policies":[)");
  for (std::size_t i = 0; i < ctx.policies.size(); ++i) {
    if (i > 0) out.push_back(',');
    w.str(ctx.policies[i]);
  }
  w.lit(R"(],"provider":)");
  w.str_or_null(ctx.provider);
  w.lit(R"(,"model":)");
  w.str_or_null(ctx.model);
  w.lit(R"(,"stream":)");
  w.boolean(ctx.stream);
  w.lit(R"(,"status":)");
  w.integer(ctx.status);
  w.lit(R"(,"error":)");
  w.str_or_null(ctx.error);
  w.lit(R"(,"attempts":[)");
  for (std::size_t i = 0; i < ctx.attempts.size(); ++i) {
    const auto& a = ctx.attempts[i];
    w.lit(i > 0 ? R"(,{"provider":)" : R"({"provider":)");
    w.str(a.provider);
    w.lit(R"(,"model":)");
    w.str(a.model);
    w.lit(R"(,"key_id":)");
    w.str_or_null(a.key_id);
    w.lit(R"(,"status":)");
    w.integer(a.status);
    w.lit(R"(,"error":)");
    w.str_or_null(a.error);
    w.lit(R"(,"ms":)");
    w.number(round_ms(a.ms));
    if (a.billed_usd > 0) {
      w.lit(R"(,"billed_usd":)");
      w.number(a.billed_usd);
    }
    out.push_back('}');
  }
  w.lit(R"(],"ttft_ms":)");
  if (ctx.ttft_ms >= 0) {
    w.number(round_ms(ctx.ttft_ms));
  } else {
    w.lit("null");
  }
  w.lit(R"(,"duration_ms":)");
  w.number(round_ms(duration_ms));
  w.lit(R"(,"overhead_ms":)");
  w.number(round_ms(overhead_ms));
  w.lit(R"(,"usage":{"input":)");
  w.integer(ctx.usage.input);
  w.lit(R"(,"output":)");
  w.integer(ctx.usage.output);
  w.lit(R"(,"cached_input":)");
  w.integer(ctx.usage.cached_input);
  if (ctx.usage.cache_write) {
    w.lit(R"(,"cache_write":)");
    w.integer(ctx.usage.cache_write);
  }
  if (ctx.usage.reasoning) {
    w.lit(R"(,"reasoning":)");
    w.integer(ctx.usage.reasoning);
  }
  if (ctx.usage.estimated) w.lit(R"(,"estimated":true)");
  w.lit(R"(},"cost_usd":)");
  w.number(ctx.cost_usd);
  w.lit(R"(,"guardrails":[)");
  for (std::size_t i = 0; i < ctx.guardrails.size(); ++i) {
    const auto& g = ctx.guardrails[i];
    w.lit(i > 0 ? R"(,{"name":)" : R"({"name":)");
    w.str(g.name);
    w.lit(R"(,"stage":)");
    w.str(g.stage);
    w.lit(R"(,"action":)");
    w.str(g.action);
    if (!g.detail.empty()) {
      w.lit(R"(,"detail":)");
      w.str(g.detail);
    }
    out.push_back('}');
  }
  w.lit("]}");
}

void finish_request(Services& services, RequestContext& ctx) {
  double duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - ctx.start).count();
  double overhead_ms = std::max(0.0, duration_ms - ctx.upstream_ms);
  // Failed attempts the provider billed are charged even when no attempt answered.
  double billed_failures = billed_by_failed_attempts(ctx.attempts);
  if (ctx.cost_usd < billed_failures) ctx.cost_usd = billed_failures;
  settle_request(services, ctx);
  auto& m = *services.metrics;
  char status_buf[16];
  std::string_view status = decimal(status_buf, ctx.status);

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
      if (ctx.cost_usd - billed_failures > 0) {
        std::array<std::string_view, 4> l{ctx.tenant_name, ctx.workflow, ctx.provider, ctx.model};
        m.cost.add(l, ctx.cost_usd - billed_failures);
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
    m.upstream_attempts.add(l);
  }
  m.overhead.observe({}, overhead_ms / 1000);

  if (services.otlp && services.otlp->sampled(ctx.trace_id)) {
    export_span(*services.otlp, ctx, duration_ms);
  }
  if (!services.traces || !services.traces->enabled()) return;
  // Written in place into the sink's per-thread buffer: no copy, no allocation once warm.
  append_trace_record(services.traces->buffer(), ctx, duration_ms, overhead_ms);
  services.traces->commit();
}

}  // namespace switchboard::gateway
