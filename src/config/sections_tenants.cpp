// Readers for `tenants` (keys, limits, budgets, defaults) and `guardrails`.
#include <re2/re2.h>
#include <limits>

#include "sections.hpp"
#include "values.hpp"

namespace switchboard::config::detail {
namespace {

// Where each tenant key was seen, to reject a key that would identify two tenants.
struct KeyOwner {
  std::string tenant;
  std::string path;
};

void read_budget(LoadContext& ctx, const MapEntry& entry, TenantConfig& t) {
  static const EnumNames<BudgetPeriod> kPeriods = {{"daily", BudgetPeriod::daily},
                                                   {"monthly", BudgetPeriod::monthly},
                                                   {"total", BudgetPeriod::total}};
  MapReader map(ctx, entry.value, entry.path, {"usd", "period"});
  if (!map.is_map()) return;
  Budget budget;
  map.require("usd");
  bool ok = map.read("usd", budget.usd, 0.0, std::numeric_limits<double>::infinity());
  map.read_enum("period", kPeriods, "budget period", budget.period);
  if (ok) t.budget = budget;
}

void read_tenant(LoadContext& ctx, const MapEntry& entry, TenantConfig& t,
                 std::map<std::string, KeyOwner>& key_owners) {
  MapReader map(ctx, entry.value, entry.path,
                {"keys", "models", "rate_limit", "budget", "guardrails", "defaults"});
  t.name = entry.key;
  if (!map.is_map()) return;
  if (const MapEntry* keys = map.find("keys")) {
    std::vector<std::string> paths;
    read_key_list(ctx, keys->value, keys->path, t.keys, paths);
    for (std::size_t i = 0; i < t.keys.size(); ++i) {
      auto [it, inserted] = key_owners.try_emplace(t.keys[i], KeyOwner{t.name, paths[i]});
      if (!inserted) {
        ctx.error_at(paths[i], "the same key is listed for tenant " + quote(it->second.tenant) +
                                   " (" + it->second.path + ") and tenant " + quote(t.name) +
                                   "; a key must identify one tenant");
      }
    }
  }
  std::vector<std::string> models;
  if (map.read_list("models", models, /*drop_empty=*/false)) t.models = std::move(models);
  if (const MapEntry* limit_entry = map.find("rate_limit")) {
    MapReader limit(ctx, limit_entry->value, limit_entry->path, {"rpm", "tpm"});
    limit.read("rpm", t.rate_limit.rpm);
    limit.read("tpm", t.rate_limit.tpm);
  }
  if (const MapEntry* budget = map.find("budget")) read_budget(ctx, *budget, t);
  map.read_list("guardrails", t.guardrails, /*drop_empty=*/false);
  if (const MapEntry* defaults_entry = map.find("defaults")) {
    MapReader defaults(ctx, defaults_entry->value, defaults_entry->path, {"workflow", "privacy"});
    if (defaults.read("workflow", t.default_workflow) && t.default_workflow.empty()) {
      ctx.error_at(defaults.child_path("workflow"), "must not be empty");
      t.default_workflow = "default";
    }
    defaults.read_list("privacy", t.privacy, /*drop_empty=*/true);
  }
}

const std::vector<std::string_view> kPiiEntities = {"email", "phone", "credit_card", "ssn",
                                                    "iban",  "ipv4",  "secret"};

void read_entities(LoadContext& ctx, const MapEntry& entry, GuardrailConfig& g) {
  std::vector<std::string> entities;
  if (!read_value(ctx, entry.value, entry.path, entities)) return;
  for (std::size_t i = 0; i < entities.size(); ++i) {
    const std::string path = index_path(entry.path, i);
    std::size_t index = 0;
    Scalar scalar{entities[i], ctx.describe(path, entities[i]), ctx.lookup(path).expanded};
    if (match_enum(ctx, path, scalar, kPiiEntities, "PII entity", index)) {
      g.entities.push_back(entities[i]);
    }
  }
}

void read_stages(LoadContext& ctx, const MapEntry& entry, GuardrailConfig& g) {
  static const EnumNames<GuardrailStage> kStages = {{"input", GuardrailStage::input},
                                                    {"output", GuardrailStage::output}};
  if (!expect_list(ctx, entry.value, entry.path)) return;
  std::vector<GuardrailStage> stages;
  for (std::size_t i = 0; entry.value.IsSequence() && i < entry.value.size(); ++i) {
    GuardrailStage stage{};
    if (read_enum(ctx, entry.value[i], index_path(entry.path, i), kStages, "stage", stage)) {
      stages.push_back(stage);
    }
  }
  if (!entry.value.IsSequence() || entry.value.size() == 0) {
    ctx.error_at(entry.path, "list at least one stage: input, output");
    return;
  }
  if (stages.size() == entry.value.size()) g.stages = std::move(stages);
}

void check_patterns(LoadContext& ctx, const std::string& path,
                    const std::vector<std::string>& patterns) {
  // RE2 syntax (what the guardrail runs): no backreferences or lookaround, never backtracks.
  RE2::Options options;
  options.set_log_errors(false);
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    RE2 compiled(patterns[i], options);
    if (!compiled.ok()) {
      ctx.error_at(index_path(path, i), "invalid regular expression: " + compiled.error());
    }
  }
}

// The keys each guardrail type cannot work without, and defaults that depend on the type.
void apply_guardrail_type(MapReader& map, GuardrailConfig& g) {
  LoadContext& ctx = map.ctx();
  auto require_nonempty = [&](std::string_view key, bool empty, std::string_view why) {
    if (!empty) return;
    if (map.has(key)) {
      ctx.error_at(map.child_path(key), std::string(why));
    } else {
      map.require(key);
    }
  };
  switch (g.type) {
    case GuardrailType::pii:
      if (!map.has("entities")) g.entities.assign(kPiiEntities.begin(), kPiiEntities.end());
      break;
    case GuardrailType::regex:
      require_nonempty("patterns", g.patterns.empty(),
                       "a regex guardrail needs at least one pattern");
      break;
    case GuardrailType::keywords:
      require_nonempty("words", g.words.empty(), "a keywords guardrail needs at least one word");
      break;
    case GuardrailType::webhook:
      require_nonempty("url", g.url.empty(), "a webhook guardrail needs a url");
      break;
    case GuardrailType::openai_moderation:
      if (g.url.empty()) g.url = "https://api.openai.com/v1/moderations";
      if (g.model.empty()) g.model = "omni-moderation-latest";
      require_nonempty("key", g.key.empty(), "an openai-moderation guardrail needs a key");
      break;
  }
  if (!g.url.empty() && g.url.rfind("http://", 0) != 0 && g.url.rfind("https://", 0) != 0) {
    ctx.error_at(map.child_path("url"), "must start with http:// or https://");
  }
}

void read_guardrail(LoadContext& ctx, const MapEntry& entry, GuardrailConfig& g) {
  static const EnumNames<GuardrailType> kTypes = {
      {"pii", GuardrailType::pii},
      {"regex", GuardrailType::regex},
      {"keywords", GuardrailType::keywords},
      {"webhook", GuardrailType::webhook},
      {"openai-moderation", GuardrailType::openai_moderation}};
  static const EnumNames<GuardrailAction> kActions = {{"redact", GuardrailAction::redact},
                                                      {"block", GuardrailAction::block},
                                                      {"flag", GuardrailAction::flag}};
  static const EnumNames<GuardrailApply> kApply = {{"all", GuardrailApply::all},
                                                   {"attached", GuardrailApply::attached}};
  static const EnumNames<bool> kOnError = {{"block", true}, {"allow", false}};
  MapReader map(ctx, entry.value, entry.path,
                {"type", "entities", "stages", "action", "apply", "patterns", "words", "url", "key",
                 "model", "timeout", "on_error"});
  g.name = entry.key;
  if (!map.is_map()) return;
  map.require("type");
  const bool type_ok = map.read_enum("type", kTypes, "guardrail type", g.type);
  if (const MapEntry* entities = map.find("entities")) read_entities(ctx, *entities, g);
  if (const MapEntry* stages = map.find("stages")) read_stages(ctx, *stages, g);
  map.read_enum("action", kActions, "guardrail action", g.action);
  map.read_enum("apply", kApply, "guardrail apply mode", g.apply);
  if (map.read_list("patterns", g.patterns, /*drop_empty=*/false)) {
    check_patterns(ctx, map.child_path("patterns"), g.patterns);
  }
  map.read_list("words", g.words, /*drop_empty=*/true);
  map.read("url", g.url);
  map.read("key", g.key);
  map.read("model", g.model);
  if (map.read("timeout", g.timeout) && g.timeout <= Duration(0)) {
    ctx.error_at(map.child_path("timeout"), "must be greater than 0");
  }
  map.read_enum("on_error", kOnError, "on_error action", g.block_on_error);
  if (type_ok) apply_guardrail_type(map, g);
}

}  // namespace

void read_tenants(LoadContext& ctx, const YAML::Node& node,
                  std::map<std::string, TenantConfig>& out) {
  MapReader tenants(ctx, node, "tenants", {});
  std::map<std::string, KeyOwner> key_owners;
  for (const MapEntry& entry : tenants.entries()) {
    read_tenant(ctx, entry, out[entry.key], key_owners);
  }
}

void read_guardrails(LoadContext& ctx, const YAML::Node& node,
                     std::map<std::string, GuardrailConfig>& out) {
  MapReader guardrails(ctx, node, "guardrails", {});
  for (const MapEntry& entry : guardrails.entries()) read_guardrail(ctx, entry, out[entry.key]);
}

}  // namespace switchboard::config::detail
