// Usage extraction from OpenAI bodies and cost arithmetic.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <random>

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

// ---------------------------------------------------------------------------------------------
// The hand scanner against what nlohmann::json::parse + usage_from_openai gave before.

namespace {

std::optional<switchboard::accounting::Usage> parsed_usage(std::string_view text) {
  constexpr std::string_view kKey = "\"usage\"";
  auto is_ws = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  std::size_t pos = text.rfind(kKey);
  while (pos != std::string_view::npos) {
    std::size_t i = pos + kKey.size();
    while (i < text.size() && is_ws(text[i])) ++i;
    if (i < text.size() && text[i] == ':') {
      ++i;
      while (i < text.size() && is_ws(text[i])) ++i;
      if (i < text.size() && text[i] == '{') {
        // object_end(), as in usage.cpp
        int depth = 0;
        bool in_string = false;
        std::size_t end = std::string_view::npos;
        for (std::size_t k = i; k < text.size(); ++k) {
          char c = text[k];
          if (in_string) {
            if (c == '\\') {
              ++k;
            } else if (c == '"') {
              in_string = false;
            }
            continue;
          }
          if (c == '"') {
            in_string = true;
          } else if (c == '{') {
            ++depth;
          } else if (c == '}' && --depth == 0) {
            end = k + 1;
            break;
          }
        }
        if (end == std::string_view::npos) return std::nullopt;
        auto obj = nlohmann::json::parse(text.substr(i, end - i), nullptr, false);
        if (obj.is_discarded()) return std::nullopt;
        return switchboard::accounting::usage_from_openai(obj);
      }
      return std::nullopt;
    }
    if (pos == 0) break;
    pos = text.rfind(kKey, pos - 1);
  }
  return std::nullopt;
}

std::string describe(const std::optional<switchboard::accounting::Usage>& u) {
  if (!u) return "nullopt";
  return "known=" + std::to_string(u->known) + " input=" + std::to_string(u->input) +
         " output=" + std::to_string(u->output) + " cached=" + std::to_string(u->cached_input) +
         " write=" + std::to_string(u->cache_write) + " reasoning=" + std::to_string(u->reasoning);
}

void expect_same_as_parsed(std::string_view text) {
  EXPECT_EQ(describe(find_openai_usage(text)), describe(parsed_usage(text))) << text;
}

}  // namespace

TEST(FindOpenAiUsage, ReadsKeysInAnyOrderAndSpacing) {
  auto u = find_openai_usage(
      "{\"usage\": {\n  \"completion_tokens_details\" : { \"audio_tokens\": 0, "
      "\"reasoning_tokens\" : 7 },\r\n\t\"total_tokens\": 30, \"completion_tokens\":10,"
      "\"prompt_tokens_details\":{\"cached_tokens\":   3, \"audio_tokens\": null},"
      "\"prompt_tokens\" : 20 } }");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->input, 20);
  EXPECT_EQ(u->output, 10);
  EXPECT_EQ(u->cached_input, 3);
  EXPECT_EQ(u->reasoning, 7);
}

TEST(FindOpenAiUsage, NonNumbersCountZeroAndFractionsTruncate) {
  auto u = find_openai_usage(
      R"({"usage":{"prompt_tokens":"12","completion_tokens":5.9,"prompt_tokens_details":null,)"
      R"("completion_tokens_details":{"reasoning_tokens":[1,2]}}})");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->input, 0);
  EXPECT_EQ(u->output, 5);
  EXPECT_EQ(u->cached_input, 0);
  EXPECT_EQ(u->reasoning, 0);
}

TEST(FindOpenAiUsage, LaterDuplicateKeysWin) {
  auto u = find_openai_usage(
      R"({"usage":{"prompt_tokens":1,"prompt_tokens":2,"prompt_tokens_details":{"cached_tokens":1},)"
      R"("prompt_tokens_details":{"other":1}}})");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->input, 2);
  EXPECT_EQ(u->cached_input, 0);
}

TEST(FindOpenAiUsage, EscapedKeysMatchLikeParsedOnes) {
  auto u = find_openai_usage(R"({"usage":{"prompt\u005ftokens":4,"completion_tokens":1}})");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->input, 4);
}

