// Forwarding one resolved call upstream and relaying the answer (whole or streamed) to the client.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "switchboard/gateway/context.hpp"
#include "switchboard/gateway/services.hpp"
#include "switchboard/protocol/errors.hpp"
#include "switchboard/providers/adapter.hpp"
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
enum class ClientFormat { openai, anthropic };

struct ForwardOptions {
  CallKind kind = CallKind::chat;
  ClientFormat client = ClientFormat::openai;
  bool client_wants_usage = false;  // stream_options.include_usage as the client sent it
  providers::ResponseContext response;  // id/model/created to report; filled per attempt when empty
};

// What one attempt did. Either it answered the client (`responded`), or nothing reached
// the client and `error` says why, with `retryable` telling the caller it may try again.
struct AttemptResult {
  bool responded = false;
  bool retryable = false;
  int upstream_status = 0;
  protocol::ApiError error;
  std::optional<std::string> passthrough_body;  // an OpenAI-shaped client error to return as is
};

boost::asio::awaitable<AttemptResult> attempt_once(Services& services, RequestContext& ctx,
                                                   const nlohmann::json& body, const Resolved& target,
                                                   const ForwardOptions& options,
                                                   server::ResponseWriter& out);

boost::asio::awaitable<void> forward(Services& services, RequestContext& ctx,
                                     const nlohmann::json& body, const Resolved& target,
                                     const ForwardOptions& options, server::ResponseWriter& out);

}  // namespace switchboard::gateway
