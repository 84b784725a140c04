// Candidate list construction: route targets by strategy, fallbacks, policy and header constraints.
#include "switchboard/routing/router.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <random>
#include <sstream>

namespace switchboard::routing {

using protocol::ErrorCode;
using protocol::make_error;

namespace {

std::string_view header(const RequestTraits& t, std::string_view name) {
  return t.headers ? server::find_header(*t.headers, name) : std::string_view{};
}

std::vector<std::string> split_labels(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

bool contains(const std::vector<std::string>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

bool policy_matches(const config::PolicyConfig& p, const RequestTraits& t) {
  const auto& w = p.when;
  if (!w.tenants.empty() && !contains(w.tenants, t.tenant_name)) return false;
  if (!w.workflows.empty() && !contains(w.workflows, t.workflow)) return false;
  if (!w.models.empty() && !contains(w.models, t.requested)) return false;
  for (const auto& [name, values] : w.headers) {
    auto v = header(t, name);
    if (v.empty() || !contains(values, v)) return false;
  }
  return true;
}

void add_privacy(config::Requirements& r, const std::vector<std::string>& labels) {
  for (const auto& l : labels) {
    if (!contains(r.privacy, l)) r.privacy.push_back(l);
  }
}

void tighten(config::Requirements& r, const config::Requirements& more) {
  add_privacy(r, more.privacy);
  if (more.max_cost_usd && (!r.max_cost_usd || *more.max_cost_usd < *r.max_cost_usd))
    r.max_cost_usd = more.max_cost_usd;
  if (more.min_quality && (!r.min_quality || *more.min_quality > *r.min_quality))
    r.min_quality = more.min_quality;
  if (more.latency_target && (!r.latency_target || *more.latency_target < *r.latency_target))
    r.latency_target = more.latency_target;
}

template <class T>
bool parse_number(std::string_view text, T& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && p == text.data() + text.size();
}

// Whether the request has any x-switchboard-* header: most have none, and one pass over the
// headers is cheaper than looking each constraint header up.
bool has_switchboard_headers(const RequestTraits& t) {
  constexpr std::string_view kPrefix = "x-switchboard-";
  if (!t.headers) return false;
  return std::any_of(t.headers->begin(), t.headers->end(), [&](const server::HttpHeader& h) {
    return std::string_view(h.name).starts_with(kPrefix);
  });
}

// Header constraints: a malformed value is the client's error, never silently ignored.
std::optional<protocol::ApiError> header_requirements(
    const RequestTraits& t, config::Requirements& r, Optimize& optimize,
    const std::vector<std::string>& privacy_classes) {
  if (!has_switchboard_headers(t)) return std::nullopt;
  // x-switchboard-privacy carries labels to require, or a class (e.g. "confidential") that a
  // policy turns into labels; a value some matching policy consumed is not required as a label.
  if (auto v = header(t, "x-switchboard-privacy"); !v.empty()) {
    for (auto& label : split_labels(v)) {
      if (!contains(privacy_classes, label)) add_privacy(r, {label});
    }
  }
  if (auto v = header(t, "x-switchboard-max-cost-usd"); !v.empty()) {
    double usd = 0;
    if (!parse_number(v, usd) || !(usd > 0))
      return make_error(ErrorCode::invalid_request,
                        "x-switchboard-max-cost-usd must be a positive number");
    tighten(r, config::Requirements{.max_cost_usd = usd});
  }
  if (auto v = header(t, "x-switchboard-latency-target-ms"); !v.empty()) {
    long ms = 0;
    if (!parse_number(v, ms) || ms <= 0)
      return make_error(ErrorCode::invalid_request,
                        "x-switchboard-latency-target-ms must be a positive integer");
    tighten(r, config::Requirements{.latency_target = config::Duration(ms)});
  }
  if (auto v = header(t, "x-switchboard-min-quality"); !v.empty()) {
    int q = 0;
    if (!parse_number(v, q) || q < 0 || q > 100)
      return make_error(ErrorCode::invalid_request,
                        "x-switchboard-min-quality must be an integer from 0 to 100");
    tighten(r, config::Requirements{.min_quality = q});
  }
  if (auto v = header(t, "x-switchboard-optimize"); !v.empty()) {
    if (v == "cost") {
      optimize = Optimize::cost;
    } else if (v == "latency") {
      optimize = Optimize::latency;
    } else if (v == "quality") {
      optimize = Optimize::quality;
    } else {
      return make_error(ErrorCode::invalid_request,
                        "x-switchboard-optimize must be cost, latency or quality");
    }
  }
  return std::nullopt;
}

std::string format_usd(double v) {
  std::ostringstream s;
  s.precision(6);
  s << std::fixed << v;
  auto out = s.str();
  while (out.size() > 3 && out.back() == '0' && out[out.size() - 2] != '.') out.pop_back();
  return "$" + out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out + "]";
}

// Why `c` violates `r`, or empty when it does not.
std::string violation(const Candidate& c, const config::Requirements& r, std::int64_t now_ms) {
  for (const auto& label : r.privacy) {
    if (!contains(c.model->privacy, label))
      return "privacy: requires " + join(r.privacy) + ", model has " + join(c.model->privacy);
  }
  if (r.max_cost_usd && c.estimated_cost_usd > *r.max_cost_usd)
    return "cost: estimated " + format_usd(c.estimated_cost_usd) + " exceeds " +
           format_usd(*r.max_cost_usd);
  if (r.min_quality && c.model->quality < *r.min_quality)
    return "quality: " + std::to_string(c.model->quality) + " is below " +
           std::to_string(*r.min_quality);
  if (r.latency_target && c.health) {
    double p95 = c.health->latency().percentile(0.95);
    if (p95 >= 0 && p95 > static_cast<double>(r.latency_target->count()))
      return "latency: p95 " + std::to_string(static_cast<long>(p95)) + "ms exceeds target " +
             std::to_string(r.latency_target->count()) + "ms";
  }
  if (c.health && c.health->is_open(now_ms)) return "health: circuit open";
  return {};
}

double latency_key(const Candidate& c) {
  double p = c.health ? c.health->latency().percentile(0.5) : -1;
  return p < 0 ? 0 : p;  // no history sorts first, so new models get traffic and history
}

void order_by(std::vector<Candidate>& list, Optimize how) {
  switch (how) {
    case Optimize::cost:
      std::stable_sort(list.begin(), list.end(), [](const Candidate& a, const Candidate& b) {
        return a.estimated_cost_usd < b.estimated_cost_usd;
      });
      break;
    case Optimize::latency:
      std::stable_sort(list.begin(), list.end(), [](const Candidate& a, const Candidate& b) {
        return latency_key(a) < latency_key(b);
      });
      break;
    case Optimize::quality:
      std::stable_sort(list.begin(), list.end(), [](const Candidate& a, const Candidate& b) {
        return a.model->quality > b.model->quality;
      });
      break;
    case Optimize::none:
      break;
  }
}

// The route's targets in strategy order.
std::vector<std::size_t> target_order(const gateway::RouteRuntime& route, config::Strategy strategy,
                                      const std::vector<Candidate>& targets) {
  std::vector<std::size_t> order(targets.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (order.size() < 2) return order;
  switch (strategy) {
    case config::Strategy::priority:
      break;
    case config::Strategy::round_robin: {
      auto start = route.rotation->fetch_add(1, std::memory_order_relaxed) % order.size();
      std::rotate(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(start), order.end());
      break;
    }
    case config::Strategy::weighted: {
      // Weighted sampling without replacement: the first pick follows the weights exactly.
      thread_local std::mt19937_64 rng{std::random_device{}()};
      std::vector<std::pair<double, std::size_t>> keyed;
      for (std::size_t i = 0; i < order.size(); ++i) {
        double u = std::uniform_real_distribution<double>(1e-12, 1.0)(rng);
        keyed.emplace_back(std::pow(u, 1.0 / route.weights[i]), i);
      }
      std::sort(keyed.begin(), keyed.end(), [](auto& a, auto& b) { return a.first > b.first; });
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = keyed[i].second;
      break;
    }
    case config::Strategy::least_latency:
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return latency_key(targets[a]) < latency_key(targets[b]);
      });
      break;
    case config::Strategy::lowest_cost:
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return targets[a].estimated_cost_usd < targets[b].estimated_cost_usd;
      });
      break;
    case config::Strategy::best_quality:
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return targets[a].model->quality > targets[b].model->quality;
      });
      break;
  }
  return order;
}

