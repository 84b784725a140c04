// The Mistral adapter: tool call id rewriting, field renames, finish reasons, streams, errors.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "switchboard/providers/mistral.hpp"

using namespace switchboard;
using namespace switchboard::providers;
using nlohmann::json;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(SWB_TEST_DATA_DIR) + "/mistral/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string header(const upstream::UpstreamRequest& r, std::string_view name) {
  for (const auto& h : r.headers) {
    if (h.name == name) return h.value;
  }
  return {};
}

bool nine_alphanumerics(const std::string& id) {
  return id.size() == 9 &&
         std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isalnum(c); });
}

class MistralTest : public ::testing::Test {
 protected:
  MistralTest() {
    provider_.name = "mistral";
    provider_.type = config::ProviderType::mistral;
    target_.provider = &provider_;
    target_.base_path = "/v1";
    target_.key = "ms-key";
    target_.model_id = "mistral-large-latest";
    context_.id = "chatcmpl-gw2";
    context_.model = "mistral-large-latest";
    context_.created = 1700000001;
  }

  json build(const json& request, bool stream = false) {
    auto error = adapter_->build_chat(request, stream, target_, last_);
    EXPECT_FALSE(error) << (error ? error->message : "");
    return error ? json() : json::parse(last_.body);
  }

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
  std::unique_ptr<ProviderAdapter> adapter_ = make_mistral_adapter();
  upstream::UpstreamRequest last_;
};

const char* kToolConversation = R"({"model":"mistral-large-latest","messages":[
  {"role":"developer","content":"Be brief."},
  {"role":"user","content":"Weather?","name":"alice"},
  {"role":"assistant","content":null,"refusal":null,"annotations":[],"tool_calls":[
    {"id":"call_abc123def456ghi","type":"function","function":{"name":"get_weather","arguments":"{}"},
     "extra_content":{"google":{"thought_signature":"x"}}},
    {"id":"D681PevKs","type":"function","function":{"name":"get_time","arguments":"{}"}}]},
  {"role":"tool","tool_call_id":"call_abc123def456ghi","content":"18C"},
  {"role":"tool","tool_call_id":"D681PevKs","content":"noon"}]})";

}  // namespace

TEST_F(MistralTest, MistralRequest_TargetsChatCompletionsWithBearerKey) {
  auto body = build(json::parse(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})"));
  EXPECT_FALSE(adapter_->openai_wire());
  EXPECT_EQ(last_.target, "/v1/chat/completions");
  EXPECT_EQ(header(last_, "authorization"), "Bearer ms-key");
  EXPECT_EQ(body["stream"], false);
  body = build(
      json::parse(R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})"),
      true);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(header(last_, "accept"), "text/event-stream");
}

TEST_F(MistralTest, MistralRequest_RewritesToolCallIdsToNineAlphanumerics) {
  auto body = build(json::parse(kToolConversation));
  const auto& calls = body["messages"][2]["tool_calls"];
  auto rewritten = calls[0]["id"].get<std::string>();
  EXPECT_TRUE(nine_alphanumerics(rewritten)) << rewritten;
  EXPECT_EQ(rewritten, mistral_tool_call_id("call_abc123def456ghi"));
  EXPECT_EQ(body["messages"][3]["tool_call_id"], rewritten);  // the answer still matches its call
  EXPECT_EQ(calls[1]["id"], "D681PevKs");                     // Mistral's own ids round-trip
  EXPECT_EQ(body["messages"][4]["tool_call_id"], "D681PevKs");
  EXPECT_FALSE(calls[0].contains("extra_content"));
  EXPECT_NE(mistral_tool_call_id("call_1"), mistral_tool_call_id("call_2"));
  EXPECT_TRUE(nine_alphanumerics(mistral_tool_call_id("")));
  EXPECT_TRUE(nine_alphanumerics(mistral_tool_call_id("toolu_01A09q90qw90lq917835lq9")));
}

