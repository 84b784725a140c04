// build_chat_text, the Anthropic request built from the client's bytes (no nlohmann DOM): the
// same bodies and 400s as build_chat on the recorded corpus, whatever the client's formatting,
// key order or model; nlohmann's behaviours kept (last duplicate key wins, its type errors,
// numbers beyond double refused); and the default build_chat_text of other adapters.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

#include "switchboard/observability/json_writer.hpp"
#include "switchboard/providers/anthropic.hpp"
#include "switchboard/providers/mistral.hpp"

namespace switchboard::providers {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

class AnthropicRequestText : public ::testing::Test {
 protected:
  AnthropicRequestText() {
    provider_.type = config::ProviderType::anthropic;
    target_.provider = &provider_;
    target_.model_id = "claude-m";
  }

  // The body build_chat_text sends for `text`; empty with `error_` set on a refusal.
  std::string build(std::string_view text, bool stream = false) {
    upstream::UpstreamRequest out;
    error_ = adapter_->build_chat_text(text, stream, target_, out);
    if (error_) EXPECT_TRUE(out.body.empty()) << text;
    return out.body;
  }

  std::unique_ptr<ProviderAdapter> adapter_ = make_anthropic_adapter();
  config::ProviderConfig provider_;
  ProviderTarget target_;
  std::optional<protocol::ApiError> error_;
};

TEST_F(AnthropicRequestText, RecordedCasesFromTextAsTheDomBuilderRecordedThem) {
  std::ifstream in(std::string(SWB_TEST_DATA_DIR) + "/anthropic/request_cases.json");
  ASSERT_TRUE(in.good());
  const json cases = json::parse(in);
  ASSERT_GT(cases.size(), 90u);
  int bodies = 0, errors = 0;
  for (const auto& c : cases) {
    const bool stream = c["stream"].get<bool>();
    const json& request = c["request"];
    // As a client would send it: its own model name, indented, members in another order than
    // nlohmann's sorted dump, and stream_options as serve_chat may add it.
    ordered_json reordered;
    if (request.is_object()) {
      reordered["stream_options"] = {{"include_usage", true}};
      for (auto it = request.rbegin(); it != request.rend(); ++it) reordered[it.key()] = *it;
      reordered["model"] = "client-model-name";
    } else {
      reordered = request;
    }
    for (const std::string& text : {request.dump(), reordered.dump(2)}) {
      SCOPED_TRACE(text);
      std::string body = build(text, stream);
      if (c.contains("error")) {
        ASSERT_TRUE(error_);
        EXPECT_EQ(error_->status, 400);
        EXPECT_EQ(error_->param, c["error"]["param"]);
        EXPECT_EQ(error_->message, c["error"]["message"]);
        ++errors;
      } else {
        ASSERT_FALSE(error_) << error_->message;
        EXPECT_EQ(json::parse(body), c["body"]) << body;
        ++bodies;
      }
    }
  }
  EXPECT_GT(bodies, 30);
  EXPECT_GT(errors, 120);
}

TEST_F(AnthropicRequestText, TheDomEntryPointSendsTheSameBytes) {
  const std::string text =
      R"({"model":"x","messages":[{"role":"system","content":"Be brief."},)"
      R"({"role":"user","content":[{"type":"text","text":"caf\u00e9 \"q\"\n"}]}],)"
      R"("max_tokens":64,"temperature":0.2,"stop":["END"],"user":"u-1"})";
  std::string from_text = build(text);
  ASSERT_FALSE(error_);
  upstream::UpstreamRequest out;
  ASSERT_FALSE(adapter_->build_chat(json::parse(text), false, target_, out));
  EXPECT_EQ(json::parse(from_text), json::parse(out.body));
  EXPECT_EQ(
      from_text,
      R"({"model":"claude-m","messages":[{"role":"user","content":[{"type":"text","text":)"
      R"("caf\u00e9 \"q\"\n"}]}],"system":[{"type":"text","text":"Be brief."}],"max_tokens":64,)"
      R"("temperature":0.2,"stop_sequences":["END"],"metadata":{"user_id":"u-1"}})");
}

TEST_F(AnthropicRequestText, TheClientModelIsUsedOnlyWithoutAConfiguredId) {
  const std::string text =
      R"({"model":"claude-client","messages":[{"role":"user","content":"hi"}]})";
  EXPECT_EQ(json::parse(build(text))["model"], "claude-m");
  target_.model_id.clear();
  EXPECT_EQ(json::parse(build(text))["model"], "claude-client");
}