std::string_view strategy_name(config::Strategy s) {
  switch (s) {
    case config::Strategy::priority:
      return "priority";
    case config::Strategy::weighted:
      return "weighted";
    case config::Strategy::round_robin:
      return "round-robin";
    case config::Strategy::least_latency:
      return "least-latency";
    case config::Strategy::lowest_cost:
      return "lowest-cost";
    case config::Strategy::best_quality:
      return "best-quality";
  }
  return "priority";
}

}  // namespace

std::int64_t estimate_prompt_tokens(const nlohmann::json& body) {
  std::size_t chars = 0;
  std::int64_t messages = 0;
  auto add_text = [&](const nlohmann::json& v) {
    if (v.is_string()) chars += v.get_ref<const std::string&>().size();
  };
  if (auto m = body.find("messages"); m != body.end() && m->is_array()) {
    for (const auto& msg : *m) {
      ++messages;
      if (!msg.is_object()) continue;
      auto c = msg.find("content");
      if (c == msg.end()) continue;
      if (c->is_string()) {
        add_text(*c);
      } else if (c->is_array()) {
        for (const auto& part : *c) {
          if (part.is_object() && part.contains("text")) add_text(part["text"]);
        }
      }
    }
  }
  if (auto in = body.find("input"); in != body.end()) {
    if (in->is_string()) add_text(*in);
    if (in->is_array()) {
      for (const auto& i : *in) add_text(i);
    }
  }
  if (auto tools = body.find("tools"); tools != body.end() && tools->is_array())
    chars += tools->dump().size();
  return static_cast<std::int64_t>((chars + 3) / 4) + 4 * messages;
}

