// The ChunkSink contract of every stream translator: chunks arrive as views that are whole compact
// JSON objects without raw line breaks (the relay frames each as one SSE data line), and each
// chunk's output_chars is the visible output its deltas carry (the relay's TTFT and the estimate
// of a stream cut short rely on it instead of scanning).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "switchboard/providers/adapter.hpp"
#include "switchboard/providers/anthropic.hpp"
#include "switchboard/providers/gemini.hpp"
#include "switchboard/providers/mistral.hpp"

namespace switchboard::providers {
namespace {

using nlohmann::json;

std::string fixture(const std::string& path) {
  std::ifstream in(std::string(SWB_TEST_DATA_DIR) + "/" + path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Recorded {
  std::string json;
  std::size_t output_chars;
};

// Copies what it is handed at once: the view is only valid during the call.
class RecordingSink final : public ChunkSink {
 public:
  void chunk(std::string_view json, std::size_t output_chars) override {
    chunks.push_back({std::string(json), output_chars});
  }
  std::vector<Recorded> chunks;
};

// The output an OpenAI chunk carries, counted from its parsed text.
std::size_t output_of(const json& chunk) {
  std::size_t n = 0;
  for (const auto& choice : chunk.value("choices", json::array()))
    n += delta_output_chars(choice.value("delta", json::object()));
  return n;
}

struct Case {
  const char* name;
  std::unique_ptr<ProviderAdapter> (*make)();
  const char* fixture;
};

class ChunkSinkTest : public ::testing::TestWithParam<Case> {};

TEST_P(ChunkSinkTest, ChunksAreOneLineJsonAndCountTheirOutput) {
  const Case& c = GetParam();
  auto adapter = c.make();
  const std::string body = fixture(c.fixture);
  for (bool include_usage : {false, true}) {
    // Fed whole, and in pieces of 7 bytes (the translator's buffers are reused across feeds).
    for (std::size_t piece : {body.size(), std::size_t{7}}) {
      ResponseContext context{"chatcmpl-sink", "model-x", 1700000000, include_usage};
      auto translator = adapter->chat_stream(context);
      ASSERT_TRUE(translator);
      RecordingSink sink;
      for (std::size_t at = 0; at < body.size(); at += piece) {
        auto error = translator->feed(std::string_view(body).substr(at, piece), sink);
        ASSERT_FALSE(error) << c.fixture << ": " << error->message;
      }
      ASSERT_FALSE(sink.chunks.empty()) << c.fixture;
      std::size_t total = 0;
      for (const auto& r : sink.chunks) {
        EXPECT_EQ(r.json.find_first_of("\r\n"), std::string::npos) << r.json;
        auto parsed = json::parse(r.json, nullptr, false);
        ASSERT_TRUE(parsed.is_object()) << r.json;
        EXPECT_EQ(parsed["object"], "chat.completion.chunk");
        EXPECT_EQ(r.output_chars, output_of(parsed)) << r.json;
        total += r.output_chars;
      }
      EXPECT_GT(total, 0u) << c.fixture;
      // The collecting overload hands over the same chunks.
      auto again = adapter->chat_stream(context);
      std::vector<std::string> collected;
      ASSERT_FALSE(again->feed(body, collected));
      ASSERT_EQ(collected.size(), sink.chunks.size());
      for (std::size_t i = 0; i < collected.size(); ++i)
        EXPECT_EQ(collected[i], sink.chunks[i].json);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Translators, ChunkSinkTest,
    ::testing::Values(
        Case{"anthropic_text", make_anthropic_adapter, "anthropic/stream_text.sse"},
        Case{"anthropic_tools", make_anthropic_adapter, "anthropic/stream_tool_use.sse"},
        Case{"anthropic_thinking", make_anthropic_adapter, "anthropic/stream_cached_thinking.sse"},
        Case{"gemini_text", make_gemini_adapter, "gemini/stream_text.sse"},
        Case{"gemini_tools", make_gemini_adapter, "gemini/stream_function_call.sse"},
        Case{"mistral_text", make_mistral_adapter, "mistral/stream_text.sse"},
        Case{"mistral_tools", make_mistral_adapter, "mistral/stream_tool_calls.sse"}),
    [](const auto& info) { return std::string(info.param.name); });

// Content with line breaks and quotes is escaped inside the one line, and counted decoded.
TEST(ChunkSinkAnthropic, EscapedTextStaysOnOneLineAndCountsDecodedCharacters) {
  auto adapter = make_anthropic_adapter();
  ResponseContext context{"chatcmpl-sink", "model-x", 1700000000, false};
  auto translator = adapter->chat_stream(context);
  RecordingSink sink;
  std::string sse =
      "event: content_block_start\ndata: "
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"
      "\n\nevent: content_block_delta\ndata: "
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\nb\r\"c\u00e9"}})"
      "\n\n";
  ASSERT_FALSE(translator->feed(sse, sink));
  ASSERT_EQ(sink.chunks.size(), 2u);  // role, then the text
  EXPECT_EQ(sink.chunks[0].output_chars, 0u);
  const auto& text = sink.chunks[1];
  EXPECT_EQ(text.json.find_first_of("\r\n"), std::string::npos);
  EXPECT_EQ(json::parse(text.json)["choices"][0]["delta"]["content"], "a\nb\r\"c\xC3\xA9");
  EXPECT_EQ(text.output_chars, 8u);  // a \n b \r " c and the two bytes of é
}

}  // namespace
}  // namespace switchboard::providers
