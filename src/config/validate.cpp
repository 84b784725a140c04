// Cross-reference checks: every name a section uses must be defined in the section it points to.
#include <set>

#include "sections.hpp"
#include "values.hpp"

namespace switchboard::config::detail {
namespace {

template <class Map>
std::vector<std::string_view> names_of(const Map& map) {
  std::vector<std::string_view> names;
  for (const auto& [name, value] : map) names.push_back(name);
  return names;
}

// `unknown model "gpt-4o-mnii"; did you mean "gpt-4o-mini"?` without echoing a secret.
std::string unknown_name(LoadContext& ctx, const std::string& path, std::string_view what,
                         const std::string& name, const std::vector<std::string_view>& candidates) {
  const bool secret = ctx.lookup(path).expanded;
  std::string message = "unknown " + std::string(what) + " " + ctx.describe(path, name);
  if (!secret) {
    std::string guess = nearest(name, candidates);
    if (!guess.empty()) message += "; did you mean " + quote(guess) + "?";
  }
  if (candidates.empty()) message += "; none is defined";
  return message;
}

// A route target or fallback: a model, never a route.
void check_model_name(LoadContext& ctx, const Config& config, const std::string& path,
                      const std::string& name) {
  if (config.models.count(name) != 0) return;
  if (config.routes.count(name) != 0) {
    ctx.error_at(path, "names route " + ctx.describe(path, name) +
                           "; route targets and fallbacks must be models");
    return;
  }
  ctx.error_at(path, unknown_name(ctx, path, "model", name, names_of(config.models)));
}

void check_guardrail_names(LoadContext& ctx, const Config& config, const std::string& path,
                           const std::vector<std::string>& names) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (config.guardrails.count(names[i]) != 0) continue;
    const std::string item = index_path(path, i);
    ctx.error_at(item, unknown_name(ctx, item, "guardrail", names[i], names_of(config.guardrails)));
  }
}

// Tenant allow-lists and policy matches may name models or routes.
void check_model_or_route(LoadContext& ctx, const Config& config, const std::string& path,
                          const std::vector<std::string>& names) {
  std::vector<std::string_view> candidates = names_of(config.models);
  for (const auto& [name, route] : config.routes) candidates.push_back(name);
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (config.models.count(names[i]) != 0 || config.routes.count(names[i]) != 0) continue;
    const std::string item = index_path(path, i);
    ctx.error_at(item, unknown_name(ctx, item, "model or route", names[i], candidates));
  }
}

// When a list was written as a single string, its only item sits at the list's own path.
std::string item_path(const LoadContext& ctx, const std::string& path, std::size_t index,
                      std::size_t count) {
  const std::string indexed = index_path(path, index);
  return (count == 1 && &ctx.lookup(indexed) == &ctx.lookup(path)) ? path : indexed;
}

void check_routes(LoadContext& ctx, const Config& config) {
  for (const auto& [name, route] : config.routes) {
    const std::string path = "routes." + name;
    if (config.models.count(name) != 0) {
      ctx.error_at_key(path, "route " + quote(name) +
                                 " has the same name as a model; a name must mean one thing");
    }
    for (std::size_t i = 0; i < route.targets.size(); ++i) {
      std::string target = index_path(path + ".targets", i);
      const std::string model_path = target + ".model";
      if (&ctx.lookup(model_path) != &ctx.lookup(target)) target = model_path;
      check_model_name(ctx, config, target, route.targets[i].model);
    }
    for (std::size_t i = 0; i < route.fallbacks.size(); ++i) {
      check_model_name(ctx, config, index_path(path + ".fallbacks", i), route.fallbacks[i]);
    }
    check_guardrail_names(ctx, config, path + ".guardrails", route.guardrails);
  }
}

void check_policies(LoadContext& ctx, const Config& config) {
  std::vector<std::string_view> tenants = names_of(config.tenants);
  tenants.push_back("anonymous");  // the tenant of auth mode "open"
  for (std::size_t p = 0; p < config.policies.size(); ++p) {
    const PolicyConfig& policy = config.policies[p];
    const std::string when = index_path("policies", p) + ".when";
    const auto& models = policy.when.models;
    for (std::size_t i = 0; i < models.size(); ++i) {
      if (config.models.count(models[i]) != 0 || config.routes.count(models[i]) != 0) continue;
      const std::string path = item_path(ctx, when + ".model", i, models.size());
      std::vector<std::string_view> candidates = names_of(config.models);
      for (const auto& [name, route] : config.routes) candidates.push_back(name);
      ctx.error_at(path, unknown_name(ctx, path, "model or route", models[i], candidates));
    }
    const auto& names = policy.when.tenants;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (config.tenants.count(names[i]) != 0 || names[i] == "anonymous") continue;
      const std::string path = item_path(ctx, when + ".tenant", i, names.size());
      ctx.error_at(path, unknown_name(ctx, path, "tenant", names[i], tenants));
    }
  }
}

}  // namespace

void validate_references(LoadContext& ctx, const Config& config) {
  for (const auto& [name, model] : config.models) {
    const std::string path = "models." + name + ".provider";
    if (model.provider.empty() || config.providers.count(model.provider) != 0) continue;
    ctx.error_at(path,
                 unknown_name(ctx, path, "provider", model.provider, names_of(config.providers)));
  }
  check_routes(ctx, config);
  check_policies(ctx, config);
  for (const auto& [name, tenant] : config.tenants) {
    const std::string path = "tenants." + name;
    if (tenant.models) check_model_or_route(ctx, config, path + ".models", *tenant.models);
    check_guardrail_names(ctx, config, path + ".guardrails", tenant.guardrails);
  }
}

}  // namespace switchboard::config::detail
