// The request pipeline for the model endpoints: authenticate -> validate -> resolve -> forward ->
// account.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "switchboard/gateway/context.hpp"
#include "switchboard/gateway/services.hpp"
#include "switchboard/protocol/errors.hpp"
#include "switchboard/server/http.hpp"

namespace switchboard::gateway {

// Fills request id, trace ids and the endpoint from the incoming request. ctx.endpoint views
// the request's target: the request must outlive the context (a temporary is refused).
void begin_request(RequestContext& ctx, const server::HttpRequest& request);
void begin_request(RequestContext& ctx, server::HttpRequest&& request) = delete;

// The caller's key: from `Authorization: Bearer KEY` (the scheme in any case), else the
// x-api-key header's value. Tenant and admin keys are read the same way.
std::string_view bearer_key(std::string_view authorization, std::string_view api_key);

// Sets tenant, workflow and user from the key and headers; an error when the key is missing or
// unknown.
std::optional<protocol::ApiError> authenticate(RequestContext& ctx,
                                               const server::HttpRequest& request);

// Headers every gateway response carries (request id, trace id, provider, model, attempts).
server::HttpHeaders response_headers(const RequestContext& ctx);

// The one local-reply path: records the error in the context and writes it in OpenAI's shape.
boost::asio::awaitable<void> reply_error(RequestContext& ctx, server::ResponseWriter& out,
                                         const protocol::ApiError& error,
                                         server::HttpHeaders extra = {});

boost::asio::awaitable<void> serve_chat(Services& services, RequestContext& ctx,
                                        server::HttpRequest& request, server::ResponseWriter& out);
// POST /v1/messages: Anthropic's Messages API in front, routed like any chat call.
boost::asio::awaitable<void> serve_messages(Services& services, RequestContext& ctx,
                                            server::HttpRequest& request,
                                            server::ResponseWriter& out);
boost::asio::awaitable<void> serve_embeddings(Services& services, RequestContext& ctx,
                                              server::HttpRequest& request,
                                              server::ResponseWriter& out);

// Writes the metrics and the trace record of a finished request (the "account" stage).
void finish_request(Services& services, RequestContext& ctx);

// Appends the request's trace record, one JSON object without a newline, to `out`.
void append_trace_record(std::string& out, const RequestContext& ctx, double duration_ms,
                         double overhead_ms);

}  // namespace switchboard::gateway
