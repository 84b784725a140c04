// The Anthropic adapter's DOM-free response translation (translate_chat_text) says exactly what
// translate_chat's DOM says, on every fixture and on variants of them, errors included.
#include "switchboard/providers/anthropic.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
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

// Tool arguments (and JSON-mode content) are JSON texts whose key order and spacing may differ
// between the two paths: they are compared parsed.
json normalized(json completion) {
  if (!completion.contains("choices")) return completion;
  for (auto& choice : completion["choices"]) {
    auto& message = choice["message"];
    if (message["content"].is_string()) {
      auto parsed = json::parse(message["content"].get<std::string>(), nullptr, false);
      if (parsed.is_object()) message["content"] = parsed;
    }
    if (!message.contains("tool_calls")) continue;
    for (auto& call : message["tool_calls"]) {
      auto& arguments = call["function"]["arguments"];
      arguments = json::parse(arguments.get<std::string>());
    }
  }
  return completion;
}

class AnthropicTextTest : public ::testing::Test {
 protected:
  // Runs both translations of `body` and expects the same result; returns the text one parsed.
  json expect_agree(const std::string& body, const std::string& what) {
    json dom;
    accounting::Usage dom_usage, text_usage;
    std::string text = "";
    auto dom_error = adapter_->translate_chat(body, context_, dom, dom_usage);
    auto text_error = adapter_->translate_chat_text(body, context_, text, text_usage);
    EXPECT_EQ(dom_error.has_value(), text_error.has_value()) << what;
    if (dom_error && text_error) {
      EXPECT_EQ(dom_error->code, text_error->code) << what;
      EXPECT_EQ(dom_error->status, text_error->status) << what;
      return json();
    }
    if (dom_error || text_error) return json();
    auto parsed = json::parse(text, nullptr, false);
    EXPECT_TRUE(parsed.is_object()) << what << ": " << text;
    EXPECT_EQ(normalized(parsed), normalized(dom))
        << what << "\ntext: " << text << "\ndom:  " << dom.dump();
    EXPECT_EQ(text_usage.known, dom_usage.known) << what;
    EXPECT_EQ(text_usage.input, dom_usage.input) << what;
    EXPECT_EQ(text_usage.output, dom_usage.output) << what;
    EXPECT_EQ(text_usage.cached_input, dom_usage.cached_input) << what;
    EXPECT_EQ(text_usage.cache_write, dom_usage.cache_write) << what;
    return parsed;
  }

  std::unique_ptr<ProviderAdapter> adapter_ = make_anthropic_adapter();
  ResponseContext context_{"chatcmpl-gw1", "claude-sonnet", 1700000000, false};
};

TEST_F(AnthropicTextTest, AnthropicResponseText_AgreesWithTheDomOnEveryFixture) {
  for (const char* name : {"message_text.json", "message_tool_use.json", "message_cached.json",
                           "message_thinking_tools.json", "message_refusal.json"}) {
    expect_agree(fixture(name), name);
    context_.model.clear();  // the provider's model name when the route gives none
    expect_agree(fixture(name), std::string(name) + " without a context model");
    context_.model = "claude-sonnet";
  }
}