double estimate_cost_usd(const config::ModelConfig& model, std::int64_t prompt_tokens,
                         std::int64_t output_tokens) {
  return (static_cast<double>(prompt_tokens) * model.price.input +
          static_cast<double>(output_tokens) * model.price.output) /
         1e6;
}

std::variant<Decision, protocol::ApiError> decide(const gateway::Runtime& runtime,
                                                  const RequestTraits& traits,
                                                  std::int64_t now_ms) {
  Decision d;
  d.route = runtime.route(traits.requested);
  if (!d.route) {
    return make_error(ErrorCode::model_not_found,
                      "the model '" + std::string(traits.requested) +
                          "' does not exist or you do not have access to it",
                      "model");
  }
  if (traits.tenant && traits.tenant->models &&
      !contains(*traits.tenant->models, traits.requested)) {
    return make_error(ErrorCode::model_not_allowed,
                      "tenant '" + std::string(traits.tenant_name) + "' may not use model '" +
                          std::string(traits.requested) + "'",
                      "model");
  }
  for (const auto* t : d.route->targets) {
    if (t->kind != traits.kind) {
      return make_error(
          ErrorCode::invalid_request,
          traits.kind == config::ModelKind::chat
              ? "'" + std::string(traits.requested) + "' is an embedding model; use /v1/embeddings"
              : "'" + std::string(traits.requested) + "' is a chat model; use /v1/chat/completions",
          "model");
    }
  }

  if (traits.tenant) add_privacy(d.required, traits.tenant->privacy);
  d.strategy = d.route->strategy;
  std::vector<std::string> privacy_classes;
  for (const auto& p : runtime.config().policies) {
    if (!policy_matches(p, traits)) continue;
    d.policies.push_back(p.name);
    if (auto h = p.when.headers.find("x-switchboard-privacy"); h != p.when.headers.end()) {
      privacy_classes.insert(privacy_classes.end(), h->second.begin(), h->second.end());
    }
    tighten(d.required, p.require);
    if (p.prefer && d.strategy == d.route->strategy) d.strategy = *p.prefer;  // first prefer wins
  }
  if (auto e = header_requirements(traits, d.required, d.optimize, privacy_classes)) return *e;

  auto output = traits.max_output_tokens > 0 ? traits.max_output_tokens : kDefaultOutputTokens;
  auto make = [&](const config::ModelConfig* m, const gateway::ModelRefs& refs, bool fallback) {
    Candidate c;
    c.model = m;
    c.provider = refs.provider;
    c.health = refs.health;
    c.fallback = fallback;
    c.estimated_cost_usd = estimate_cost_usd(*m, traits.prompt_tokens,
                                             traits.kind == config::ModelKind::chat ? output : 0);
    return c;
  };
  // One vector for the whole list (targets in strategy order, then fallbacks), filtered in
  // place into the candidates: the common single-target route allocates once.
  std::vector<Candidate> ordered;
  ordered.reserve(d.route->targets.size() + d.route->fallbacks.size());
  const auto& route = *d.route;
  if (route.targets.size() < 2) {
    for (std::size_t i = 0; i < route.targets.size(); ++i)
      ordered.push_back(make(route.targets[i], route.target_refs[i], false));
  } else {
    std::vector<Candidate> targets;
    targets.reserve(route.targets.size());
    for (std::size_t i = 0; i < route.targets.size(); ++i)
      targets.push_back(make(route.targets[i], route.target_refs[i], false));
    for (auto i : target_order(route, d.strategy, targets)) ordered.push_back(targets[i]);
  }
  for (std::size_t i = 0; i < route.fallbacks.size(); ++i) {
    const auto* m = route.fallbacks[i];
    bool seen = std::any_of(ordered.begin(), ordered.end(),
                            [&](const Candidate& c) { return c.model == m; });
    if (!seen && m->kind == traits.kind) ordered.push_back(make(m, route.fallback_refs[i], true));
  }

  std::size_t kept = 0;
  for (auto& c : ordered) {
    auto why = violation(c, d.required, now_ms);
    if (why.empty()) {
      ordered[kept++] = c;
    } else {
      d.removed.push_back({c.model->name, std::move(why)});
    }
  }
  ordered.resize(kept);
  d.candidates = std::move(ordered);
  order_by(d.candidates, d.optimize);
  if (d.candidates.empty()) {
    std::string message =
        "no candidate for '" + std::string(traits.requested) + "' meets the policy:";
    for (const auto& r : d.removed) message += " " + r.model + " (" + r.reason + ");";
    message.pop_back();
    bool all_circuits = !d.removed.empty() &&
                        std::all_of(d.removed.begin(), d.removed.end(), [](const Rejection& r) {
                          return r.reason == "health: circuit open";
                        });
    return make_error(all_circuits ? ErrorCode::no_healthy_upstream : ErrorCode::no_route, message);
  }
  return d;
}

