// The gateway's endpoint table: model endpoints through the pipeline, plus health, metrics and
// admin.
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <map>

#include "switchboard/accounting/spend_query.hpp"
#include "switchboard/api/handlers.hpp"
#include "switchboard/gateway/pipeline.hpp"
#include "switchboard/gateway/worker.hpp"
#include "switchboard/routing/router.hpp"

namespace switchboard::api {

namespace net = boost::asio;
using gateway::RequestContext;
using nlohmann::json;
using protocol::ErrorCode;

namespace {

server::HttpHeaders json_headers() {
  return {{"content-type", "application/json"}};
}

class GatewayHandler final : public server::RequestHandler {
 public:
  explicit GatewayHandler(gateway::Services& services) : services_(services) {}

  net::awaitable<void> handle(server::HttpRequest& request, server::ResponseWriter& out) override {
    auto path = request.path();
    // Accept both "/v1/x" and "/x" so a base_url with or without /v1 works.
    std::string_view api = path.starts_with("/v1/") ? path.substr(3) : path;

    if (path == "/healthz") {
      co_await simple(request, out, "GET", 200, R"({"status":"ok"})");
      co_return;
    }
    if (path == "/readyz") {
      co_await readyz(request, out);
      co_return;
    }
    if (path == "/metrics") {
      co_await metrics(request, out);
      co_return;
    }
    if (api == "/chat/completions" || api == "/embeddings" || api == "/models" ||
        api == "/messages") {
      co_await model_endpoint(api, request, out);
      co_return;
    }
    if (path == "/admin/route/explain") {
      co_await admin_explain(request, out);
      co_return;
    }
    if (path == "/admin/providers") {
      co_await admin_providers(request, out);
      co_return;
    }
    if (path == "/admin/spend") {
      co_await admin_spend(request, out);
      co_return;
    }
    if (path == "/admin/reload") {
      co_await admin_reload(request, out);
      co_return;
    }
    co_await local_error(
        out, protocol::make_error(ErrorCode::not_found, "no such endpoint: " + std::string(path)));
  }

 private:
  net::awaitable<void> local_error(server::ResponseWriter& out, const protocol::ApiError& e,
                                   server::HttpHeaders extra = {}) {
    auto headers = json_headers();
    for (auto& h : extra) headers.push_back(std::move(h));
    co_await out.send(e.status, std::move(headers), protocol::openai_error_body(e));
  }

  net::awaitable<bool> method_is(server::HttpRequest& request, server::ResponseWriter& out,
                                 std::string_view method) {
    if (request.method == method) co_return true;
    auto error =
        protocol::make_error(ErrorCode::method_not_allowed,
                             "use " + std::string(method) + " for " + std::string(request.path()));
    server::HttpHeaders allow{{"allow", std::string(method)}};
    co_await local_error(out, error, std::move(allow));
    co_return false;
  }

  net::awaitable<void> simple(server::HttpRequest& request, server::ResponseWriter& out,
                              std::string_view method, int status, std::string body) {
    if (!co_await method_is(request, out, method)) co_return;
    co_await out.send(status, json_headers(), std::move(body));
  }

  net::awaitable<void> readyz(server::HttpRequest& request, server::ResponseWriter& out) {
    bool draining = services_.server_state->draining.load(std::memory_order_relaxed);
    bool ready = services_.ready && services_.ready();
    if (draining) {
      co_await simple(request, out, "GET", 503, R"({"status":"draining"})");
      co_return;
    }
    if (!ready) {
      co_await simple(request, out, "GET", 503, R"({"status":"starting"})");
      co_return;
    }
    // Degraded shared state still serves (with local limits); the body says so.
    json body = {{"status", "ready"}};
    if (services_.ledger != nullptr) {
      json state = {{"backend", services_.ledger->backend()}};
      if (auto why = services_.ledger->degraded_reason(); !why.empty()) state["degraded"] = why;
      body["state"] = std::move(state);
    }
    co_await simple(request, out, "GET", 200, body.dump());
  }

