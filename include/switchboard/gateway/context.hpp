// The one per-request record every stage fills in; metrics and the trace are written from it at the
// end.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "switchboard/accounting/ledger.hpp"
#include "switchboard/accounting/usage.hpp"
#include "switchboard/gateway/runtime.hpp"

namespace switchboard::gateway {

using Clock = std::chrono::steady_clock;

// provider, model and key_id view the request's runtime snapshot (config names, key ids),
// which RequestContext::runtime keeps alive: no copies per attempt.
struct Attempt {
  std::string_view provider;
  std::string_view model;
  std::string_view key_id;
  int status = 0;     // upstream HTTP status; 0 when none arrived
  std::string error;  // empty on success
  double ms = 0;
  // What the provider likely billed for an attempt that failed after it had accepted the
  // call (HTTP 200): its usage when known, else the prompt at the model's input price.
  double billed_usd = 0;
};

// Sum of the failed attempts' billed_usd: charged to the tenant with the answer's cost.
double billed_by_failed_attempts(const std::vector<Attempt>& attempts);

// One guardrail action on this request, for the trace (never the matched text itself).
struct GuardrailEvent {
  std::string name;    // the guardrail's config name
  std::string stage;   // input | output
  std::string action;  // redact | block | flag
  std::string detail;  // e.g. the entity types found ("email,credit_card"); never the text
};

struct RequestContext {
  RuntimePtr runtime;
  Clock::time_point start = Clock::now();
  std::chrono::system_clock::time_point wall_start = std::chrono::system_clock::now();

  std::string request_id;
  std::string trace_id;  // 32 hex
  std::string span_id;   // 16 hex, this request's span
  std::string parent_span_id;

  // The request path, e.g. "/v1/chat/completions": a view of the HttpRequest the context was
  // begun from, which outlives it (the handler owns both).
  std::string_view endpoint;
  const config::TenantConfig* tenant = nullptr;
  std::string tenant_name = "anonymous";
  std::string workflow = "default";
  std::string user;

  std::string requested_model;
  // Config names, viewed in the runtime snapshot `runtime` keeps alive (as Attempt's are).
  std::string_view route;
  std::string_view provider;
  std::string_view model;  // the configured model name that served
  // The served model's provider id (ModelConfig::model) and its provider's type, for the span.
  std::string_view provider_model;
  const config::ProviderConfig* provider_config = nullptr;
  std::vector<std::string> policies;
  bool stream = false;
  bool anthropic_client = false;  // /v1/messages: errors and bodies in Anthropic's shape

  int status = 0;
  std::string error;  // error code, empty on success
  std::vector<Attempt> attempts;
  accounting::Usage usage;
  double cost_usd = 0;
  double ttft_ms = -1;
  double upstream_ms = 0;  // time waiting on upstreams (excluded from overhead)
  std::vector<GuardrailEvent> guardrails;
  std::int64_t prompt_tokens_estimate = 0;  // from the body, before any provider is called
  accounting::Reservation reservation;      // what admission took from the tenant's limits
};

}  // namespace switchboard::gateway
