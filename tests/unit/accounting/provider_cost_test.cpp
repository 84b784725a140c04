// Cost per provider usage shape, against hand-computed figures: cache reads, cache writes and
// reasoning tokens are where gateways get the bill wrong (provider-formats.md section 0.2).
#include <gtest/gtest.h>

#include "switchboard/accounting/usage.hpp"
#include "switchboard/providers/adapter.hpp"

using namespace switchboard;
using namespace switchboard::accounting;

namespace {

const config::Price kSonnet{3.00, 15.00, 0.30, 3.75};
const config::Price kFlash{0.30, 2.50, 0.03, 0.30};
const config::Price kMini{0.15, 0.60, 0.075, 0.15};

Usage translated(config::ProviderType type, const std::string& body) {
  auto adapter = providers::make_adapter(type);
  providers::ResponseContext context;
  context.id = "chatcmpl-1";
  context.model = "m";
  nlohmann::json out;
  Usage usage;
  auto error = adapter->translate_chat(body, context, out, usage);
  EXPECT_FALSE(error) << (error ? error->message : "");
  return usage;
}

Usage streamed(config::ProviderType type, const std::string& bytes) {
  auto adapter = providers::make_adapter(type);
  providers::ResponseContext context;
  context.id = "chatcmpl-1";
  context.model = "m";
  context.include_usage = true;
  auto translator = adapter->chat_stream(context);
  std::vector<std::string> chunks;
  for (std::size_t i = 0; i < bytes.size(); i += 7) {  // arbitrary splits
    auto error = translator->feed(std::string_view(bytes).substr(i, 7), chunks);
    EXPECT_FALSE(error) << (error ? error->message : "");
  }
  return translator->usage();
}

}  // namespace

TEST(ProviderCost, OpenAiCachedPromptTokensAtTheCachedRateAndReasoningAsOutput) {
  auto usage = find_openai_usage(R"({"id":"c","choices":[],"usage":{"prompt_tokens":1000,
    "completion_tokens":300,"total_tokens":1300,"prompt_tokens_details":{"cached_tokens":600},
    "completion_tokens_details":{"reasoning_tokens":200}}})");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->uncached_input(), 400);
  EXPECT_EQ(usage->reasoning, 200);
  // 400 x 0.15 + 600 x 0.075 + 300 x 0.60 = 60 + 45 + 180 micro-dollars
  EXPECT_NEAR(cost_usd(*usage, kMini), 285e-6, 1e-15);
}

TEST(ProviderCost, AnthropicInputExcludesCacheReadsAndWrites) {
  auto usage = translated(config::ProviderType::anthropic, R"({"id":"msg_1","type":"message",
    "role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"hi"}],
    "stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":100,"output_tokens":50,
    "cache_creation_input_tokens":300,"cache_read_input_tokens":200}})");
  EXPECT_EQ(usage.input, 600);  // OpenAI's prompt_tokens: the sum
  EXPECT_EQ(usage.cached_input, 200);
  EXPECT_EQ(usage.cache_write, 300);
  // 100 x 3 + 200 x 0.30 + 300 x 3.75 + 50 x 15 = 300 + 60 + 1125 + 750
  EXPECT_NEAR(cost_usd(usage, kSonnet), 2235e-6, 1e-15);
}

TEST(ProviderCost, AnthropicStreamTakesInputFromMessageStartAndOutputFromMessageDelta) {
  auto usage = streamed(config::ProviderType::anthropic,
                        "event: message_start\n"
                        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":"
                        "\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\","
                        "\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":100,"
                        "\"output_tokens\":1,\"cache_creation_input_tokens\":300,"
                        "\"cache_read_input_tokens\":200}}}\n\n"
                        "event: content_block_start\n"
                        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                        "{\"type\":\"text\",\"text\":\"\"}}\n\n"
                        "event: content_block_delta\n"
                        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                        "\"text_delta\",\"text\":\"hi\"}}\n\n"
                        "event: content_block_stop\n"
                        "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
                        "event: message_delta\n"
                        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                        "\"stop_sequence\":null},\"usage\":{\"output_tokens\":50}}\n\n"
                        "event: message_stop\n"
                        "data: {\"type\":\"message_stop\"}\n\n");
  EXPECT_TRUE(usage.known);
  EXPECT_EQ(usage.output, 50);
  EXPECT_NEAR(cost_usd(usage, kSonnet), 2235e-6, 1e-15);
}

