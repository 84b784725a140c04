// Reader for `prices:` (included price files and an inline table) and the lookup that gives each
// model without its own `price:` the list price of its provider's model id.
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "sections.hpp"
#include "values.hpp"

namespace switchboard::config::detail {

namespace {

constexpr std::string_view kProviderTypes[] = {"openai",  "azure",   "anthropic",         "gemini",
                                               "bedrock", "mistral", "openai-compatible", "mock"};

// {type: {model_id: price}} under `path`, into `table` (entries replace earlier ones).
void read_table(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                PriceTable& table) {
  MapReader types(ctx, node, path, {});
  for (const MapEntry& type : types.entries()) {
    bool known = false;
    for (auto t : kProviderTypes) known = known || t == type.key;
    if (!known) {
      std::vector<std::string_view> names(std::begin(kProviderTypes), std::end(kProviderTypes));
      auto hint = nearest(type.key, names);
      ctx.error_at_key(type.path, "unknown provider type " + quote(type.key) +
                                      (hint.empty() ? "; known: " + join_list(names)
                                                    : "; did you mean " + quote(hint) + "?"));
      continue;
    }
    MapReader models(ctx, type.value, type.path, {});
    for (const MapEntry& model : models.entries()) {
      Price price;
      read_price(ctx, model.value, model.path, price);
      table[type.key][model.key] = price;
    }
  }
}

std::string folder_of(const std::string& file) {
  auto slash = file.rfind('/');
  return slash == std::string::npos ? std::string(".") : file.substr(0, slash);
}

// One included price file: {as_of, source, prices: {type: {model_id: price}}}. Its errors carry
// its own name and positions.
void read_price_file(LoadContext& ctx, const std::string& include_path, const std::string& file,
                     PriceTable& table) {
  if (auto why = unreadable_reason(file); !why.empty()) {
    ctx.error_at(include_path, "cannot read price file " + quote(file) + ": " + why);
    return;
  }
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  LoadContext sub(file);
  try {
    YAML::Node root = YAML::Load(text.str());
    sub.remember("", SourceEntry{{1, 1}, {1, 1}, {}, false});
    MapReader map(sub, root, "", {"as_of", "source", "prices"});
    if (map.is_map()) {
      map.require("prices");
      if (const MapEntry* prices = map.find("prices"))
        read_table(sub, prices->value, "prices", table);
    }
  } catch (const YAML::Exception& e) {
    sub.error(position_of(e.mark), "", "YAML error: " + e.msg);
  }
  ctx.absorb(sub.take_errors());
}

// The table's entry for `id`: exact, else the longest key that `id` extends with a version or
// date suffix ("claude-3-5-haiku-20241022" finds "claude-3-5-haiku").
const Price* lookup(const std::map<std::string, Price>& models, const std::string& id) {
  if (auto it = models.find(id); it != models.end()) return &it->second;
  const Price* best = nullptr;
  std::size_t best_len = 0;
  for (const auto& [key, price] : models) {
    if (key.size() > best_len && id.size() > key.size() && id.compare(0, key.size(), key) == 0 &&
        (id[key.size()] == '-' || id[key.size()] == ':' || id[key.size()] == '@')) {
      best = &price;
      best_len = key.size();
    }
  }
  return best;
}

}  // namespace

void read_prices(LoadContext& ctx, const YAML::Node& node, Config& config) {
  MapReader map(ctx, node, "prices", {"include", "table"});
  if (!map.is_map()) return;
  std::vector<std::string> includes;
  if (map.read_list("include", includes, /*drop_empty=*/true)) {
    for (std::size_t i = 0; i < includes.size(); ++i) {
      const auto& name = includes[i];
      std::string file =
          !name.empty() && name[0] == '/' ? name : folder_of(ctx.file()) + "/" + name;
      read_price_file(ctx, index_path("prices.include", i), file, config.prices);
      config.price_files.push_back(file);
    }
  }
  if (const MapEntry* table = map.find("table"))
    read_table(ctx, table->value, table->path, config.prices);
}

void apply_price_table(Config& config) {
  static const std::map<ProviderType, std::vector<std::string>> kSections = {
      {ProviderType::openai, {"openai"}},
      {ProviderType::azure, {"azure", "openai"}},  // Azure lists OpenAI's prices
      {ProviderType::anthropic, {"anthropic"}},
      {ProviderType::gemini, {"gemini"}},
      {ProviderType::bedrock, {"bedrock"}},
      {ProviderType::mistral, {"mistral"}},
      {ProviderType::openai_compatible, {"openai-compatible"}},
      {ProviderType::mock, {"mock"}}};
  for (auto& [name, model] : config.models) {
    if (model.priced) continue;
    auto provider = config.providers.find(model.provider);
    if (provider == config.providers.end()) continue;
    std::string id = model.model;
    if (provider->second.type == ProviderType::bedrock) {
      // Cross-region inference profiles ("us.", "eu.", "apac.", "global.") cost the same.
      for (std::string_view prefix : {"us.", "eu.", "apac.", "global."}) {
        if (id.starts_with(prefix)) id.erase(0, prefix.size());
      }
    }
    for (const auto& section : kSections.at(provider->second.type)) {
      auto table = config.prices.find(section);
      if (table == config.prices.end()) continue;
      if (const Price* price = lookup(table->second, id)) {
        model.price = *price;
        model.priced = true;
        break;
      }
    }
  }
}

}  // namespace switchboard::config::detail
