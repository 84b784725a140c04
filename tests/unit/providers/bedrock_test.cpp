// The Bedrock adapter: signed Converse/InvokeModel requests, responses, event streams and errors.
#include "switchboard/providers/bedrock.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "switchboard/protocol/eventstream.hpp"

namespace switchboard::providers {
namespace {

using nlohmann::json;
using protocol::ErrorCode;

constexpr std::int64_t kSuiteTime = 1440938160;  // 2015-08-30T12:36:00Z
constexpr std::string_view kModel = "anthropic.claude-3-5-sonnet-20240620-v1:0";

std::string read_fixture(const std::string& name) {
  std::ifstream in(std::string(SWB_TEST_DATA_DIR) + "/bedrock/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json fixture_json(const std::string& name) {
  return json::parse(read_fixture(name));
}

// A recorded event sequence [[event-type, payload], ...] -> its eventstream body.
std::string event_stream(const std::string& name) {
  std::string body;
  for (const auto& e : fixture_json(name))
    body += protocol::encode_event(e[0].get<std::string>(), e[1].dump());
  return body;
}

std::string header(const upstream::UpstreamRequest& r, std::string_view name) {
  for (const auto& h : r.headers)
    if (h.name == name) return h.value;
  return "";
}

class BedrockTest : public ::testing::Test {
 protected:
  BedrockTest() {
    provider_.name = "bedrock";
    provider_.type = config::ProviderType::bedrock;
    provider_.base_url = "https://bedrock-runtime.us-east-1.amazonaws.com";
    provider_.region = "us-east-1";
    provider_.access_key_id = "AKIDEXAMPLE";
    provider_.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    target_.provider = &provider_;
    target_.host = "bedrock-runtime.us-east-1.amazonaws.com";
    target_.model_id = std::string(kModel);
    target_.now_unix = kSuiteTime;
    context_.id = "chatcmpl-test";
    context_.model = "claude-on-bedrock";
    context_.created = 1700000000;
  }

  json converse_body(const json& request) {
    upstream::UpstreamRequest out;
    auto err = adapter_->build_chat(request, false, target_, out);
    EXPECT_FALSE(err) << (err ? err->message : "");
    return err ? json() : json::parse(out.body);
  }

  protocol::ApiError chat_error(const json& request) {
    upstream::UpstreamRequest out;
    auto err = adapter_->build_chat(request, false, target_, out);
    EXPECT_TRUE(err);
    return err ? *err : protocol::ApiError{};
  }

  // Feeds `body` in pieces of `piece` bytes; returns the chunks as JSON.
  std::vector<json> stream(const std::string& body, std::size_t piece,
                           std::optional<protocol::ApiError>* error = nullptr) {
    translator_ = adapter_->chat_stream(context_);
    std::vector<std::string> chunks;
    for (std::size_t pos = 0; pos < body.size(); pos += piece) {
      auto err = translator_->feed(std::string_view(body).substr(pos, piece), chunks);
      if (err) {
        if (error) *error = err;
        break;
      }
    }
    std::vector<json> out;
    for (const auto& c : chunks) out.push_back(json::parse(c));
    return out;
  }

  config::ProviderConfig provider_;
  ProviderTarget target_;
  ResponseContext context_;
  std::unique_ptr<ProviderAdapter> adapter_ = make_bedrock_adapter();
  std::unique_ptr<StreamTranslator> translator_;
};

const json kHello = {{"model", "claude-on-bedrock"},
                     {"messages", json::array({{{"role", "user"}, {"content", "Hi"}}})}};

// The whole request checked against botocore 1.43's SigV4Auth over the same method, URL, headers
// and body (the suite's keys and time).
TEST_F(BedrockTest, BedrockRequest_SignsConverseLikeBotocore) {
  upstream::UpstreamRequest out;
  ASSERT_FALSE(adapter_->build_chat(kHello, false, target_, out));
  EXPECT_EQ(out.method, "POST");
  EXPECT_EQ(out.target, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse");
  EXPECT_EQ(out.body, R"({"messages":[{"content":[{"text":"Hi"}],"role":"user"}]})");
  EXPECT_EQ(header(out, "host"), "bedrock-runtime.us-east-1.amazonaws.com");
  EXPECT_EQ(header(out, "content-type"), "application/json");
  EXPECT_EQ(header(out, "accept"), "application/json");
  EXPECT_EQ(header(out, "x-amz-date"), "20150830T123600Z");
  EXPECT_EQ(header(out, "x-amz-security-token"), "");
  EXPECT_EQ(header(out, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
            "SignedHeaders=accept;content-type;host;x-amz-date, "
            "Signature=2af799037a41a9cef92526438dbb4e68d2621207647ccb881e7ebe7f3c1c16cb");
}

TEST_F(BedrockTest, BedrockRequest_StreamWithSessionTokenAndRegionFromHost) {
  provider_.base_url = "https://bedrock-runtime.us-west-2.amazonaws.com";
  provider_.region.clear();  // taken from the host
  provider_.session_token = "SESSIONTOKEN";
  upstream::UpstreamRequest out;
  ASSERT_FALSE(adapter_->build_chat(kHello, true, target_, out));
  EXPECT_EQ(out.target, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream");
  EXPECT_EQ(header(out, "accept"), "application/vnd.amazon.eventstream");
  EXPECT_EQ(header(out, "x-amz-security-token"), "SESSIONTOKEN");
  EXPECT_EQ(header(out, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-west-2/bedrock/aws4_request, "
            "SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token, "
            "Signature=5b0fbb4e730e6b92a5a32fcecf5cbd10821e310af81b5747d570e38853f78cae");
}

TEST_F(BedrockTest, BedrockRequest_HostCarriesANonDefaultPortAndBasePath) {
  provider_.base_url = "http://127.0.0.1:8123/proxy";
  target_.base_path = "/proxy";
  upstream::UpstreamRequest out;
  ASSERT_FALSE(adapter_->build_chat(kHello, false, target_, out));
  EXPECT_EQ(header(out, "host"), "127.0.0.1:8123");
  EXPECT_EQ(out.target, "/proxy/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse");
  provider_.base_url = "https://bedrock-runtime.us-east-1.amazonaws.com:443";
  ASSERT_FALSE(adapter_->build_chat(kHello, false, target_, out));
  EXPECT_EQ(header(out, "host"), "bedrock-runtime.us-east-1.amazonaws.com");
}

TEST_F(BedrockTest, BedrockRequest_ProviderHeadersAreSignedButCannotReplaceSignatureHeaders) {
  provider_.headers = {{"X-Fake-Status", "429"}, {"Authorization", "nope"}, {"Host", "evil"}};
  upstream::UpstreamRequest out;
  ASSERT_FALSE(adapter_->build_chat(kHello, false, target_, out));
  EXPECT_EQ(header(out, "x-fake-status"), "429");
  EXPECT_EQ(header(out, "host"), "bedrock-runtime.us-east-1.amazonaws.com");
  EXPECT_NE(header(out, "authorization")
                .find("SignedHeaders=accept;content-type;host;x-amz-date;"
                      "x-fake-status,"),
            std::string::npos);
}

TEST_F(BedrockTest, BedrockRequest_ApiKeyWithoutAccessKeyIsABearerToken) {
  provider_.access_key_id.clear();
  target_.key = "bedrock-api-key";
  upstream::UpstreamRequest out;
  ASSERT_FALSE(adapter_->build_chat(kHello, false, target_, out));
  EXPECT_EQ(header(out, "authorization"), "Bearer bedrock-api-key");
  EXPECT_EQ(header(out, "x-amz-date"), "");
}

TEST_F(BedrockTest, BedrockRequest_ModelPathEncodesTheIdAsOneSegment) {
  EXPECT_EQ(bedrock::model_path("us.anthropic.claude-3-7:0", "converse"),
            "/model/us.anthropic.claude-3-7%3A0/converse");
  EXPECT_EQ(bedrock::model_path("arn:aws:bedrock:us-east-1:1:inference-profile/x", "invoke"),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx/invoke");
}

TEST_F(BedrockTest, BedrockRequest_MapsMessagesToolsAndInferenceConfig) {
  EXPECT_EQ(converse_body(fixture_json("request_openai_tools.json")),
            fixture_json("converse_request_tools.json"));
}

TEST_F(BedrockTest, BedrockRequest_ImagesMustBeDataUrls) {
  json request = kHello;
  request["messages"][0]["content"] = json::array(
      {{{"type", "text"}, {"text", "What is this?"}},
       {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,iVBORw0KGgo="}}}}});
  json body = converse_body(request);
  EXPECT_EQ(body["messages"][0]["content"][1],
            json({{"image", {{"format", "png"}, {"source", {{"bytes", "iVBORw0KGgo="}}}}}}));

  request["messages"][0]["content"][1]["image_url"]["url"] = "https://example.com/cat.png";
  auto err = chat_error(request);
  EXPECT_EQ(err.status, 400);
  EXPECT_EQ(err.param, "messages[0].content[1].image_url.url");
  EXPECT_NE(err.message.find("bytes"), std::string::npos);

  request["messages"][0]["content"][1]["image_url"]["url"] = "data:image/tiff;base64,AAAA";
  EXPECT_EQ(chat_error(request).param, "messages[0].content[1].image_url.url");
}

TEST_F(BedrockTest, BedrockRequest_RefusesWhatConverseCannotHonour) {
  for (const auto& [field, value] :
       std::vector<std::pair<std::string, json>>{{"n", 2},
                                                 {"logprobs", true},
                                                 {"presence_penalty", 0.5},
                                                 {"logit_bias", {{"50256", -100}}},
                                                 {"reasoning_effort", "high"}}) {
    json request = kHello;
    request[field] = value;
    auto err = chat_error(request);
    EXPECT_EQ(err.status, 400) << field;
    EXPECT_EQ(err.code, ErrorCode::invalid_request) << field;
    EXPECT_EQ(err.param, field);
  }
  json request = kHello;
  request["n"] = 1;  // n=1 is what Converse does anyway
  converse_body(request);
}

TEST_F(BedrockTest, BedrockRequest_ResponseFormat) {
  json request = kHello;
  request["response_format"] = {{"type", "json_object"}};
  EXPECT_EQ(chat_error(request).param, "response_format");

  json schema = {{"type", "object"},
                 {"properties", {{"city", {{"type", "string"}}}}},
                 {"required", {"city"}},
                 {"additionalProperties", false}};
  request["response_format"] = {
      {"type", "json_schema"},
      {"json_schema", {{"name", "place"}, {"description", "A place"}, {"schema", schema}}}};
  json body = converse_body(request);
  const json& format = body["outputConfig"]["textFormat"];
  EXPECT_EQ(format["type"], "json_schema");
  EXPECT_EQ(format["structure"]["jsonSchema"]["name"], "place");
  EXPECT_EQ(format["structure"]["jsonSchema"]["description"], "A place");
  // Converse takes the schema as a JSON text.
  EXPECT_EQ(json::parse(format["structure"]["jsonSchema"]["schema"].get<std::string>()), schema);

  request["response_format"] = {{"type", "text"}};
  EXPECT_FALSE(converse_body(request).contains("outputConfig"));
}

TEST_F(BedrockTest, BedrockRequest_ToolChoiceVariants) {
  json request = fixture_json("request_openai_tools.json");
  request["tool_choice"] = "required";
  EXPECT_EQ(converse_body(request)["toolConfig"]["toolChoice"], json({{"any", json::object()}}));
  request["tool_choice"] = {{"type", "function"}, {"function", {{"name", "get_weather"}}}};
  EXPECT_EQ(converse_body(request)["toolConfig"]["toolChoice"],
            json({{"tool", {{"name", "get_weather"}}}}));
  request.erase("tool_choice");
  EXPECT_FALSE(converse_body(request)["toolConfig"].contains("toolChoice"));
  request["parallel_tool_calls"] = false;
  EXPECT_EQ(chat_error(request).param, "parallel_tool_calls");
}

TEST_F(BedrockTest, BedrockRequest_ToolChoiceNone) {
  // Without tool history, "none" omits toolConfig: the model cannot call a tool.
  json request = kHello;
  request["tools"] = fixture_json("request_openai_tools.json")["tools"];
  request["tool_choice"] = "none";
  EXPECT_FALSE(converse_body(request).contains("toolConfig"));
  // With tool history Converse requires toolConfig, so "none" cannot be expressed.
  request["messages"] = fixture_json("request_openai_tools.json")["messages"];
  auto err = chat_error(request);
  EXPECT_EQ(err.param, "tool_choice");
  EXPECT_EQ(err.status, 400);
}

TEST_F(BedrockTest, BedrockRequest_ToolHistoryWithoutToolsDeclaresTheToolsItUses) {
  json request = fixture_json("request_openai_tools.json");
  request.erase("tools");
  request.erase("tool_choice");
  json body = converse_body(request);
  ASSERT_TRUE(body.contains("toolConfig"));
  ASSERT_EQ(body["toolConfig"]["tools"].size(), 1u);
  EXPECT_EQ(body["toolConfig"]["tools"][0]["toolSpec"]["name"], "get_weather");
  EXPECT_EQ(body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"],
            json({{"type", "object"}}));
}

TEST_F(BedrockTest, BedrockRequest_RejectsMalformedToolArguments) {
  json request = fixture_json("request_openai_tools.json");
  request["messages"][4]["tool_calls"][0]["function"]["arguments"] = "not json";
  EXPECT_EQ(chat_error(request).param, "messages[4].tool_calls[0].function.arguments");
}

TEST_F(BedrockTest, BedrockResponse_TextWithCacheUsage) {
  json out;
  accounting::Usage usage;
  ASSERT_FALSE(adapter_->translate_chat(read_fixture("converse_text.json"), context_, out, usage));
  EXPECT_EQ(out["id"], "chatcmpl-test");
  EXPECT_EQ(out["object"], "chat.completion");
  EXPECT_EQ(out["model"], "claude-on-bedrock");
  EXPECT_EQ(out["choices"][0]["message"]["content"], "Paris is the capital of France.");
  EXPECT_EQ(out["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(usage.known);
  EXPECT_EQ(usage.input, 12 + 1200 + 300);
  EXPECT_EQ(usage.cached_input, 1200);
  EXPECT_EQ(usage.cache_write, 300);
  EXPECT_EQ(usage.output, 8);
  EXPECT_EQ(usage.uncached_input(), 12);
  EXPECT_EQ(out["usage"]["prompt_tokens"], 1512);
  EXPECT_EQ(out["usage"]["completion_tokens"], 8);
  EXPECT_EQ(out["usage"]["total_tokens"], 1520);
  EXPECT_EQ(out["usage"]["prompt_tokens_details"]["cached_tokens"], 1200);
  EXPECT_EQ(out["usage"]["cache_creation_input_tokens"], 300);
}

TEST_F(BedrockTest, BedrockResponse_ToolUseBecomesToolCalls) {
  json out;
  accounting::Usage usage;
  ASSERT_FALSE(
      adapter_->translate_chat(read_fixture("converse_tool_use.json"), context_, out, usage));
  const json& message = out["choices"][0]["message"];
  EXPECT_EQ(message["content"], "Checking.");
  ASSERT_EQ(message["tool_calls"].size(), 1u);
  EXPECT_EQ(message["tool_calls"][0]["id"], "tooluse_abc");
  EXPECT_EQ(message["tool_calls"][0]["type"], "function");
  EXPECT_EQ(message["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(message["tool_calls"][0]["function"]["arguments"].get<std::string>()),
            json({{"city", "Paris"}}));
  EXPECT_EQ(out["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(usage.input, 20);
  EXPECT_EQ(usage.output, 12);
}

TEST_F(BedrockTest, BedrockResponse_StopReasons) {
  EXPECT_EQ(bedrock::finish_reason("end_turn"), "stop");
  EXPECT_EQ(bedrock::finish_reason("stop_sequence"), "stop");
  EXPECT_EQ(bedrock::finish_reason("max_tokens"), "length");
  EXPECT_EQ(bedrock::finish_reason("model_context_window_exceeded"), "length");
  EXPECT_EQ(bedrock::finish_reason("tool_use"), "tool_calls");
  EXPECT_EQ(bedrock::finish_reason("guardrail_intervened"), "content_filter");
  EXPECT_EQ(bedrock::finish_reason("content_filtered"), "content_filter");
  EXPECT_EQ(bedrock::finish_reason("something_new"), "stop");
}

TEST_F(BedrockTest, BedrockResponse_MalformedBodyIsAnUpstreamError) {
  json out;
  accounting::Usage usage;
  auto err = adapter_->translate_chat(R"({"foo":1})", context_, out, usage);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, ErrorCode::upstream_error);
  EXPECT_TRUE(adapter_->translate_chat("not json", context_, out, usage));
}

TEST_F(BedrockTest, BedrockStream_TextWithUsageChunk) {
  context_.include_usage = true;
  auto chunks = stream(event_stream("stream_text.events.json"), 1 << 20);
  ASSERT_TRUE(translator_->done());
  ASSERT_EQ(chunks.size(), 5u);
  EXPECT_EQ(chunks[0]["choices"][0]["delta"], json({{"role", "assistant"}, {"content", ""}}));
  EXPECT_EQ(chunks[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(chunks[0]["id"], "chatcmpl-test");
  EXPECT_EQ(chunks[1]["choices"][0]["delta"]["content"], "Hello");
  EXPECT_EQ(chunks[2]["choices"][0]["delta"]["content"], " there.");
  EXPECT_TRUE(chunks[2]["usage"].is_null());
  EXPECT_EQ(chunks[3]["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(chunks[4]["choices"].empty());
  EXPECT_EQ(chunks[4]["usage"]["prompt_tokens"], 109);
  EXPECT_EQ(chunks[4]["usage"]["completion_tokens"], 3);
  EXPECT_EQ(chunks[4]["usage"]["prompt_tokens_details"]["cached_tokens"], 100);
  EXPECT_EQ(translator_->usage().input, 109);
  EXPECT_EQ(translator_->usage().cached_input, 100);
}

TEST_F(BedrockTest, BedrockStream_WithoutIncludeUsageNoUsageChunkButUsageKnown) {
  auto chunks = stream(event_stream("stream_text.events.json"), 1 << 20);
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_FALSE(chunks[1].contains("usage"));
  EXPECT_TRUE(translator_->done());
  EXPECT_TRUE(translator_->usage().known);
  EXPECT_EQ(translator_->usage().output, 3);
}

TEST_F(BedrockTest, BedrockStream_ToolUseBecomesToolCallDeltas) {
  auto chunks = stream(event_stream("stream_tool_use.events.json"), 1 << 20);
  ASSERT_TRUE(translator_->done());
  ASSERT_EQ(chunks.size(), 8u);
  EXPECT_EQ(chunks[1]["choices"][0]["delta"]["content"], "Checking.");
  const json& first = chunks[2]["choices"][0]["delta"]["tool_calls"][0];
  EXPECT_EQ(first["index"], 0);
  EXPECT_EQ(first["id"], "tooluse_abc");
  EXPECT_EQ(first["type"], "function");
  EXPECT_EQ(first["function"]["name"], "get_weather");
  EXPECT_EQ(first["function"]["arguments"], "");
  EXPECT_EQ(chunks[3]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
            "{\"city\":");
  EXPECT_EQ(chunks[4]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
            "\"Paris\"}");
  const json& second = chunks[5]["choices"][0]["delta"]["tool_calls"][0];
  EXPECT_EQ(second["index"], 1);
  EXPECT_EQ(second["id"], "tooluse_def");
  // A tool that streamed no input gets "{}" so clients can parse its arguments.
  EXPECT_EQ(chunks[6]["choices"][0]["delta"]["tool_calls"][0]["index"], 1);
  EXPECT_EQ(chunks[6]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"], "{}");
  EXPECT_EQ(chunks[7]["choices"][0]["finish_reason"], "tool_calls");
}

TEST_F(BedrockTest, BedrockStream_ByteByByteGivesTheSameChunks) {
  context_.include_usage = true;
  std::string body = event_stream("stream_tool_use.events.json");
  auto whole = stream(body, body.size());
  auto bytewise = stream(body, 1);
  EXPECT_EQ(whole, bytewise);
  EXPECT_TRUE(translator_->done());
  auto odd = stream(body, 13);
  EXPECT_EQ(whole, odd);
}

TEST_F(BedrockTest, BedrockStream_ExceptionEventIsAnApiError) {
  std::string body = protocol::encode_event("messageStart", R"({"role":"assistant"})") +
                     protocol::encode_event("contentBlockDelta",
                                            R"({"contentBlockIndex":0,"delta":{"text":"Hi"}})") +
                     protocol::encode_exception(
                         "throttlingException",
                         R"({"message":"Too many tokens, please wait before trying again."})");
  std::optional<protocol::ApiError> error;
  auto chunks = stream(body, 7, &error);
  EXPECT_EQ(chunks.size(), 2u);  // what arrived before the exception still went out
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, ErrorCode::rate_limit_exceeded);
  EXPECT_NE(error->message.find("Too many tokens"), std::string::npos);
  EXPECT_FALSE(translator_->done());

  std::optional<protocol::ApiError> validation;
  stream(protocol::encode_exception("validationException", R"({"message":"bad input"})"), 64,
         &validation);
  ASSERT_TRUE(validation);
  EXPECT_EQ(validation->code, ErrorCode::invalid_request);
}

TEST_F(BedrockTest, BedrockStream_CorruptFrameIsAnApiError) {
  std::string body = event_stream("stream_text.events.json");
  body[body.size() / 2] ^= 0x5a;
  std::optional<protocol::ApiError> error;
  stream(body, 50, &error);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, ErrorCode::upstream_error);
  EXPECT_NE(error->message.find("CRC"), std::string::npos);
}

TEST_F(BedrockTest, BedrockErrors_ThrottlingIsRetryableAndKeepsTheMessage) {
  bool retryable = false;
  auto err = adapter_->translate_error(429, read_fixture("error_throttling.json"), retryable);
  EXPECT_TRUE(retryable);
  EXPECT_EQ(err.code, ErrorCode::rate_limit_exceeded);
  EXPECT_NE(err.message.find("Too many tokens, please wait before trying again."),
            std::string::npos);
}

TEST_F(BedrockTest, BedrockErrors_StatusMapping) {
  bool retryable = true;
  auto validation = adapter_->translate_error(
      400, R"({"message":"The model returned the following errors: bad"})", retryable);
  EXPECT_FALSE(retryable);
  EXPECT_EQ(validation.code, ErrorCode::invalid_request);
  EXPECT_EQ(validation.message, "The model returned the following errors: bad");

  auto unavailable =
      adapter_->translate_error(503, R"({"message":"Service unavailable"})", retryable);
  EXPECT_TRUE(retryable);
  EXPECT_EQ(unavailable.code, ErrorCode::no_healthy_upstream);

  auto not_ready = adapter_->translate_error(
      429, R"({"__type":"ModelNotReadyException","message":"warming up"})", retryable);
  EXPECT_TRUE(retryable);
  EXPECT_NE(not_ready.message.find("ModelNotReadyException"), std::string::npos);

  auto model_error = adapter_->translate_error(424, R"({"message":"model failed"})", retryable);
  EXPECT_FALSE(retryable);
  EXPECT_EQ(model_error.code, ErrorCode::upstream_error);

  auto denied = adapter_->translate_error(
      403,
      R"({"message":"The request signature we calculated does not match the signature you provided."})",
      retryable);
  EXPECT_FALSE(retryable);
  EXPECT_EQ(denied.code, ErrorCode::upstream_error);
  EXPECT_NE(denied.message.find("signature"), std::string::npos);

  auto garbage = adapter_->translate_error(500, "<html>oops</html>", retryable);
  EXPECT_TRUE(retryable);
  EXPECT_NE(garbage.message.find("<html>oops</html>"), std::string::npos);
}

TEST_F(BedrockTest, BedrockEmbeddings_TitanRequestAndResponse) {
  target_.model_id = "amazon.titan-embed-text-v2:0";
  upstream::UpstreamRequest out;
  json request = {{"model", "titan"}, {"input", "hello world"}, {"dimensions", 256}};
  ASSERT_FALSE(adapter_->build_embeddings(request, target_, out));
  EXPECT_EQ(out.target, "/model/amazon.titan-embed-text-v2%3A0/invoke");
  EXPECT_EQ(json::parse(out.body),
            json({{"inputText", "hello world"}, {"normalize", true}, {"dimensions", 256}}));
  EXPECT_NE(header(out, "authorization").find("/bedrock/aws4_request"), std::string::npos);

  request["input"] = json::array({"only one"});
  ASSERT_FALSE(adapter_->build_embeddings(request, target_, out));
  EXPECT_EQ(json::parse(out.body)["inputText"], "only one");

  request["input"] = json::array({"one", "two"});
  auto err = adapter_->build_embeddings(request, target_, out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->param, "input");
  EXPECT_NE(err->message.find("one text per call"), std::string::npos);

  json response;
  accounting::Usage usage;
  context_.model = "titan";
  ASSERT_FALSE(adapter_->translate_embeddings(read_fixture("embeddings_titan.json"), context_,
                                              response, usage));
  EXPECT_EQ(response["object"], "list");
  EXPECT_EQ(response["model"], "titan");
  ASSERT_EQ(response["data"].size(), 1u);
  EXPECT_EQ(response["data"][0]["object"], "embedding");
  EXPECT_EQ(response["data"][0]["index"], 0);
  EXPECT_EQ(response["data"][0]["embedding"].size(), 3u);
  EXPECT_EQ(response["usage"]["prompt_tokens"], 7);
  EXPECT_EQ(usage.input, 7);
  EXPECT_TRUE(usage.known);
}

TEST_F(BedrockTest, BedrockEmbeddings_TitanV1HasAFixedSize) {
  target_.model_id = "amazon.titan-embed-text-v1";
  upstream::UpstreamRequest out;
  ASSERT_FALSE(adapter_->build_embeddings({{"input", "x"}}, target_, out));
  EXPECT_EQ(json::parse(out.body), json({{"inputText", "x"}}));
  auto err = adapter_->build_embeddings({{"input", "x"}, {"dimensions", 256}}, target_, out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->param, "dimensions");
}

TEST_F(BedrockTest, BedrockEmbeddings_CohereRequestAndResponse) {
  target_.model_id = "cohere.embed-english-v3";
  upstream::UpstreamRequest out;
  ASSERT_FALSE(adapter_->build_embeddings({{"input", {"a", "b"}}}, target_, out));
  EXPECT_EQ(out.target, "/model/cohere.embed-english-v3/invoke");
  EXPECT_EQ(json::parse(out.body), json({{"texts", {"a", "b"}},
                                         {"input_type", "search_document"},
                                         {"embedding_types", {"float"}}}));
  ASSERT_FALSE(
      adapter_->build_embeddings({{"input", "q"}, {"input_type", "search_query"}}, target_, out));
  EXPECT_EQ(json::parse(out.body)["input_type"], "search_query");

  json response;
  accounting::Usage usage;
  ASSERT_FALSE(adapter_->translate_embeddings(read_fixture("embeddings_cohere.json"), context_,
                                              response, usage));
  ASSERT_EQ(response["data"].size(), 2u);
  EXPECT_EQ(response["data"][1]["index"], 1);
  EXPECT_EQ(response["data"][1]["embedding"], json({0.3, 0.4}));
  EXPECT_FALSE(usage.known);  // Cohere reports tokens in headers only

  ASSERT_FALSE(adapter_->translate_embeddings(
      R"({"embeddings":[[1.0],[2.0]],"response_type":"embeddings_floats"})", context_, response,
      usage));
  EXPECT_EQ(response["data"].size(), 2u);
}

TEST_F(BedrockTest, BedrockEmbeddings_RefusesWhatItCannotHonour) {
  upstream::UpstreamRequest out;
  target_.model_id = "amazon.titan-embed-text-v2:0";
  auto base64 =
      adapter_->build_embeddings({{"input", "x"}, {"encoding_format", "base64"}}, target_, out);
  ASSERT_TRUE(base64);
  EXPECT_EQ(base64->param, "encoding_format");
  auto tokens = adapter_->build_embeddings({{"input", {{1, 2, 3}}}}, target_, out);
  ASSERT_TRUE(tokens);
  EXPECT_EQ(tokens->param, "input[0]");
  target_.model_id = "meta.llama3-8b-instruct-v1:0";
  auto family = adapter_->build_embeddings({{"input", "x"}}, target_, out);
  ASSERT_TRUE(family);
  EXPECT_EQ(family->param, "model");
  target_.model_id = "cohere.embed-english-v3";
  auto dimensions = adapter_->build_embeddings({{"input", "x"}, {"dimensions", 512}}, target_, out);
  ASSERT_TRUE(dimensions);
  EXPECT_EQ(dimensions->param, "dimensions");
  target_.model_id = "us.cohere.embed-v4:0";
  ASSERT_FALSE(adapter_->build_embeddings({{"input", "x"}, {"dimensions", 512}}, target_, out));
  EXPECT_EQ(json::parse(out.body)["output_dimension"], 512);
}

}  // namespace
}  // namespace switchboard::providers
