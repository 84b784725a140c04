// What the whole-text and the stream guard share: guardrail selection, remote calls, recording.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "switchboard/gateway/guard.hpp"

namespace switchboard::gateway::guard_detail {

// The guardrails of this request's tenant and route (and every `apply: all` one) at `stage`.
void select(const RequestContext& ctx, config::GuardrailStage stage,
            std::vector<const guardrails::Guardrail*>& out);
bool any_remote(const std::vector<const guardrails::Guardrail*>& gs);
// One trace event and one metric increment per hit (merged per guardrail).
void record_hits(Services& services, RequestContext& ctx, config::GuardrailStage stage,
                 const std::vector<guardrails::Hit>& hits);
// Runs the remote guardrails of `gs` over the segments in turn, replacing them when a classifier
// says so and recording each action; true when one blocked.
boost::asio::awaitable<bool> run_remote(Services& services, RequestContext& ctx,
                                        config::GuardrailStage stage,
                                        const std::vector<const guardrails::Guardrail*>& gs,
                                        std::vector<std::string>& segments);

}  // namespace switchboard::gateway::guard_detail