TEST_F(AnthropicTextTest, AnthropicResponseText_KeepsToolCallIdsOrderAndArguments) {
  auto out = expect_agree(fixture("message_thinking_tools.json"), "thinking + tools");
  const auto& message = out["choices"][0]["message"];
  // Thinking, redacted thinking and server tool blocks are dropped; the text blocks join.
  EXPECT_EQ(message["content"],
            "Checking both cities \xE2\x80\x94 one moment.\nCaf\xC3\xA9 \xF0\x9F\x98\x80 "
            "\"quoted\" \\ done");
  ASSERT_EQ(message["tool_calls"].size(), 2u);
  EXPECT_EQ(message["tool_calls"][0]["id"], "toolu_01Paris");
  EXPECT_EQ(message["tool_calls"][0]["function"]["name"], "get_weather");
  // The model's own key order, compact.
  EXPECT_EQ(message["tool_calls"][0]["function"]["arguments"],
            R"({"city":"Paris","units":{"temp":"c","wind":"kmh"},"days":[1,2.5,-3e2]})");
  EXPECT_EQ(message["tool_calls"][1]["id"], "toolu_01Clock");
  EXPECT_EQ(message["tool_calls"][1]["function"]["arguments"], "{}");
  EXPECT_EQ(out["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(out["usage"]["prompt_tokens"], 50 + 10 + 2000);
  EXPECT_EQ(out["usage"]["prompt_tokens_details"]["cached_tokens"], 2000);
  EXPECT_EQ(out["usage"]["cache_creation_input_tokens"], 10);
  EXPECT_EQ(out["usage"]["cache_read_input_tokens"], 2000);
}

TEST_F(AnthropicTextTest, AnthropicResponseText_RefusalIsContentFilterWithEmptyContent) {
  auto out = expect_agree(fixture("message_refusal.json"), "refusal");
  EXPECT_EQ(out["choices"][0]["finish_reason"], "content_filter");
  EXPECT_EQ(out["choices"][0]["message"]["content"], "");
  EXPECT_TRUE(out["choices"][0]["message"]["refusal"].is_null());
}

TEST_F(AnthropicTextTest, AnthropicResponseText_AgreesOnEveryStopReason) {
  for (const char* stop : {"end_turn", "stop_sequence", "pause_turn", "max_tokens", "tool_use",
                           "refusal", "model_context_window_exceeded", "something_new"}) {
    for (const char* name : {"message_text.json", "message_tool_use.json"}) {
      auto body = json::parse(fixture(name));
      body["stop_reason"] = stop;
      expect_agree(body.dump(), std::string(name) + " " + stop);
    }
  }
  auto body = json::parse(fixture("message_text.json"));
  body["stop_reason"] = nullptr;  // read as end_turn
  auto out = expect_agree(body.dump(), "null stop_reason");
  EXPECT_EQ(out["choices"][0]["finish_reason"], "stop");
}

TEST_F(AnthropicTextTest, AnthropicResponseText_AgreesOnShapeVariants) {
  const char* variants[] = {
      // JSON mode: the forced tool's input is the content.
      R"({"id":"msg_1","type":"message","model":"m","content":[{"type":"tool_use","id":"t",
         "name":"json_response","input":{"name":"Ada","tags":["x", "y"]}}],"stop_reason":"tool_use",
         "usage":{"input_tokens":5,"output_tokens":6}})",
      // JSON mode beside a real tool: finish_reason stays tool_calls.
      R"({"id":"msg_1","content":[{"type":"tool_use","id":"t","name":"json_response","input":{}},
         {"type":"tool_use","id":"u","name":"f","input":{"a":1}}],"stop_reason":"tool_use"})",
      // A tool without input; tool calls only (content is null).
      R"({"id":"msg_2","content":[{"type":"tool_use","id":"t","name":"f"}],"stop_reason":"tool_use"})",
      // No id (the gateway's), no usage, no stop_reason, empty content.
      R"({"content":[]})",
      // Keys in another order, escapes in every string, a usage that is not an object.
      R"({"usage":7,"stop_reason":"end\u005fturn","content":[{"text":"a\tb\u0000c","type":"te\u0078t"}],
         "model":"claude-\u00e9","id":"msg_\"q\""})",
      // Non-integer counts read as zero; unknown blocks and fields are ignored.
      R"({"id":"m","content":[{"type":"image"},{"type":"text","text":5},"junk",{"type":"text","text":"ok"}],
         "usage":{"input_tokens":1.5,"output_tokens":"9","cache_read_input_tokens":3},"extra":{"deep":[[{}]]}})",
      // The last duplicate key wins.
      R"({"id":"first","id":"second","content":[{"type":"text","text":"a"}],"content":[{"type":"text","text":"b"}]})",
      // Whitespace everywhere.
      " \n{ \"content\" : [ { \"type\" : \"text\" , \"text\" : \"x\" } ] , \"id\" : \"m\" } \n",
  };
  for (const char* body : variants) expect_agree(body, body);
  context_.model.clear();
  for (const char* body : variants) expect_agree(body, std::string("no context model: ") + body);
}

