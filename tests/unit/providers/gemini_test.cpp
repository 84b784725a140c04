// The Gemini adapter on recorded generateContent fixtures: requests out, bodies and streams in.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "switchboard/providers/gemini.hpp"

using namespace switchboard;
using namespace switchboard::providers;
using nlohmann::json;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(SWB_TEST_DATA_DIR) + "/gemini/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class GeminiTest : public ::testing::Test {
 protected:
  GeminiTest() {
    provider_.name = "google";
    provider_.type = config::ProviderType::gemini;
    provider_.headers = {{"x-goog-user-project", "acme"}};
    target_.provider = &provider_;
    target_.base_path = "";
    target_.key = "gk-test";
    target_.model_id = "gemini-2.5-flash";
    context_.id = "chatcmpl-gw1";
    context_.model = "gemini-2.5-flash";
    context_.created = 1700000000;
  }

  json build(const json& request, bool stream = false) {
    upstream::UpstreamRequest out;
    auto error = adapter_->build_chat(request, stream, target_, out);
    EXPECT_FALSE(error) << (error ? error->message : "");
    last_ = out;
    return error ? json() : json::parse(out.body);
  }

  protocol::ApiError build_error(const json& request) {
    upstream::UpstreamRequest out;
    auto error = adapter_->build_chat(request, false, target_, out);
    EXPECT_TRUE(error);
    return error.value_or(protocol::ApiError{});
  }

  json translate(const std::string& body, accounting::Usage& usage) {
    json out;
    auto error = adapter_->translate_chat(body, context_, out, usage);
    EXPECT_FALSE(error) << (error ? error->message : "");
    return out;
  }

  // Feeds `body` in the given pieces and returns every chunk.
  std::vector<std::string> stream(const std::string& body, const std::vector<std::size_t>& cuts,
                                  bool include_usage, bool* done = nullptr,
                                  accounting::Usage* usage = nullptr) {
    auto ctx = context_;
    ctx.include_usage = include_usage;
    auto translator = adapter_->chat_stream(ctx);
    std::vector<std::string> chunks;
    std::size_t at = 0;
    for (auto cut : cuts) {
      EXPECT_FALSE(translator->feed(std::string_view(body).substr(at, cut - at), chunks));
      at = cut;
    }
    EXPECT_FALSE(translator->feed(std::string_view(body).substr(at), chunks));
    if (done) *done = translator->done();
    if (usage) *usage = translator->usage();
    return chunks;
  }

  config::ProviderConfig provider_;
  ProviderTarget target_;
  ResponseContext context_;
  std::unique_ptr<ProviderAdapter> adapter_ = make_gemini_adapter();
  upstream::UpstreamRequest last_;
};

json user(std::string text) {
  return {{"role", "user"}, {"content", std::move(text)}};
}

std::string header(const upstream::UpstreamRequest& r, std::string_view name) {
  for (const auto& h : r.headers) {
    if (h.name == name) return h.value;
  }
  return {};
}

}  // namespace

