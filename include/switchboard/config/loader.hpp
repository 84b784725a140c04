// Loads a YAML file into a validated Config, collecting every error with its position.
#pragma once

#include <string>
#include <vector>

#include "switchboard/config/config.hpp"

namespace switchboard::config {

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  int column = 0;
  std::string path;  // dotted key path, e.g. "providers.openai.timeouts.connect"
  std::string message;
  // "FILE:LINE:COL: key.path: message"
  std::string to_string() const;
};

struct LoadResult {
  ConfigPtr config;  // null when errors is non-empty
  std::vector<ConfigError> errors;
  bool ok() const { return errors.empty() && config != nullptr; }
};

// Reads and validates `path`. Never throws for user errors: every problem is in `errors`.
LoadResult load_config_file(const std::string& path);

// Same, from YAML text; `file_name` is used in error positions.
LoadResult load_config_text(const std::string& yaml_text, const std::string& file_name);

// Parses "250ms", "5s", "2m", "1h" (also "1.5s"). Returns false on a malformed value.
bool parse_duration(const std::string& text, Duration& out);

// Parses "512KiB", "10MiB", "1GiB", "100KB", "2048" (bytes). Returns false on a malformed value.
bool parse_size(const std::string& text, std::uint64_t& out);

}  // namespace switchboard::config
