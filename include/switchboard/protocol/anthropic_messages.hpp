// The Anthropic Messages API in front of the gateway: /v1/messages requests to OpenAI Chat
// Completions, and OpenAI completions and chunks back to Anthropic messages and SSE events.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "switchboard/accounting/usage.hpp"
#include "switchboard/protocol/errors.hpp"

namespace switchboard::protocol {

// Validates an Anthropic Messages request as Anthropic does (model, max_tokens, non-empty
// messages, user/assistant roles, content a string or blocks, no unknown fields) and translates
// it to an OpenAI Chat Completions request. Errors are 400 invalid_request whose message names
// the field in Anthropic's dotted form ("messages.0.content.1.type").
//
// Choices (docs/ should say the same):
// - top_k has no OpenAI field; it is carried as a non-standard `top_k`, which Anthropic, vLLM
//   and the gateway's Anthropic adapter honour and OpenAI itself refuses with a 400.
// - thinking {type:"enabled"|"adaptive"} is refused (400): thinking blocks and their signatures
//   cannot survive Chat Completions. {type:"disabled"} is accepted. Thinking blocks in earlier
//   assistant turns are dropped.
// - output_format / output_config.format (json_schema) become response_format json_schema.
// - cache_control markers and service_tier are dropped (hints, not meaning).
// - tool_result is_error:true prefixes the tool message's text with "[tool error] ".
// - max_tokens becomes max_completion_tokens; stream adds stream_options.include_usage.
std::optional<ApiError> anthropic_request_to_openai(const nlohmann::json& anthropic_request,
                                                    nlohmann::json& openai_request);

// An OpenAI chat.completion -> an Anthropic message object reporting `model`. When `usage` is
// given its counts win over the completion's usage JSON (the split into cache reads and writes
// is then exact).
nlohmann::json openai_response_to_anthropic(const nlohmann::json& openai_completion,
                                            const std::string& model,
                                            const accounting::Usage* usage = nullptr);

// OpenAI finish_reason -> Anthropic stop_reason (the reverse of provider-formats.md 0.1).
std::string_view anthropic_stop_reason(std::string_view finish_reason);

// "chatcmpl-abc" -> "msg_abc": the id an Anthropic client sees for an OpenAI completion.
std::string anthropic_message_id(std::string_view openai_id);

// Re-encodes an OpenAI chat.completion.chunk stream as Anthropic's SSE events, in Anthropic's
// order: message_start, then per content block content_block_start, content_block_delta...,
// content_block_stop (text as text_delta, tool calls as tool_use blocks with input_json_delta),
// then message_delta (stop_reason, usage) and message_stop.
//
// Input token counts are only known at the end of an OpenAI stream, so message_start reports 0
// and message_delta carries the real input, output and cache counts (the Anthropic SDKs take
// input_tokens from message_delta when present).
class AnthropicStreamEncoder {
 public:
  explicit AnthropicStreamEncoder(std::string model);

  // One OpenAI chunk (already parsed) -> zero or more events appended to `sse_out`. Chunks with
  // empty choices (the usage chunk) add nothing.
  void on_chunk(const nlohmann::json& openai_chunk, std::string& sse_out);

  // Closes the open block and appends message_delta and message_stop. Call once, at the end.
  void finish(const accounting::Usage& usage, std::string& sse_out);

  // A failure after the stream began: an `error` event (anthropic_error_body), after which the
  // stream ends. Anthropic's SDKs throw it as an APIError.
  void fail(const ApiError& error, std::string& sse_out);

  bool started() const { return started_; }

 private:
  void start(std::string_view openai_id, std::string& sse_out);
  void open_text(std::string& sse_out);
  void open_tool(std::int64_t tool_index, const std::string& id, const std::string& name,
                 std::string& sse_out);
  void close_block(std::string& sse_out);

  std::string model_;
  std::string stop_reason_ = "end_turn";
  bool started_ = false;
  bool finished_ = false;
  std::int64_t next_block_ = 0;   // Anthropic content block indexes, in order
  std::int64_t open_block_ = -1;  // the block between its start and stop, -1 for none
  bool open_is_text_ = false;
  std::map<std::int64_t, std::int64_t> tool_blocks_;  // OpenAI tool_calls index -> block index
};

}  // namespace switchboard::protocol
