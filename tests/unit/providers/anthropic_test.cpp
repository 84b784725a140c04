// Unit tests for the Anthropic adapter: request mapping, responses, streams and errors, on
// fixtures shaped like the examples in Anthropic's documentation (tests/data/anthropic).
#include "switchboard/providers/anthropic.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace switchboard::providers {
namespace {

using nlohmann::json;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(SWB_TEST_DATA_DIR) + "/anthropic/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class AnthropicTest : public ::testing::Test {
 protected:
  AnthropicTest() {
    provider_.name = "anthropic";
    provider_.type = config::ProviderType::anthropic;
    provider_.headers = {{"anthropic-beta", "prompt-caching-2024-07-31"}};
    target_.provider = &provider_;
    target_.key = "sk-ant-test";
    target_.model_id = "claude-sonnet-4-5";
  }

  // Builds the upstream request; returns its parsed body (null on error, with `error_` set).
  json build_json(const json& request, bool stream = false) {
    out_ = {};
    error_ = adapter_->build_chat(request, stream, target_, out_);
    return error_ ? json() : json::parse(out_.body);
  }

  json build(const std::string& request_text, bool stream = false) {
    return build_json(json::parse(request_text), stream);
  }

  json translate(const std::string& body, accounting::Usage& usage) {
    json out;
    auto err = adapter_->translate_chat(body, context_, out, usage);
    EXPECT_FALSE(err) << (err ? err->message : "");
    return out;
  }

  std::vector<std::string> stream_pieces(const std::vector<std::string>& pieces,
                                         std::optional<protocol::ApiError>* error = nullptr,
                                         accounting::Usage* usage = nullptr) {
    auto translator = adapter_->chat_stream(context_);
    std::vector<std::string> chunks;
    for (const auto& piece : pieces) {
      auto err = translator->feed(piece, chunks);
      if (err) {
        if (error) *error = err;
        break;
      }
    }
    if (usage) *usage = translator->usage();
    done_ = translator->done();
    return chunks;
  }

  std::vector<std::string> stream_whole(const std::string& sse) { return stream_pieces({sse}); }

  std::unique_ptr<ProviderAdapter> adapter_ = make_anthropic_adapter();
  config::ProviderConfig provider_;
  ProviderTarget target_;
  upstream::UpstreamRequest out_;
  std::optional<protocol::ApiError> error_;
  ResponseContext context_{"chatcmpl-gw1", "claude-sonnet", 1700000000, false};
  bool done_ = false;
};

std::string header(const upstream::UpstreamRequest& r, std::string_view name) {
  for (const auto& h : r.headers)
    if (h.name == name) return h.value;
  return "";
}

// ---------------------------------------------------------------- request

