// The built-in deterministic provider (SPEC section 7): OpenAI-shaped replies, in-process or over
// HTTP.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchboard/config/config.hpp"
#include "switchboard/upstream/call.hpp"

namespace switchboard::providers {

struct MockReply {
  int status = 200;
  bool stream = false;
  std::string body;                 // the whole body (JSON) when not streaming, or an error
  std::vector<std::string> events;  // streaming: SSE blocks in order, the last is [DONE]
};

enum class MockEndpoint { chat, embeddings, unknown };

MockEndpoint mock_endpoint_for(std::string_view target);

// Builds the reply to one call. Strict like the real API: a malformed request is a 400
// in OpenAI's error shape. `call_number` starts at 1 and drives `fail.every`.
MockReply mock_reply(MockEndpoint endpoint, std::string_view body, const config::MockConfig& mock,
                     std::uint64_t call_number);

// Whitespace-separated word count: the mock's notion of a token.
std::size_t mock_token_count(std::string_view text);

// An UpstreamCall answered in-process, paced with timers like a real stream.
std::unique_ptr<upstream::UpstreamCall> make_mock_call(
    boost::asio::any_io_executor executor, const config::MockConfig& mock,
    std::shared_ptr<std::atomic<std::uint64_t>> calls);

}  // namespace switchboard::providers