// Roles and turns of the first 32 messages are kept from the validation pass, later ones are
// looked up again: a conversation converts the same after 30 messages of padding.
TEST_F(AnthropicRequestText, MessagesPastThe32ndConvertAsTheFirstOnes) {
  const json tail = json::parse(R"([
    {"role":"user","content":"u1"},{"role":"system","content":"s1"},{"role":"user","content":"u2"},
    {"role":"assistant","content":"a1","tool_calls":[{"id":"c1","type":"function",
      "function":{"name":"f","arguments":"{\"x\":1}"}}]},
    {"role":"developer","content":"d1"},{"role":"tool","tool_call_id":"c1","content":"r1"},
    {"role":"user","content":[{"type":"text","text":"u3"}]},{"role":"tool","tool_call_id":"c1",
      "content":[{"type":"text","text":"r2"}]},{"role":"assistant","content":""},
    {"role":"assistant","content":"a2"},{"role":"user","content":"u4"}])");
  json padding = json::array();
  for (int i = 0; i < 30; ++i)
    padding.push_back(
        {{"role", i % 2 ? "assistant" : "user"}, {"content", "p" + std::to_string(i)}});
  json alone = {{"model", "x"}, {"messages", tail}};
  json padded = {{"model", "x"}, {"messages", padding}};
  for (const auto& m : tail) padded["messages"].push_back(m);
  ASSERT_GT(padded["messages"].size(), 40u);
  const json want = json::parse(build(alone.dump()));
  ASSERT_FALSE(error_);
  const json got = json::parse(build(padded.dump()));
  ASSERT_FALSE(error_);
  ASSERT_EQ(got["messages"].size(), 30 + want["messages"].size());
  for (std::size_t i = 0; i < want["messages"].size(); ++i)
    EXPECT_EQ(got["messages"][30 + i], want["messages"][i]) << i;
  EXPECT_EQ(got["system"], want["system"]);
  EXPECT_EQ(want["system"].size(), 2u);
}

// A temperature written "0." and up to four digits is sent as the client wrote it; any other is
// converted (and capped at 1). Either way the bytes are what JsonWriter::number writes for it.
TEST_F(AnthropicRequestText, TemperaturesAreWrittenAsJsonWriterWritesThem) {
  std::vector<std::string> temperatures = {"0",       "1",      "0.0",  "1.0",     "0.50",
                                           "1.5",     "2",      "1e-1", "0.12345", "-0.5",
                                           "0.10218", "0.0001", "5E-1", "0.99999", "1.00"};
  for (int digits = 1; digits <= 4; ++digits) {
    int limit = 1;
    for (int i = 0; i < digits; ++i) limit *= 10;
    for (int d = 1; d < limit; ++d) {
      std::string fraction = std::to_string(d);
      fraction.insert(0, static_cast<std::size_t>(digits) - fraction.size(), '0');
      temperatures.push_back("0." + fraction);  // trailing zeros included: they take the slow way
    }
  }
  for (const std::string& t : temperatures) {
    const std::string body = build(
        R"({"model":"x","messages":[{"role":"user","content":"hi"}],"temperature":)" + t + "}");
    ASSERT_FALSE(error_) << t;
    double value = json::parse(t).get<double>();
    std::string expected = R"("temperature":)";
    observability::JsonWriter(expected).number(value > 1.0 ? 1.0 : value);
    EXPECT_TRUE(body.ends_with(expected + "}")) << t << ": " << body;
  }
}

TEST_F(AnthropicRequestText, TheLastDuplicateKeyWinsEverywhere) {
  const std::string text =
      R"({"max_tokens":1,"messages":[{"role":"user","content":"a","content":"b"}],)"
      R"("tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object",)"
      R"("properties":{"x":{"type":"string"},"x":{"type":"integer"}},"required":["x"]}}}],)"
      R"("max_tokens":9})";
  json body = json::parse(build(text));
  ASSERT_FALSE(error_);
  EXPECT_EQ(body["max_tokens"], 9);
  EXPECT_EQ(body["messages"][0]["content"][0]["text"], "b");
  EXPECT_EQ(body["tools"][0]["input_schema"]["properties"]["x"]["type"], "integer");
  // Written once: the upstream never sees the repeated key.
  EXPECT_EQ(build(text).find(R"("x":{"type":"string"})"), std::string::npos);
}

