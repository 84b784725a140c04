// The mock provider's replies: deterministic, OpenAI-shaped, strict.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "switchboard/protocol/sse.hpp"
#include "switchboard/providers/mock.hpp"

using namespace switchboard;
using nlohmann::json;

namespace {
providers::MockReply chat(const std::string& body, config::MockConfig mock = {},
                          std::uint64_t n = 1) {
  return providers::mock_reply(providers::MockEndpoint::chat, body, mock, n);
}
}  // namespace

TEST(MockProvider, EchoesTheLastUserMessageWithWordCountUsage) {
  auto r = chat(
      R"({"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello big world"}]})");
  ASSERT_EQ(r.status, 200);
  auto j = json::parse(r.body);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "echo: hello big world");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(j["usage"]["completion_tokens"], 4);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
}

TEST(MockProvider, MaxTokensTruncatesWithLengthFinish) {
  auto r = chat(R"({"model":"m","max_tokens":2,"messages":[{"role":"user","content":"a b c d"}]})");
  auto j = json::parse(r.body);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "echo: a");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
}

TEST(MockProvider, StreamsOneEventPerWordThenUsageAndDone) {
  auto r = chat(
      R"({"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x y"}]})");
  ASSERT_TRUE(r.stream);
  // role chunk, 3 words, finish chunk, usage chunk, [DONE]
  ASSERT_EQ(r.events.size(), 7u);
  EXPECT_EQ(r.events.back(), protocol::kSseDone);
  std::string text;
  for (std::size_t i = 0; i + 1 < r.events.size(); ++i) {
    protocol::SseReader reader;
    reader.feed(r.events[i]);
    protocol::SseEvent ev;
    ASSERT_TRUE(reader.next(ev));
    auto j = json::parse(ev.data);
    if (!j["choices"].empty() && j["choices"][0]["delta"].contains("content"))
      text += j["choices"][0]["delta"]["content"].get<std::string>();
    if (i == r.events.size() - 2) {
      EXPECT_TRUE(j["choices"].empty());
      EXPECT_EQ(j["usage"]["completion_tokens"], 3);
    }
  }
  EXPECT_EQ(text, "echo: x y");
}

TEST(MockProvider, RejectsWhatTheRealApiRejects) {
  EXPECT_EQ(chat("{").status, 400);
  EXPECT_EQ(chat(R"({"messages":[{"role":"user","content":"x"}]})").status, 400);
  EXPECT_EQ(chat(R"({"model":"m","messages":[]})").status, 400);
  EXPECT_EQ(chat(R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})").status, 400);
  EXPECT_EQ(
      chat(R"({"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]})").status,
      400);
  auto r = chat(R"({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["param"], "max_tokens");
}

TEST(MockProvider, FailsEveryNthCall) {
  config::MockConfig mock;
  mock.fail = {.status = 529, .every = 3};
  std::string body = R"({"model":"m","messages":[{"role":"user","content":"x"}]})";
  EXPECT_EQ(chat(body, mock, 1).status, 200);
  EXPECT_EQ(chat(body, mock, 2).status, 200);
  EXPECT_EQ(chat(body, mock, 3).status, 529);
  EXPECT_EQ(chat(body, mock, 6).status, 529);
}

TEST(MockProvider, EmbeddingsAreDeterministicUnitVectors) {
  auto a = providers::mock_reply(providers::MockEndpoint::embeddings,
                                 R"({"model":"e","input":["hi there","hi there"],"dimensions":16})",
                                 {}, 1);
  ASSERT_EQ(a.status, 200);
  auto j = json::parse(a.body);
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][0]["embedding"], j["data"][1]["embedding"]);
  double norm = 0;
  for (double x : j["data"][0]["embedding"]) norm += x * x;
  EXPECT_NEAR(norm, 1.0, 1e-9);
  EXPECT_EQ(j["data"][0]["embedding"].size(), 16u);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 4);
}