TEST_F(GeminiTest, GeminiRequest_TargetsGenerateContentWithKeyHeader) {
  build({{"model", "g"}, {"messages", {user("hi")}}});
  EXPECT_FALSE(adapter_->openai_wire());
  EXPECT_EQ(last_.method, "POST");
  EXPECT_EQ(last_.target, "/v1beta/models/gemini-2.5-flash:generateContent");
  EXPECT_EQ(header(last_, "x-goog-api-key"), "gk-test");
  EXPECT_EQ(header(last_, "x-goog-user-project"), "acme");
  EXPECT_EQ(header(last_, "authorization"), "");

  build({{"model", "g"}, {"stream", true}, {"messages", {user("hi")}}}, true);
  EXPECT_EQ(last_.target, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
  EXPECT_EQ(header(last_, "accept"), "text/event-stream");

  target_.base_path = "/proxy/v1beta";
  target_.model_id = "models/gemini-2.0-flash";
  build({{"model", "g"}, {"messages", {user("hi")}}});
  EXPECT_EQ(last_.target, "/proxy/v1beta/models/gemini-2.0-flash:generateContent");
}

TEST_F(GeminiTest, GeminiRequest_MapsSystemAndDeveloperToSystemInstruction) {
  auto body = build(
      {{"model", "g"},
       {"messages",
        {{{"role", "system"}, {"content", "You are terse."}},
         {{"role", "developer"}, {"content", {{{"type", "text"}, {"text", "Answer in French."}}}}},
         user("Weather in Paris?")}}});
  EXPECT_EQ(body["systemInstruction"],
            json::parse(R"({"parts":[{"text":"You are terse."},{"text":"Answer in French."}]})"));
  ASSERT_EQ(body["contents"].size(), 1u);
  EXPECT_EQ(body["contents"][0],
            json::parse(R"({"role":"user","parts":[{"text":"Weather in Paris?"}]})"));
}

TEST_F(GeminiTest, GeminiRequest_MergesConsecutiveTurnsAndRenamesAssistantToModel) {
  auto body = build({{"model", "g"},
                     {"messages",
                      {user("one"),
                       user("two"),
                       {{"role", "assistant"}, {"content", "three"}},
                       {{"role", "assistant"}, {"content", "four"}},
                       user("five")}}});
  EXPECT_EQ(body["contents"], json::parse(R"([
    {"role":"user","parts":[{"text":"one"},{"text":"two"}]},
    {"role":"model","parts":[{"text":"three"},{"text":"four"}]},
    {"role":"user","parts":[{"text":"five"}]}])"));
}

TEST_F(GeminiTest, GeminiRequest_MapsImagesToInlineAndFileData) {
  json parts = {
      {{"type", "text"}, {"text", "What is this?"}},
      {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,iVBORw0KGgo="}}}},
      {{"type", "image_url"},
       {"image_url", {{"url", "https://example.com/cat.JPG?size=2"}, {"detail", "high"}}}},
      {{"type", "image_url"}, {"image_url", {{"url", "gs://bucket/scan"}}}}};
  auto body = build({{"model", "g"}, {"messages", {{{"role", "user"}, {"content", parts}}}}});
  EXPECT_EQ(body["contents"][0]["parts"], json::parse(R"([
    {"text":"What is this?"},
    {"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}},
    {"fileData":{"fileUri":"https://example.com/cat.JPG?size=2","mimeType":"image/jpeg"}},
    {"fileData":{"fileUri":"gs://bucket/scan"}}])"));

  json bad = {{{"type", "image_url"}, {"image_url", {{"url", "ftp://example.com/a.png"}}}}};
  auto e = build_error({{"model", "g"}, {"messages", {{{"role", "user"}, {"content", bad}}}}});
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "messages[0].content[0].image_url.url");

  json plain = {{{"type", "image_url"}, {"image_url", {{"url", "data:image/png,rawbytes"}}}}};
  e = build_error({{"model", "g"}, {"messages", {{{"role", "user"}, {"content", plain}}}}});
  EXPECT_EQ(e.param, "messages[0].content[0].image_url.url");
}

TEST_F(GeminiTest, GeminiRequest_MapsToolsAndToolResultsWithRecoveredNames) {
  auto request = json::parse(R"({
    "model":"g",
    "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather now",
      "strict":true,
      "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],
                    "additionalProperties":false}}}],
    "messages":[
      {"role":"user","content":"Weather in Paris and Lyon?"},
      {"role":"assistant","content":null,"tool_calls":[
        {"id":"call_A","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
         "extra_content":{"google":{"thought_signature":"sigA=="}}},
        {"id":"call_B","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Lyon\"}"}}]},
      {"role":"tool","tool_call_id":"call_A","content":"{\"temp\":18}"},
      {"role":"tool","tool_call_id":"call_B","content":"21C"},
      {"role":"user","content":"Thanks"}]})");
  auto body = build(request);
  EXPECT_EQ(body["tools"], json::parse(R"([{"functionDeclarations":[{"name":"get_weather",
    "description":"Weather now","parametersJsonSchema":{"type":"object",
    "properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}]}])"));
  EXPECT_EQ(body["contents"], json::parse(R"([
    {"role":"user","parts":[{"text":"Weather in Paris and Lyon?"}]},
    {"role":"model","parts":[
      {"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"sigA=="},
      {"functionCall":{"name":"get_weather","args":{"city":"Lyon"}}}]},
    {"role":"user","parts":[
      {"functionResponse":{"name":"get_weather","response":{"temp":18}}},
      {"functionResponse":{"name":"get_weather","response":{"output":"21C"}}},
      {"text":"Thanks"}]}])"));
  EXPECT_FALSE(body.contains("toolConfig"));
}

TEST_F(GeminiTest, GeminiRequest_UnsignedCallsFromElsewhereGetTheSkipSignature) {
  auto body = build(json::parse(R"({"model":"g","messages":[
    {"role":"user","content":"go"},
    {"role":"assistant","tool_calls":[
      {"id":"toolu_1","type":"function","function":{"name":"f","arguments":""}},
      {"id":"toolu_2","type":"function","function":{"name":"f","arguments":"{}"}}]},
    {"role":"tool","tool_call_id":"toolu_1","content":"a"},
    {"role":"tool","tool_call_id":"toolu_2","content":"b"}]})"));
  const auto& parts = body["contents"][1]["parts"];
  EXPECT_EQ(parts[0]["thoughtSignature"], "skip_thought_signature_validator");
  EXPECT_EQ(parts[0]["functionCall"]["args"], json::object());
  EXPECT_FALSE(parts[1].contains("thoughtSignature"));
}