  net::awaitable<void> metrics(server::HttpRequest& request, server::ResponseWriter& out) {
    if (!co_await method_is(request, out, "GET")) co_return;
    if (auto* w = gateway::Worker::current();
        w && w->runtime() && !w->runtime()->config().observability.metrics.enabled) {
      co_await local_error(out, protocol::make_error(ErrorCode::not_found,
                                                     "metrics are off in this gateway's config "
                                                     "(observability.metrics.enabled: false)"));
      co_return;
    }
    // Pools belong to their worker threads: ask each on its own thread.
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> connections;
    for (auto* w : services_.workers) {
      auto stats = co_await net::co_spawn(
          w->context(),
          [w]() -> net::awaitable<std::vector<gateway::PoolStats>> { co_return w->pool_stats(); },
          net::use_awaitable);
      for (const auto& s : stats) {
        connections[s.provider].first += s.active;
        connections[s.provider].second += s.idle;
      }
    }
    for (const auto& [provider, counts] : connections) {
      std::array<std::string_view, 2> active{provider, "active"}, idle{provider, "idle"};
      services_.metrics->upstream_connections.set(active, static_cast<double>(counts.first));
      services_.metrics->upstream_connections.set(idle, static_cast<double>(counts.second));
    }
    if (auto* w = gateway::Worker::current(); w && w->runtime()) {
      auto now = routing::steady_now_ms();
      for (const auto& [name, m] : w->runtime()->config().models) {
        auto* h = w->runtime()->health(name);
        std::array<std::string_view, 2> labels{m.provider, name};
        services_.metrics->circuit_open.set(labels, h && h->is_open(now) ? 1 : 0);
      }
    }
    server::HttpHeaders headers{{"content-type", "text/plain; version=0.0.4; charset=utf-8"}};
    co_await out.send(200, std::move(headers), services_.registry->expose());
  }

  net::awaitable<void> model_endpoint(std::string_view api, server::HttpRequest& request,
                                      server::ResponseWriter& out) {
    auto* worker = gateway::Worker::current();
    if (!worker || !worker->runtime()) {
      co_await local_error(
          out, protocol::make_error(ErrorCode::service_unavailable, "the gateway is starting"));
      co_return;
    }
    bool is_get = api == "/models";
    if (!co_await method_is(request, out, is_get ? "GET" : "POST")) co_return;
    RequestContext ctx;
    ctx.runtime = worker->runtime();
    gateway::begin_request(ctx, request);
    ctx.anthropic_client = api == "/messages";
    if (auto error = gateway::authenticate(ctx, request)) {
      co_await gateway::reply_error(ctx, out, *error);
    } else if (api == "/chat/completions") {
      co_await gateway::serve_chat(services_, ctx, request, out);
    } else if (api == "/messages") {
      co_await gateway::serve_messages(services_, ctx, request, out);
    } else if (api == "/embeddings") {
      co_await gateway::serve_embeddings(services_, ctx, request, out);
    } else {
      co_await list_models(ctx, out);
    }
    gateway::finish_request(services_, ctx);
  }

