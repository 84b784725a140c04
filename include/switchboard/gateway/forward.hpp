// Forwarding one resolved call upstream and relaying the answer (whole or streamed) to the client.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "switchboard/gateway/context.hpp"
#include "switchboard/gateway/services.hpp"
#include "switchboard/protocol/errors.hpp"
#include "switchboard/server/http.hpp"

namespace switchboard::gateway {

struct Resolved {
  const config::ModelConfig* model = nullptr;
  const ProviderRuntime* provider = nullptr;
};

// Looks up a model or route name for the tenant; sets ctx.route. Errors: 404 unknown,
// 403 not allowed, 400 wrong kind for the endpoint.
std::variant<Resolved, protocol::ApiError> resolve_model(RequestContext& ctx,
                                                         const std::string& name,
                                                         config::ModelKind kind);

enum class CallKind { chat, embeddings };

struct ForwardOptions {
  CallKind kind = CallKind::chat;
  bool client_wants_usage = false;  // stream_options.include_usage as the client sent it
};

boost::asio::awaitable<void> forward(Services& services, RequestContext& ctx,
                                     const nlohmann::json& body, const Resolved& target,
                                     const ForwardOptions& options, server::ResponseWriter& out);

}  // namespace switchboard::gateway
