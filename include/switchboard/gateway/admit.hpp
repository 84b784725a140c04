// The admit stage (tenant rate limits and budgets) and the settlement of what was reserved.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>

#include "switchboard/gateway/context.hpp"
#include "switchboard/gateway/services.hpp"
#include "switchboard/server/http.hpp"

namespace switchboard::gateway {

// Takes the request from the tenant's rpm/tpm buckets and reserves its estimated cost from the
// budget (the estimate: the prompt's tokens plus max_tokens at the first candidate's prices); when
// refused, answers 429 (rate_limit_exceeded with Retry-After, or budget_exceeded) and returns
// false. Tenants without limits pass without touching the ledger.
boost::asio::awaitable<bool> admit_request(Services& services, RequestContext& ctx,
                                           const config::ModelConfig* first_model,
                                           std::int64_t max_output_tokens,
                                           server::ResponseWriter& out);

// Whether admit_request has anything to check: false (it would pass at once) for a tenant
// without limits or without a ledger. Lets the caller skip the coroutine's frame.
bool admission_needed(const Services& services, const RequestContext& ctx);

// Settles the reservation with the real usage and records the spend (from finish_request).
void settle_request(Services& services, RequestContext& ctx);

}  // namespace switchboard::gateway
