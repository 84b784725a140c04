// Typed reads of YAML nodes for the config loader: expansion, type checks, positions, errors.
#include "values.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>

#include "expand.hpp"

namespace switchboard::config::detail {
namespace {

std::string what_node_is(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      break;
  }
  const std::string& raw = node.Scalar();
  if (raw.find("${") != std::string::npos) return "a string";
  return quote(raw);
}

std::string format_number(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}

bool all_digits(const std::string& text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string range_message(double min, double max, bool max_unbounded) {
  if (max_unbounded) return "must be at least " + format_number(min);
  return "must be between " + format_number(min) + " and " + format_number(max);
}

}  // namespace

Position position_of(const YAML::Mark& mark) {
  if (mark.line < 0 || mark.column < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

std::optional<Scalar> read_scalar(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                                  std::string_view expected) {
  if (!node.IsScalar()) {
    if (node.IsNull()) {
      ctx.error_at(path, "missing value; expected " + std::string(expected));
    } else {
      ctx.error_at(path, "expected " + std::string(expected) + ", got " + what_node_is(node));
    }
    return std::nullopt;
  }
  const std::string& raw = node.Scalar();
  Expansion expansion = expand(raw);
  ctx.note_scalar(path, position_of(node.Mark()), raw, expansion.expanded);
  for (std::string& message : expansion.errors) ctx.error_at(path, std::move(message));
  if (!expansion.errors.empty()) return std::nullopt;
  Scalar out;
  out.secret = expansion.expanded;
  out.shown = out.secret ? "the value from " + raw : quote(expansion.value);
  out.value = std::move(expansion.value);
  return out;
}

bool read_value(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                std::string& out) {
  if (node.IsNull()) {  // `key:` with nothing after it reads as ""
    out.clear();
    return true;
  }
  auto scalar = read_scalar(ctx, node, path, "a string");
  if (!scalar) return false;
  out = std::move(scalar->value);
  return true;
}

bool read_value(LoadContext& ctx, const YAML::Node& node, const std::string& path, bool& out) {
  auto scalar = read_scalar(ctx, node, path, "true or false");
  if (!scalar) return false;
  const std::string& v = scalar->value;
  if (v == "true" || v == "True" || v == "TRUE") {
    out = true;
  } else if (v == "false" || v == "False" || v == "FALSE") {
    out = false;
  } else {
    ctx.error_at(path, "expected true or false, got " + scalar->shown);
    return false;
  }
  return true;
}

bool read_value(LoadContext& ctx, const YAML::Node& node, const std::string& path, long long& out) {
  auto scalar = read_scalar(ctx, node, path, "a whole number");
  if (!scalar) return false;
  const std::string& v = scalar->value;
  long long parsed = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
  if (v.empty() || ec != std::errc() || ptr != v.data() + v.size()) {
    ctx.error_at(path, "expected a whole number, got " + scalar->shown);
    return false;
  }
  out = parsed;
  return true;
}

bool read_value(LoadContext& ctx, const YAML::Node& node, const std::string& path, double& out) {
  auto scalar = read_scalar(ctx, node, path, "a number");
  if (!scalar) return false;
  const std::string& v = scalar->value;
  double parsed = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
  if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || !std::isfinite(parsed)) {
    ctx.error_at(path, "expected a number, got " + scalar->shown);
    return false;
  }
  out = parsed;
  return true;
}

bool read_value(LoadContext& ctx, const YAML::Node& node, const std::string& path, Duration& out) {
  auto scalar = read_scalar(ctx, node, path, "a duration such as 250ms, 5s, 2m or 1h");
  if (!scalar) return false;
  if (parse_duration(scalar->value, out)) return true;
  if (all_digits(scalar->value)) {
    ctx.error_at(path,
                 scalar->shown + " is not a valid duration: a unit is needed (ms, s, m or h)");
  } else {
    ctx.error_at(path, scalar->shown + " is not a valid duration; expected e.g. 250ms, 5s, 2m, 1h");
  }
  return false;
}

bool read_size_value(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                     std::uint64_t& out) {
  auto scalar = read_scalar(ctx, node, path, "a size such as 512KiB or 10MiB");
  if (!scalar) return false;
  if (parse_size(scalar->value, out)) return true;
  ctx.error_at(path, scalar->shown +
                         " is not a valid size; expected e.g. 512KiB, 10MiB, 1GiB, 100KB or a "
                         "byte count");
  return false;
}

bool expect_list(LoadContext& ctx, const YAML::Node& node, const std::string& path) {
  if (node.IsNull()) return true;
  if (!node.IsSequence()) {
    ctx.error_at(path, "expected a list, got " + what_node_is(node));
    return false;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    Position where = position_of(node[i].Mark());
    if (where.line == 0) where = ctx.lookup(path).value;
    ctx.remember(index_path(path, i), SourceEntry{where, where, {}, false});
  }
  return true;
}

bool read_value(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                std::vector<std::string>& out, bool drop_empty) {
  if (!expect_list(ctx, node, path)) return false;
  std::vector<std::string> items;
  bool ok = true;
  for (std::size_t i = 0; node.IsSequence() && i < node.size(); ++i) {
    const std::string item_path = index_path(path, i);
    auto scalar = read_scalar(ctx, node[i], item_path, "a string");
    if (!scalar) {
      ok = false;
      continue;
    }
    if (drop_empty && scalar->value.empty()) continue;
    items.push_back(std::move(scalar->value));
  }
  if (ok) out = std::move(items);
  return ok;
}

bool read_string_or_list(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                         std::vector<std::string>& out) {
  if (node.IsScalar()) {
    auto scalar = read_scalar(ctx, node, path, "a string or a list of strings");
    if (!scalar) return false;
    out = {std::move(scalar->value)};
    return true;
  }
  if (node.IsMap()) {
    ctx.error_at(path, "expected a string or a list of strings, got a mapping");
    return false;
  }
  return read_value(ctx, node, path, out);
}

bool read_value(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                std::map<std::string, std::string>& out) {
  MapReader map(ctx, node, path, {});
  if (!map.is_map()) return false;
  bool ok = true;
  std::map<std::string, std::string> result;
  for (const MapEntry& entry : map.entries()) {
    std::string value;
    if (read_value(ctx, entry.value, entry.path, value)) {
      result[entry.key] = std::move(value);
    } else {
      ok = false;
    }
  }
  if (ok) out = std::move(result);
  return ok;
}

bool match_enum(LoadContext& ctx, const std::string& path, const Scalar& scalar,
                const std::vector<std::string_view>& names, std::string_view what,
                std::size_t& index) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == scalar.value) {
      index = i;
      return true;
    }
  }
  std::string message = "unknown " + std::string(what) + " ";
  message += scalar.secret ? "(" + scalar.shown + ")" : quote(scalar.value);
  message += "; expected one of: " + join_list(names);
  if (!scalar.secret) {
    std::string guess = nearest(scalar.value, names);
    if (!guess.empty()) message += "; did you mean " + quote(guess) + "?";
  }
  ctx.error_at(path, std::move(message));
  return false;
}

