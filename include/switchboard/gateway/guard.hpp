// The guard stages of the pipeline: input before routing, output before the response leaves (whole
// bodies and streams). Local guardrails scan in place; remote ones are HTTP calls on the worker.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "switchboard/gateway/context.hpp"
#include "switchboard/gateway/services.hpp"
#include "switchboard/guardrails/holdback.hpp"
#include "switchboard/protocol/errors.hpp"

namespace switchboard::gateway {

// True when the config has any guardrail: without one, the guard stages are not even entered.
inline bool has_guardrails(const RequestContext& ctx) {
  return ctx.runtime && !ctx.runtime->guardrails().empty();
}

// Input stage: scans the text of a chat request (messages, string content and text parts) or an
// embeddings request (`input`), redacting in place. An error (400 content_filter) when blocked.
boost::asio::awaitable<std::optional<protocol::ApiError>> guard_input(Services& services,
                                                                      RequestContext& ctx,
                                                                      nlohmann::json& body,
                                                                      bool embeddings);

// True when any output guardrail applies to this request (cheap; false for most configs).
bool has_output_guardrails(const RequestContext& ctx);

// Output stage on a whole chat completion (OpenAI shape): redacts in place; a blocked choice
// keeps no content and ends with finish_reason "content_filter". True when it changed anything.
boost::asio::awaitable<bool> guard_completion(Services& services, RequestContext& ctx,
                                              nlohmann::json& completion);
// The same on a pass-through body: parsed and re-serialised only when something changed.
boost::asio::awaitable<void> guard_completion_body(Services& services, RequestContext& ctx,
                                                   std::string& body);

// Output stage on a stream of OpenAI chunks. Content deltas pass through a hold-back per choice;
// the rest of each chunk goes out as it came. With a remote output guardrail the whole text is
// held until the end (the classifier needs all of it).
class StreamGuard {
 public:
  StreamGuard(Services& services, RequestContext& ctx,
              std::vector<const guardrails::Guardrail*> guardrails);
  ~StreamGuard();

  // One upstream chunk (JSON text) in; the chunks to send appended to `out`. False when a
  // guardrail blocked: `out` ends with a chunk whose finish_reason is "content_filter".
  bool on_chunk(std::string_view data, std::vector<std::string>& out);
  // The upstream stream is complete: everything held is released (after the remote guardrails
  // saw it). False when blocked, as above.
  boost::asio::awaitable<bool> finish(std::vector<std::string>& out);
  // Writes the guardrail events to the trace context and the metrics (once).
  void close();

 private:
  struct Choice;
  Choice& choice(int index);
  std::string content_chunk(int index, std::string content) const;
  void block(std::vector<std::string>& out);

  Services& services_;
  RequestContext& ctx_;
  std::vector<const guardrails::Guardrail*> guardrails_;
  std::vector<std::unique_ptr<Choice>> choices_;
  std::vector<guardrails::Hit> hits_;
  std::vector<std::string> deferred_;  // chunks after the first finish, while remote ones wait
  bool remote_ = false;
  bool deferring_ = false;
  bool blocked_ = false;
  bool closed_ = false;
  nlohmann::json id_, created_, model_;
};

// A stream guard when output guardrails apply, else null (the relay is then unchanged).
std::unique_ptr<StreamGuard> make_stream_guard(Services& services, RequestContext& ctx);

}  // namespace switchboard::gateway
