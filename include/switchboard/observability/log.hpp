// Process logging on spdlog: JSON lines (or text) on stderr.
#pragma once

#include <string>
#include <string_view>

#include "switchboard/config/config.hpp"

namespace switchboard::observability {

// Installs the default logger; safe to call again on reload (level and format change).
void setup_logging(const config::LogConfig& log);

// Escapes text for embedding inside a JSON string (without the quotes).
std::string json_escape(std::string_view text);

}  // namespace switchboard::observability