nlohmann::json explain(const Decision& d) {
  nlohmann::json candidates = nlohmann::json::array();
  for (const auto& c : d.candidates) {
    double p95 = c.health ? c.health->latency().percentile(0.95) : -1;
    candidates.push_back({{"model", c.model->name},
                          {"provider", c.model->provider},
                          {"fallback", c.fallback},
                          {"estimated_cost_usd", c.estimated_cost_usd},
                          {"quality", c.model->quality},
                          {"p95_ms", p95 < 0 ? nlohmann::json(nullptr) : nlohmann::json(p95)}});
  }
  nlohmann::json removed = nlohmann::json::array();
  for (const auto& r : d.removed) removed.push_back({{"model", r.model}, {"reason", r.reason}});
  nlohmann::json required = {{"privacy", d.required.privacy}};
  if (d.required.max_cost_usd) required["max_cost_usd"] = *d.required.max_cost_usd;
  if (d.required.min_quality) required["min_quality"] = *d.required.min_quality;
  if (d.required.latency_target) required["latency_target_ms"] = d.required.latency_target->count();
  static constexpr const char* kOptimize[] = {"none", "cost", "latency", "quality"};
  return {{"route", d.route ? d.route->name : ""},
          {"strategy", strategy_name(d.strategy)},
          {"optimize", kOptimize[static_cast<int>(d.optimize)]},
          {"policies", d.policies},
          {"required", required},
          {"candidates", candidates},
          {"removed", removed},
          {"order", [&] {
             nlohmann::json o = nlohmann::json::array();
             for (const auto& c : d.candidates) o.push_back(c.model->name);
             return o;
           }()}};
}

}  // namespace switchboard::routing