TEST_F(AnthropicTextTest, AnthropicResponseText_AgreesOnErrors) {
  std::string truncated = fixture("message_text.json");
  truncated.resize(truncated.size() / 2);
  std::string bad_utf8 = R"({"id":"m","content":[{"type":"text","text":"a)"
                         "\xff"
                         R"("}]})";
  for (const std::string& body :
       {std::string("<html>"), std::string(""), std::string("[]"), std::string("null"),
        std::string(R"({"content":"text"})"), std::string(R"({"id":"x"})"), truncated, bad_utf8,
        std::string(R"({"content":[]} trailing)"), std::string(R"({"content":[],})")}) {
    std::string out;
    accounting::Usage usage;
    auto error = adapter_->translate_chat_text(body, context_, out, usage);
    ASSERT_TRUE(error) << body;
    EXPECT_EQ(error->code, protocol::ErrorCode::upstream_error) << body;
    EXPECT_NE(error->message.find("Anthropic answered"), std::string::npos) << error->message;
    expect_agree(body, body);
  }
}

// The answer is written from literal fragments and raw spans of the body: it must still be
// exactly what JsonWriter (nlohmann's dump) writes, in the DOM's key order, whatever escapes,
// UTF-8 and key order the message uses.
TEST_F(AnthropicTextTest, AnthropicResponseText_IsCanonicalCompactJsonInTheDomKeyOrder) {
  std::vector<std::string> bodies;
  for (const char* name : {"message_text.json", "message_tool_use.json", "message_cached.json",
                           "message_thinking_tools.json", "message_refusal.json"})
    bodies.push_back(fixture(name));
  bodies.push_back(R"({"usage":{"output_tokens":2},"content":[{"text":"caf\u00e9 \"q\" \u001f \/",)"
                   R"("type":"text"},{"type":"text","text":"\u00e9\n"}],"model":"m\u00e9",)"
                   R"("id":"msg_\u0041","stop_reason":"max_tokens"})");
  bodies.push_back(
      "{\"id\":\"caf\xC3\xA9 \x7f\",\"model\":\"\xF0\x9F\x98\x80\",\"content\":"
      "[{\"type\":\"text\",\"text\":\"\xE2\x80\x94 del \x7f\"}]}");
  bodies.push_back(R"({"id":7,"content":[{"type":"tool_use","id":"t\u0031",)"
                   R"("name":"f\"g","input":{"a":"\u00e9"}}],"stop_reason":"tool_use"})");
  // Text escaped every way JSON allows, in one block (copied when JsonWriter would write it the
  // same) or several (joined, decoded).
  std::mt19937 rng(9);
  const std::vector<std::string> pieces = {
      "a",         "Z ",    R"(\n)",           R"(\t)",     R"(\")",     R"(\\)",     R"(\b)",
      R"(\f)",     R"(\r)", R"(\u0000)",       R"(\u001f)", R"(\u001F)", R"(\u000a)", R"(\u0041)",
      R"(\u00e9)", R"(\/)", R"(\ud83d\ude00)", "\xC3\xA9",  "\x7f",      R"(\u007f)"};
  for (int i = 0; i < 200; ++i) {
    std::string blocks;
    const int count = 1 + i % 3;
    for (int b = 0; b < count; ++b) {
      std::string text;
      for (int k = std::uniform_int_distribution<int>(0, 5)(rng); k > 0; --k)
        text += pieces[std::uniform_int_distribution<std::size_t>(0, pieces.size() - 1)(rng)];
      blocks += (b ? "," : "") + std::string(R"({"type":"text","text":")") + text + "\"}";
    }
    bodies.push_back(R"({"id":"m","model":"x","content":[)" + blocks + "]}");
  }
  const std::vector<std::string> order = {"id", "object", "created", "model", "choices", "usage"};
  for (bool with_model : {true, false}) {
    context_.model = with_model ? "claude-\xC3\xA9\"x\"" : "";
    for (const auto& body : bodies) {
      std::string text;
      accounting::Usage usage;
      ASSERT_FALSE(adapter_->translate_chat_text(body, context_, text, usage)) << body;
      auto parsed = nlohmann::ordered_json::parse(text);
      EXPECT_EQ(parsed.dump(-1, ' ', false, json::error_handler_t::replace), text) << body;
      std::vector<std::string> keys;
      for (const auto& [key, value] : parsed.items()) keys.push_back(key);
      EXPECT_EQ(keys, order) << text;
      expect_agree(body, body);
    }
  }
}