MapReader::MapReader(LoadContext& ctx, const YAML::Node& node, std::string path,
                     std::vector<std::string_view> known)
    : ctx_(ctx), path_(std::move(path)), known_(std::move(known)) {
  if (node.IsNull()) {
    is_map_ = true;
    return;
  }
  if (!node.IsMap()) {
    ctx_.error_at(path_, "expected a mapping, got " + what_node_is(node));
    return;
  }
  is_map_ = true;
  add_entries(node, false);
}

const MapEntry* MapReader::find(std::string_view key) const {
  for (const MapEntry& entry : entries_) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

void MapReader::add_entries(const YAML::Node& node, bool merged) {
  std::vector<YAML::Node> merge_sources;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key_node = it->first;  // copies: the iterator yields temporaries
    const YAML::Node value = it->second;
    const Position key_pos = position_of(key_node.Mark());
    if (!key_node.IsScalar()) {
      ctx_.error(key_pos, path_, "keys must be plain strings");
      continue;
    }
    const std::string& key = key_node.Scalar();
    const std::string path = join_path(path_, key);
    if (key == "<<") {  // YAML merge key: the mapping(s) it names supply defaults
      if (value.IsMap()) {
        merge_sources.push_back(value);
      } else if (value.IsSequence()) {
        for (const auto& item : value) merge_sources.push_back(item);
      }
      if (merge_sources.empty() || std::any_of(merge_sources.begin(), merge_sources.end(),
                                               [](const YAML::Node& n) { return !n.IsMap(); })) {
        ctx_.error(key_pos, path_, "a \"<<\" merge key needs a mapping or a list of mappings");
        merge_sources.clear();
      }
      continue;
    }
    if (key.empty()) {
      ctx_.error(key_pos, path_, "empty key");
      continue;
    }
    if (const MapEntry* first = find(key)) {
      if (merged) continue;  // an explicit key overrides a merged one
      const Position first_pos = ctx_.lookup(first->path).key;
      ctx_.error(key_pos, path,
                 "duplicate key " + quote(key) + " (first at line " +
                     std::to_string(first_pos.line) + ")");
      continue;
    }
    if (!known_.empty() && std::find(known_.begin(), known_.end(), key) == known_.end()) {
      std::string message = "unknown key " + quote(key);
      std::string guess = nearest(key, known_);
      if (!guess.empty()) {
        message += "; did you mean " + quote(guess) + "?";
      } else {
        message += "; expected one of: " + join_list(known_);
      }
      ctx_.error(key_pos, path, std::move(message));
      continue;
    }
    Position value_pos = value.IsNull() ? key_pos : position_of(value.Mark());
    if (value_pos.line == 0) value_pos = key_pos;
    ctx_.remember(path, SourceEntry{key_pos, value_pos, {}, false});
    entries_.push_back(MapEntry{key, value, path});
  }
  for (const YAML::Node& source : merge_sources) add_entries(source, true);
}

