// Readers for `providers` and `models`: types, per-type requirements and defaults.
#include <cmath>
#include <limits>

#include "sections.hpp"
#include "values.hpp"

namespace switchboard::config::detail {
namespace {

const EnumNames<ProviderType> kProviderTypes = {
    {"openai", ProviderType::openai},
    {"azure", ProviderType::azure},
    {"anthropic", ProviderType::anthropic},
    {"gemini", ProviderType::gemini},
    {"bedrock", ProviderType::bedrock},
    {"mistral", ProviderType::mistral},
    {"openai-compatible", ProviderType::openai_compatible},
    {"mock", ProviderType::mock},
};

constexpr double kUnbounded = std::numeric_limits<double>::infinity();

std::string_view type_name(ProviderType type) {
  for (const auto& entry : kProviderTypes) {
    if (entry.value == type) return entry.name;
  }
  return "?";
}

void read_timeouts(MapReader& parent, ProviderTimeouts& out) {
  const MapEntry* entry = parent.find("timeouts");
  if (entry == nullptr) return;
  MapReader timeouts(parent.ctx(), entry->value, entry->path, {"connect", "first_byte", "total"});
  for (auto [key, field] :
       {std::pair{"connect", &out.connect}, std::pair{"first_byte", &out.first_byte},
        std::pair{"total", &out.total}}) {
    if (timeouts.read(key, *field) && *field <= Duration(0)) {
      parent.ctx().error_at(timeouts.child_path(key), "must be greater than 0");
    }
  }
}

void read_mock(MapReader& parent, MockConfig& out) {
  const MapEntry* entry = parent.find("mock");
  if (entry == nullptr) return;
  LoadContext& ctx = parent.ctx();
  MapReader mock(ctx, entry->value, entry->path,
                 {"latency", "tokens_per_second", "response", "fail"});
  mock.read("latency", out.latency);
  mock.read("tokens_per_second", out.tokens_per_second, 0.0, kUnbounded);
  mock.read("response", out.response);
  if (const MapEntry* fail_entry = mock.find("fail")) {
    MapReader fail(ctx, fail_entry->value, fail_entry->path, {"status", "every"});
    fail.read("status", out.fail.status, 100, 599);
    fail.read("every", out.fail.every);
  }
}

// What each provider type needs beyond the common keys, and its default base_url.
void apply_type_rules(MapReader& map, ProviderConfig& p) {
  LoadContext& ctx = map.ctx();
  const std::string type = std::string(type_name(p.type));
  if (map.has("mock") && p.type != ProviderType::mock) {
    ctx.error_at_key(map.child_path("mock"), "only providers of type mock take a \"mock\" block");
  }
  auto require_set = [&](std::string_view key, const std::string& value) {
    if (!value.empty()) return;
    if (map.has(key)) {
      ctx.error_at(map.child_path(key), "must not be empty for a provider of type " + type);
    } else {
      map.require(key);
    }
  };
  switch (p.type) {
    case ProviderType::openai:
      if (p.base_url.empty()) p.base_url = "https://api.openai.com/v1";
      break;
    case ProviderType::anthropic:
      if (p.base_url.empty()) p.base_url = "https://api.anthropic.com";
      break;
    case ProviderType::gemini:
      if (p.base_url.empty()) p.base_url = "https://generativelanguage.googleapis.com";
      break;
    case ProviderType::mistral:
      if (p.base_url.empty()) p.base_url = "https://api.mistral.ai/v1";
      break;
    case ProviderType::azure:
      require_set("base_url", p.base_url);
      require_set("api_version", p.api_version);
      break;
    case ProviderType::bedrock:
      require_set("region", p.region);
      require_set("access_key_id", p.access_key_id);
      require_set("secret_access_key", p.secret_access_key);
      if (p.base_url.empty() && !p.region.empty()) {
        p.base_url = "https://bedrock-runtime." + p.region + ".amazonaws.com";
      }
      break;
    case ProviderType::openai_compatible:
      require_set("base_url", p.base_url);
      break;
    case ProviderType::mock:
      break;
  }
  const bool needs_keys = p.type != ProviderType::mock &&
                          p.type != ProviderType::openai_compatible &&
                          p.type != ProviderType::bedrock;
  if (needs_keys && p.keys.empty()) {
    if (map.has("keys")) {
      ctx.error_at(map.child_path("keys"),
                   "no key left after dropping empty entries; a provider of type " + type +
                       " needs at least one key");
    } else {
      map.require("keys");
    }
  }
}

void read_provider(LoadContext& ctx, const MapEntry& entry, ProviderConfig& p) {
  MapReader map(ctx, entry.value, entry.path,
                {"type", "base_url", "keys", "privacy", "headers", "max_connections", "timeouts",
                 "limits", "tls", "api_version", "region", "access_key_id", "secret_access_key",
                 "session_token", "mock"});
  p.name = entry.key;
  if (!map.is_map()) return;
  map.require("type");
  const bool type_ok = map.read_enum("type", kProviderTypes, "provider type", p.type);
  if (map.read("base_url", p.base_url) && !p.base_url.empty() &&
      p.base_url.rfind("http://", 0) != 0 && p.base_url.rfind("https://", 0) != 0) {
    ctx.error_at(map.child_path("base_url"), "must start with http:// or https://");
  }
  map.read_list("keys", p.keys, /*drop_empty=*/true);
  map.read_list("privacy", p.privacy, /*drop_empty=*/true);
  map.read("headers", p.headers);
  map.read("max_connections", p.max_connections, 1, std::numeric_limits<std::uint32_t>::max());
  read_timeouts(map, p.timeouts);
  if (const MapEntry* limits_entry = map.find("limits")) {
    MapReader limits(ctx, limits_entry->value, limits_entry->path, {"rpm", "tpm"});
    limits.read("rpm", p.limits.rpm);
    limits.read("tpm", p.limits.tpm);
  }
  if (const MapEntry* tls_entry = map.find("tls")) read_tls(ctx, *tls_entry, p.tls);
  map.read("api_version", p.api_version);
  map.read("region", p.region);
  map.read("access_key_id", p.access_key_id);
  map.read("secret_access_key", p.secret_access_key);
  map.read("session_token", p.session_token);
  read_mock(map, p.mock);
  if (type_ok) apply_type_rules(map, p);  // without a type its requirements are unknown
}

void read_model_price(LoadContext& ctx, const MapEntry& entry, Price& price) {
  read_price(ctx, entry.value, entry.path, price);
}

void read_model(LoadContext& ctx, const MapEntry& entry,
                const std::map<std::string, ProviderConfig>& providers, ModelConfig& m) {
  static const EnumNames<ModelKind> kKinds = {{"chat", ModelKind::chat},
                                              {"embedding", ModelKind::embedding}};
  MapReader map(ctx, entry.value, entry.path,
                {"provider", "model", "kind", "price", "quality", "privacy", "circuit"});
  m.name = entry.key;
  m.model = entry.key;
  if (!map.is_map()) return;
  map.require("provider");
  if (map.read("provider", m.provider) && m.provider.empty()) {
    ctx.error_at(map.child_path("provider"), "must name a provider");
  }
  if (map.read("model", m.model) && m.model.empty()) {
    ctx.error_at(map.child_path("model"), "must not be empty (leave it out to use the name)");
    m.model = entry.key;
  }
  map.read_enum("kind", kKinds, "model kind", m.kind);
  if (const MapEntry* price = map.find("price")) {
    read_model_price(ctx, *price, m.price);
    m.priced = true;
  }
  map.read("quality", m.quality, 0, 100);
  if (!map.read_list("privacy", m.privacy, /*drop_empty=*/true) && !map.has("privacy")) {
    auto provider = providers.find(m.provider);
    if (provider != providers.end()) m.privacy = provider->second.privacy;
  }
  if (const MapEntry* circuit_entry = map.find("circuit")) {
    MapReader circuit(ctx, circuit_entry->value, circuit_entry->path, {"failures", "open_for"});
    circuit.read("failures", m.circuit.failures, 1, 1000);
    if (circuit.read("open_for", m.circuit.open_for) &&
        (m.circuit.open_for < std::chrono::seconds(1) ||
         m.circuit.open_for > std::chrono::hours(1))) {
      ctx.error_at(circuit.child_path("open_for"), "must be between 1s and 1h");
      m.circuit.open_for = CircuitConfig{}.open_for;
    }
  }
}

}  // namespace

void read_price(LoadContext& ctx, const YAML::Node& node, const std::string& path, Price& price) {
  MapReader map(ctx, node, path, {"input", "output", "cached_input", "cache_write"});
  map.read("input", price.input, 0.0, kUnbounded);
  map.read("output", price.output, 0.0, kUnbounded);
  if (!map.read("cached_input", price.cached_input, 0.0, kUnbounded)) {
    price.cached_input = price.input;
  }
  if (!map.read("cache_write", price.cache_write, 0.0, kUnbounded)) {
    price.cache_write = price.input;
  }
}

void read_tls(LoadContext& ctx, const MapEntry& entry, TlsConfig& out) {
  MapReader tls(ctx, entry.value, entry.path, {"ca_file", "verify"});
  if (tls.read("ca_file", out.ca_file) && !out.ca_file.empty()) {
    const std::string path = tls.child_path("ca_file");
    std::string reason = unreadable_reason(out.ca_file);
    if (!reason.empty()) {
      ctx.error_at(path, "cannot read CA file " + ctx.describe(path, out.ca_file) + ": " + reason);
    }
  }
  tls.read("verify", out.verify);
}

void read_providers(LoadContext& ctx, const YAML::Node& node,
                    std::map<std::string, ProviderConfig>& out) {
  MapReader providers(ctx, node, "providers", {});
  for (const MapEntry& entry : providers.entries()) read_provider(ctx, entry, out[entry.key]);
}

void read_models(LoadContext& ctx, const YAML::Node& node,
                 const std::map<std::string, ProviderConfig>& providers,
                 std::map<std::string, ModelConfig>& out) {
  MapReader models(ctx, node, "models", {});
  for (const MapEntry& entry : models.entries()) {
    read_model(ctx, entry, providers, out[entry.key]);
  }
}

}  // namespace switchboard::config::detail
