// Unit tests for the Anthropic Messages API front (protocol/anthropic_messages.hpp), including
// round trips through the Anthropic provider adapter.
#include "switchboard/protocol/anthropic_messages.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "switchboard/protocol/sse.hpp"
#include "switchboard/providers/anthropic.hpp"

namespace switchboard::protocol {
namespace {

using nlohmann::json;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(SWB_TEST_DATA_DIR) + "/anthropic/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The request from Anthropic's tool-use docs, continued with a tool result.
const char* kToolConversation = R"({
  "model": "claude-opus",
  "max_tokens": 1024,
  "system": [{"type": "text", "text": "You are a weather bot.", "cache_control": {"type": "ephemeral"}}],
  "tools": [{"name": "get_weather", "description": "Get the current weather in a given location",
             "input_schema": {"type": "object", "properties": {"location": {"type": "string"}},
                              "required": ["location"]}}],
  "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
  "messages": [
    {"role": "user", "content": [
      {"type": "text", "text": "What's the weather like in San Francisco?"},
      {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
      {"type": "image", "source": {"type": "url", "url": "https://example.com/sf.jpg"}}]},
    {"role": "assistant", "content": [
      {"type": "text", "text": "I'll check."},
      {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
       "input": {"location": "San Francisco, CA"}}]},
    {"role": "user", "content": [
      {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees"},
      {"type": "text", "text": "And tomorrow?"}]}
  ],
  "stop_sequences": ["\n\nHuman:"],
  "temperature": 0.2,
  "top_p": 0.9,
  "metadata": {"user_id": "user-7"}
})";

json to_openai(const std::string& text, std::optional<ApiError>* error = nullptr) {
  json out;
  auto err = anthropic_request_to_openai(json::parse(text), out);
  if (error)
    *error = err;
  else
    EXPECT_FALSE(err) << (err ? err->message : "");
  return out;
}

struct Event {
  std::string name;
  json data;
};

std::vector<Event> events_of(const std::string& sse) {
  SseReader reader;
  reader.feed(sse);
  reader.finish();
  SseEvent ev;
  std::vector<Event> out;
  while (reader.next(ev)) {
    if (ev.is_comment) continue;
    out.push_back({ev.event, json::parse(ev.data)});
  }
  return out;
}

std::vector<std::string> names_of(const std::vector<Event>& events) {
  std::vector<std::string> names;
  for (const auto& e : events) names.push_back(e.name);
  return names;
}

// ---------------------------------------------------------------- requests

TEST(AnthropicMessages, RequestMapsSystemImagesToolsAndToolResults) {
  auto r = to_openai(kToolConversation);
  EXPECT_EQ(r["model"], "claude-opus");
  EXPECT_EQ(r["max_completion_tokens"], 1024);
  EXPECT_EQ(r["temperature"], 0.2);
  EXPECT_EQ(r["top_p"], 0.9);
  EXPECT_EQ(r["stop"], json::parse(R"(["\n\nHuman:"])"));
  EXPECT_EQ(r["user"], "user-7");
  EXPECT_FALSE(r.contains("stream"));
  auto expected = json::parse(R"([
    {"role":"system","content":"You are a weather bot."},
    {"role":"user","content":[
      {"type":"text","text":"What's the weather like in San Francisco?"},
      {"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}},
      {"type":"image_url","image_url":{"url":"https://example.com/sf.jpg"}}]},
    {"role":"assistant","content":"I'll check.","tool_calls":[
      {"id":"toolu_01A09q90qw90lq917835lq9","type":"function",
       "function":{"name":"get_weather","arguments":"{\"location\":\"San Francisco, CA\"}"}}]},
    {"role":"tool","tool_call_id":"toolu_01A09q90qw90lq917835lq9","content":"15 degrees"},
    {"role":"user","content":"And tomorrow?"}])");
  EXPECT_EQ(r["messages"], expected);
  EXPECT_EQ(r["tools"], json::parse(R"([{"type":"function","function":{"name":"get_weather",
      "description":"Get the current weather in a given location",
      "parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}])"));
  EXPECT_EQ(r["tool_choice"], "auto");
  EXPECT_EQ(r["parallel_tool_calls"], false);
}

TEST(AnthropicMessages, RequestMapsToolChoiceVariants) {
  auto with = [](const char* choice) {
    json req = json::parse(kToolConversation);
    req["tool_choice"] = json::parse(choice);
    json out;
    EXPECT_FALSE(anthropic_request_to_openai(req, out)) << choice;
    return out;
  };
  EXPECT_EQ(with(R"({"type":"any"})")["tool_choice"], "required");
  EXPECT_EQ(with(R"({"type":"none"})")["tool_choice"], "none");
  EXPECT_EQ(with(R"({"type":"tool","name":"get_weather"})")["tool_choice"],
            json::parse(R"({"type":"function","function":{"name":"get_weather"}})"));
  EXPECT_FALSE(with(R"({"type":"auto"})").contains("parallel_tool_calls"));
}

TEST(AnthropicMessages, RequestStreamAsksForUsage) {
  auto r = to_openai(
      R"({"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r["stream"], true);
  EXPECT_EQ(r["stream_options"]["include_usage"], true);
  EXPECT_EQ(r["messages"], json::parse(R"([{"role":"user","content":"hi"}])"));
}

TEST(AnthropicMessages, RequestValidatesLikeAnthropicAndNamesTheField) {
  struct Case {
    const char* body;
    const char* field;
  };
  const Case cases[] = {
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"hi"}]})", "model"},
      {R"({"model":"m","messages":[{"role":"user","content":"hi"}]})", "max_tokens"},
      {R"({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]})", "max_tokens"},
      {R"({"model":"m","max_tokens":5,"messages":[]})", "messages"},
      {R"({"model":"m","max_tokens":5,"messages":[{"role":"system","content":"hi"}]})",
       "messages.0.role"},
      {R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":7}]})",
       "messages.0.content"},
      {R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"video"}]}]})",
       "messages.0.content.0.type"},
      {R"({"model":"m","max_tokens":5,"n":2,"messages":[{"role":"user","content":"hi"}]})", "n"},
      {R"({"model":"m","max_tokens":5,"metadata":{"tenant":"x"},"messages":[{"role":"user","content":"hi"}]})",
       "metadata.tenant"},
      {R"({"model":"m","max_tokens":5,"system":[{"type":"image"}],"messages":[{"role":"user","content":"hi"}]})",
       "system.0"},
      {R"({"model":"m","max_tokens":5,"thinking":{"type":"enabled","budget_tokens":2000},"messages":[{"role":"user","content":"hi"}]})",
       "thinking"},
      {R"({"model":"m","max_tokens":5,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"hi"}]})",
       "tools.0.type"},
      {R"({"model":"m","max_tokens":5,"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"hi"}]})",
       "tool_choice"},
      {R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result"}]}]})",
       "messages.0.content.0.tool_use_id"},
  };
  for (const auto& c : cases) {
    std::optional<ApiError> err;
    to_openai(c.body, &err);
    ASSERT_TRUE(err) << c.body;
    EXPECT_EQ(err->status, 400) << c.body;
    EXPECT_EQ(err->param, c.field) << c.body;
    EXPECT_TRUE(err->message.starts_with(std::string(c.field) + ":")) << err->message;
    auto body = json::parse(anthropic_error_body(*err));
    EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  }
}