TEST(ProviderCost, GeminiPromptIncludesCachedAndThoughtsAreBilledAsOutput) {
  auto usage = translated(config::ProviderType::gemini, R"({"candidates":[{"content":{
    "role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP","index":0}],
    "usageMetadata":{"promptTokenCount":1000,"cachedContentTokenCount":400,
    "candidatesTokenCount":50,"thoughtsTokenCount":200,"totalTokenCount":1250},
    "modelVersion":"gemini-2.5-flash"})");
  EXPECT_EQ(usage.input, 1000);
  EXPECT_EQ(usage.cached_input, 400);
  EXPECT_EQ(usage.output, 250);
  EXPECT_EQ(usage.reasoning, 200);
  // 600 x 0.30 + 400 x 0.03 + 250 x 2.50 = 180 + 12 + 625
  EXPECT_NEAR(cost_usd(usage, kFlash), 817e-6, 1e-15);
}

TEST(ProviderCost, GeminiStreamUsesTheLastUsageMetadata) {
  auto usage = streamed(
      config::ProviderType::gemini,
      "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"h\"}]},"
      "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":1000,\"cachedContentTokenCount\":400,"
      "\"candidatesTokenCount\":1,\"totalTokenCount\":1001}}\r\n\r\n"
      "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"i\"}]},"
      "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":1000,"
      "\"cachedContentTokenCount\":400,\"candidatesTokenCount\":50,\"thoughtsTokenCount\":200,"
      "\"totalTokenCount\":1250}}\r\n\r\n");
  EXPECT_EQ(usage.output, 250);
  EXPECT_NEAR(cost_usd(usage, kFlash), 817e-6, 1e-15);
}

TEST(ProviderCost, BedrockConverseInputExcludesCacheReadsAndWrites) {
  auto usage = translated(config::ProviderType::bedrock, R"({"output":{"message":{
    "role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn",
    "usage":{"inputTokens":100,"outputTokens":50,"totalTokens":650,
    "cacheReadInputTokens":200,"cacheWriteInputTokens":300},"metrics":{"latencyMs":10}})");
  EXPECT_EQ(usage.input, 600);
  EXPECT_EQ(usage.cached_input, 200);
  EXPECT_EQ(usage.cache_write, 300);
  EXPECT_NEAR(cost_usd(usage, kSonnet), 2235e-6, 1e-15);
}

TEST(ProviderCost, MistralUsageIsOpenAiShaped) {
  auto usage = translated(config::ProviderType::mistral, R"({"id":"c1","object":"chat.completion",
    "model":"mistral-small-latest","created":1,"choices":[{"index":0,"message":{"role":"assistant",
    "content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":500,
    "total_tokens":1500}})");
  EXPECT_EQ(usage.input, 1000);
  EXPECT_EQ(usage.output, 500);
  // 1000 x 0.10 + 500 x 0.30
  EXPECT_NEAR(cost_usd(usage, config::Price{0.10, 0.30, 0.10, 0.10}), 250e-6, 1e-15);
}

TEST(ProviderCost, MissingCachePricesDefaultToTheInputPriceInConfigNotZero) {
  Usage u;
  u.input = 1000;
  u.cached_input = 1000;
  // A price with explicit zero cached rate charges nothing for cache reads; the loader defaults
  // an absent cached_input to `input` (tested in the config tests).
  EXPECT_NEAR(cost_usd(u, config::Price{1.0, 0, 0, 0}), 0, 1e-15);
  EXPECT_NEAR(cost_usd(u, config::Price{1.0, 0, 1.0, 1.0}), 1000e-6, 1e-15);
}
