// The gateway's metric families against SPEC section 5: names, types, labels, buckets, caps.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "switchboard/config/config.hpp"
#include "switchboard/gateway/pipeline.hpp"
#include "switchboard/gateway/services.hpp"
#include "switchboard/observability/metrics.hpp"

namespace switchboard::gateway {
namespace {

using observability::MetricFamily;
using Labels = std::vector<std::string>;

struct Expected {
  const MetricFamily* family;
  std::string name;
  MetricFamily::Type type;
  Labels labels;
};

TEST(GatewayMetrics, EveryFamilyOfTheSpecWithItsTypeAndLabels) {
  observability::MetricsRegistry registry;
  auto m = GatewayMetrics::create(registry);
  using T = MetricFamily::Type;
  const std::vector<Expected> spec = {
      {&m->requests,
       "switchboard_requests_total",
       T::counter,
       {"tenant", "workflow", "route", "provider", "model", "status"}},
      {&m->duration,
       "switchboard_request_duration_seconds",
       T::histogram,
       {"route", "provider", "model"}},
      {&m->ttft, "switchboard_time_to_first_token_seconds", T::histogram, {"provider", "model"}},
      {&m->overhead, "switchboard_gateway_overhead_seconds", T::histogram, {}},
      {&m->tokens,
       "switchboard_tokens_total",
       T::counter,
       {"tenant", "workflow", "provider", "model", "token_type"}},
      {&m->cost,
       "switchboard_cost_usd_total",
       T::counter,
       {"tenant", "workflow", "provider", "model"}},
      {&m->upstream_attempts,
       "switchboard_upstream_attempts_total",
       T::counter,
       {"provider", "model", "status"}},
      {&m->fallbacks, "switchboard_fallbacks_total", T::counter, {"route", "reason"}},
      {&m->rate_limited, "switchboard_rate_limited_total", T::counter, {"tenant", "reason"}},
      {&m->guardrail_actions,
       "switchboard_guardrail_actions_total",
       T::counter,
       {"guardrail", "stage", "action"}},
      {&m->circuit_open, "switchboard_circuit_open", T::gauge, {"provider", "model"}},
      {&m->upstream_connections,
       "switchboard_upstream_connections",
       T::gauge,
       {"provider", "state"}},
      {&m->budget_remaining, "switchboard_budget_remaining_usd", T::gauge, {"tenant"}},
      {&m->config_reloads, "switchboard_config_reloads_total", T::counter, {"result"}},
  };
  std::string text = registry.expose();
  for (const auto& e : spec) {
    SCOPED_TRACE(e.name);
    EXPECT_EQ(e.family->name(), e.name);
    EXPECT_EQ(e.family->type(), e.type);
    EXPECT_EQ(e.family->label_names(), e.labels);
    EXPECT_FALSE(e.family->help().empty());
    static const char* kTypes[] = {"counter", "gauge", "histogram"};
    EXPECT_NE(text.find("# HELP " + e.name + " "), std::string::npos);
    EXPECT_NE(text.find("# TYPE " + e.name + " " + kTypes[static_cast<int>(e.type)] + "\n"),
              std::string::npos);
  }
}

// Requests run up to the providers' total timeout (10 minutes by default): a request of a few
// minutes must land in a finite bucket, not only in +Inf.
TEST(GatewayMetrics, DurationBucketsReachTheDefaultTotalTimeout) {
  observability::MetricsRegistry registry;
  auto m = GatewayMetrics::create(registry);
  double total = std::chrono::duration<double>(config::ProviderTimeouts{}.total).count();
  ASSERT_FALSE(m->duration.buckets().empty());
  EXPECT_GE(m->duration.buckets().back(), total);
  m->duration.observe({"r", "p", "m"}, 400);  // a long reasoning request
  auto snap = m->duration.snapshot({"r", "p", "m"});
  ASSERT_GE(snap.cumulative.size(), 2u);
  EXPECT_EQ(snap.cumulative[snap.cumulative.size() - 2], 1u) << "400 s only in +Inf";
}

// TTFTs of LLMs sit between ~50 ms and seconds, with a tail to a minute: the buckets must resolve
// that range (p95 by model is the question operators ask) and reach 60 s.
TEST(GatewayMetrics, TtftBucketsResolveFiftyMillisecondsToAMinute) {
  observability::MetricsRegistry registry;
  auto m = GatewayMetrics::create(registry);
  const auto& b = m->ttft.buckets();
  ASSERT_FALSE(b.empty());
  EXPECT_LE(b.front(), 0.05);
  EXPECT_GE(b.back(), 60);
  auto in_range = std::count_if(b.begin(), b.end(), [](double v) { return v >= 0.05 && v <= 2; });
  EXPECT_GE(in_range, 10) << "too coarse where most TTFTs fall";
  // No two neighbouring bounds more than 2.5x apart above 50 ms: quantile error stays bounded.
  for (std::size_t i = 1; i < b.size(); ++i) {
    if (b[i - 1] >= 0.05) EXPECT_LE(b[i] / b[i - 1], 2.5) << b[i - 1] << " -> " << b[i];
  }
}

// Client-chosen workflow names are capped; configured names (tenants, models, routes) are not.
TEST(GatewayMetrics, UnknownWorkflowsBeyondTheCapFoldIntoOther) {
  observability::MetricsRegistry registry;
  auto m = GatewayMetrics::create(registry);
  for (int i = 0; i < 150; ++i) {
    std::string wf = "wf-" + std::to_string(i);
    m->requests.add({"acme", wf, "r", "p", "m", "200"});
    m->tokens.add({"acme", wf, "p", "m", "input"}, 10);
    m->cost.add({"acme", wf, "p", "m"}, 0.5);
  }
  EXPECT_EQ(m->requests.series_count(), 101u);
  EXPECT_EQ(m->tokens.series_count(), 101u);
  EXPECT_EQ(m->cost.series_count(), 101u);
  EXPECT_EQ(m->requests.value({"acme", "other", "r", "p", "m", "200"}), 50);
  EXPECT_EQ(m->tokens.value({"acme", "other", "p", "m", "input"}), 500);
  EXPECT_EQ(m->cost.value({"acme", "other", "p", "m"}), 25);
  EXPECT_EQ(m->requests.value({"acme", "wf-7", "r", "p", "m", "200"}), 1);
}

// finish_request keeps each thread's series of a kind of request: repeats, other statuses,
// other attempts and another registry must all count exactly as resolving every time would.
TEST(GatewayMetrics, FinishRequestCountsRepeatsAndVariantsExactly) {
  auto served = [](int status, std::string_view provider = "p") {
    RequestContext ctx;
    ctx.tenant_name = "acme";
    ctx.workflow = "wf";
    ctx.route = "r";
    ctx.provider = "p";
    ctx.model = "m";
    ctx.status = status;
    ctx.ttft_ms = 20;
    ctx.usage.known = true;
    ctx.usage.input = 10;
    ctx.usage.output = 4;
    ctx.cost_usd = 0.5;
    Attempt a;
    a.provider = provider;  // a view: literals only
    a.model = "m";
    a.status = status;
    ctx.attempts.push_back(a);
    return ctx;
  };
  for (int round = 0; round < 2; ++round) {  // the second registry must start from nothing
    observability::MetricsRegistry registry;
    auto m = GatewayMetrics::create(registry);
    Services services;
    services.metrics = m.get();
    for (int i = 0; i < 3; ++i) {
      auto ok = served(200);
      finish_request(services, ok);
      auto failed = served(502);
      finish_request(services, failed);
    }
    auto other_provider = served(200, "q");  // an attempt under another provider
    finish_request(services, other_provider);
    auto again = served(200);
    finish_request(services, again);
    EXPECT_EQ(m->requests.value({"acme", "wf", "r", "p", "m", "200"}), 5);
    EXPECT_EQ(m->requests.value({"acme", "wf", "r", "p", "m", "502"}), 3);
    EXPECT_EQ(m->upstream_attempts.value({"p", "m", "200"}), 4);
    EXPECT_EQ(m->upstream_attempts.value({"p", "m", "502"}), 3);
    EXPECT_EQ(m->upstream_attempts.value({"q", "m", "200"}), 1);
    EXPECT_EQ(m->tokens.value({"acme", "wf", "p", "m", "input"}), 80);
    EXPECT_EQ(m->tokens.value({"acme", "wf", "p", "m", "output"}), 32);
    EXPECT_EQ(m->tokens.series_count(), 2u) << "no series for token types never counted";
    EXPECT_EQ(m->cost.value({"acme", "wf", "p", "m"}), 4);
    EXPECT_EQ(m->duration.snapshot({"r", "p", "m"}).count, 8u);
    EXPECT_EQ(m->ttft.snapshot({"p", "m"}).count, 8u);
    EXPECT_EQ(m->overhead.snapshot({}).count, 8u);
  }
}

}  // namespace
}  // namespace switchboard::gateway
