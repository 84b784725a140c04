// AWS Bedrock: OpenAI chat -> Converse / ConverseStream and OpenAI embeddings -> InvokeModel
// (Titan, Cohere), SigV4-signed; Converse bodies, event streams and errors back to OpenAI's shapes.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "switchboard/accounting/usage.hpp"
#include "switchboard/protocol/errors.hpp"
#include "switchboard/providers/adapter.hpp"

namespace switchboard::providers {

// Signs with the provider's access_key_id / secret_access_key / session_token (service "bedrock",
// region from the config, else from the host). Without an access key id, a key from the provider's
// `keys` pool is sent as a Bedrock API key (Authorization: Bearer).
std::unique_ptr<ProviderAdapter> make_bedrock_adapter();

namespace bedrock {

// The SigV4 service name of bedrock-runtime.
inline constexpr std::string_view kSigningService = "bedrock";

// "/model/{modelId}/{action}" with the model id percent-encoded as one path segment (':' -> %3A,
// '/' of an ARN -> %2F), as the AWS SDKs send it.
std::string model_path(std::string_view model_id, std::string_view action);

// The OpenAI Chat Completions request -> the Converse request body (the model id goes in the
// path). Decisions, each a 400 naming the field rather than a silent drop:
// - n > 1, logprobs, logit_bias, penalties, audio, reasoning_effort: refused.
// - image_url must be a base64 data URL (png, jpeg, gif, webp): Converse takes bytes, not URLs.
// - response_format json_schema -> outputConfig.textFormat (Bedrock structured outputs);
//   json_object is refused (Converse has no schema-less JSON mode).
// - tool_choice "none" omits toolConfig; when the history holds tool calls or results (so Converse
//   requires toolConfig) it is refused. A history with tool calls but no `tools` declares each
//   tool it names with an open schema, as Converse requires toolConfig then.
// - parallel_tool_calls=false with tools is refused (Converse cannot limit tool calls).
// - top_k (vLLM/Anthropic extension) -> additionalModelRequestFields.top_k.
std::optional<protocol::ApiError> converse_body_from_openai(const nlohmann::json& request,
                                                            nlohmann::json& body);

// Converse stopReason -> OpenAI finish_reason (provider-formats.md 0.1); unknown reasons are
// "stop".
std::string_view finish_reason(std::string_view stop_reason);

// Converse `usage` -> Usage: input = inputTokens + cacheReadInputTokens + cacheWriteInputTokens.
accounting::Usage usage_from_converse(const nlohmann::json& usage);

// Usage -> OpenAI `usage`, with prompt_tokens_details.cached_tokens and, beside the OpenAI fields,
// cache_read_input_tokens / cache_creation_input_tokens (as the Anthropic adapter does).
nlohmann::ordered_json openai_usage(const accounting::Usage& usage);

// An exception name, as a header (`x-amzn-ErrorType`, `__type`) or a stream's `:exception-type`
// says it ("ThrottlingException", "throttlingException", "...#ThrottlingException:http://..."),
// and the HTTP status (0 inside a stream) -> the gateway's error code.
protocol::ErrorCode error_code(std::string_view exception, int status);

// True for the exceptions a later attempt may not meet: throttling, service unavailable, model
// not ready, internal server errors, model timeouts.
bool retryable_exception(std::string_view exception);

// The translator of a ConverseStream body (application/vnd.amazon.eventstream).
std::unique_ptr<StreamTranslator> make_stream_translator(const ResponseContext& context);

// nlohmann dump that never throws on invalid UTF-8 from a client or a provider.
template <typename Json>
std::string dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace bedrock
}  // namespace switchboard::providers
