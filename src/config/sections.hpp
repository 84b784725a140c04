// Private to the loader: one reader per top-level section, and the cross-reference pass.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "context.hpp"
#include "switchboard/config/config.hpp"

namespace switchboard::config::detail {

struct MapEntry;

// Each reader walks its section (already known to be present), fills `out` where values are
// valid, and reports every problem to `ctx`. They run in the order below, so models can take
// their providers' privacy labels.
void read_server(LoadContext& ctx, const YAML::Node& node, ServerConfig& out);
void read_auth(LoadContext& ctx, const YAML::Node& node, AuthConfig& out);
void read_state(LoadContext& ctx, const YAML::Node& node, StateConfig& out);
void read_observability(LoadContext& ctx, const YAML::Node& node, ObservabilityConfig& out);
void read_providers(LoadContext& ctx, const YAML::Node& node,
                    std::map<std::string, ProviderConfig>& out);
void read_models(LoadContext& ctx, const YAML::Node& node,
                 const std::map<std::string, ProviderConfig>& providers,
                 std::map<std::string, ModelConfig>& out);
void read_routes(LoadContext& ctx, const YAML::Node& node, std::map<std::string, RouteConfig>& out);
void read_policies(LoadContext& ctx, const YAML::Node& node, std::vector<PolicyConfig>& out);
void read_tenants(LoadContext& ctx, const YAML::Node& node,
                  std::map<std::string, TenantConfig>& out);
void read_guardrails(LoadContext& ctx, const YAML::Node& node,
                     std::map<std::string, GuardrailConfig>& out);

// `prices:` {include: [files], table: {type: {model_id: price}}}: includes resolved against the
// config file's folder, read in order, the inline table last (later entries win).
void read_prices(LoadContext& ctx, const YAML::Node& node, Config& config);
// Gives every model without `price:` its list price from the table, by provider type and id.
void apply_price_table(Config& config);
// A `{input, output, cached_input, cache_write}` mapping (USD per 1M tokens).
void read_price(LoadContext& ctx, const YAML::Node& node, const std::string& path, Price& price);

// Names that must point somewhere: model -> provider, route -> models, guardrails, tenants.
void validate_references(LoadContext& ctx, const Config& config);

// API key lists (tenants.*.keys, auth.admin_keys): empty entries dropped, "sha256:" entries
// checked and lower-cased, duplicates within the list dropped. `paths` receives each kept
// key's dotted path. Keys never appear in messages.
void read_key_list(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                   std::vector<std::string>& out, std::vector<std::string>& paths);

// A `tls: {ca_file, verify}` mapping (providers.*.tls, state.redis.tls); an unreadable CA file
// is an error at its path.
void read_tls(LoadContext& ctx, const MapEntry& entry, TlsConfig& out);

// Empty string when the file can be opened and read; otherwise why not.
std::string unreadable_reason(const std::string& file_path);

}  // namespace switchboard::config::detail