TEST_F(GeminiTest, GeminiRequest_ToolMessageWithoutMatchingCallIs400) {
  auto e = build_error(json::parse(R"({"model":"g","messages":[
    {"role":"user","content":"go"},{"role":"tool","tool_call_id":"call_X","content":"a"}]})"));
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "messages[1].tool_call_id");
  EXPECT_NE(e.message.find("call_X"), std::string::npos);
}

TEST_F(GeminiTest, GeminiRequest_MapsToolChoice) {
  json tools = json::parse(R"([{"type":"function","function":{"name":"f"}},
                               {"type":"function","function":{"name":"g"}}])");
  auto with = [&](json choice) {
    return build({{"model", "g"},
                  {"messages", {user("x")}},
                  {"tools", tools},
                  {"tool_choice", std::move(choice)}})["toolConfig"];
  };
  EXPECT_EQ(with("auto"), json::parse(R"({"functionCallingConfig":{"mode":"AUTO"}})"));
  EXPECT_EQ(with("none"), json::parse(R"({"functionCallingConfig":{"mode":"NONE"}})"));
  EXPECT_EQ(with("required"), json::parse(R"({"functionCallingConfig":{"mode":"ANY"}})"));
  EXPECT_EQ(
      with(json::parse(R"({"type":"function","function":{"name":"g"}})")),
      json::parse(R"({"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["g"]}})"));
  auto e = build_error({{"model", "g"}, {"messages", {user("x")}}, {"tool_choice", "required"}});
  EXPECT_EQ(e.param, "tool_choice");
}

TEST_F(GeminiTest, GeminiRequest_MapsGenerationConfigAndResponseFormat) {
  auto body = build(json::parse(R"({"model":"g","messages":[{"role":"user","content":"x"}],
    "max_tokens":100,"max_completion_tokens":512,"temperature":0.2,"top_p":0.9,"stop":"END",
    "n":2,"seed":7,"presence_penalty":0.5,"frequency_penalty":0.25,"reasoning_effort":"low",
    "response_format":{"type":"json_schema","json_schema":{"name":"w","strict":true,
      "schema":{"type":"object","properties":{"t":{"type":"number"}}}}},
    "user":"u-42","parallel_tool_calls":true,"logprobs":false,"stream_options":{"include_usage":true}})"));
  EXPECT_EQ(body["generationConfig"], json::parse(R"({"maxOutputTokens":512,"temperature":0.2,
    "topP":0.9,"stopSequences":["END"],"candidateCount":2,"seed":7,"presencePenalty":0.5,
    "frequencyPenalty":0.25,"thinkingConfig":{"thinkingBudget":1024},
    "responseMimeType":"application/json",
    "responseJsonSchema":{"type":"object","properties":{"t":{"type":"number"}}}})"));
  EXPECT_FALSE(body.contains("user"));

  body = build(json::parse(R"({"model":"g","messages":[{"role":"user","content":"x"}],
    "stop":["a","b"],"response_format":{"type":"json_object"}})"));
  EXPECT_EQ(body["generationConfig"],
            json::parse(R"({"stopSequences":["a","b"],"responseMimeType":"application/json"})"));
}

