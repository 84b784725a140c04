// Token usage of one call, normalised to OpenAI's conventions, and what it costs.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "switchboard/config/config.hpp"

namespace switchboard::accounting {

// `input` includes cached and cache-write tokens (OpenAI's prompt_tokens); `output`
// includes reasoning tokens (OpenAI's completion_tokens).
struct Usage {
  std::int64_t input = 0;
  std::int64_t output = 0;
  std::int64_t cached_input = 0;  // cache reads
  std::int64_t cache_write = 0;   // cache creation
  std::int64_t reasoning = 0;     // part of output
  bool known = false;             // the provider reported it
  bool estimated = false;         // counted by the gateway instead

  std::int64_t uncached_input() const {
    auto v = input - cached_input - cache_write;
    return v < 0 ? 0 : v;
  }
};

// Reads an OpenAI `usage` object (prompt_tokens_details.cached_tokens,
// completion_tokens_details.reasoning_tokens included).
Usage usage_from_openai(const nlohmann::json& usage);

// Finds the last top-level-or-nested `"usage": {...}` object in a JSON text and reads it,
// without parsing the rest of the document. nullopt when absent or null.
std::optional<Usage> find_openai_usage(std::string_view json_text);

// USD for the usage at the model's prices (per 1M tokens).
double cost_usd(const Usage& usage, const config::Price& price);

}  // namespace switchboard::accounting