TEST_F(AnthropicRequestText, LargeSchemasKeepTheirOrderAndDropRepeatedKeys) {
  std::string props;
  for (int i = 0; i < 40; ++i)
    props += "\"p" + std::to_string(39 - i) + "\":{\"type\":\"string\"},";
  props += R"("p5":{"type":"number"})";
  const std::string text = R"({"messages":[{"role":"user","content":"hi"}],"tools":[{"type":)"
                           R"("function","function":{"name":"f","parameters":{"type":"object",)"
                           R"("properties":{)" +
                           props + "}}}}]}";
  std::string body = build(text);
  ASSERT_FALSE(error_) << error_->message;
  json schema = json::parse(body)["tools"][0]["input_schema"]["properties"];
  EXPECT_EQ(schema.size(), 40u);
  EXPECT_EQ(schema["p5"]["type"], "number");
  EXPECT_LT(body.find("\"p39\""), body.find("\"p0\""));  // the client's order, not sorted
}

TEST_F(AnthropicRequestText, ATypeThatIsNoStringIsRefusedAsNlohmannRefusedIt) {
  const std::string messages = R"("messages":[{"role":"user","content":"hi"}])";
  for (
      const auto& [text, what] : std::vector<std::pair<std::string, std::string>>{
          {"{" + messages + R"(,"tools":[{"type":5,"function":{"name":"f"}}]})", "number"},
          {"{" + messages + R"(,"tool_choice":{"type":null}})", "null"},
          {"{" + messages + R"(,"response_format":{"type":["json_object"]}})", "array"},
          {"{" + messages +
               R"(,"response_format":{"type":"json_schema","json_schema":{"schema":{"type":{}}}}})",
           "object"},
          {R"({"messages":[{"role":"user","content":[{"type":true,"text":"a"}]}]})", "boolean"},
          {R"({"messages":[{"role":"system","content":[{"type":1.5}]},{"role":"user","content":"a"}]})",
           "number"}}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(build(text), "");
    ASSERT_TRUE(error_);
    EXPECT_EQ(error_->status, 400);
    EXPECT_EQ(
        error_->message,
        "malformed request: [json.exception.type_error.302] type must be string, but is " + what);
    EXPECT_EQ(error_->param, "");
  }
}

TEST_F(AnthropicRequestText, InvalidTextsAndNumbersBeyondDoubleAreNotJson) {
  for (const char* text :
       {R"({"messages":[)", R"({"messages":[{"role":"user","content":"hi"}],"temperature":1e400})",
        "", R"({"a":1} {"b":2})"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(build(text), "");
    ASSERT_TRUE(error_);
    EXPECT_EQ(error_->status, 400);
    EXPECT_EQ(error_->message, "the request body is not valid JSON");
  }
  build("[1,2]");
  ASSERT_TRUE(error_);
  EXPECT_EQ(error_->message, "the request body must be a JSON object");
}

TEST_F(AnthropicRequestText, ScalarsAreSentAsTheClientWroteThem) {
  const std::string text =
      R"({"messages":[{"role":"user","content":"\u00e9\/x"}],"top_p":0.90,"top_k":40,)"
      R"("max_completion_tokens":100,"temperature":3})";
  std::string body = build(text);
  ASSERT_FALSE(error_);
  EXPECT_NE(body.find(R"("text":"\u00e9\/x")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("top_p":0.90)"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("max_tokens":100)"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("temperature":1.0)"), std::string::npos) << body;  // clamped
}

// Adapters that read a DOM: the default build_chat_text parses and sends the configured model.
TEST(ProviderAdapterBuildChatText, TheDefaultParsesAndCallsBuildChat) {
  auto adapter = make_mistral_adapter();
  EXPECT_FALSE(adapter->builds_chat_from_text());
  config::ProviderConfig provider;
  provider.type = config::ProviderType::mistral;
  ProviderTarget target;
  target.provider = &provider;
  target.model_id = "mistral-large-latest";
  const std::string text =
      R"({"model":"client-name","messages":[{"role":"user","content":"hi"}],"max_tokens":5})";
  upstream::UpstreamRequest from_text, from_dom;
  ASSERT_FALSE(adapter->build_chat_text(text, false, target, from_text));
  json dom = json::parse(text);
  dom["model"] = target.model_id;  // as forward.cpp sets it
  ASSERT_FALSE(adapter->build_chat(dom, false, target, from_dom));
  EXPECT_EQ(from_text.body, from_dom.body);
  EXPECT_EQ(json::parse(from_text.body)["model"], "mistral-large-latest");
  auto error = adapter->build_chat_text("{not json", false, target, from_text);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->status, 400);
  EXPECT_EQ(error->message, "the request body is not valid JSON");
  EXPECT_TRUE(make_anthropic_adapter()->builds_chat_from_text());
}

}  // namespace
}  // namespace switchboard::providers