TEST_F(AnthropicTest, AnthropicRequest_PostsToMessagesWithKeyVersionAndExtraHeaders) {
  target_.base_path = "/proxy";
  auto body = build(R"({"model":"x","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_FALSE(error_);
  EXPECT_EQ(out_.method, "POST");
  EXPECT_EQ(out_.target, "/proxy/v1/messages");
  EXPECT_EQ(header(out_, "x-api-key"), "sk-ant-test");
  EXPECT_EQ(header(out_, "anthropic-version"), "2023-06-01");
  EXPECT_EQ(header(out_, "content-type"), "application/json");
  EXPECT_EQ(header(out_, "anthropic-beta"), "prompt-caching-2024-07-31");
  EXPECT_EQ(header(out_, "authorization"), "");
  EXPECT_EQ(body["model"], "claude-sonnet-4-5");
  EXPECT_EQ(body["max_tokens"], kAnthropicDefaultMaxTokens);
  EXPECT_EQ(body["messages"],
            json::parse(R"([{"role":"user","content":[{"type":"text","text":"hi"}]}])"));
  EXPECT_FALSE(body.contains("stream"));
}

TEST_F(AnthropicTest, AnthropicRequest_ConfiguredVersionHeaderReplacesTheDefault) {
  provider_.headers = {{"Anthropic-Version", "2026-10-21"}};
  build(R"({"model":"x","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_FALSE(error_);
  int versions = 0;
  for (const auto& h : out_.headers)
    if (h.name == "anthropic-version" || h.name == "Anthropic-Version") ++versions;
  EXPECT_EQ(versions, 1);
  EXPECT_EQ(header(out_, "Anthropic-Version"), "2026-10-21");
}

TEST_F(AnthropicTest, AnthropicRequest_MapsSystemMergedTurnsImagesToolsAndResults) {
  auto body = build(fixture("request_openai_tools.json"));
  ASSERT_FALSE(error_) << error_->message;
  EXPECT_EQ(body["system"], json::parse(R"([{"type":"text","text":"You are a weather bot."},
                                             {"type":"text","text":"Answer in Celsius."}])"));
  auto expected_messages = json::parse(R"([
    {"role":"user","content":[
      {"type":"text","text":"What's the weather in Paris and Berlin?"},
      {"type":"text","text":"Here is a map."},
      {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
      {"type":"image","source":{"type":"url","url":"https://example.com/map.jpg"}}]},
    {"role":"assistant","content":[
      {"type":"text","text":"Let me check."},
      {"type":"tool_use","id":"toolu_01A","name":"get_weather","input":{"city":"Paris"}},
      {"type":"tool_use","id":"toolu_01B","name":"get_weather","input":{"city":"Berlin"}}]},
    {"role":"user","content":[
      {"type":"tool_result","tool_use_id":"toolu_01A","content":"18C and sunny"},
      {"type":"tool_result","tool_use_id":"toolu_01B","content":[{"type":"text","text":"12C, rain"}]},
      {"type":"text","text":"Thanks! Which is warmer?"}]}])");
  EXPECT_EQ(body["messages"], expected_messages);
  EXPECT_EQ(body["tools"],
            json::parse(R"([{"name":"get_weather","description":"Current weather for a city",
      "input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}])"));
  EXPECT_EQ(body["tool_choice"],
            json::parse(R"({"type":"auto","disable_parallel_tool_use":true})"));
  EXPECT_EQ(body["max_tokens"], 512);
  EXPECT_EQ(body["temperature"], 1.0);  // OpenAI's 0..2 clamped to Anthropic's 0..1
  EXPECT_EQ(body["top_p"], 0.9);
  EXPECT_EQ(body["stop_sequences"], json::parse(R"(["END"])"));
  EXPECT_EQ(body["metadata"], json::parse(R"({"user_id":"user-42"})"));
}

TEST_F(AnthropicTest, AnthropicRequest_ToolResultsGoFirstInTheirUserTurn) {
  auto body = build(R"({"model":"x","messages":[
    {"role":"user","content":"weather?"},
    {"role":"assistant","tool_calls":[{"id":"t1","type":"function","function":{"name":"w","arguments":""}}]},
    {"role":"user","content":"also, hurry"},
    {"role":"tool","tool_call_id":"t1","content":"sunny"}]})");
  ASSERT_FALSE(error_) << error_->message;
  ASSERT_EQ(body["messages"].size(), 3u);
  EXPECT_EQ(body["messages"][1]["content"][0]["input"], json::object());
  EXPECT_EQ(body["messages"][2]["content"][0]["type"], "tool_result");
  EXPECT_EQ(body["messages"][2]["content"][1]["text"], "also, hurry");
}