bool MapReader::read(std::string_view key, int& out, long long min, long long max) {
  long long value = 0;
  const MapEntry* entry = find(key);
  if (entry == nullptr || !read_value(ctx_, entry->value, entry->path, value)) return false;
  if (value < min || value > max) {
    ctx_.error_at(entry->path, range_message(min, max, max == INT_MAX) + ", got " +
                                   ctx_.describe(entry->path, std::to_string(value)));
    return false;
  }
  out = static_cast<int>(value);
  return true;
}

bool MapReader::read(std::string_view key, std::uint32_t& out, long long min, long long max) {
  long long value = 0;
  const MapEntry* entry = find(key);
  if (entry == nullptr || !read_value(ctx_, entry->value, entry->path, value)) return false;
  if (value < min || value > max) {
    ctx_.error_at(entry->path, range_message(min, max, max == UINT32_MAX) + ", got " +
                                   ctx_.describe(entry->path, std::to_string(value)));
    return false;
  }
  out = static_cast<std::uint32_t>(value);
  return true;
}

bool MapReader::read(std::string_view key, std::uint64_t& out) {
  long long value = 0;
  const MapEntry* entry = find(key);
  if (entry == nullptr || !read_value(ctx_, entry->value, entry->path, value)) return false;
  if (value < 0) {
    ctx_.error_at(entry->path,
                  "must be at least 0, got " + ctx_.describe(entry->path, std::to_string(value)));
    return false;
  }
  out = static_cast<std::uint64_t>(value);
  return true;
}

bool MapReader::read(std::string_view key, double& out, double min, double max) {
  double value = 0;
  const MapEntry* entry = find(key);
  if (entry == nullptr || !read_value(ctx_, entry->value, entry->path, value)) return false;
  if (value < min || value > max) {
    ctx_.error_at(entry->path, range_message(min, max, std::isinf(max)) + ", got " +
                                   ctx_.describe(entry->path, format_number(value)));
    return false;
  }
  out = value;
  return true;
}

bool MapReader::read_list(std::string_view key, std::vector<std::string>& out, bool drop_empty) {
  const MapEntry* entry = find(key);
  return entry != nullptr && read_value(ctx_, entry->value, entry->path, out, drop_empty);
}

bool MapReader::read_size(std::string_view key, std::uint64_t& out) {
  const MapEntry* entry = find(key);
  return entry != nullptr && read_size_value(ctx_, entry->value, entry->path, out);
}

void MapReader::require(std::string_view key) {
  if (!is_map_ || has(key)) return;
  const SourceEntry& where = ctx_.lookup(path_);
  ctx_.error(where.key.line > 0 ? where.key : where.value, child_path(key),
             "missing required key " + quote(key));
}

}  // namespace switchboard::config::detail