  net::awaitable<void> list_models(RequestContext& ctx, server::ResponseWriter& out) {
    const auto& cfg = ctx.runtime->config();
    auto allowed = [&](const std::string& name) {
      if (!ctx.tenant || !ctx.tenant->models) return true;
      const auto& m = *ctx.tenant->models;
      return std::find(m.begin(), m.end(), name) != m.end();
    };
    json data = json::array();
    for (const auto& [name, m] : cfg.models) {
      if (allowed(name))
        data.push_back(
            {{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", m.provider}});
    }
    for (const auto& [name, r] : cfg.routes) {
      if (allowed(name))
        data.push_back(
            {{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "switchboard"}});
    }
    ctx.status = 200;
    auto headers = gateway::response_headers(ctx);
    headers.push_back({"content-type", "application/json"});
    json body = {{"object", "list"}, {"data", std::move(data)}};
    co_await out.send(200, std::move(headers), body.dump());
  }

  net::awaitable<bool> admin_allowed(server::HttpRequest& request, server::ResponseWriter& out) {
    auto* worker = gateway::Worker::current();
    // The same reading as a tenant key's (Authorization: Bearer, any case, or x-api-key).
    auto key = gateway::bearer_key(request.header("authorization"), request.header("x-api-key"));
    if (worker && worker->runtime() && worker->runtime()->is_admin_key(key)) co_return true;
    co_await local_error(
        out, protocol::make_error(ErrorCode::admin_key_required,
                                  "this endpoint needs an admin key (auth.admin_keys)"));
    co_return false;
  }

  // Takes a chat (or embeddings) request and returns the routing decision without calling anyone.
  // `x-switchboard-tenant` and `x-switchboard-workflow` say whose request to simulate.
  net::awaitable<void> admin_explain(server::HttpRequest& request, server::ResponseWriter& out) {
    if (!co_await method_is(request, out, "POST")) co_return;
    if (!co_await admin_allowed(request, out)) co_return;
    const auto& runtime = *gateway::Worker::current()->runtime();
    auto body = json::parse(request.body, nullptr, false);
    if (!body.is_object() || !body.contains("model") || !body["model"].is_string()) {
      co_await local_error(out,
                           protocol::make_error(ErrorCode::invalid_request,
                                                "send a chat request body with a string 'model'"));
      co_return;
    }
    routing::RequestTraits traits;
    traits.headers = &request.headers;
    const auto requested = body["model"].get<std::string>();
    traits.requested = requested;
    if (auto tenant = request.header("x-switchboard-tenant"); !tenant.empty()) {
      auto it = runtime.config().tenants.find(std::string(tenant));
      if (it == runtime.config().tenants.end()) {
        co_await local_error(out,
                             protocol::make_error(ErrorCode::invalid_request,
                                                  "unknown tenant '" + std::string(tenant) + "'"));
        co_return;
      }
      traits.tenant = &it->second;
      traits.tenant_name = it->first;
      traits.workflow = it->second.default_workflow;
    }
    if (auto w = request.header("x-switchboard-workflow"); !w.empty()) traits.workflow = w;
    traits.kind =
        body.contains("messages") ? config::ModelKind::chat : config::ModelKind::embedding;
    traits.prompt_tokens = routing::estimate_prompt_tokens(body);
    for (const char* key : {"max_completion_tokens", "max_tokens"}) {
      if (body.contains(key) && body[key].is_number_integer()) traits.max_output_tokens = body[key];
    }
    auto decided = routing::decide(runtime, traits, routing::steady_now_ms());
    if (auto* e = std::get_if<protocol::ApiError>(&decided)) {
      json answer = {{"routable", false},
                     {"status", e->status},
                     {"error", json::parse(protocol::openai_error_body(*e))["error"]}};
      co_await out.send(200, json_headers(), answer.dump());
      co_return;
    }
    auto answer = routing::explain(std::get<routing::Decision>(decided));
    answer["routable"] = true;
    co_await out.send(200, json_headers(), answer.dump());
  }

  net::awaitable<void> admin_providers(server::HttpRequest& request, server::ResponseWriter& out) {
    if (!co_await method_is(request, out, "GET")) co_return;
    if (!co_await admin_allowed(request, out)) co_return;
    const auto& runtime = *gateway::Worker::current()->runtime();
    auto now = routing::steady_now_ms();
    json providers = json::object();
    for (const auto& [name, p] : runtime.providers()) {
      json keys = json::array();
      for (std::size_t i = 0; i < p.key_ids.size(); ++i) {
        const auto& h = *p.key_health[i];
        auto cooling = h.cooldown_until_ms() - now;
        keys.push_back({{"key_id", p.key_ids[i]},
                        {"state", h.disabled()  ? "disabled"
                                  : cooling > 0 ? "cooling_down"
                                                : "active"},
                        {"cooldown_ms", cooling > 0 ? cooling : 0},
                        {"in_flight", h.load()}});
      }
      providers[name] = {
          {"base_url", p.config->base_url}, {"keys", keys}, {"models", json::object()}};
    }
    for (const auto& [name, m] : runtime.config().models) {
      auto* h = runtime.health(name);
      double p50 = h ? h->latency().percentile(0.5) : -1,
             p95 = h ? h->latency().percentile(0.95) : -1;
      providers[m.provider]["models"][name] = {
          {"circuit", h && h->is_open(now) ? "open" : "closed"},
          {"consecutive_failures", h ? h->consecutive_failures() : 0},
          {"p50_ms", p50 < 0 ? json(nullptr) : json(p50)},
          {"p95_ms", p95 < 0 ? json(nullptr) : json(p95)}};
    }
    co_await out.send(200, json_headers(), json{{"providers", providers}}.dump());
  }

  // Spend totals from the ledger (every replica's when the state is shared through Redis).
  net::awaitable<void> admin_spend(server::HttpRequest& request, server::ResponseWriter& out) {
    if (!co_await method_is(request, out, "GET")) co_return;
    if (!co_await admin_allowed(request, out)) co_return;
    auto now = accounting::WallClock::now();
    accounting::SpendQuery query;
    if (auto error = accounting::parse_spend_query(request.query(), now, query)) {
      co_await local_error(out, protocol::make_error(ErrorCode::invalid_request, *error));
      co_return;
    }
    if (services_.ledger == nullptr) {
      co_await local_error(out, protocol::make_error(ErrorCode::service_unavailable,
                                                     "no spend ledger in this process"));
      co_return;
    }
    auto rows = co_await services_.ledger->spend(query.group, query.since, query.tenant);
    static constexpr const char* kGroupNames[] = {"tenant", "workflow", "model", "user",
                                                  "provider"};
    const char* group = kGroupNames[static_cast<int>(query.group)];
    auto tokens = [](const accounting::SpendRow& r) {
      return json{{"input", r.input},
                  {"output", r.output},
                  {"cached_input", r.cached_input},
                  {"cache_write", r.cache_write}};
    };
    accounting::SpendRow total;
    json groups = json::array();
    for (const auto& r : rows) {
      groups.push_back({{group, r.key},
                        {"requests", r.requests},
                        {"cost_usd", r.cost_usd},
                        {"tokens", tokens(r)}});
      total.requests += r.requests;
      total.cost_usd += r.cost_usd;
      total.input += r.input;
      total.output += r.output;
      total.cached_input += r.cached_input;
      total.cache_write += r.cache_write;
    }
    json body = {
        {"group_by", group},
        {"since", accounting::format_utc(query.since)},
        {"until", accounting::format_utc(now)},
        {"backend", services_.ledger->backend()},
        {"groups", std::move(groups)},
        {"total",
         {{"requests", total.requests}, {"cost_usd", total.cost_usd}, {"tokens", tokens(total)}}}};
    if (!query.tenant.empty()) body["tenant"] = query.tenant;
    if (auto why = services_.ledger->degraded_reason(); !why.empty()) body["degraded"] = why;
    co_await out.send(200, json_headers(),
                      body.dump(-1, ' ', false, json::error_handler_t::replace));
  }

  net::awaitable<void> admin_reload(server::HttpRequest& request, server::ResponseWriter& out) {
    if (!co_await method_is(request, out, "POST")) co_return;
    if (!co_await admin_allowed(request, out)) co_return;
    std::vector<std::string> errors;
    bool ok = services_.reload && services_.reload(errors);
    json body = {{"reloaded", ok}, {"errors", errors}};
    co_await out.send(ok ? 200 : 400, json_headers(), body.dump());
  }

  gateway::Services& services_;
};

}  // namespace

std::shared_ptr<server::RequestHandler> make_gateway_handler(gateway::Services& services) {
  return std::make_shared<GatewayHandler>(services);
}

}  // namespace switchboard::api