TEST(AnthropicMessages, RequestCarriesTopKAndAcceptsDisabledThinking) {
  auto r = to_openai(R"({"model":"m","max_tokens":5,"top_k":40,"thinking":{"type":"disabled"},
                         "service_tier":"auto","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r["top_k"], 40);
  EXPECT_FALSE(r.contains("thinking"));
  EXPECT_FALSE(r.contains("service_tier"));
}

TEST(AnthropicMessages, RequestDropsEarlierThinkingAndMarksToolErrors) {
  auto r = to_openai(R"({"model":"m","max_tokens":5,"messages":[
    {"role":"user","content":"go"},
    {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"s"},
                                   {"type":"tool_use","id":"t1","name":"f","input":{}}]},
    {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","is_error":true,
                               "content":[{"type":"text","text":"boom"}]}]}]})");
  EXPECT_TRUE(r["messages"][1]["content"].is_null());
  EXPECT_EQ(r["messages"][1]["tool_calls"][0]["function"]["arguments"], "{}");
  EXPECT_EQ(r["messages"][2], json::parse(R"({"role":"tool","tool_call_id":"t1",
                                              "content":"[tool error] boom"})"));
  EXPECT_EQ(r["messages"].size(), 3u);
}

TEST(AnthropicMessages, RequestOutputFormatBecomesResponseFormat) {
  auto r = to_openai(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],
    "output_config":{"format":{"type":"json_schema","schema":{"type":"object"}}}})");
  EXPECT_EQ(r["response_format"]["type"], "json_schema");
  EXPECT_EQ(r["response_format"]["json_schema"]["schema"], json::parse(R"({"type":"object"})"));
}

