// Private to the loader: typed reads of YAML nodes that record positions and report errors.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "context.hpp"

namespace switchboard::config::detail {

Position position_of(const YAML::Mark& mark);

// A scalar after ${...} expansion and how to name it in messages without leaking a secret.
struct Scalar {
  std::string value;
  std::string shown;    // `"text"` or `the value from ${VAR}`
  bool secret = false;  // came from ${...}: never print `value`
};

// Each of these reports its own errors (at the node, under `path`) and returns false or
// nullopt, leaving `out` unchanged, when the node does not hold the wanted type.
std::optional<Scalar> read_scalar(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                                  std::string_view expected);
bool read_value(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                std::string& out);
bool read_value(LoadContext& ctx, const YAML::Node& node, const std::string& path, bool& out);
bool read_value(LoadContext& ctx, const YAML::Node& node, const std::string& path, long long& out);
bool read_value(LoadContext& ctx, const YAML::Node& node, const std::string& path, double& out);
bool read_value(LoadContext& ctx, const YAML::Node& node, const std::string& path, Duration& out);
bool read_size_value(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                     std::uint64_t& out);
// A list of strings; with `drop_empty`, entries that are (or expand to) "" disappear.
bool read_value(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                std::vector<std::string>& out, bool drop_empty = false);
// A string, or a list of strings (for `when.tenant` and friends).
bool read_string_or_list(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                         std::vector<std::string>& out);
// A mapping of strings to strings (extra headers).
bool read_value(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                std::map<std::string, std::string>& out);

// Checks that `node` is a list (null counts as empty) and records each item's position.
bool expect_list(LoadContext& ctx, const YAML::Node& node, const std::string& path);

template <class E>
struct EnumName {
  std::string_view name;
  E value;
};

template <class E>
using EnumNames = std::vector<EnumName<E>>;

// Shared by every enum: finds `text` in `names` or reports the allowed spellings.
bool match_enum(LoadContext& ctx, const std::string& path, const Scalar& scalar,
                const std::vector<std::string_view>& names, std::string_view what,
                std::size_t& index);

template <class E>
bool read_enum(LoadContext& ctx, const YAML::Node& node, const std::string& path,
               const EnumNames<E>& names, std::string_view what, E& out) {
  auto scalar = read_scalar(ctx, node, path, "a string");
  if (!scalar) return false;
  std::vector<std::string_view> spellings;
  for (const auto& n : names) spellings.push_back(n.name);
  std::size_t index = 0;
  if (!match_enum(ctx, path, *scalar, spellings, what, index)) return false;
  out = names[index].value;
  return true;
}

// One key of a mapping, in file order.
struct MapEntry {
  std::string key;
  YAML::Node value;
  std::string path;
};

// A mapping under a dotted path: checks its type, records where every key sits, and reports
// unknown keys (suggesting the nearest known one) and duplicate keys. `<<` merge keys are
// honoured. With an empty `known` list every key is accepted (maps keyed by names).
class MapReader {
 public:
  MapReader(LoadContext& ctx, const YAML::Node& node, std::string path,
            std::vector<std::string_view> known);

  bool is_map() const { return is_map_; }
  const std::string& path() const { return path_; }
  const std::vector<MapEntry>& entries() const { return entries_; }
  const MapEntry* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  std::string child_path(std::string_view key) const { return join_path(path_, key); }
  LoadContext& ctx() { return ctx_; }

  // Reads `key` into `out` when present; returns true only when present and valid.
  template <class T>
  bool read(std::string_view key, T& out) {
    const MapEntry* entry = find(key);
    return entry != nullptr && read_value(ctx_, entry->value, entry->path, out);
  }
  bool read(std::string_view key, int& out, long long min, long long max);
  bool read(std::string_view key, std::uint32_t& out, long long min, long long max);
  bool read(std::string_view key, std::uint64_t& out);  // a non-negative integer
  bool read(std::string_view key, double& out, double min, double max);
  bool read_list(std::string_view key, std::vector<std::string>& out, bool drop_empty);
  bool read_size(std::string_view key, std::uint64_t& out);
  template <class E>
  bool read_enum(std::string_view key, const EnumNames<E>& names, std::string_view what, E& out) {
    const MapEntry* entry = find(key);
    return entry != nullptr && detail::read_enum(ctx_, entry->value, entry->path, names, what, out);
  }

  // Reports "missing required key" at this mapping.
  void require(std::string_view key);

 private:
  void add_entries(const YAML::Node& node, bool merged);

  LoadContext& ctx_;
  std::string path_;
  std::vector<std::string_view> known_;
  std::vector<MapEntry> entries_;
  bool is_map_ = false;
};

}  // namespace switchboard::config::detail