TEST_F(AnthropicTest, AnthropicRequest_MapsToolChoiceVariants) {
  const char* base =
      R"({"model":"x","messages":[{"role":"user","content":"hi"}],
          "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
          "tool_choice":%s})";
  auto with = [&](const std::string& choice) {
    std::string text = base;
    text.replace(text.find("%s"), 2, choice);
    return build(text);
  };
  EXPECT_EQ(with(R"("auto")")["tool_choice"], json::parse(R"({"type":"auto"})"));
  EXPECT_EQ(with(R"("none")")["tool_choice"], json::parse(R"({"type":"none"})"));
  EXPECT_EQ(with(R"("required")")["tool_choice"], json::parse(R"({"type":"any"})"));
  EXPECT_EQ(with(R"({"type":"function","function":{"name":"f"}})")["tool_choice"],
            json::parse(R"({"type":"tool","name":"f"})"));
  EXPECT_FALSE(with("null").contains("tool_choice"));
  with(R"("sometimes")");
  ASSERT_TRUE(error_);
  EXPECT_EQ(error_->param, "tool_choice");
}

TEST_F(AnthropicTest, AnthropicRequest_StopArrayAndNullsPassOrVanish) {
  auto body = build(R"({"model":"x","messages":[{"role":"user","content":"hi"}],
                        "stop":["a","b"],"max_tokens":null,"temperature":0.3,"seed":7})");
  ASSERT_FALSE(error_);
  EXPECT_EQ(body["stop_sequences"], json::parse(R"(["a","b"])"));
  EXPECT_EQ(body["max_tokens"], kAnthropicDefaultMaxTokens);
  EXPECT_EQ(body["temperature"], 0.3);
  EXPECT_FALSE(body.contains("seed"));
}

TEST_F(AnthropicTest, AnthropicRequest_StreamSetsStreamAndAccept) {
  auto body = build(R"({"model":"x","messages":[{"role":"user","content":"hi"}]})", true);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(header(out_, "accept"), "text/event-stream");
}

TEST_F(AnthropicTest, AnthropicRequest_PdfDataUrlBecomesDocument) {
  auto body = build(R"({"model":"x","messages":[{"role":"user","content":[
    {"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBERi0="}}]}]})");
  ASSERT_FALSE(error_);
  EXPECT_EQ(body["messages"][0]["content"][0],
            json::parse(R"({"type":"document","source":{"type":"base64",
                            "media_type":"application/pdf","data":"JVBERi0="}})"));
}

TEST_F(AnthropicTest, AnthropicRequest_UnsupportedFieldsAre400sNamingTheField) {
  struct Case {
    const char* extra;
    const char* param;
  };
  const Case cases[] = {
      {R"("n":2)", "n"},
      {R"("logprobs":true)", "logprobs"},
      {R"("top_logprobs":3)", "top_logprobs"},
      {R"("logit_bias":{"50256":-100})", "logit_bias"},
      {R"("presence_penalty":0.5)", "presence_penalty"},
      {R"("frequency_penalty":1)", "frequency_penalty"},
      {R"("audio":{"voice":"alloy","format":"wav"})", "audio"},
      {R"("modalities":["text","audio"])", "modalities"},
      {R"("reasoning_effort":"high")", "reasoning_effort"},
      {R"("functions":[{"name":"f"}])", "functions"},
  };
  for (const auto& c : cases) {
    build(std::string(R"({"model":"x","messages":[{"role":"user","content":"hi"}],)") + c.extra +
          "}");
    ASSERT_TRUE(error_) << c.extra;
    EXPECT_EQ(error_->status, 400) << c.extra;
    EXPECT_EQ(error_->code, protocol::ErrorCode::invalid_request);
    EXPECT_EQ(error_->param, c.param);
    EXPECT_NE(error_->message.find(c.param), std::string::npos) << error_->message;
  }
  // Defaults that change nothing are accepted.
  build(R"({"model":"x","n":1,"logprobs":false,"presence_penalty":0,"logit_bias":{},
            "messages":[{"role":"user","content":"hi"}]})");
  EXPECT_FALSE(error_);
}

TEST_F(AnthropicTest, AnthropicRequest_AudioPartIs400NamingThePart) {
  build(R"({"model":"x","messages":[{"role":"user","content":[
    {"type":"text","text":"listen"},{"type":"input_audio","input_audio":{"data":"AAA=","format":"wav"}}]}]})");
  ASSERT_TRUE(error_);
  EXPECT_EQ(error_->param, "messages[0].content[1]");
}

