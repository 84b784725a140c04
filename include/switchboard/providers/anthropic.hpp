// The Anthropic Messages API provider: OpenAI Chat Completions in, POST /v1/messages out, and
// Anthropic responses, SSE streams and errors back to OpenAI's shapes.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "switchboard/providers/adapter.hpp"

namespace switchboard::providers {

// Anthropic has no JSON mode: an OpenAI `response_format` of json_object or json_schema is sent
// as one tool with this name that the model is forced to call. A tool_use of this name in a
// response becomes the message's text content (finish_reason "stop"), so the client sees what
// JSON mode would have given it. Client tools may not use the name.
inline constexpr std::string_view kAnthropicJsonToolName = "json_response";

// The version sent as `anthropic-version` unless the provider's `headers` set their own.
inline constexpr std::string_view kAnthropicVersion = "2023-06-01";

// Used when the client sends neither max_completion_tokens nor max_tokens (Anthropic requires
// max_tokens).
inline constexpr std::int64_t kAnthropicDefaultMaxTokens = 4096;

std::unique_ptr<ProviderAdapter> make_anthropic_adapter();

}  // namespace switchboard::providers