TEST_F(MistralTest, MistralRequest_DropsWhatMistralRejectsAndRenamesFields) {
  auto request = json::parse(kToolConversation);
  request["stream_options"] = {{"include_usage", true}};
  request["user"] = "end-user-7";
  request["store"] = false;
  request["max_tokens"] = 10;
  request["max_completion_tokens"] = 300;
  request["seed"] = 42;
  request["logprobs"] = false;
  auto body = build(request, true);
  EXPECT_FALSE(body.contains("stream_options"));
  EXPECT_FALSE(body.contains("user"));
  EXPECT_FALSE(body.contains("store"));
  EXPECT_FALSE(body.contains("logprobs"));
  EXPECT_FALSE(body.contains("seed"));
  EXPECT_FALSE(body.contains("max_completion_tokens"));
  EXPECT_EQ(body["max_tokens"], 300);
  EXPECT_EQ(body["random_seed"], 42);
  EXPECT_EQ(body["messages"][0], json::parse(R"({"role":"system","content":"Be brief."})"));
  EXPECT_EQ(body["messages"][1], json::parse(R"({"role":"user","content":"Weather?"})"));
  EXPECT_FALSE(body["messages"][2].contains("refusal"));
  EXPECT_FALSE(body["messages"][2].contains("annotations"));

  request.erase("max_completion_tokens");
  EXPECT_EQ(build(request)["max_tokens"], 10);
}

TEST_F(MistralTest, MistralRequest_PassesMistralsOwnFields) {
  auto body = build(json::parse(R"({"model":"m","messages":[{"role":"user","content":"x"}],
    "n":2,"safe_prompt":true,"tool_choice":"required","parallel_tool_calls":false,
    "response_format":{"type":"json_schema","json_schema":{"name":"w","schema":{"type":"object"}}},
    "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
    "temperature":0.3,"top_p":0.8,"stop":["END"],"presence_penalty":0.1,"frequency_penalty":0.2})"));
  EXPECT_EQ(body["n"], 2);
  EXPECT_EQ(body["safe_prompt"], true);
  EXPECT_EQ(body["tool_choice"], "required");
  EXPECT_EQ(body["parallel_tool_calls"], false);
  EXPECT_EQ(body["response_format"]["type"], "json_schema");
  EXPECT_EQ(body["tools"][0]["function"]["name"], "f");
  EXPECT_EQ(body["stop"], json::array({"END"}));
}

TEST_F(MistralTest, MistralRequest_RejectsWhatItCannotHonourNamingTheField) {
  auto base = json::parse(R"({"model":"m","messages":[{"role":"user","content":"x"}]})");
  for (const auto& [field, value] :
       std::vector<std::pair<std::string, json>>{{"logit_bias", {{"1", 5}}},
                                                 {"logprobs", true},
                                                 {"top_logprobs", 2},
                                                 {"audio", {{"voice", "alloy"}}},
                                                 {"modalities", {"text", "audio"}},
                                                 {"functions", json::array()}}) {
    auto request = base;
    request[field] = value;
    upstream::UpstreamRequest out;
    auto e = adapter_->build_chat(request, false, target_, out);
    ASSERT_TRUE(e) << field;
    EXPECT_EQ(e->status, 400);
    EXPECT_EQ(e->param, field);
    EXPECT_NE(e->message.find(field), std::string::npos);
  }
}

TEST_F(MistralTest, MistralResponse_MapsToolCallsAndUsage) {
  json out;
  accounting::Usage usage;
  ASSERT_FALSE(adapter_->translate_chat(fixture("chat_tool_calls.json"), context_, out, usage));
  EXPECT_EQ(out["id"], "cmpl-e5cc70bb28c444948073e77776eb30ef");
  EXPECT_EQ(out["object"], "chat.completion");
  EXPECT_EQ(out["model"], "mistral-large-latest");
  const auto& choice = out["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_FALSE(choice["message"].contains("prefix"));
  EXPECT_EQ(choice["message"]["tool_calls"], json::parse(R"([
    {"id":"D681PevKs","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}},
    {"id":"x9Kp2LmQz","type":"function","function":{"name":"get_time","arguments":"{\"tz\":\"Europe/Paris\"}"}}])"));
  EXPECT_TRUE(usage.known);
  EXPECT_EQ(usage.input, 90);
  EXPECT_EQ(usage.output, 40);
  EXPECT_EQ(out["usage"]["total_tokens"], 130);
}

TEST_F(MistralTest, MistralResponse_MapsEveryFinishReason) {
  for (const auto& [reason, expected] :
       std::vector<std::pair<std::string, std::string>>{{"stop", "stop"},
                                                        {"length", "length"},
                                                        {"model_length", "length"},
                                                        {"tool_calls", "tool_calls"}}) {
    json body = {{"id", "x"},
                 {"choices",
                  {{{"index", 0},
                    {"message", {{"role", "assistant"}, {"content", "hi"}}},
                    {"finish_reason", reason}}}}};
    json out;
    accounting::Usage usage;
    ASSERT_FALSE(adapter_->translate_chat(body.dump(), context_, out, usage)) << reason;
    EXPECT_EQ(out["choices"][0]["finish_reason"], expected) << reason;
  }
  json out;
  accounting::Usage usage;
  auto e = adapter_->translate_chat(
      R"({"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"error"}]})",
      context_, out, usage);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, protocol::ErrorCode::upstream_error);
  EXPECT_NE(e->message.find("error"), std::string::npos);
}