TEST_F(AnthropicTextTest, AnthropicResponseText_AppendsCompactJson) {
  std::string out = "prefix:";
  accounting::Usage usage;
  ASSERT_FALSE(adapter_->translate_chat_text(fixture("message_text.json"), context_, out, usage));
  EXPECT_EQ(out.rfind("prefix:{\"id\":\"msg_013Zva2CMHLNnXjNJJKqJ2EF\",\"object\":"
                      "\"chat.completion\",\"created\":1700000000,\"model\":\"claude-sonnet\",",
                      0),
            0u)
      << out;
  EXPECT_EQ(out.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace switchboard::providers

namespace switchboard::providers {
namespace {

// The chunks are byte-for-byte what the DOM-based translator produced (recorded from it in
// tests/data/anthropic/stream_chunks): compact JSON in the same key order, which the relay's
// scans for `"content":"` rely on.
TEST(AnthropicStreamText, AnthropicStream_ChunksAreByteIdenticalToTheRecordedOnes) {
  auto adapter = make_anthropic_adapter();
  for (bool include_usage : {false, true}) {
    for (const char* name : {"stream_text.sse", "stream_tool_use.sse", "stream_cached_thinking.sse",
                             "stream_overloaded.sse"}) {
      ResponseContext context{"chatcmpl-gw1", "claude-sonnet", 1700000000, include_usage};
      auto translator = adapter->chat_stream(context);
      std::vector<std::string> chunks;
      auto error = translator->feed(fixture(name), chunks);
      std::string got;
      for (const auto& c : chunks) got += c + "\n";
      if (error) got += "ERR " + error->message + "\n";
      std::string expected_name =
          std::string("stream_chunks/") + name + (include_usage ? ".u" : "") + ".txt";
      EXPECT_EQ(got, fixture(expected_name)) << expected_name;
    }
  }
}

}  // namespace
}  // namespace switchboard::providers

namespace switchboard::providers {
namespace {

std::string sse_event(const std::string& type, const std::string& data) {
  return "event: " + type + "\ndata: " + data + "\n\n";
}

TEST(AnthropicStreamText, AnthropicStream_IgnoredBlocksStartInputsAndEscapedFields) {
  std::string sse =
      sse_event("message_start",
                R"({"type":"message_start","message":{"id":"msg_\u0031","model":"m",)"
                R"("usage":{"input_tokens":4,"output_tokens":1}}})") +
      sse_event("content_block_start",
                R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking"}})") +
      sse_event(
          "content_block_delta",
          R"({"index":0,"delta":{"type":"text_delta","text":"hidden"},"type":"content_block_delta"})") +
      sse_event("content_block_stop", R"({"type":"content_block_stop","index":0})") +
      sse_event("ping", R"({"type":"ping"})") +
      sse_event(
          "content_block_start",
          R"({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}})") +
      sse_event(
          "content_block_delta",
          R"({"type":"content_block_\u0064elta","index":1,"delta":{"type":"text_delta","text":"a\"b\n\u00e9"}})") +
      sse_event("content_block_stop", R"({"type":"content_block_stop","index":1})") +
      sse_event("content_block_start",
                R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use",)"
                R"("id":"toolu_\"x\"","name":"f","input":{ "b" : [1, 2], "a" : {} }}})") +
      sse_event("content_block_stop", R"({"type":"content_block_stop","index":2})") +
      sse_event("something_new", R"({"type":"something_new","index":2})") +
      sse_event(
          "message_delta",
          R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}})") +
      sse_event("message_stop", R"({"type":"message_stop"})");
  auto adapter = make_anthropic_adapter();
  ResponseContext context{"chatcmpl-gw1", "", 1700000000, false};
  auto translator = adapter->chat_stream(context);
  std::vector<std::string> chunks;
  ASSERT_FALSE(translator->feed(sse, chunks));
  ASSERT_TRUE(translator->done());
  ASSERT_EQ(chunks.size(), 5u);  // role, text, tool call, its arguments, finish
  std::vector<json> c;
  for (const auto& chunk : chunks) c.push_back(json::parse(chunk));
  EXPECT_EQ(c[0]["id"], "msg_1");
  EXPECT_EQ(c[0]["model"], "m");  // the provider's model when the route names none
  EXPECT_EQ(c[1]["choices"][0]["delta"]["content"], "a\"b\n\xC3\xA9");
  EXPECT_EQ(c[2]["choices"][0]["delta"]["tool_calls"][0]["id"], "toolu_\"x\"");
  EXPECT_EQ(c[3]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
            R"({"b":[1,2],"a":{}})");
  EXPECT_EQ(c[4]["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(translator->usage().output, 9);
  EXPECT_EQ(translator->usage().input, 4);
}

// Usage objects are read where they stand: the last of duplicate `usage` keys counts, a count
// that is no integer keeps the earlier one, message_delta's counts replace message_start's. Text
// without escapes is copied as the event has it (raw UTF-8 and DEL included), escaped text is
// decoded and escaped again; the bytes are what JsonWriter writes.
TEST(AnthropicStreamText, AnthropicStream_UsageInPlaceAndTextCopiedOrEscaped) {
  std::string sse =
      sse_event("message_start",
                R"({"type":"message_start","message":{"id":"m","model":"x","usage":)"
                R"({"input_tokens":5,"output_tokens":1},"usage":{"input_tokens":7,)"
                R"("cache_read_input_tokens":"3","cache_creation_input_tokens":2}}})") +
      sse_event("content_block_start",
                R"({"type":"content_block_start","index":0,"content_block":{"type":"text"}})") +
      sse_event("content_block_delta",
                "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
                "\"text\":\"raw \xC3\xA9 \x7f \xF0\x9F\x98\x80 /\"}}") +
      sse_event("content_block_delta",
                R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta",)"
                R"("text":"esc \u00e9 \/ \"q\" \u001f"}})") +
      sse_event(
          "message_delta",
          R"({"type":"message_delta","usage":{"output_tokens":3},"delta":)"
          R"({"stop_reason":"end_turn"},"usage":{"output_tokens":9,"cache_read_input_tokens":1.0}})") +
      sse_event("message_stop", R"({"type":"message_stop"})");
  auto adapter = make_anthropic_adapter();
  ResponseContext context{"chatcmpl-gw1", "claude", 1700000000, false};
  auto translator = adapter->chat_stream(context);
  std::vector<std::string> chunks;
  ASSERT_FALSE(translator->feed(sse, chunks));
  ASSERT_EQ(chunks.size(), 4u);  // role, two texts, finish
  const std::string head =
      R"({"id":"m","object":"chat.completion.chunk","created":1700000000,"model":"claude",)"
      R"("choices":[{"index":0,"delta":{"content":")";
  const std::string tail = R"("},"logprobs":null,"finish_reason":null}]})";
  EXPECT_EQ(chunks[1], head + "raw \xC3\xA9 \x7f \xF0\x9F\x98\x80 /" + tail);
  EXPECT_EQ(chunks[2], head + "esc \xC3\xA9 / \\\"q\\\" \\u001f" + tail);
  const auto& usage = translator->usage();
  EXPECT_EQ(usage.input, 7 + 0 + 2);  // the second usage object; "3" is no count
  EXPECT_EQ(usage.output, 9);
  EXPECT_EQ(usage.cached_input, 0);
  EXPECT_EQ(usage.cache_write, 2);
}

