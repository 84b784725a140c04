// scan_chunk against the searches it replaced (kept here as the reference), on real chunks and on
// random text made of the keys' pieces, overlaps and quotes.
#include "switchboard/gateway/chunk_facts.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace switchboard::gateway {
namespace {

constexpr std::string_view kContent = "\"content\":\"";

bool reference_carries_output(std::string_view data) {
  auto c = data.find(kContent);
  if (c != std::string_view::npos && c + 11 < data.size() && data[c + 11] != '"') return true;
  return data.find("\"tool_calls\"") != std::string_view::npos;
}

std::size_t reference_content_chars(std::string_view data) {
  std::size_t total = 0;
  for (auto c = data.find(kContent); c != std::string_view::npos; c = data.find(kContent, c + 11)) {
    auto end = data.find('"', c + 11);
    if (end == std::string_view::npos) break;
    total += end - (c + 11);
  }
  return total;
}

void expect_as_reference(std::string_view data) {
  ChunkFacts f = scan_chunk(data);
  ASSERT_EQ(f.usage, data.find("\"usage\"") != std::string_view::npos) << data;
  ASSERT_EQ(f.carries_output, reference_carries_output(data)) << data;
  ASSERT_EQ(f.content_chars, reference_content_chars(data)) << data;
}

TEST(ChunkFacts, RealChunks) {
  std::string head =
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[)";
  auto role =
      head + R"({"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})";
  auto text = head + R"({"index":0,"delta":{"content":"Prince Hamlet \"avenges\" "}}]})";
  auto tool = head + R"({"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1"}]}}]})";
  auto usage = head + R"(],"usage":{"prompt_tokens":27,"completion_tokens":22}})";
  auto two =
      head + R"({"index":0,"delta":{"content":"ab"}},{"index":1,"delta":{"content":"cde"}}]})";
  ChunkFacts f = scan_chunk(role);
  EXPECT_FALSE(f.carries_output);
  EXPECT_EQ(f.content_chars, 0u);
  f = scan_chunk(text);
  EXPECT_TRUE(f.carries_output);
  EXPECT_EQ(f.content_chars, 15u) << "up to the escaped quote, as the search counted";
  EXPECT_TRUE(scan_chunk(tool).carries_output);
  EXPECT_TRUE(scan_chunk(usage).usage);
  EXPECT_FALSE(scan_chunk(usage).carries_output);
  EXPECT_EQ(scan_chunk(two).content_chars, 5u);
  for (const auto& c : {role, text, tool, usage, two}) expect_as_reference(c);
}

TEST(ChunkFacts, EdgesAndOverlaps) {
  for (std::string_view s :
       {"", "\"", "\"c", "\"content\":\"", "\"content\":\"\"", "\"content\":\"x",
        "\"content\":\"\"content\":\"ab\"", "\"content\":\"usage\"", "\"content\":\"\"tool_calls\"",
        "\"content\":\"content\":\"x\"", "\"usage", "\"usage\"", "x\"tool_calls\"",
        "\"content\":\"a\"\"content\":\"", "\"content\":\"ab\"c\"content\":\"\""}) {
    expect_as_reference(s);
  }
}

TEST(ChunkFacts, RandomTextOfKeyPieces) {
  const std::vector<std::string> pieces = {"\"content\":\"",
                                           "\"usage\"",
                                           "\"tool_calls\"",
                                           "\"",
                                           "\"c",
                                           "\"u",
                                           "\"t",
                                           "content",
                                           ":",
                                           "\"content\"",
                                           "ab",
                                           " ",
                                           "\\\"",
                                           "{",
                                           "}",
                                           "x",
                                           "\"content\":",
                                           "\"usage",
                                           "0123456789abcdef"};
  std::mt19937 rng(11);
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1), count(0, 40);
  for (int i = 0; i < 50000; ++i) {
    std::string s;
    for (std::size_t n = count(rng); n > 0; --n) s += pieces[pick(rng)];
    expect_as_reference(s);
  }
}

}  // namespace
}  // namespace switchboard::gateway
