// The guard stages on whole texts: which guardrails a request gets, the text they see (messages,
// completions), remote classifier calls on the worker's pools, and the trace/metric record of
// every action (never the matched text).
#include <array>

#include "guard_internal.hpp"

#include "switchboard/gateway/worker.hpp"
#include "switchboard/guardrails/remote.hpp"
#include "switchboard/upstream/call.hpp"

namespace switchboard::gateway {

namespace net = boost::asio;
using config::GuardrailStage;
using guardrails::Guardrail;
using guardrails::Hit;
using nlohmann::json;

// Helpers shared with guard_stream.cpp (declared in guard_internal.hpp) and private ones.
namespace guard_detail {

constexpr std::size_t kMaxRemoteBody = 1024 * 1024;

void select(const RequestContext& ctx, GuardrailStage stage, std::vector<const Guardrail*>& out) {
  if (!ctx.runtime) return;
  const auto& set = ctx.runtime->guardrails();
  if (set.empty()) return;
  const auto* route = ctx.runtime->route(ctx.requested_model);
  set.select(stage, ctx.tenant ? &ctx.tenant->guardrails : nullptr,
             route ? &route->guardrails : nullptr, out);
}

bool any_remote(const std::vector<const Guardrail*>& gs) {
  for (const auto* g : gs) {
    if (g->remote()) return true;
  }
  return false;
}

void record(Services& services, RequestContext& ctx, GuardrailStage stage, const Guardrail& g,
            std::string_view action, std::string detail) {
  const std::string_view stage_text = guardrails::stage_name(stage);
  ctx.guardrails.push_back(
      {g.name(), std::string(stage_text), std::string(action), std::move(detail)});
  if (services.metrics) {
    std::array<std::string_view, 3> labels{g.name(), stage_text, action};
    services.metrics->guardrail_actions.add(labels);
  }
}

void record_hits(Services& services, RequestContext& ctx, GuardrailStage stage,
                 const std::vector<Hit>& hits) {
  for (const auto& h : hits) {
    std::string detail;
    h.guardrail->describe(h.kinds, detail);
    record(services, ctx, stage, *h.guardrail, guardrails::action_name(h.guardrail->action()),
           std::move(detail));
  }
}

const Guardrail* blocking_hit(const std::vector<Hit>& hits) {
  for (const auto& h : hits) {
    if (h.guardrail->action() == config::GuardrailAction::block) return h.guardrail;
  }
  return nullptr;
}

protocol::ApiError input_blocked(const Guardrail& g) {
  return protocol::make_error(protocol::ErrorCode::content_filter,
                              "the request was blocked by guardrail '" + g.name() + "'");
}

struct RemoteResult {
  std::string error;  // empty when the classifier answered understandably
  guardrails::RemoteVerdict verdict;
};

net::awaitable<RemoteResult> call_remote(const Guardrail& g, GuardrailStage stage,
                                         const std::vector<std::string>& segments,
                                         const RequestContext& ctx) {
  RemoteResult r;
  auto* worker = Worker::current();
  if (!worker) {
    r.error = "no_event_loop";
    co_return r;
  }
  const auto& conf = g.config();
  const bool moderation = conf.type == config::GuardrailType::openai_moderation;
  upstream::PoolOptions options;
  options.endpoint = g.endpoint();
  options.timeouts.connect = options.timeouts.first_byte = options.timeouts.total = conf.timeout;
  options.max_connections = 64;
  const std::string fingerprint = conf.url + "|" + std::to_string(conf.timeout.count());
  auto call = worker->make_call(Worker::kGuardrailPoolPrefix + g.name(), fingerprint, options);

  upstream::UpstreamRequest request;
  request.target = g.target();
  request.headers.push_back({"content-type", "application/json"});
  if (moderation && !conf.key.empty()) {
    request.headers.push_back({"authorization", "Bearer " + conf.key});
  }
  request.headers.push_back({"x-request-id", ctx.request_id});
  request.body = moderation ? guardrails::moderation_request(conf.model, segments)
                            : guardrails::webhook_request(guardrails::stage_name(stage), segments,
                                                          ctx.requested_model, ctx.tenant_name);
  auto e = co_await call->start(std::move(request));
  std::string body;
  while (e == upstream::CallError::none && !call->done()) {
    e = co_await call->read(body);
    if (body.size() > kMaxRemoteBody) e = upstream::CallError::protocol;
  }
  if (e != upstream::CallError::none) {
    r.error = std::string(upstream::call_error_name(e));
  } else if (call->status() < 200 || call->status() > 299) {
    r.error = "http_" + std::to_string(call->status());
  } else {
    r.verdict = moderation ? guardrails::parse_moderation_response(body)
                           : guardrails::parse_webhook_response(body, segments.size());
    if (!r.verdict.understood) r.error = "malformed_response";
  }
  co_return r;
}

// Acts on a remote verdict: replaces the segments, or records a flag, or says to block.
bool apply_remote(Services& services, RequestContext& ctx, GuardrailStage stage, const Guardrail& g,
                  RemoteResult& r, std::vector<std::string>& segments) {
  using config::GuardrailAction;
  if (!r.error.empty()) {
    if (g.config().block_on_error) {
      record(services, ctx, stage, g, "block", "error: " + r.error);
      return true;
    }
    record(services, ctx, stage, g, "error", "error: " + r.error + " (allowed)");
    return false;
  }
  auto& v = r.verdict;
  if (v.unusable_replacement) {  // fail closed: the classifier meant to change something
    record(services, ctx, stage, g, "block", "replacement does not match the segments");
    return true;
  }
  if (v.flagged) {
    if (g.action() == GuardrailAction::flag) {
      record(services, ctx, stage, g, "flag", v.reason);
      return false;
    }
    if (g.action() == GuardrailAction::block || v.texts.empty()) {
      record(services, ctx, stage, g, "block", v.reason);
      return true;
    }
  }
  bool changed = false;
  for (std::size_t i = 0; i < v.texts.size() && i < segments.size(); ++i) {
    if (segments[i] != v.texts[i]) {
      segments[i] = std::move(v.texts[i]);
      changed = true;
    }
  }
  if (changed) record(services, ctx, stage, g, "redact", v.reason);
  return false;
}

// Runs the remote guardrails of `gs` over the segments in turn; true when one blocked.
net::awaitable<bool> run_remote(Services& services, RequestContext& ctx, GuardrailStage stage,
                                const std::vector<const Guardrail*>& gs,
                                std::vector<std::string>& segments) {
  if (segments.empty()) co_return false;
  for (const auto* g : gs) {
    if (!g->remote()) continue;
    auto r = co_await call_remote(*g, stage, segments, ctx);
    if (apply_remote(services, ctx, stage, *g, r, segments)) co_return true;
  }
  co_return false;
}

void collect_text(json& content, std::vector<std::string*>& out) {
  if (content.is_string()) {
    out.push_back(&content.get_ref<std::string&>());
    return;
  }
  if (!content.is_array()) return;
  for (auto& part : content) {  // content parts: only text parts carry text
    if (!part.is_object() || part.value("type", "") != "text") continue;
    auto t = part.find("text");
    if (t != part.end() && t->is_string()) out.push_back(&t->get_ref<std::string&>());
  }
}

void collect_input(json& body, bool embeddings, std::vector<std::string*>& out) {
  if (embeddings) {
    auto input = body.find("input");
    if (input == body.end()) return;
    if (input->is_string()) {
      out.push_back(&input->get_ref<std::string&>());
    } else if (input->is_array()) {
      for (auto& s : *input) {
        if (s.is_string()) out.push_back(&s.get_ref<std::string&>());
      }
    }
    return;
  }
  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array()) return;
  for (auto& m : *messages) {
    if (auto c = m.find("content"); c != m.end()) collect_text(*c, out);
  }
}

void collect_output(json& message, std::vector<std::string*>& out) {
  if (auto c = message.find("content"); c != message.end()) collect_text(*c, out);
  auto calls = message.find("tool_calls");
  if (calls == message.end() || !calls->is_array()) return;
  for (auto& call : *calls) {
    auto fn = call.find("function");
    if (fn == call.end() || !fn->is_object()) continue;
    auto args = fn->find("arguments");
    if (args != fn->end() && args->is_string()) out.push_back(&args->get_ref<std::string&>());
  }
}

// Local guardrails over the segments, then the remote ones; true when blocked.
net::awaitable<bool> guard_segments(Services& services, RequestContext& ctx, GuardrailStage stage,
                                    const std::vector<const Guardrail*>& gs,
                                    const std::vector<std::string*>& segments,
                                    std::vector<Hit>& hits, bool& changed) {
  std::vector<guardrails::Finding> scratch;
  bool blocked = false;
  const std::size_t hits_before = hits.size();
  for (auto* s : segments) blocked |= guardrails::apply_local(gs, *s, hits, scratch);
  changed |= hits.size() != hits_before;
  if (blocked || !any_remote(gs)) co_return blocked;
  std::vector<std::string> texts;
  texts.reserve(segments.size());
  for (auto* s : segments) texts.push_back(*s);
  const std::size_t events_before = ctx.guardrails.size();
  blocked = co_await run_remote(services, ctx, stage, gs, texts);
  changed |= ctx.guardrails.size() != events_before;
  for (std::size_t i = 0; !blocked && i < segments.size(); ++i) *segments[i] = std::move(texts[i]);
  co_return blocked;
}

}  // namespace guard_detail

