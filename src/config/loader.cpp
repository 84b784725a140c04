// Entry points of the config loader: parse YAML, walk the sections, check references.
#include "switchboard/config/loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "context.hpp"
#include "sections.hpp"
#include "values.hpp"

namespace switchboard::config {
namespace {

using detail::LoadContext;
using detail::MapEntry;
using detail::MapReader;

// `providers` and `models` must be present and non-empty; everything else has defaults.
void require_section(LoadContext& ctx, const MapReader& root, std::string_view name,
                     std::size_t count) {
  const MapEntry* entry = root.find(name);
  if (entry == nullptr) {
    ctx.error({1, 1}, std::string(name),
              "missing required section " + detail::quote(name) + "; define at least one entry");
  } else if (count == 0 &&
             (entry->value.IsNull() || (entry->value.IsMap() && entry->value.size() == 0))) {
    ctx.error_at(entry->path, "must define at least one entry");
  }
}

void read_root(LoadContext& ctx, const YAML::Node& node, Config& config) {
  MapReader root(ctx, node, "",
                 {"server", "auth", "state", "observability", "providers", "models", "routes",
                  "policies", "tenants", "guardrails", "prices"});
  if (!root.is_map()) return;
  if (const MapEntry* e = root.find("server")) read_server(ctx, e->value, config.server);
  if (const MapEntry* e = root.find("auth")) read_auth(ctx, e->value, config.auth);
  if (const MapEntry* e = root.find("state")) read_state(ctx, e->value, config.state);
  if (const MapEntry* e = root.find("observability")) {
    read_observability(ctx, e->value, config.observability);
  }
  if (const MapEntry* e = root.find("providers")) read_providers(ctx, e->value, config.providers);
  if (const MapEntry* e = root.find("models")) {
    read_models(ctx, e->value, config.providers, config.models);
  }
  if (const MapEntry* e = root.find("prices")) detail::read_prices(ctx, e->value, config);
  detail::apply_price_table(config);
  if (const MapEntry* e = root.find("routes")) read_routes(ctx, e->value, config.routes);
  if (const MapEntry* e = root.find("policies")) read_policies(ctx, e->value, config.policies);
  if (const MapEntry* e = root.find("tenants")) read_tenants(ctx, e->value, config.tenants);
  if (const MapEntry* e = root.find("guardrails")) {
    read_guardrails(ctx, e->value, config.guardrails);
  }
  require_section(ctx, root, "providers", config.providers.size());
  require_section(ctx, root, "models", config.models.size());
  validate_references(ctx, config);
}

}  // namespace

LoadResult load_config_text(const std::string& yaml_text, const std::string& file_name) {
  LoadContext ctx(file_name);
  auto config = std::make_shared<Config>();
  config->source_file = file_name;
  try {
    YAML::Node root = YAML::Load(yaml_text);
    ctx.remember("", detail::SourceEntry{{1, 1}, {1, 1}, {}, false});
    if (root.IsNull()) {
      ctx.error({1, 1}, "", "the file is empty; at least \"providers\" and \"models\" are needed");
    } else {
      read_root(ctx, root, *config);
    }
  } catch (const YAML::ParserException& e) {
    ctx.error(detail::position_of(e.mark), "", "YAML syntax error: " + e.msg);
  } catch (const YAML::Exception& e) {
    ctx.error(detail::position_of(e.mark), "", "YAML error: " + e.msg);
  } catch (const std::exception& e) {
    ctx.error({}, "", std::string("internal error while loading: ") + e.what());
  }
  LoadResult result;
  result.errors = ctx.take_errors();
  // File order reads best; errors at one position keep the order they were found in.
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [](const ConfigError& a, const ConfigError& b) {
                     return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                   });
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

LoadResult load_config_file(const std::string& path) {
  std::string text;
  errno = 0;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  bool failed = file == nullptr;
  if (file != nullptr) {
    char buffer[65536];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
    failed = std::ferror(file) != 0;
    std::fclose(file);
  }
  if (failed) {
    const int saved = errno;
    LoadResult result;
    result.errors.push_back(ConfigError{path, 0, 0, "",
                                        std::string("cannot read the config file: ") +
                                            (saved != 0 ? std::strerror(saved) : "read error")});
    return result;
  }
  return load_config_text(text, path);
}

}  // namespace switchboard::config
