// Policy routing (SPEC section 3): candidates from a route, ordered by strategy, filtered by
// constraints. Pure over a Runtime snapshot and the request's traits: no I/O, so it is unit-tested
// and explained as is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "switchboard/gateway/runtime.hpp"
#include "switchboard/protocol/errors.hpp"
#include "switchboard/server/http.hpp"

namespace switchboard::routing {

enum class Optimize { none, cost, latency, quality };

// What the router reads from one request.
// The names are views: of the request's context (or headers, config) for the decision's length.
struct RequestTraits {
  const config::TenantConfig* tenant = nullptr;
  std::string_view tenant_name = "anonymous";
  std::string_view workflow = "default";
  const server::HttpHeaders* headers = nullptr;  // x-switchboard-* constraints, policy matching
  std::string_view requested;                    // model or route name
  config::ModelKind kind = config::ModelKind::chat;
  std::int64_t prompt_tokens = 0;      // estimated from the body
  std::int64_t max_output_tokens = 0;  // max_tokens, or 0 for the default
};

struct Candidate {
  const config::ModelConfig* model = nullptr;
  const gateway::ProviderRuntime* provider = nullptr;
  ModelHealth* health = nullptr;
  bool fallback = false;
  double estimated_cost_usd = 0;
};

struct Rejection {
  std::string model;
  std::string reason;
};

struct Decision {
  const gateway::RouteRuntime* route = nullptr;
  std::vector<std::string> policies;  // names of the policies that matched
  config::Requirements required;      // merged, strictest wins
  config::Strategy strategy = config::Strategy::priority;
  Optimize optimize = Optimize::none;
  std::vector<Candidate> candidates;  // in the order they will be tried
  std::vector<Rejection> removed;
};

// Default output tokens assumed for the cost estimate when the request sets no max_tokens.
constexpr std::int64_t kDefaultOutputTokens = 512;

// Rough prompt size of an OpenAI chat body: about four characters a token, plus framing.
std::int64_t estimate_prompt_tokens(const nlohmann::json& body);

double estimate_cost_usd(const config::ModelConfig& model, std::int64_t prompt_tokens,
                         std::int64_t output_tokens);

// The decision, or the error the client gets: 400 for a malformed x-switchboard-* header,
// 404 unknown model, 403 not allowed, 422 no_route (naming why each candidate went).
std::variant<Decision, protocol::ApiError> decide(const gateway::Runtime& runtime,
                                                  const RequestTraits& traits, std::int64_t now_ms);

// The decision as JSON for POST /admin/route/explain.
nlohmann::json explain(const Decision& decision);

}  // namespace switchboard::routing
