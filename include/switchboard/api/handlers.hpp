// The endpoint tables: the gateway's HTTP surface (SPEC section 4) and the mock upstream's.
#pragma once

#include <memory>

#include "switchboard/config/config.hpp"
#include "switchboard/gateway/services.hpp"
#include "switchboard/server/http.hpp"

namespace switchboard::api {

std::shared_ptr<server::RequestHandler> make_gateway_handler(gateway::Services& services);

// `switchboard --mock-upstream`: the mock provider served as an OpenAI-compatible HTTP API.
// Requests may steer it with headers: x-mock-status, x-mock-latency-ms,
// x-mock-tokens-per-second, x-mock-reset-after (close the connection after N stream events),
// x-mock-response. GET /mock/stats reports requests and connections seen.
std::shared_ptr<server::RequestHandler> make_mock_upstream_handler(
    config::MockConfig mock, std::shared_ptr<server::ServerState> state);

}  // namespace switchboard::api