TEST_F(AnthropicTest, AnthropicRequest_InvalidToolArgumentsAre400) {
  build(R"({"model":"x","messages":[{"role":"user","content":"hi"},
    {"role":"assistant","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{oops"}}]},
    {"role":"tool","tool_call_id":"t","content":"r"}]})");
  ASSERT_TRUE(error_);
  EXPECT_EQ(error_->status, 400);
  EXPECT_EQ(error_->param, "messages[1].tool_calls[0].function.arguments");
}

TEST_F(AnthropicTest, AnthropicRequest_MalformedShapesAre400) {
  for (
      const char* body :
      {R"({"model":"x"})", R"({"model":"x","messages":[]})",
       R"({"model":"x","messages":[{"role":"wizard","content":"hi"}]})",
       R"({"model":"x","messages":[{"role":"user","content":"hi"}],"max_tokens":0})",
       R"({"model":"x","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x"}}]}]})",
       R"({"model":"x","messages":[{"role":"tool","content":"orphan"}]})"}) {
    build(body);
    ASSERT_TRUE(error_) << body;
    EXPECT_EQ(error_->status, 400) << body;
  }
}

TEST_F(AnthropicTest, AnthropicRequest_EmulatesJsonSchemaWithAForcedTool) {
  auto body = build(R"({"model":"x","messages":[{"role":"user","content":"extract"}],
    "response_format":{"type":"json_schema","json_schema":{"name":"person","schema":
      {"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}}}})");
  ASSERT_FALSE(error_) << error_->message;
  ASSERT_EQ(body["tools"].size(), 1u);
  EXPECT_EQ(body["tools"][0]["name"], kAnthropicJsonToolName);
  EXPECT_EQ(body["tools"][0]["input_schema"]["required"], json::parse(R"(["name"])"));
  EXPECT_EQ(body["tool_choice"],
            json({{"type", "tool"}, {"name", std::string(kAnthropicJsonToolName)}}));

  body = build(R"({"model":"x","messages":[{"role":"user","content":"x"}],
                   "response_format":{"type":"json_object"}})");
  EXPECT_EQ(body["tools"][0]["input_schema"], json::parse(R"({"type":"object"})"));
}

TEST_F(AnthropicTest, AnthropicRequest_JsonModeWithToolsOrReservedNameIs400) {
  build(R"({"model":"x","messages":[{"role":"user","content":"x"}],
            "tools":[{"type":"function","function":{"name":"f"}}],
            "response_format":{"type":"json_object"}})");
  ASSERT_TRUE(error_);
  EXPECT_EQ(error_->param, "response_format");
  build(R"({"model":"x","messages":[{"role":"user","content":"x"}],
            "tools":[{"type":"function","function":{"name":"json_response"}}]})");
  ASSERT_TRUE(error_);
  EXPECT_EQ(error_->param, "tools[0].function.name");
}

TEST_F(AnthropicTest, AnthropicEmbeddings_Are400) {
  upstream::UpstreamRequest out;
  auto err = adapter_->build_embeddings(json::parse(R"({"model":"x","input":"a"})"), target_, out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 400);
  EXPECT_NE(err->message.find("embeddings"), std::string::npos);
}

// ---------------------------------------------------------------- response