// Deltas written exactly as Anthropic writes them take a shortcut past the general reader; the
// same events spelled any other way (here: a space after the brace) take the general way. Both
// must give the same chunks, the same usage and the same errors.
TEST(AnthropicStreamText, AnthropicStream_CanonicalDeltasTranslateAsAnyOtherSpelling) {
  std::vector<std::string> deltas = {
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"plain"}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\n\"b\" \u00e9 \ud83d\ude00 \/"}})",
      "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
      "\"text\":\"raw \xC3\xA9 \x7f\"}}",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\": 1"}})",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"}"}})",
      R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"k\":\"\u00e9\"}"}})",
      R"({"type":"content_block_delta","index":123456789012345678,"delta":{"type":"text_delta","text":"no block"}})",
      R"({"type":"content_block_delta","index":1234567890123456789,"delta":{"type":"text_delta","text":"19 digits"}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"},"extra":1})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x","more":2}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":7}})",
  };
  const std::vector<std::string> broken = {
      R"({"type":"content_block_delta","index":01,"delta":{"type":"text_delta","text":"x"}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\x"}})",
      "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
      "\"text\":\"bad \xff\"}}",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"})",
      R"({"type":"content_block_stop","index":01})",
      R"({"type":"content_block_stop","index":})",
      R"({"type":"content_block_stop","index":1}})",
  };
  auto stream = [](const std::vector<std::string>& events, bool respell) {
    auto spell = [respell](std::string data) { return respell ? "{ " + data.substr(1) : data; };
    std::string sse =
        sse_event("message_start", R"({"type":"message_start","message":{"id":"m","model":"x"}})");
    sse += sse_event("content_block_start",
                     R"({"type":"content_block_start","index":0,"content_block":{"type":"text"}})");
    sse +=
        sse_event("content_block_start",
                  R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use",)"
                  R"("id":"t","name":"f","input":{}}})");
    sse +=
        sse_event("content_block_start",
                  R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use",)"
                  R"("id":"j","name":"json_response","input":{}}})");
    for (const auto& e : events) sse += sse_event("content_block_delta", spell(e));
    for (const char* stop : {R"({"type":"content_block_stop","index":0})",
                             R"({"type":"content_block_stop","index":1})",
                             R"({"type":"content_block_stop","index":2})",
                             R"({"type":"content_block_stop","index":12345678901234567890})"})
      sse += sse_event("content_block_stop", spell(stop));
    sse += sse_event("message_stop", spell(R"({"type":"message_stop"})"));
    return sse;
  };
  // Strings escaped every way JSON allows: JsonWriter's own escapes (copied as they are) and
  // others (\/, upper-case hex, \u for printable and non-ASCII characters: decoded and escaped
  // again), around raw UTF-8, DEL and plain text.
  std::mt19937 rng(5);
  const std::vector<std::string> pieces = {"a",
                                           "Z ",
                                           "\\n",
                                           "\\t",
                                           "\\\"",
                                           "\\\\",
                                           "\\b",
                                           "\\f",
                                           "\\r",
                                           "\\u0000",
                                           "\\u001f",
                                           "\\u001F",
                                           "\\u0007",
                                           "\\u000a",
                                           "\\u0008",
                                           "\\u0041",
                                           "\\u00e9",
                                           "\\/",
                                           "\\ud83d\\ude00",
                                           "\xC3\xA9",
                                           "\x7f",
                                           "\xF0\x9F\x98\x80",
                                           "\\u007f",
                                           "\\u0020"};
  for (int i = 0; i < 300; ++i) {
    std::string text;
    const int count = std::uniform_int_distribution<int>(1, 6)(rng);
    for (int k = 0; k < count; ++k)
      text += pieces[std::uniform_int_distribution<std::size_t>(0, pieces.size() - 1)(rng)];
    const char* kind =
        i % 3 == 2 ? R"("input_json_delta","partial_json":")" : R"("text_delta","text":")";
    const int index = i % 3 == 2 ? 1 + (i / 3) % 2 : 0;
    deltas.push_back(R"({"type":"content_block_delta","index":)" + std::to_string(index) +
                     R"(,"delta":{"type":)" + kind + text + "\"}}");
  }
  auto adapter = make_anthropic_adapter();
  // Chunks with the output each counts (decoded bytes), then the error if any.
  struct Recorder final : ChunkSink {
    std::string out;
    void chunk(std::string_view json, std::size_t output_chars) override {
      out.append(json).append(" |").append(std::to_string(output_chars)).append("\n");
    }
  };
  auto run = [&](const std::string& sse) {
    ResponseContext context{"chatcmpl-gw1", "claude", 1700000000, true};
    auto translator = adapter->chat_stream(context);
    Recorder recorder;
    auto error = translator->feed(sse, recorder);
    if (error) recorder.out += "ERR " + error->message + "\n";
    return recorder.out;
  };
  const std::string canonical = run(stream(deltas, false));
  EXPECT_EQ(canonical, run(stream(deltas, true)));
  EXPECT_NE(canonical.find(R"("content":"plain")"), std::string::npos) << canonical;
  for (const auto& bad : broken) {
    const std::string got = run(stream({bad}, false));
    EXPECT_NE(got.find("ERR Anthropic sent a malformed stream"), std::string::npos) << bad << got;
    // The error names the same problem at the same byte as the general reader does (one byte
    // further on in the respelled event, which has a space more at its start).
    const std::string respelled = run(stream({bad}, true));
    auto error_at = [](const std::string& out, int shift) {
      std::string line = out.substr(out.find("ERR"));
      const auto at = line.rfind(' ') + 1;
      return line.substr(0, at) + std::to_string(std::stoi(line.substr(at)) + shift);
    };
    EXPECT_EQ(error_at(got, 1), error_at(respelled, 0)) << bad;
  }
}