// ---------------------------------------------------------------- responses

TEST(AnthropicMessages, ResponseMapsTextToolCallsAndUsage) {
  auto completion = json::parse(R"({"id":"chatcmpl-A652F","object":"chat.completion",
    "created":1726012687,"model":"gpt-4o",
    "choices":[{"index":0,"message":{"role":"assistant","content":"Checking.","tool_calls":[
      {"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
      "finish_reason":"tool_calls"}],
    "usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,
             "prompt_tokens_details":{"cached_tokens":60}}})");
  auto m = openai_response_to_anthropic(completion, "claude-sonnet");
  EXPECT_EQ(m["id"], "msg_A652F");
  EXPECT_EQ(m["type"], "message");
  EXPECT_EQ(m["role"], "assistant");
  EXPECT_EQ(m["model"], "claude-sonnet");
  EXPECT_EQ(m["content"], json::parse(R"([{"type":"text","text":"Checking."},
    {"type":"tool_use","id":"call_abc","name":"get_weather","input":{"city":"Paris"}}])"));
  EXPECT_EQ(m["stop_reason"], "tool_use");
  EXPECT_TRUE(m["stop_sequence"].is_null());
  EXPECT_EQ(m["usage"], json::parse(R"({"input_tokens":40,"output_tokens":20,
    "cache_creation_input_tokens":0,"cache_read_input_tokens":60})"));
}

TEST(AnthropicMessages, ResponseMapsEveryFinishReason) {
  const std::pair<const char*, const char*> cases[] = {{"stop", "end_turn"},
                                                       {"length", "max_tokens"},
                                                       {"tool_calls", "tool_use"},
                                                       {"content_filter", "refusal"}};
  for (const auto& [openai, anthropic] : cases) {
    json c = {
        {"id", "chatcmpl-1"},
        {"choices",
         {{{"message", {{"role", "assistant"}, {"content", "x"}}}, {"finish_reason", openai}}}}};
    EXPECT_EQ(openai_response_to_anthropic(c, "m")["stop_reason"], anthropic) << openai;
  }
}

TEST(AnthropicMessages, ResponseUsageArgumentWins) {
  accounting::Usage u;
  u.input = 3100;
  u.cached_input = 2000;
  u.cache_write = 1000;
  u.output = 7;
  json c = {
      {"id", "chatcmpl-1"},
      {"choices",
       {{{"message", {{"role", "assistant"}, {"content", "x"}}}, {"finish_reason", "stop"}}}}};
  auto m = openai_response_to_anthropic(c, "m", &u);
  EXPECT_EQ(m["usage"], json::parse(R"({"input_tokens":100,"output_tokens":7,
    "cache_creation_input_tokens":1000,"cache_read_input_tokens":2000})"));
}

// ---------------------------------------------------------------- stream encoder

json chunk(const char* delta, const char* finish = nullptr) {
  json c = {{"id", "chatcmpl-s1"},
            {"object", "chat.completion.chunk"},
            {"choices", {{{"index", 0}, {"delta", json::parse(delta)}}}}};
  c["choices"][0]["finish_reason"] = finish ? json(finish) : json(nullptr);
  return c;
}

TEST(AnthropicMessages, StreamEncoderEmitsAnthropicEventOrder) {
  AnthropicStreamEncoder encoder("claude-sonnet");
  std::string sse;
  encoder.on_chunk(chunk(R"({"role":"assistant","content":""})"), sse);
  encoder.on_chunk(chunk(R"({"content":"Checking"})"), sse);
  encoder.on_chunk(chunk(R"({"content":" now."})"), sse);
  encoder.on_chunk(chunk(R"({"tool_calls":[{"index":0,"id":"call_1","type":"function",
                               "function":{"name":"get_weather","arguments":""}}]})"),
                   sse);
  encoder.on_chunk(chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]})"),
                   sse);
  encoder.on_chunk(chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]})"),
                   sse);
  encoder.on_chunk(chunk(R"({"tool_calls":[{"index":1,"id":"call_2","type":"function",
                               "function":{"name":"get_time","arguments":"{}"}}]})"),
                   sse);
  encoder.on_chunk(chunk("{}", "tool_calls"), sse);
  encoder.on_chunk(json::parse(R"({"id":"chatcmpl-s1","choices":[],"usage":{"prompt_tokens":9}})"),
                   sse);
  accounting::Usage usage;
  usage.input = 50;
  usage.cached_input = 10;
  usage.output = 12;
  encoder.finish(usage, sse);

  auto events = events_of(sse);
  const std::vector<std::string> expected = {
      "message_start",      "content_block_start", "content_block_delta", "content_block_delta",
      "content_block_stop", "content_block_start", "content_block_delta", "content_block_delta",
      "content_block_stop", "content_block_start", "content_block_delta", "content_block_stop",
      "message_delta",      "message_stop"};
  EXPECT_EQ(names_of(events), expected);
  for (const auto& e : events) EXPECT_EQ(e.data["type"], e.name);

  const auto& start = events[0].data["message"];
  EXPECT_EQ(start["id"], "msg_s1");
  EXPECT_EQ(start["model"], "claude-sonnet");
  EXPECT_EQ(start["content"], json::array());
  EXPECT_TRUE(start["stop_reason"].is_null());
  EXPECT_EQ(events[1].data["content_block"], json::parse(R"({"type":"text","text":""})"));
  EXPECT_EQ(events[2].data["delta"], json::parse(R"({"type":"text_delta","text":"Checking"})"));
  EXPECT_EQ(events[5].data["index"], 1);
  EXPECT_EQ(events[5].data["content_block"],
            json::parse(R"({"type":"tool_use","id":"call_1","name":"get_weather","input":{}})"));
  EXPECT_EQ(events[6].data["delta"],
            json::parse(R"({"type":"input_json_delta","partial_json":"{\"city\":"})"));
  EXPECT_EQ(events[9].data["index"], 2);
  EXPECT_EQ(events[9].data["content_block"]["id"], "call_2");
  EXPECT_EQ(events[12].data["delta"]["stop_reason"], "tool_use");
  EXPECT_EQ(events[12].data["usage"], json::parse(R"({"input_tokens":40,"output_tokens":12,
    "cache_creation_input_tokens":0,"cache_read_input_tokens":10})"));
}