TEST_F(AnthropicTest, AnthropicResponse_MapsTextAndUsage) {
  accounting::Usage usage;
  auto out = translate(fixture("message_text.json"), usage);
  EXPECT_EQ(out["object"], "chat.completion");
  EXPECT_EQ(out["id"], "msg_013Zva2CMHLNnXjNJJKqJ2EF");
  EXPECT_EQ(out["model"], "claude-sonnet");
  EXPECT_EQ(out["created"], 1700000000);
  EXPECT_EQ(out["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(out["choices"][0]["message"]["content"], "Hi! My name is Claude.");
  EXPECT_EQ(out["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(out["usage"]["prompt_tokens"], 2095);
  EXPECT_EQ(out["usage"]["completion_tokens"], 503);
  EXPECT_EQ(out["usage"]["total_tokens"], 2598);
  EXPECT_TRUE(usage.known);
  EXPECT_EQ(usage.input, 2095);
  EXPECT_EQ(usage.output, 503);
}

TEST_F(AnthropicTest, AnthropicResponse_MapsToolUseToToolCalls) {
  accounting::Usage usage;
  auto out = translate(fixture("message_tool_use.json"), usage);
  const auto& message = out["choices"][0]["message"];
  EXPECT_EQ(message["content"], "I'll check the current weather in San Francisco for you.");
  ASSERT_EQ(message["tool_calls"].size(), 1u);
  EXPECT_EQ(message["tool_calls"][0]["id"], "toolu_01A09q90qw90lq917835lq9");
  EXPECT_EQ(message["tool_calls"][0]["type"], "function");
  EXPECT_EQ(message["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(message["tool_calls"][0]["function"]["arguments"].get<std::string>()),
            json::parse(R"({"location":"San Francisco, CA","unit":"celsius"})"));
  EXPECT_EQ(out["choices"][0]["finish_reason"], "tool_calls");
}

TEST_F(AnthropicTest, AnthropicResponse_MapsEveryStopReason) {
  const std::pair<const char*, const char*> cases[] = {{"end_turn", "stop"},
                                                       {"stop_sequence", "stop"},
                                                       {"pause_turn", "stop"},
                                                       {"max_tokens", "length"},
                                                       {"tool_use", "tool_calls"},
                                                       {"refusal", "content_filter"},
                                                       {"model_context_window_exceeded", "length"}};
  for (const auto& [anthropic, openai] : cases) {
    auto body = json::parse(fixture("message_text.json"));
    body["stop_reason"] = anthropic;
    accounting::Usage usage;
    auto out = translate(body.dump(), usage);
    EXPECT_EQ(out["choices"][0]["finish_reason"], openai) << anthropic;
  }
}

TEST_F(AnthropicTest, AnthropicResponse_UsageCountsCacheReadsAndWrites) {
  accounting::Usage usage;
  auto out = translate(fixture("message_cached.json"), usage);
  EXPECT_EQ(out["choices"][0]["message"]["content"], "Pride and Prejudice is a novel of manners.");
  EXPECT_EQ(usage.input, 21 + 188086);
  EXPECT_EQ(usage.cache_write, 188086);
  EXPECT_EQ(usage.cached_input, 0);
  EXPECT_EQ(usage.uncached_input(), 21);
  EXPECT_EQ(usage.output, 393);

  auto body = json::parse(fixture("message_cached.json"));
  body["usage"]["cache_creation_input_tokens"] = 0;
  body["usage"]["cache_read_input_tokens"] = 188086;
  out = translate(body.dump(), usage);
  EXPECT_EQ(out["usage"]["prompt_tokens"], 21 + 188086);
  EXPECT_EQ(out["usage"]["prompt_tokens_details"]["cached_tokens"], 188086);
  EXPECT_EQ(usage.cached_input, 188086);
  EXPECT_EQ(usage.cache_write, 0);
}

TEST_F(AnthropicTest, AnthropicResponse_JsonModeToolBecomesContent) {
  accounting::Usage usage;
  auto out = translate(R"({"id":"msg_1","type":"message","role":"assistant","model":"m",
    "content":[{"type":"tool_use","id":"toolu_9","name":"json_response","input":{"name":"Ada"}}],
    "stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":6}})",
                       usage);
  EXPECT_EQ(json::parse(out["choices"][0]["message"]["content"].get<std::string>()),
            json::parse(R"({"name":"Ada"})"));
  EXPECT_FALSE(out["choices"][0]["message"].contains("tool_calls"));
  EXPECT_EQ(out["choices"][0]["finish_reason"], "stop");
}

TEST_F(AnthropicTest, AnthropicResponse_NonMessageBodyIsAnError) {
  json out;
  accounting::Usage usage;
  auto err = adapter_->translate_chat("<html>", context_, out, usage);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, protocol::ErrorCode::upstream_error);
}

// ---------------------------------------------------------------- stream

std::vector<json> parsed(const std::vector<std::string>& chunks) {
  std::vector<json> out;
  for (const auto& c : chunks) out.push_back(json::parse(c));
  return out;
}

TEST_F(AnthropicTest, AnthropicStream_MapsTextToChunks) {
  auto chunks = parsed(stream_whole(fixture("stream_text.sse")));
  EXPECT_TRUE(done_);
  ASSERT_EQ(chunks.size(), 4u);  // role, "Hello", "!", finish
  for (const auto& c : chunks) {
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    EXPECT_EQ(c["id"], "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY");
    EXPECT_EQ(c["model"], "claude-sonnet");
    EXPECT_EQ(c["created"], 1700000000);
    EXPECT_FALSE(c.contains("usage"));
  }
  EXPECT_EQ(chunks[0]["choices"][0]["delta"], json::parse(R"({"role":"assistant","content":""})"));
  EXPECT_EQ(chunks[1]["choices"][0]["delta"]["content"], "Hello");
  EXPECT_EQ(chunks[2]["choices"][0]["delta"]["content"], "!");
  EXPECT_TRUE(chunks[2]["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(chunks[3]["choices"][0]["delta"], json::object());
  EXPECT_EQ(chunks[3]["choices"][0]["finish_reason"], "stop");
}

TEST_F(AnthropicTest, AnthropicStream_UsageChunkOnlyWhenRequested) {
  context_.include_usage = true;
  accounting::Usage usage;
  auto chunks = parsed(stream_pieces({fixture("stream_text.sse")}, nullptr, &usage));
  ASSERT_EQ(chunks.size(), 5u);
  EXPECT_TRUE(chunks[0]["usage"].is_null());
  EXPECT_TRUE(chunks[4]["choices"].empty());
  EXPECT_EQ(chunks[4]["usage"]["prompt_tokens"], 25);
  EXPECT_EQ(chunks[4]["usage"]["completion_tokens"], 15);
  EXPECT_EQ(chunks[4]["usage"]["total_tokens"], 40);
  EXPECT_TRUE(usage.known);
  EXPECT_EQ(usage.output, 15);
}

TEST_F(AnthropicTest, AnthropicStream_MapsToolUseToToolCalls) {
  auto chunks = parsed(stream_whole(fixture("stream_tool_use.sse")));
  EXPECT_TRUE(done_);
  std::string text;
  std::map<int, std::string> ids, names, arguments;
  std::string finish;
  for (const auto& c : chunks) {
    const auto& choice = c["choices"][0];
    if (choice["finish_reason"].is_string()) finish = choice["finish_reason"];
    const auto& delta = choice["delta"];
    if (delta.contains("content")) text += delta["content"].get<std::string>();
    if (!delta.contains("tool_calls")) continue;
    for (const auto& call : delta["tool_calls"]) {
      int index = call["index"];
      if (call.contains("id")) {
        EXPECT_FALSE(ids.contains(index)) << "id sent twice for " << index;
        ids[index] = call["id"];
        names[index] = call["function"]["name"];
        EXPECT_EQ(call["type"], "function");
      } else {
        EXPECT_TRUE(ids.contains(index)) << "arguments before the id for " << index;
      }
      arguments[index] += call["function"]["arguments"].get<std::string>();
    }
  }
  EXPECT_EQ(text, "Okay, let's check the weather for San Francisco, CA:");
  ASSERT_EQ(ids.size(), 2u);  // tool indexes count tool blocks, not Anthropic's blocks
  EXPECT_EQ(ids[0], "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
  EXPECT_EQ(names[0], "get_weather");
  EXPECT_EQ(json::parse(arguments[0]),
            json::parse(R"({"location":"San Francisco, CA","unit":"fahrenheit"})"));
  EXPECT_EQ(ids[1], "toolu_01Xb2VjA8nJ4RfGd1uT9pK3e");
  EXPECT_EQ(arguments[1], "{}");  // a tool without parameters still gets valid JSON
  EXPECT_EQ(finish, "tool_calls");
}

TEST_F(AnthropicTest, AnthropicStream_ByteByByteAndRandomSplitsGiveIdenticalChunks) {
  for (const char* name :
       {"stream_text.sse", "stream_tool_use.sse", "stream_cached_thinking.sse"}) {
    context_.include_usage = true;
    std::string sse = fixture(name);
    auto whole = stream_whole(sse);
    ASSERT_TRUE(done_);

    std::vector<std::string> bytes;
    for (char c : sse) bytes.emplace_back(1, c);
    EXPECT_EQ(stream_pieces(bytes), whole) << name << " byte by byte";

    std::mt19937 rng(42);
    for (int round = 0; round < 20; ++round) {
      std::vector<std::string> pieces;
      std::size_t pos = 0;
      while (pos < sse.size()) {
        std::size_t n = std::uniform_int_distribution<std::size_t>(1, 64)(rng);
        pieces.push_back(sse.substr(pos, n));
        pos += n;
      }
      EXPECT_EQ(stream_pieces(pieces), whole) << name << " round " << round;
      EXPECT_TRUE(done_);
    }
  }
}

TEST_F(AnthropicTest, AnthropicStream_CrLfLineEndingsGiveTheSameChunks) {
  std::string sse = fixture("stream_text.sse"), crlf;
  for (char c : sse) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  EXPECT_EQ(stream_whole(crlf), stream_whole(sse));
}

TEST_F(AnthropicTest, AnthropicStream_DropsThinkingAndReportsCacheUsage) {
  context_.include_usage = true;
  accounting::Usage usage;
  auto chunks = parsed(stream_pieces({fixture("stream_cached_thinking.sse")}, nullptr, &usage));
  std::string text;
  for (const auto& c : chunks) {
    if (c["choices"].empty()) continue;
    const auto& delta = c["choices"][0]["delta"];
    EXPECT_FALSE(delta.contains("reasoning_content"));
    if (delta.contains("content")) text += delta["content"].get<std::string>();
  }
  EXPECT_EQ(text, "Hi there");
  EXPECT_EQ(chunks[chunks.size() - 2]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(usage.input, 12 + 1024 + 2048);
  EXPECT_EQ(usage.cached_input, 2048);
  EXPECT_EQ(usage.cache_write, 1024);
  EXPECT_EQ(usage.output, 30);
  const auto& last = chunks.back();
  EXPECT_EQ(last["usage"]["prompt_tokens"], 12 + 1024 + 2048);
  EXPECT_EQ(last["usage"]["prompt_tokens_details"]["cached_tokens"], 2048);
}

TEST_F(AnthropicTest, AnthropicStream_ErrorEventIsAnApiError) {
  std::optional<protocol::ApiError> error;
  auto chunks = stream_pieces({fixture("stream_overloaded.sse")}, &error);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, protocol::ErrorCode::no_healthy_upstream);
  EXPECT_NE(error->message.find("Overloaded"), std::string::npos);
  EXPECT_NE(error->message.find("overloaded_error"), std::string::npos);
  EXPECT_FALSE(done_);
  EXPECT_EQ(chunks.size(), 2u);  // role, "Par"
}

TEST_F(AnthropicTest, AnthropicStream_MalformedEventIsAnError) {
  std::optional<protocol::ApiError> error;
  stream_pieces({"event: message_start\ndata: {not json\n\n"}, &error);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, protocol::ErrorCode::upstream_error);
}

TEST_F(AnthropicTest, AnthropicStream_JsonModeStreamsTheToolInputAsContent) {
  std::string sse =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_j\","
      "\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
      "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_j\",\"name\":\"json_response\","
      "\"input\":{}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
      "\"tool_use\"},\"usage\":{\"output_tokens\":5}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  auto chunks = parsed(stream_whole(sse));
  std::string text;
  for (const auto& c : chunks) {
    EXPECT_FALSE(c["choices"][0]["delta"].contains("tool_calls"));
    if (c["choices"][0]["delta"].contains("content"))
      text += c["choices"][0]["delta"]["content"].get<std::string>();
  }
  EXPECT_EQ(json::parse(text), json::parse(R"({"a":1})"));
  EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "stop");
}

// ---------------------------------------------------------------- errors

TEST_F(AnthropicTest, AnthropicError_Maps529OverloadedAsRetryable) {
  bool retryable = false;
  auto e = adapter_->translate_error(529, fixture("error_overloaded.json"), retryable);
  EXPECT_TRUE(retryable);
  EXPECT_EQ(e.code, protocol::ErrorCode::no_healthy_upstream);
  EXPECT_EQ(e.status, 503);
  EXPECT_NE(e.message.find("Overloaded"), std::string::npos);
}

TEST_F(AnthropicTest, AnthropicError_MapsStatusesAndKeepsTheMessage) {
  struct Case {
    int status;
    const char* type;
    protocol::ErrorCode code;
    bool retryable;
  };
  const Case cases[] = {
      {400, "invalid_request_error", protocol::ErrorCode::invalid_request, false},
      {401, "authentication_error", protocol::ErrorCode::upstream_error, false},
      {403, "permission_error", protocol::ErrorCode::upstream_error, false},
      {404, "not_found_error", protocol::ErrorCode::upstream_error, false},
      {413, "request_too_large", protocol::ErrorCode::request_too_large, false},
      {429, "rate_limit_error", protocol::ErrorCode::rate_limit_exceeded, true},
      {500, "api_error", protocol::ErrorCode::upstream_error, true},
      {503, "overloaded_error", protocol::ErrorCode::no_healthy_upstream, true},
  };
  for (const auto& c : cases) {
    json body = {{"type", "error"},
                 {"error", {{"type", c.type}, {"message", std::string("msg for ") + c.type}}}};
    bool retryable = !c.retryable;
    auto e = adapter_->translate_error(c.status, body.dump(), retryable);
    EXPECT_EQ(e.code, c.code) << c.status;
    EXPECT_EQ(retryable, c.retryable) << c.status;
    EXPECT_NE(e.message.find(std::string("msg for ") + c.type), std::string::npos) << e.message;
  }
  bool retryable = true;
  auto e = adapter_->translate_error(
      400,
      R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}})",
      retryable);
  EXPECT_EQ(e.message, "max_tokens: Field required");
  EXPECT_EQ(e.status, 400);
}

TEST_F(AnthropicTest, AnthropicError_SpendLimit429IsNotRetryable) {
  bool retryable = true;
  adapter_->translate_error(429, R"({"type":"error","error":{"type":"rate_limit_error",
      "message":"spend limit","details":{"error_code":"enforced_spend_limit_reached"}}})",
                            retryable);
  EXPECT_FALSE(retryable);
}

TEST_F(AnthropicTest, AnthropicError_NonJsonBodyKeepsTheText) {
  bool retryable = false;
  auto e = adapter_->translate_error(502, "<html>Bad Gateway</html>", retryable);
  EXPECT_TRUE(retryable);
  EXPECT_EQ(e.code, protocol::ErrorCode::upstream_error);
  EXPECT_NE(e.message.find("Bad Gateway"), std::string::npos);
}

}  // namespace
}  // namespace switchboard::providers