TEST(FindOpenAiUsage, InvalidJsonInsideTheObjectIsAbsent) {
  for (const char* text : {
           R"({"usage":{"prompt_tokens":01}})",
           R"({"usage":{"prompt_tokens":1,}})",
           R"({"usage":{"prompt_tokens":-}})",
           R"({"usage":{"prompt_tokens":1.}})",
           R"({"usage":{"prompt_tokens":tru}})",
           R"({"usage":{"x":"\q"}})",
           R"({"usage":{"x":"\ud800"}})",
           R"({"usage":{"x":"\udc00"}})",
           R"({"usage":{"x":[1,2}})",
           "{\"usage\":{\"x\":\"a\x01\"}}",
           "{\"usage\":{\"x\":\"\xC3\x28\"}}",
           R"({"usage":{"prompt_tokens" 1}})",
       }) {
    EXPECT_FALSE(find_openai_usage(text).has_value()) << text;
    expect_same_as_parsed(text);
  }
}

TEST(FindOpenAiUsage, AgreesWithAJsonParserOnCraftedInputs) {
  for (const char* text : {
           R"({"usage":{}})",
           R"({"usage":{"prompt_tokens":12345678901234567890}})",
           R"({"usage":{"prompt_tokens":-9223372036854775809}})",
           R"({"usage":{"prompt_tokens":99999999999999999999999}})",
           R"({"usage":{"prompt_tokens":1e3,"completion_tokens":-2.5e0}})",
           R"({"usage":{"prompt_tokens":1e400,"completion_tokens":1e-400}})",
           R"({"usage":{"prompt_tokens":-0,"completion_tokens":true}})",
           R"({"usage":{"x":{"y":[{"z":[[],{}]}],"w":"\"}\\"},"prompt_tokens":3}})",
           R"({"usage":{"x":"\ud83d\ude00 caf\u00e9 \/","prompt_tokens":3}})",
           "{\"usage\":{\"x\":\"caf\xC3\xA9 \xF0\x9F\x98\x80\",\"prompt_tokens\":3}}",
           R"({"choices":[{"delta":{"content":"usage"}}],"usage":{"prompt_tokens":3}})",
           R"({"usage" : null, "x": {"usage": {"prompt_tokens": 9}}})",
           // Lookalikes of the key after the real one: many 'u's, "usage" as a value,
           // followed by a backslash, as a prefix of a longer key.
           R"({"usage":{"prompt_tokens":5},"u":"u\"usage\"uu","usage_x":1,"m":"usage","uu":"u"})",
           R"({"usage":{"prompt_tokens":6},"usage":{"prompt_tokens":7}})",
       }) {
    expect_same_as_parsed(text);
  }
}

TEST(FindOpenAiUsage, ShortOrKeyOnlyTextsHaveNoUsage) {
  for (std::string_view text :
       {"", "u", "\"", "\"usage\"", "\"usage\":", "usage\":{}", "\"usag\":{}"}) {
    EXPECT_FALSE(find_openai_usage(text).has_value()) << text;
  }
  auto u = find_openai_usage("\"usage\":{\"prompt_tokens\":2}");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->input, 2);
}

TEST(FindOpenAiUsage, AgreesWithAJsonParserOnMutatedBodies) {
  const std::string base =
      R"({"id":"c","usage":{"prompt_tokens":27,"completion_tokens":26,"total_tokens":53,)"
      R"("prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0},)"
      R"("completion_tokens_details":{"reasoning_tokens":2,"x":[1,-2.5e3,"s\"t",null]}}})";
  const std::string alphabet = "{}[]:,\"\\ 0123456789-+.eEtrufalsn\x01\xC3\xA9\xFF";
  std::mt19937 rng(99);
  for (int round = 0; round < 20000; ++round) {
    std::string text = base;
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      std::size_t at = 6 + rng() % (text.size() - 6);
      char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          text[at] = c;
          break;
        case 1:
          text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          text.erase(at, 1);
      }
    }
    ASSERT_EQ(describe(find_openai_usage(text)), describe(parsed_usage(text))) << text;
  }
}