TEST_F(GeminiTest, GeminiRequest_RejectsWhatItCannotHonourNamingTheField) {
  auto base = json::parse(R"({"model":"g","messages":[{"role":"user","content":"x"}]})");
  for (const auto& [field, value] :
       std::vector<std::pair<std::string, json>>{{"logit_bias", {{"50256", -100}}},
                                                 {"logprobs", true},
                                                 {"top_logprobs", 3},
                                                 {"parallel_tool_calls", false},
                                                 {"audio", {{"voice", "alloy"}}},
                                                 {"reasoning_effort", "extreme"},
                                                 {"prediction", {{"type", "content"}}},
                                                 {"modalities", {"text", "audio"}}}) {
    auto request = base;
    request[field] = value;
    auto e = build_error(request);
    EXPECT_EQ(e.status, 400) << field;
    EXPECT_EQ(e.code, protocol::ErrorCode::invalid_request) << field;
    EXPECT_EQ(e.param, field);
    EXPECT_NE(e.message.find(field), std::string::npos) << e.message;
  }
}

TEST_F(GeminiTest, GeminiResponse_MapsTextSkippingThoughtsWithCachedAndThoughtUsage) {
  accounting::Usage usage;
  auto out = translate(fixture("generate_text.json"), usage);
  EXPECT_EQ(out["id"], "chatcmpl-gw1");
  EXPECT_EQ(out["object"], "chat.completion");
  EXPECT_EQ(out["created"], 1700000000);
  EXPECT_EQ(out["model"], "gemini-2.5-flash");
  ASSERT_EQ(out["choices"].size(), 1u);
  EXPECT_EQ(out["choices"][0]["message"],
            json::parse(R"({"role":"assistant","content":"It is 18C and sunny in Paris."})"));
  EXPECT_EQ(out["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(usage.known);
  EXPECT_EQ(usage.input, 31);
  EXPECT_EQ(usage.cached_input, 12);
  EXPECT_EQ(usage.output, 26);
  EXPECT_EQ(usage.reasoning, 20);
  EXPECT_EQ(out["usage"], json::parse(R"({"prompt_tokens":31,"completion_tokens":26,
    "total_tokens":57,"prompt_tokens_details":{"cached_tokens":12},
    "completion_tokens_details":{"reasoning_tokens":20}})"));
}

TEST_F(GeminiTest, GeminiResponse_MapsFunctionCallsToToolCalls) {
  accounting::Usage usage;
  auto out = translate(fixture("generate_function_call.json"), usage);
  const auto& choice = out["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_TRUE(choice["message"]["content"].is_null());
  const auto& calls = choice["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0]["type"], "function");
  EXPECT_EQ(calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(calls[0]["function"]["arguments"].get<std::string>()),
            json::parse(R"({"city":"Paris"})"));
  EXPECT_EQ(calls[0]["extra_content"]["google"]["thought_signature"], "CpwCAdHtim9sig1==");
  EXPECT_FALSE(calls[1].contains("extra_content"));
  EXPECT_EQ(calls[0]["id"], gemini_tool_call_id("c3VuZGF5LWZ1bmN0aW9uLWNhbGw", 0, 0));
  EXPECT_EQ(calls[1]["id"], gemini_tool_call_id("c3VuZGF5LWZ1bmN0aW9uLWNhbGw", 0, 1));
  EXPECT_NE(calls[0]["id"], calls[1]["id"]);
  EXPECT_TRUE(calls[0]["id"].get<std::string>().starts_with("call_"));
  EXPECT_EQ(usage.input, 70);
  EXPECT_EQ(usage.output, 30);
}

TEST_F(GeminiTest, GeminiResponse_MapsEveryFinishReason) {
  const std::vector<std::tuple<std::string, bool, std::string>> table{
      {"STOP", false, "stop"},
      {"STOP", true, "tool_calls"},
      {"MAX_TOKENS", false, "length"},
      {"SAFETY", false, "content_filter"},
      {"RECITATION", false, "content_filter"},
      {"BLOCKLIST", false, "content_filter"},
      {"PROHIBITED_CONTENT", false, "content_filter"},
      {"SPII", false, "content_filter"},
      {"LANGUAGE", false, "content_filter"},
      {"OTHER", false, "content_filter"},
      {"IMAGE_SAFETY", false, "content_filter"},
      {"MALFORMED_FUNCTION_CALL", false, "stop"},
      {"UNEXPECTED_TOOL_CALL", false, "stop"},
      {"TOO_MANY_TOOL_CALLS", true, "tool_calls"},
      {"FINISH_REASON_UNSPECIFIED", false, "stop"},
      {"SOMETHING_NEW", false, "stop"}};
  for (const auto& [reason, calls, expected] : table) {
    EXPECT_EQ(gemini_finish_reason(reason, calls), expected) << reason;
    json part = calls ? json{{"functionCall", {{"name", "f"}, {"args", json::object()}}}}
                      : json{{"text", "x"}};
    json body = {
        {"candidates",
         {{{"content", {{"role", "model"}, {"parts", {part}}}}, {"finishReason", reason}}}}};
    accounting::Usage usage;
    EXPECT_EQ(translate(body.dump(), usage)["choices"][0]["finish_reason"], expected) << reason;
  }
}

TEST_F(GeminiTest, GeminiResponse_BlockedPromptIsContentFilter) {
  accounting::Usage usage;
  auto out = translate(
      R"({"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9}})",
      usage);
  EXPECT_EQ(out["choices"][0]["finish_reason"], "content_filter");
  EXPECT_EQ(out["choices"][0]["message"]["content"], "");
  EXPECT_EQ(usage.input, 9);
  EXPECT_EQ(usage.output, 0);
}

TEST_F(GeminiTest, GeminiResponse_MultipleCandidatesBecomeChoices) {
  accounting::Usage usage;
  auto out = translate(R"({"candidates":[
    {"content":{"role":"model","parts":[{"text":"b"}]},"finishReason":"MAX_TOKENS","index":1},
    {"content":{"role":"model","parts":[{"text":"a"}]},"finishReason":"STOP","index":0}]})",
                       usage);
  ASSERT_EQ(out["choices"].size(), 2u);
  EXPECT_EQ(out["choices"][0]["message"]["content"], "a");
  EXPECT_EQ(out["choices"][1]["finish_reason"], "length");
  EXPECT_FALSE(usage.known);
}

