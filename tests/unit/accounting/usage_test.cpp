// Usage extraction from OpenAI bodies and cost arithmetic.
#include <gtest/gtest.h>

#include "switchboard/accounting/usage.hpp"

using switchboard::accounting::cost_usd;
using switchboard::accounting::find_openai_usage;

TEST(FindOpenAiUsage, ReadsUsageAtTheEndOfACompletion) {
  auto u = find_openai_usage(
      R"({"id":"x","choices":[{"message":{"content":"\"usage\": {\"prompt_tokens\": 99}"}}],)"
      R"("usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,)"
      R"("prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}})");
  ASSERT_TRUE(u.has_value());
  EXPECT_TRUE(u->known);
  EXPECT_EQ(u->input, 12);
  EXPECT_EQ(u->output, 5);
  EXPECT_EQ(u->cached_input, 4);
  EXPECT_EQ(u->reasoning, 2);
  EXPECT_EQ(u->uncached_input(), 8);
}

TEST(FindOpenAiUsage, NullUsageIsAbsent) {
  EXPECT_FALSE(find_openai_usage(R"({"choices":[],"usage":null})").has_value());
  EXPECT_FALSE(find_openai_usage(R"({"choices":[]})").has_value());
}

TEST(FindOpenAiUsage, ToleratesWhitespaceAroundTheColon) {
  auto u = find_openai_usage("{\"usage\" :\n {\"prompt_tokens\": 3, \"completion_tokens\": 1}}");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->input, 3);
  EXPECT_EQ(u->output, 1);
}

TEST(FindOpenAiUsage, TruncatedObjectIsAbsent) {
  EXPECT_FALSE(find_openai_usage(R"({"usage":{"prompt_tokens":3,)").has_value());
}

TEST(CostUsd, PricesCachedTokensAtTheCachedRate) {
  switchboard::accounting::Usage u;
  u.input = 1'000'000;  // of which 400k cached
  u.cached_input = 400'000;
  u.output = 100'000;
  switchboard::config::Price p{.input = 2.5, .output = 10, .cached_input = 1.25, .cache_write = 0};
  // 600k * 2.5 + 400k * 1.25 + 100k * 10, per million
  EXPECT_DOUBLE_EQ(cost_usd(u, p), 1.5 + 0.5 + 1.0);
}