TEST_F(MistralTest, MistralResponse_FlattensContentChunksToText) {
  json out;
  accounting::Usage usage;
  ASSERT_FALSE(
      adapter_->translate_chat(R"({"id":"x","choices":[{"index":0,"message":{"role":"assistant",
    "content":[{"type":"thinking","thinking":[{"type":"text","text":"hmm"}]},{"type":"text","text":"Answer"},
    {"type":"reference","reference_ids":[1]},{"type":"text","text":"."}]},"finish_reason":"stop"}]})",
                               context_, out, usage));
  EXPECT_EQ(out["choices"][0]["message"]["content"], "Answer.");
}

TEST_F(MistralTest, MistralStream_MapsTextAndMovesFoldedUsageIntoItsOwnChunk) {
  bool done = false;
  accounting::Usage usage;
  auto chunks = stream(fixture("stream_text.sse"), {}, true, &done, &usage);
  EXPECT_TRUE(done);
  ASSERT_EQ(chunks.size(), 5u);
  auto first = json::parse(chunks[0]);
  EXPECT_EQ(first["id"], "9b3e1c2a");
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(json::parse(chunks[1])["choices"][0]["delta"], json::parse(R"({"content":"Bonjour"})"));
  auto finish = json::parse(chunks[3]);
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "length");  // model_length
  EXPECT_TRUE(finish["usage"].is_null());
  auto last = json::parse(chunks[4]);
  EXPECT_EQ(last["choices"], json::array());
  EXPECT_EQ(last["usage"]["prompt_tokens"], 12);
  EXPECT_EQ(last["usage"]["completion_tokens"], 8);
  EXPECT_EQ(usage.input, 12);
  EXPECT_EQ(usage.output, 8);
}

TEST_F(MistralTest, MistralStream_NoUsageChunkUnlessAskedButUsageStillReported) {
  bool done = false;
  accounting::Usage usage;
  auto chunks = stream(fixture("stream_text.sse"), {}, false, &done, &usage);
  EXPECT_TRUE(done);
  ASSERT_EQ(chunks.size(), 4u);
  for (const auto& c : chunks) EXPECT_FALSE(json::parse(c).contains("usage"));
  EXPECT_TRUE(usage.known);
}

TEST_F(MistralTest, MistralStream_MapsToolCallsWithOneIndexPerCall) {
  auto chunks = stream(fixture("stream_tool_calls.sse"), {}, false);
  ASSERT_EQ(chunks.size(), 3u);
  auto calls = json::parse(chunks[1])["choices"][0]["delta"]["tool_calls"];
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], json::parse(R"({"index":0,"id":"D681PevKs","type":"function",
    "function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}})"));
  EXPECT_EQ(calls[1]["index"], 1);
  EXPECT_EQ(calls[1]["id"], "x9Kp2LmQz");
  EXPECT_EQ(json::parse(chunks[2])["choices"][0]["finish_reason"], "tool_calls");
}

TEST_F(MistralTest, MistralStream_ByteByByteAndRandomSplitsGiveIdenticalChunks) {
  for (const char* name : {"stream_text.sse", "stream_tool_calls.sse"}) {
    auto body = fixture(name);
    auto whole = stream(body, {}, true);
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < body.size(); ++i) every.push_back(i);
    EXPECT_EQ(stream(body, every, true), whole) << name;
    std::mt19937 rng(7);
    for (int round = 0; round < 20; ++round) {
      std::vector<std::size_t> cuts;
      for (std::size_t at = 0;;) {
        at += 1 + rng() % 61;
        if (at >= body.size()) break;
        cuts.push_back(at);
      }
      EXPECT_EQ(stream(body, cuts, true), whole) << name << " round " << round;
    }
  }
}