TEST_F(GeminiTest, GeminiStream_MapsTextDeltasFinishAndUsage) {
  bool done = false;
  accounting::Usage usage;
  auto chunks = stream(fixture("stream_text.sse"), {}, true, &done, &usage);
  EXPECT_TRUE(done);
  ASSERT_EQ(chunks.size(), 6u);
  auto first = json::parse(chunks[0]);
  EXPECT_EQ(first["id"], "chatcmpl-gw1");
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["model"], "gemini-2.5-flash");
  EXPECT_EQ(first["choices"][0]["delta"], json::parse(R"({"role":"assistant","content":""})"));
  EXPECT_TRUE(first["usage"].is_null());
  std::string text;
  for (int i = 1; i <= 3; ++i) {
    auto c = json::parse(chunks[i]);
    EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
    text += c["choices"][0]["delta"]["content"].get<std::string>();
  }
  EXPECT_EQ(text, "It is 18C in Paris. ☀️");
  auto finish = json::parse(chunks[4]);
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(finish["choices"][0]["delta"], json::object());
  auto last = json::parse(chunks[5]);
  EXPECT_EQ(last["choices"], json::array());
  EXPECT_EQ(last["usage"]["prompt_tokens"], 31);
  EXPECT_EQ(last["usage"]["completion_tokens"], 15);
  EXPECT_EQ(last["usage"]["prompt_tokens_details"]["cached_tokens"], 8);
  EXPECT_EQ(last["usage"]["completion_tokens_details"]["reasoning_tokens"], 8);
  EXPECT_EQ(usage.input, 31);
  EXPECT_EQ(usage.output, 15);
}