TEST(AnthropicMessages, StreamEncoderFinishAloneStillFramesAMessage) {
  AnthropicStreamEncoder encoder("m");
  std::string sse;
  encoder.finish({}, sse);
  encoder.finish({}, sse);  // idempotent
  EXPECT_EQ(names_of(events_of(sse)),
            (std::vector<std::string>{"message_start", "message_delta", "message_stop"}));
  EXPECT_EQ(events_of(sse)[1].data["delta"]["stop_reason"], "end_turn");
}

TEST(AnthropicMessages, StreamEncoderFailEmitsAnErrorEvent) {
  AnthropicStreamEncoder encoder("m");
  std::string sse;
  encoder.on_chunk(chunk(R"({"content":"par"})"), sse);
  encoder.fail(make_error(ErrorCode::no_healthy_upstream, "Overloaded"), sse);
  auto events = events_of(sse);
  ASSERT_EQ(events.back().name, "error");
  EXPECT_EQ(events.back().data["type"], "error");
  EXPECT_EQ(events.back().data["error"]["type"], "overloaded_error");
  EXPECT_EQ(events.back().data["error"]["message"], "Overloaded");
}

// ---------------------------------------------------------------- round trips

class AnthropicRoundTrip : public ::testing::Test {
 protected:
  AnthropicRoundTrip() {
    provider_.type = config::ProviderType::anthropic;
    target_.provider = &provider_;
    target_.key = "k";
    target_.model_id = "claude-opus-4-6";
  }
  std::unique_ptr<providers::ProviderAdapter> adapter_ = providers::make_anthropic_adapter();
  config::ProviderConfig provider_;
  providers::ProviderTarget target_;
  providers::ResponseContext context_{"chatcmpl-rt", "claude-opus", 1, true};
};

