// Private to the loader: error collection, the path -> position map, and key suggestions.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "switchboard/config/loader.hpp"

namespace switchboard::config::detail {

struct Position {
  int line = 0;  // 1-based; 0 = unknown
  int column = 0;
};

// What the walker saw at one dotted path: where the key and the value sit, the value as
// written (before ${...} expansion), and whether expansion happened (then it is a secret).
struct SourceEntry {
  Position key;
  Position value;
  std::string raw;
  bool expanded = false;
};

// Shared by every stage of one load: the errors so far and where each path came from.
class LoadContext {
 public:
  explicit LoadContext(std::string file) : file_(std::move(file)) {}

  const std::string& file() const { return file_; }

  void error(Position where, std::string path, std::string message);
  // Reports at the value position recorded for `path` (or its nearest recorded parent).
  void error_at(const std::string& path, std::string message);
  // Reports at the key position recorded for `path` (or its nearest recorded parent).
  void error_at_key(const std::string& path, std::string message);

  void remember(const std::string& path, SourceEntry entry);
  // Records the text a scalar had before expansion (creating the entry when needed).
  void note_scalar(const std::string& path, Position value, std::string raw, bool expanded);
  // The entry for `path` or the nearest recorded parent; a default entry when none.
  const SourceEntry& lookup(const std::string& path) const;

  // How to name the scalar at `path` in a message without leaking a secret: `"text"` when it
  // was written literally, `the value from ${VAR}` when it came from expansion.
  std::string describe(const std::string& path, const std::string& value) const;

  bool has_errors() const { return !errors_.empty(); }
  // Takes the errors another file's load found (an included file reports its own positions).
  void absorb(std::vector<ConfigError> errors) {
    for (auto& e : errors) errors_.push_back(std::move(e));
  }
  std::vector<ConfigError> take_errors() { return std::move(errors_); }

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
  std::map<std::string, SourceEntry> sources_;
};

// "a.b" from ("a", "b"); "b" when the parent is empty.
std::string join_path(const std::string& parent, std::string_view key);
// "a[3]".
std::string index_path(const std::string& parent, std::size_t index);

// Optimal string alignment distance (Levenshtein plus adjacent transposition).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The closest candidate when it is close enough to be a plausible typo; empty otherwise.
std::string nearest(std::string_view word, const std::vector<std::string_view>& candidates);

// "a, b, c".
std::string join_list(const std::vector<std::string_view>& items);

// `"text"` with quotes and control characters escaped.
std::string quote(std::string_view text);

}  // namespace switchboard::config::detail