TEST_F(MistralTest, MistralStream_NotDoneWithoutDoneMarker) {
  auto body = fixture("stream_text.sse");
  bool done = true;
  stream(body.substr(0, body.find("data: [DONE]")), {}, true, &done);
  EXPECT_FALSE(done);
}

TEST_F(MistralTest, MistralStream_ErrorFinishOrErrorEventEndsTheStream) {
  auto translator = adapter_->chat_stream(context_);
  std::vector<std::string> chunks;
  auto e = translator->feed(
      "data: "
      "{\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":"
      "\"error\"}]}\n\n",
      chunks);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, protocol::ErrorCode::upstream_error);

  translator = adapter_->chat_stream(context_);
  e = translator->feed(
      "data: {\"object\":\"error\",\"message\":\"Service "
      "unavailable.\",\"type\":\"internal_server_error\"}\n\n",
      chunks);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("Service unavailable."), std::string::npos);
}

TEST_F(MistralTest, MistralError_KeepsMistralsMessage) {
  bool retryable = true;
  auto e = adapter_->translate_error(400, fixture("error_tool_id.json"), retryable);
  EXPECT_FALSE(retryable);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.code, protocol::ErrorCode::invalid_request);
  EXPECT_EQ(e.message,
            "Tool call id was call_abc123def456ghi but must be a-z, A-Z, 0-9, with a length of 9.");

  e = adapter_->translate_error(422, fixture("error_422.json"), retryable);
  EXPECT_EQ(e.code, protocol::ErrorCode::invalid_request);
  EXPECT_NE(e.message.find("Extra inputs are not permitted"), std::string::npos);

  e = adapter_->translate_error(
      429, R"({"object":"error","message":"Requests rate limit exceeded"})", retryable);
  EXPECT_TRUE(retryable);
  EXPECT_EQ(e.status, 429);
  EXPECT_NE(e.message.find("Requests rate limit exceeded"), std::string::npos);

  e = adapter_->translate_error(503, "upstream connect error", retryable);
  EXPECT_TRUE(retryable);
  EXPECT_NE(e.message.find("upstream connect error"), std::string::npos);
}

TEST_F(MistralTest, MistralToolCallIds_RestoresTheClientsIds) {
  auto ids = MistralToolCallIds::from_request(json::parse(kToolConversation));
  auto rewritten = mistral_tool_call_id("call_abc123def456ghi");
  EXPECT_EQ(ids.original(rewritten), "call_abc123def456ghi");
  EXPECT_EQ(ids.original("D681PevKs"), "D681PevKs");
  EXPECT_EQ(ids.original("newOne123"), "newOne123");
  json completion = {
      {"choices", {{{"message", {{"tool_calls", {{{"id", rewritten}}, {{"id", "newOne123"}}}}}}}}}};
  ids.restore(completion);
  EXPECT_EQ(completion["choices"][0]["message"]["tool_calls"][0]["id"], "call_abc123def456ghi");
  EXPECT_EQ(completion["choices"][0]["message"]["tool_calls"][1]["id"], "newOne123");
}

TEST_F(MistralTest, MistralEmbeddings_BuildsAndTranslates) {
  upstream::UpstreamRequest out;
  ASSERT_FALSE(adapter_->build_embeddings(
      json::parse(
          R"({"model":"codestral-embed","input":["a","b"],"dimensions":256,"user":"u","encoding_format":"float"})"),
      target_, out));
  EXPECT_EQ(out.target, "/v1/embeddings");
  EXPECT_EQ(header(out, "authorization"), "Bearer ms-key");
  EXPECT_EQ(
      json::parse(out.body),
      json::parse(
          R"({"model":"codestral-embed","input":["a","b"],"output_dimension":256,"encoding_format":"float"})"));

  json list;
  accounting::Usage usage;
  context_.model = "mistral-embed";
  ASSERT_FALSE(adapter_->translate_embeddings(R"({"id":"e1","object":"list","model":"mistral-embed",
    "data":[{"object":"embedding","embedding":[0.3],"index":1},{"object":"embedding","embedding":[0.1],"index":0}],
    "usage":{"prompt_tokens":6,"total_tokens":6}})",
                                              context_, list, usage));
  EXPECT_EQ(list["data"][0]["index"], 0);
  EXPECT_EQ(list["data"][1]["embedding"][0], 0.3);
  EXPECT_EQ(list["usage"]["prompt_tokens"], 6);
  EXPECT_EQ(usage.input, 6);
  EXPECT_TRUE(usage.known);
}