using namespace guard_detail;

net::awaitable<std::optional<protocol::ApiError>> guard_input(Services& services,
                                                              RequestContext& ctx, json& body,
                                                              bool embeddings) {
  std::vector<const Guardrail*> gs;
  select(ctx, GuardrailStage::input, gs);
  if (gs.empty()) co_return std::nullopt;
  std::vector<std::string*> segments;
  collect_input(body, embeddings, segments);
  std::vector<Hit> hits;
  bool changed = false;
  const bool blocked =
      co_await guard_segments(services, ctx, GuardrailStage::input, gs, segments, hits, changed);
  // When a remote guardrail blocked, its event is the last one recorded so far.
  std::string remote_blocker = blocked && !ctx.guardrails.empty() ? ctx.guardrails.back().name : "";
  record_hits(services, ctx, GuardrailStage::input, hits);
  if (!blocked) co_return std::nullopt;
  const auto* g = blocking_hit(hits);
  if (!g) g = ctx.runtime->guardrails().find(remote_blocker);
  protocol::ApiError error = g ? input_blocked(*g)
                               : protocol::make_error(protocol::ErrorCode::content_filter,
                                                      "the request was blocked by a guardrail");
  co_return error;
}

bool has_output_guardrails(const RequestContext& ctx) {
  if (!ctx.runtime || ctx.runtime->guardrails().empty()) return false;
  std::vector<const Guardrail*> gs;
  select(ctx, GuardrailStage::output, gs);
  return !gs.empty();
}

