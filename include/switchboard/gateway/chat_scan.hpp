// Reads and validates an OpenAI chat completion request in one pass, without building a DOM:
// what the gateway needs to route, admit and forward it, and the same 400s as OpenAI gives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "switchboard/protocol/errors.hpp"

namespace switchboard::gateway {

struct ChatScan {
  std::string model;  // decoded, non-empty
  bool stream = false;
  // stream_options as the client sent it: present (any value, null included) and, when it is an
  // object, its include_usage.
  bool stream_options_present = false;
  bool include_usage = false;
  std::int64_t max_output_tokens = 0;  // max_completion_tokens, else max_tokens; 0 = not given
  std::int64_t prompt_tokens = 0;      // routing::estimate_prompt_tokens' figure for this body
  std::string user;                    // the body's `user`, first 256 bytes; empty when absent
  // Where the top level's members start (just after '{'), and the bytes of the `model` value,
  // quotes included, so the body can be forwarded with only `model` replaced.
  std::size_t members_begin = 0;
  std::size_t model_begin = 0;
  std::size_t model_end = 0;
  // More than one "model" or "stream_options" key: a provider might read another one than the
  // gateway did, so such a body is never forwarded as the client wrote it.
  bool duplicate_keys = false;
};

// Fills `out` from `text`, or returns the error OpenAI would give (invalid JSON first, then the
// first rule broken, in a fixed order: model, messages, stream, stream_options, token limits,
// sampling ranges, tools, user).
std::optional<protocol::ApiError> scan_chat_request(std::string_view text, ChatScan& out);

// `text` with the bytes [begin, end) replaced by `model` as a JSON string.
std::string replace_model(std::string_view text, std::size_t begin, std::size_t end,
                          std::string_view model);

// `text` with "stream_options":{"include_usage":true} inserted as the first member, at `at`
// (just after the top-level '{' of an object that has other members).
std::string insert_include_usage(std::string_view text, std::size_t at);

}  // namespace switchboard::gateway