TEST_F(GeminiTest, GeminiStream_NoUsageChunkUnlessAskedButUsageStillReported) {
  bool done = false;
  accounting::Usage usage;
  auto chunks = stream(fixture("stream_text.sse"), {}, false, &done, &usage);
  EXPECT_TRUE(done);
  ASSERT_EQ(chunks.size(), 5u);
  EXPECT_FALSE(json::parse(chunks[4]).contains("usage"));
  EXPECT_TRUE(usage.known);
  EXPECT_EQ(usage.output, 15);
}

TEST_F(GeminiTest, GeminiStream_MapsFunctionCallToToolCalls) {
  auto chunks = stream(fixture("stream_function_call.sse"), {}, false);
  ASSERT_EQ(chunks.size(), 5u);
  auto call0 = json::parse(chunks[2])["choices"][0]["delta"]["tool_calls"][0];
  auto call1 = json::parse(chunks[3])["choices"][0]["delta"]["tool_calls"][0];
  EXPECT_EQ(call0["index"], 0);
  EXPECT_EQ(call1["index"], 1);
  EXPECT_EQ(call0["function"]["name"], "get_weather");
  EXPECT_EQ(call1["function"]["arguments"], R"({"city":"Lyon"})");
  EXPECT_EQ(call0["extra_content"]["google"]["thought_signature"], "CpwCAdHtim9sig1==");
  EXPECT_EQ(json::parse(chunks[4])["choices"][0]["finish_reason"], "tool_calls");

  // The same answer as a whole body names the calls identically.
  accounting::Usage usage;
  auto whole = translate(fixture("generate_function_call.json"), usage);
  EXPECT_EQ(call0["id"], whole["choices"][0]["message"]["tool_calls"][0]["id"]);
  EXPECT_EQ(call1["id"], whole["choices"][0]["message"]["tool_calls"][1]["id"]);
}

TEST_F(GeminiTest, GeminiStream_ByteByByteAndRandomSplitsGiveIdenticalChunks) {
  for (const char* name : {"stream_text.sse", "stream_function_call.sse"}) {
    auto body = fixture(name);
    auto whole = stream(body, {}, true);
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < body.size(); ++i) every.push_back(i);
    EXPECT_EQ(stream(body, every, true), whole) << name;
    std::mt19937 rng(42);
    for (int round = 0; round < 20; ++round) {
      std::vector<std::size_t> cuts;
      for (std::size_t at = 0;;) {
        at += 1 + rng() % 97;
        if (at >= body.size()) break;
        cuts.push_back(at);
      }
      EXPECT_EQ(stream(body, cuts, true), whole) << name << " round " << round;
    }
  }
}

TEST_F(GeminiTest, GeminiStream_CutBeforeFinishIsNotDone) {
  auto body = fixture("stream_text.sse");
  bool done = true;
  auto chunks = stream(body.substr(0, body.rfind("data:")), {}, true, &done);
  EXPECT_FALSE(done);
  EXPECT_EQ(chunks.size(), 4u);
}

