// Readers for `routes` and `policies`.
#include <cctype>
#include <climits>
#include <limits>

#include "sections.hpp"
#include "values.hpp"

namespace switchboard::config::detail {
namespace {

const EnumNames<Strategy> kStrategies = {
    {"priority", Strategy::priority},       {"weighted", Strategy::weighted},
    {"round-robin", Strategy::round_robin}, {"least-latency", Strategy::least_latency},
    {"lowest-cost", Strategy::lowest_cost}, {"best-quality", Strategy::best_quality},
};

// A target is `{model: NAME, weight: W}` or just `NAME`.
void read_targets(LoadContext& ctx, const MapEntry& entry, std::vector<RouteTarget>& out) {
  if (!expect_list(ctx, entry.value, entry.path) || !entry.value.IsSequence()) return;
  for (std::size_t i = 0; i < entry.value.size(); ++i) {
    const YAML::Node item = entry.value[i];
    const std::string path = index_path(entry.path, i);
    RouteTarget target;
    if (item.IsScalar()) {
      if (!read_value(ctx, item, path, target.model)) continue;
    } else {
      MapReader map(ctx, item, path, {"model", "weight"});
      if (!map.is_map()) continue;
      map.require("model");
      if (!map.read("model", target.model)) continue;
      if (map.read("weight", target.weight) && !(target.weight > 0)) {
        ctx.error_at(map.child_path("weight"), "must be greater than 0");
      }
    }
    out.push_back(std::move(target));
  }
}

void read_retry(LoadContext& ctx, const MapEntry& entry, RetryConfig& out) {
  MapReader retry(ctx, entry.value, entry.path, {"attempts", "backoff", "max_backoff"});
  retry.read("attempts", out.attempts, 1, 100);
  retry.read("backoff", out.backoff);
  retry.read("max_backoff", out.max_backoff);
  if (out.backoff > out.max_backoff) {
    ctx.error_at(
        retry.has("backoff") ? retry.child_path("backoff") : retry.child_path("max_backoff"),
        "backoff must not be greater than max_backoff");
  }
}

void read_route(LoadContext& ctx, const MapEntry& entry, RouteConfig& r) {
  MapReader map(ctx, entry.value, entry.path,
                {"targets", "strategy", "fallbacks", "retry", "guardrails", "hedge"});
  r.name = entry.key;
  if (!map.is_map()) return;
  map.require("targets");
  if (const MapEntry* targets = map.find("targets")) {
    read_targets(ctx, *targets, r.targets);
    const YAML::Node& list = targets->value;
    if (list.IsNull() || (list.IsSequence() && list.size() == 0)) {
      ctx.error_at(targets->path, "a route needs at least one target");
    }
  }
  map.read_enum("strategy", kStrategies, "strategy", r.strategy);
  map.read_list("fallbacks", r.fallbacks, /*drop_empty=*/false);
  if (const MapEntry* retry = map.find("retry")) read_retry(ctx, *retry, r.retry);
  map.read_list("guardrails", r.guardrails, /*drop_empty=*/false);
  if (const MapEntry* hedge_entry = map.find("hedge")) {
    MapReader hedge(ctx, hedge_entry->value, hedge_entry->path, {"after"});
    hedge.read("after", r.hedge.after);
  }
}

// `header: {name: value}` or `{name: [v1, v2]}`; names are matched lower-case.
void read_header_matches(LoadContext& ctx, const MapEntry& entry,
                         std::map<std::string, std::vector<std::string>>& out) {
  MapReader headers(ctx, entry.value, entry.path, {});
  for (const MapEntry& header : headers.entries()) {
    std::vector<std::string> values;
    if (!read_string_or_list(ctx, header.value, header.path, values)) continue;
    std::string name = header.key;
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto& accepted = out[name];
    accepted.insert(accepted.end(), values.begin(), values.end());
  }
}

void read_when(LoadContext& ctx, const MapEntry& entry, PolicyWhen& out) {
  MapReader when(ctx, entry.value, entry.path, {"tenant", "workflow", "model", "header"});
  if (const MapEntry* e = when.find("tenant"))
    read_string_or_list(ctx, e->value, e->path, out.tenants);
  if (const MapEntry* e = when.find("workflow")) {
    read_string_or_list(ctx, e->value, e->path, out.workflows);
  }
  if (const MapEntry* e = when.find("model"))
    read_string_or_list(ctx, e->value, e->path, out.models);
  if (const MapEntry* e = when.find("header")) read_header_matches(ctx, *e, out.headers);
}

void read_require(LoadContext& ctx, const MapEntry& entry, Requirements& out) {
  MapReader require(ctx, entry.value, entry.path,
                    {"privacy", "max_cost_usd", "min_quality", "latency_target"});
  require.read_list("privacy", out.privacy, /*drop_empty=*/true);
  double max_cost = 0;
  if (require.read("max_cost_usd", max_cost, 0.0, std::numeric_limits<double>::infinity())) {
    out.max_cost_usd = max_cost;
  }
  int min_quality = 0;
  if (require.read("min_quality", min_quality, 0, 100)) out.min_quality = min_quality;
  Duration latency{0};
  if (require.read("latency_target", latency)) {
    if (latency <= Duration(0)) {
      ctx.error_at(require.child_path("latency_target"), "must be greater than 0");
    } else {
      out.latency_target = latency;
    }
  }
}

void read_policy(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                 std::size_t index, PolicyConfig& p) {
  MapReader map(ctx, node, path, {"name", "when", "require", "prefer"});
  p.name = "policies[" + std::to_string(index) + "]";
  if (!map.is_map()) return;
  if (map.read("name", p.name) && p.name.empty()) {
    ctx.error_at(map.child_path("name"), "must not be empty");
  }
  if (const MapEntry* when = map.find("when")) read_when(ctx, *when, p.when);
  if (const MapEntry* require = map.find("require")) read_require(ctx, *require, p.require);
  Strategy prefer = Strategy::priority;
  if (map.read_enum("prefer", kStrategies, "strategy", prefer)) p.prefer = prefer;
}

}  // namespace

void read_routes(LoadContext& ctx, const YAML::Node& node,
                 std::map<std::string, RouteConfig>& out) {
  MapReader routes(ctx, node, "routes", {});
  for (const MapEntry& entry : routes.entries()) read_route(ctx, entry, out[entry.key]);
}

void read_policies(LoadContext& ctx, const YAML::Node& node, std::vector<PolicyConfig>& out) {
  if (!expect_list(ctx, node, "policies") || !node.IsSequence()) return;
  for (std::size_t i = 0; i < node.size(); ++i) {
    PolicyConfig policy;
    read_policy(ctx, node[i], index_path("policies", i), i, policy);
    out.push_back(std::move(policy));
  }
}

}  // namespace switchboard::config::detail
