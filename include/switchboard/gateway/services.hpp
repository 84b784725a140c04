// Process-wide services the request path uses: metrics families, the trace sink, server state,
// workers.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "switchboard/accounting/ledger.hpp"
#include "switchboard/observability/metrics.hpp"
#include "switchboard/observability/trace_sink.hpp"
#include "switchboard/routing/health.hpp"
#include "switchboard/server/listener.hpp"

namespace switchboard::observability {
class OtlpExporter;
}

namespace switchboard::gateway {

class Worker;

// Created once at start-up; the request path holds references, never looks families up by name.
struct GatewayMetrics {
  observability::CounterFamily& requests;    // tenant, workflow, route, provider, model, status
  observability::HistogramFamily& duration;  // route, provider, model
  observability::HistogramFamily& ttft;      // provider, model
  observability::HistogramFamily& overhead;  // (none)
  observability::CounterFamily& tokens;      // tenant, workflow, provider, model, token_type
  observability::CounterFamily& cost;        // tenant, workflow, provider, model
  observability::CounterFamily& upstream_attempts;   // provider, model, status
  observability::CounterFamily& config_reloads;      // result
  observability::GaugeFamily& upstream_connections;  // provider, state
  observability::CounterFamily& fallbacks;           // route, reason
  observability::GaugeFamily& circuit_open;          // provider, model
  observability::CounterFamily& rate_limited;        // tenant, reason (rpm | tpm | budget)
  observability::CounterFamily& guardrail_actions;   // guardrail, stage, action
  observability::GaugeFamily& budget_remaining;      // tenant

  static std::unique_ptr<GatewayMetrics> create(observability::MetricsRegistry& registry);
};

struct Services {
  std::shared_ptr<server::ServerState> server_state;
  observability::MetricsRegistry* registry = nullptr;
  GatewayMetrics* metrics = nullptr;
  observability::TraceSink* traces = nullptr;
  accounting::Ledger* ledger = nullptr;         // tenants' limits, budgets, spend; survives reloads
  observability::OtlpExporter* otlp = nullptr;  // null when OTLP export is off
  std::vector<Worker*> workers;
  // Tells other replicas about a key cool-down or an opened circuit (shared state); may be
  // empty. Never waits.
  std::function<void(const routing::HealthEvent&)> publish_health;
  // Re-reads the config file; false with `errors` filled when it is invalid (nothing changes).
  std::function<bool(std::vector<std::string>& errors)> reload;
  // True once a config is loaded and the listener accepts.
  std::function<bool()> ready;
};

}  // namespace switchboard::gateway