TEST_F(GeminiTest, GeminiStream_ErrorEventEndsTheStreamWithGooglesMessage) {
  auto translator = adapter_->chat_stream(context_);
  std::vector<std::string> chunks;
  auto e = translator->feed(
      "data: {\"error\":{\"code\":503,\"message\":\"The model is "
      "overloaded.\",\"status\":\"UNAVAILABLE\"}}\n\n",
      chunks);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 503);
  EXPECT_NE(e->message.find("The model is overloaded."), std::string::npos);
  EXPECT_FALSE(translator->done());
  EXPECT_TRUE(chunks.empty());
}

TEST_F(GeminiTest, GeminiError_MapsGoogleStatusesKeepingTheMessage) {
  bool retryable = false;
  auto e = adapter_->translate_error(429, fixture("error_429.json"), retryable);
  EXPECT_TRUE(retryable);
  EXPECT_EQ(e.status, 429);
  EXPECT_NE(e.message.find("RESOURCE_EXHAUSTED"), std::string::npos);
  EXPECT_NE(e.message.find("Resource has been exhausted (e.g. check quota)."), std::string::npos);

  e = adapter_->translate_error(
      503, R"({"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}})",
      retryable);
  EXPECT_TRUE(retryable);
  EXPECT_EQ(e.status, 503);

  e = adapter_->translate_error(
      400,
      R"({"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified","status":"INVALID_ARGUMENT"}})",
      retryable);
  EXPECT_FALSE(retryable);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.code, protocol::ErrorCode::invalid_request);
  EXPECT_EQ(e.message, "* GenerateContentRequest.contents: contents is not specified");

  e = adapter_->translate_error(
      403,
      R"([{"error":{"code":403,"message":"Method doesn't allow unregistered callers.","status":"PERMISSION_DENIED"}}])",
      retryable);
  EXPECT_FALSE(retryable);
  EXPECT_EQ(e.code, protocol::ErrorCode::upstream_error);
  EXPECT_NE(e.message.find("unregistered callers"), std::string::npos);
}

TEST_F(GeminiTest, GeminiEmbeddings_BuildsBatchEmbedContents) {
  target_.model_id = "gemini-embedding-001";
  upstream::UpstreamRequest out;
  ASSERT_FALSE(adapter_->build_embeddings(
      json::parse(
          R"({"model":"e","input":["alpha","beta"],"dimensions":768,"user":"u1","encoding_format":"float"})"),
      target_, out));
  EXPECT_EQ(out.target, "/v1beta/models/gemini-embedding-001:batchEmbedContents");
  EXPECT_EQ(header(out, "x-goog-api-key"), "gk-test");
  EXPECT_EQ(json::parse(out.body), json::parse(R"({"requests":[
    {"model":"models/gemini-embedding-001","content":{"parts":[{"text":"alpha"}]},"outputDimensionality":768},
    {"model":"models/gemini-embedding-001","content":{"parts":[{"text":"beta"}]},"outputDimensionality":768}]})"));

  auto e =
      adapter_->build_embeddings(json::parse(R"({"model":"e","input":[[1,2,3]]})"), target_, out);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "input[0]");
  e = adapter_->build_embeddings(
      json::parse(R"({"model":"e","input":"x","encoding_format":"base64"})"), target_, out);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "encoding_format");
}

TEST_F(GeminiTest, GeminiEmbeddings_TranslatesToOpenAiListWithUnknownUsage) {
  json out;
  accounting::Usage usage;
  context_.model = "gemini-embedding-001";
  ASSERT_FALSE(adapter_->translate_embeddings(fixture("batch_embed.json"), context_, out, usage));
  EXPECT_EQ(out["object"], "list");
  EXPECT_EQ(out["model"], "gemini-embedding-001");
  ASSERT_EQ(out["data"].size(), 2u);
  EXPECT_EQ(out["data"][1]["index"], 1);
  EXPECT_EQ(out["data"][1]["object"], "embedding");
  EXPECT_DOUBLE_EQ(out["data"][1]["embedding"][2].get<double>(), -0.0333);
  EXPECT_FALSE(usage.known);  // Gemini reports none: the gateway estimates
}