net::awaitable<bool> guard_completion(Services& services, RequestContext& ctx, json& completion) {
  std::vector<const Guardrail*> gs;
  select(ctx, GuardrailStage::output, gs);
  auto choices = completion.find("choices");
  if (gs.empty() || choices == completion.end() || !choices->is_array()) co_return false;
  std::vector<Hit> hits;
  bool changed = false;
  for (auto& choice : *choices) {
    auto message = choice.find("message");
    if (message == choice.end() || !message->is_object()) continue;
    std::vector<std::string*> segments;
    collect_output(*message, segments);
    if (co_await guard_segments(services, ctx, GuardrailStage::output, gs, segments, hits,
                                changed)) {
      // Withheld, as Azure OpenAI does: the choice ends with content_filter and no content.
      (*message)["content"] = nullptr;
      message->erase("tool_calls");
      choice["finish_reason"] = "content_filter";
      changed = true;
    }
  }
  record_hits(services, ctx, GuardrailStage::output, hits);
  co_return changed;
}

net::awaitable<void> guard_completion_body(Services& services, RequestContext& ctx,
                                           std::string& body) {
  auto completion = json::parse(body, nullptr, false);
  if (!completion.is_object()) co_return;
  if (co_await guard_completion(services, ctx, completion)) {
    body = completion.dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

}  // namespace switchboard::gateway
