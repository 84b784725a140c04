// Forwarding one resolved call upstream and relaying the answer (whole or streamed) to the client.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

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
  int key_index = -1;  // into provider->config->keys; -1 when the provider has none
};

enum class CallKind { chat, embeddings };
enum class ClientFormat { openai, anthropic };

struct ForwardOptions {
  CallKind kind = CallKind::chat;
  ClientFormat client = ClientFormat::openai;
  bool client_wants_usage = false;      // stream_options.include_usage as the client sent it
  providers::ResponseContext response;  // id/model/created to report; filled per attempt when empty
  // A hedged leg: the upstream call is cancelled through out.on_client_gone() from the start, so
  // the leg that loses the race stops at once (otherwise only an open stream is watched).
  bool cancel_before_response = false;
  // The client's body as received, when the gateway changed nothing in it but `model`
  // (set only by serve_chat/serve_embeddings, and cleared by any stage that edits the body,
  // e.g. an input guardrail's redaction). Forwarded as is to OpenAI-wire providers whose model
  // id is the name the client sent: no re-serialisation on the hot path.
  const std::string* original_body = nullptr;
  // With original_body from serve_chat's scan: the bytes of its `model` value (quotes included),
  // so a provider whose model id differs gets the client's bytes with only that replaced, and
  // the DOM `body` may be null (not parsed): attempt_once parses it only for an adapter that
  // needs one. model_end 0 = unknown (the DOM is there).
  std::size_t model_begin = 0;
  std::size_t model_end = 0;
  // The scan's figures; -1 = route_and_forward reads them from the DOM.
  std::int64_t prompt_tokens = -1;
  std::int64_t max_output_tokens = -1;
};

// What one attempt did. Either it answered the client (`responded`), or nothing reached
// the client and `error` says why, with `retryable` telling the caller it may try again.
struct AttemptResult {
  bool responded = false;
  bool retryable = false;
  int upstream_status = 0;
  protocol::ApiError error;
  std::optional<std::string> passthrough_body;  // an OpenAI-shaped client error to return as is
  std::int64_t retry_after_ms = -1;             // the upstream's Retry-After, when it sent one
  bool partner_won = false;  // hedged: the second candidate answered; the first was cancelled
};

// One call to one candidate with one key. Sets body["model"] to the candidate's provider id.
boost::asio::awaitable<AttemptResult> attempt_once(Services& services, RequestContext& ctx,
                                                   nlohmann::json& body, const Resolved& target,
                                                   const ForwardOptions& options,
                                                   server::ResponseWriter& out);

// Runs `first` and, when it has not answered within `after`, `second` as well; the first to
// answer the client wins and the other is cancelled (its connection is not reused). Both legs'
// attempts are recorded; when neither answers, the last failure is returned as from one attempt.
boost::asio::awaitable<AttemptResult> hedged_attempt(Services& services, RequestContext& ctx,
                                                     nlohmann::json& body, const Resolved& first,
                                                     const Resolved& second,
                                                     std::chrono::milliseconds after,
                                                     const ForwardOptions& options,
                                                     server::ResponseWriter& out);

// Routes the request (policies, constraints, strategy), then tries the candidates in order with
// retry, backoff, key rotation and circuit breaking, and answers the client exactly once.
boost::asio::awaitable<void> route_and_forward(Services& services, RequestContext& ctx,
                                               nlohmann::json& body, const ForwardOptions& options,
                                               const server::HttpHeaders& headers,
                                               server::ResponseWriter& out);

}  // namespace switchboard::gateway
