// Error collection, source positions and "did you mean" suggestions for the config loader.
#include "context.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace switchboard::config {

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

namespace detail {

void LoadContext::error(Position where, std::string path, std::string message) {
  errors_.push_back(
      ConfigError{file_, where.line, where.column, std::move(path), std::move(message)});
}

void LoadContext::error_at(const std::string& path, std::string message) {
  const SourceEntry& entry = lookup(path);
  error(entry.value.line > 0 ? entry.value : entry.key, path, std::move(message));
}

void LoadContext::error_at_key(const std::string& path, std::string message) {
  const SourceEntry& entry = lookup(path);
  error(entry.key.line > 0 ? entry.key : entry.value, path, std::move(message));
}

void LoadContext::remember(const std::string& path, SourceEntry entry) {
  sources_[path] = std::move(entry);
}

void LoadContext::note_scalar(const std::string& path, Position value, std::string raw,
                              bool expanded) {
  auto [it, inserted] = sources_.try_emplace(path);
  if (inserted) it->second.key = value;
  if (it->second.value.line == 0) it->second.value = value;
  it->second.raw = std::move(raw);
  it->second.expanded = expanded;
}

const SourceEntry& LoadContext::lookup(const std::string& path) const {
  static const SourceEntry kUnknown{{1, 1}, {1, 1}, {}, false};
  std::string p = path;
  while (true) {
    auto it = sources_.find(p);
    if (it != sources_.end()) return it->second;
    std::size_t cut = p.find_last_of(".[");
    if (cut == std::string::npos || cut == 0) return kUnknown;
    p.resize(cut);
  }
}

std::string LoadContext::describe(const std::string& path, const std::string& value) const {
  auto it = sources_.find(path);
  if (it != sources_.end() && it->second.expanded) return "the value from " + it->second.raw;
  return quote(value);
}

std::string join_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out = parent;
  out += '.';
  out += key;
  return out;
}

std::string index_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

static std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string nearest(std::string_view word, const std::vector<std::string_view>& candidates) {
  const std::string w = lower(word);
  std::string best;
  std::size_t best_distance = std::string::npos;
  for (std::string_view candidate : candidates) {
    std::size_t d = edit_distance(w, lower(candidate));
    if (d < best_distance) {
      best_distance = d;
      best = std::string(candidate);
    }
  }
  // A plausible typo: at most two edits, or a third of the word for long words.
  const std::size_t limit = std::max<std::size_t>(2, w.size() / 3);
  if (best_distance > limit || best_distance >= w.size()) return {};
  return best;
}

std::string join_list(const std::vector<std::string_view>& items) {
  std::string out;
  for (std::string_view item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace detail
}  // namespace switchboard::config