TEST(AnthropicStreamText, AnthropicStream_MalformedEventsAreErrorsNamingTheProblem) {
  auto adapter = make_anthropic_adapter();
  ResponseContext context{"chatcmpl-gw1", "claude", 1700000000, false};
  for (const std::string& data :
       {std::string(R"({"type":"message_start","message":{"id":"m"})"),  // truncated
        std::string(R"([1,2])"), std::string(R"("text")"),
        std::string(R"({"type":"ping"} {"type":"ping"})"),
        std::string("{\"type\":\"content_block_delta\",\"delta\":{\"text\":\"\xff\"}}")}) {
    auto translator = adapter->chat_stream(context);
    std::vector<std::string> chunks;
    auto error = translator->feed(sse_event("x", data), chunks);
    ASSERT_TRUE(error) << data;
    EXPECT_EQ(error->code, protocol::ErrorCode::upstream_error) << data;
    EXPECT_NE(error->message.find("malformed stream"), std::string::npos) << error->message;
    EXPECT_FALSE(translator->done());
    // Nothing more is read after the error.
    EXPECT_FALSE(translator->feed(sse_event("message_stop", R"({"type":"message_stop"})"), chunks));
    EXPECT_FALSE(translator->done());
  }
}

}  // namespace
}  // namespace switchboard::providers