TEST_F(AnthropicRoundTrip, RequestSurvivesMessagesToOpenAiToAnthropic) {
  json original = json::parse(kToolConversation);
  json openai;
  ASSERT_FALSE(anthropic_request_to_openai(original, openai));
  upstream::UpstreamRequest out;
  auto err = adapter_->build_chat(openai, false, target_, out);
  ASSERT_FALSE(err) << err->message;
  auto back = json::parse(out.body);
  EXPECT_EQ(back["model"], "claude-opus-4-6");
  EXPECT_EQ(back["max_tokens"], original["max_tokens"]);
  EXPECT_EQ(back["tools"], original["tools"]);
  EXPECT_EQ(back["tool_choice"], original["tool_choice"]);
  EXPECT_EQ(back["stop_sequences"], original["stop_sequences"]);
  EXPECT_EQ(back["metadata"], original["metadata"]);
  EXPECT_EQ(back["temperature"], original["temperature"]);
  EXPECT_EQ(back["system"], json::parse(R"([{"type":"text","text":"You are a weather bot."}])"));
  // The same turns and blocks; only cache_control (a hint) is gone.
  EXPECT_EQ(back["messages"], original["messages"]);
}

TEST_F(AnthropicRoundTrip, ResponseSurvivesAnthropicToOpenAiToMessages) {
  for (const char* name : {"message_tool_use.json", "message_cached.json"}) {
    auto original = json::parse(fixture(name));
    json openai;
    accounting::Usage usage;
    ASSERT_FALSE(adapter_->translate_chat(original.dump(), context_, openai, usage));
    for (const accounting::Usage* u : std::vector<const accounting::Usage*>{nullptr, &usage}) {
      auto back = openai_response_to_anthropic(openai, "claude-opus", u);
      EXPECT_EQ(back["id"], original["id"]) << name;
      EXPECT_EQ(back["stop_reason"], original["stop_reason"]) << name;
      for (const char* key : {"input_tokens", "output_tokens", "cache_creation_input_tokens",
                              "cache_read_input_tokens"})
        EXPECT_EQ(back["usage"][key], original["usage"].value(key, 0)) << name << " " << key;
      std::string text, back_text;
      for (const auto& b : original["content"])
        if (b["type"] == "text") text += b["text"].get<std::string>();
      for (const auto& b : back["content"])
        if (b["type"] == "text") back_text += b["text"].get<std::string>();
      EXPECT_EQ(back_text, text) << name;
    }
  }
}

TEST_F(AnthropicRoundTrip, StreamReencodedAsMessagesTranslatesToTheSameChunks) {
  for (const char* name : {"stream_text.sse", "stream_tool_use.sse"}) {
    auto first = adapter_->chat_stream(context_);
    std::vector<std::string> chunks;
    ASSERT_FALSE(first->feed(fixture(name), chunks));
    ASSERT_TRUE(first->done());

    AnthropicStreamEncoder encoder("claude-opus");
    std::string sse;
    for (const auto& c : chunks) encoder.on_chunk(json::parse(c), sse);
    encoder.finish(first->usage(), sse);

    auto second = adapter_->chat_stream(context_);
    std::vector<std::string> again;
    ASSERT_FALSE(second->feed(sse, again));
    EXPECT_TRUE(second->done()) << name;
    ASSERT_EQ(again.size(), chunks.size()) << name << "\n" << sse;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      EXPECT_EQ(json::parse(again[i]), json::parse(chunks[i])) << name << " chunk " << i;
    }
  }
}

}  // namespace
}  // namespace switchboard::protocol
