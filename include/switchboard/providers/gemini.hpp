// Google Gemini (generativelanguage v1beta): OpenAI chat and embeddings <-> generateContent.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "switchboard/accounting/usage.hpp"
#include "switchboard/protocol/errors.hpp"
#include "switchboard/providers/adapter.hpp"

namespace switchboard::providers {

std::unique_ptr<ProviderAdapter> make_gemini_adapter();

// The pieces the whole-body and the streamed translations share, so both agree byte for byte.

// Gemini finishReason -> OpenAI finish_reason. STOP on a candidate that called functions is
// "tool_calls"; safety-style reasons are "content_filter"; unknown reasons are "stop".
std::string_view gemini_finish_reason(std::string_view reason, bool has_tool_calls);

// usageMetadata -> Usage: input = promptTokenCount (cached content included) plus
// toolUsePromptTokenCount; output = candidatesTokenCount + thoughtsTokenCount.
accounting::Usage gemini_usage(const nlohmann::json& usage_metadata);

// The OpenAI `usage` object for a Usage.
nlohmann::json openai_usage_json(const accounting::Usage& usage);

// A deterministic tool call id for the `ordinal`th function call of candidate `candidate` in the
// response `response_id` (Gemini's responseId, else the gateway's completion id): a whole body and
// the same answer streamed give the same ids.
std::string gemini_tool_call_id(std::string_view response_id, int candidate, int ordinal);

// A functionCall part -> an OpenAI tool call {id, type, function{name, arguments}}. A
// thoughtSignature rides along as extra_content.google.thought_signature (the convention of
// Google's own OpenAI-compatible endpoint) so it can be sent back on the next turn.
nlohmann::json gemini_tool_call(const nlohmann::json& part, std::string_view response_id,
                                int candidate, int ordinal);

// A Google error body {"error":{"code","message","status"}} (or a one-element array of it, as
// the non-SSE stream sends) -> the client's error, keeping Google's message.
protocol::ApiError gemini_error(int status, std::string_view body, bool& retryable);

// The translator of a `:streamGenerateContent?alt=sse` body into chat.completion.chunk objects.
std::unique_ptr<StreamTranslator> make_gemini_stream(const ResponseContext& context);

}  // namespace switchboard::providers
