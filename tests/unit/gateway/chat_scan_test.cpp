// The chat request reader: the errors OpenAI gives, the figures routing needs (checked against
// the DOM estimate), and the in-place edits of the forwarded bytes.
#include "switchboard/gateway/chat_scan.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "switchboard/routing/router.hpp"

namespace switchboard::gateway {
namespace {

std::string error_of(std::string_view body) {
  ChatScan scan;
  auto e = scan_chat_request(body, scan);
  return e ? e->message : "";
}

std::string param_of(std::string_view body) {
  ChatScan scan;
  auto e = scan_chat_request(body, scan);
  return e ? e->param : "";
}

constexpr std::string_view kMinimal =
    R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";

TEST(ChatScan, AcceptsAMinimalRequestAndReadsItsFields) {
  ChatScan scan;
  std::string body =
      R"( {"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[)"
      R"({"type":"text","text":"caf\u00e9"},{"type":"image_url","image_url":{"url":"x"}}]}],)"
      R"("model" : "gpt-x","stream":true,"max_tokens":64,"max_completion_tokens":32,)"
      R"("user":"u-\"1\"","temperature":0.5,"stream_options":{"include_usage":true}} )";
  ASSERT_FALSE(scan_chat_request(body, scan));
  EXPECT_EQ(scan.model, "gpt-x");
  EXPECT_TRUE(scan.stream);
  EXPECT_TRUE(scan.stream_options_present);
  EXPECT_TRUE(scan.include_usage);
  EXPECT_EQ(scan.max_output_tokens, 32);  // max_completion_tokens wins
  EXPECT_EQ(scan.user, "u-\"1\"");
  EXPECT_FALSE(scan.duplicate_keys);
  EXPECT_EQ(body.substr(scan.model_begin, scan.model_end - scan.model_begin), "\"gpt-x\"");
  EXPECT_EQ(body[scan.members_begin - 1], '{');
  EXPECT_EQ(scan.prompt_tokens, routing::estimate_prompt_tokens(nlohmann::json::parse(body)));
}

TEST(ChatScan, RejectsWhatIsNotAJsonObject) {
  EXPECT_EQ(error_of(""), "the request body is empty; expected a JSON object");
  EXPECT_EQ(error_of("   "), "the request body is not valid JSON");
  EXPECT_EQ(error_of("{\"model\":"), "the request body is not valid JSON");
  EXPECT_EQ(error_of(R"({"model":"m","messages":[]} x)"), "the request body is not valid JSON");
  EXPECT_EQ(error_of("[1,2]"), "the request body must be a JSON object");
  EXPECT_EQ(error_of("\"text\""), "the request body must be a JSON object");
  // Invalid JSON is reported before any rule, wherever it is.
  EXPECT_EQ(error_of(R"({"messages":5,"x":[1,]})"), "the request body is not valid JSON");
  EXPECT_EQ(error_of("{\"model\":\"m\xff\",\"messages\":[]}"),
            "the request body is not valid JSON");
}

TEST(ChatScan, ChecksTheRulesInOpenAiOrder) {
  EXPECT_EQ(error_of(R"({"messages":[]})"), "missing required parameter: 'model'");
  EXPECT_EQ(error_of(R"({"model":"","messages":[]})"), "'model' must be a non-empty string");
  EXPECT_EQ(error_of(R"({"model":7,"messages":[]})"), "'model' must be a non-empty string");
  EXPECT_EQ(error_of(R"({"model":"m"})"), "missing required parameter: 'messages'");
  EXPECT_EQ(error_of(R"({"model":"m","messages":{}})"), "'messages' must be an array");
  EXPECT_EQ(error_of(R"({"model":"m","messages":[]})"),
            "'messages' must contain at least one message");
  EXPECT_EQ(error_of(R"({"model":"m","messages":[{"role":"user"},3]})"),
            "messages[1] must be an object");
  EXPECT_EQ(param_of(R"({"model":"m","messages":[{"content":"x"}]})"), "messages[0].role");
  EXPECT_EQ(error_of(R"({"model":"m","messages":[{"role":"robot"}]})"),
            "messages[0].role 'robot' is not one of system, developer, user, assistant, tool");
  EXPECT_EQ(error_of(R"({"model":"m","messages":[{"role":"user","content":5}]})"),
            "messages[0].content must be a string or an array of content parts");
  EXPECT_EQ(error_of(R"({"model":"m","messages":[{"role":"tool","content":"r"}]})"),
            "messages[0].tool_call_id is required for tool messages");
  EXPECT_EQ(error_of(R"({"model":"m","messages":[{"role":"tool","tool_call_id":"c1"}]})"), "");
  // The first message that breaks a rule is the one reported.
  EXPECT_EQ(param_of(R"({"model":"m","messages":[{"role":"user"},{"role":1},{"role":"x"}]})"),
            "messages[1].role");

  auto with = [](std::string member) {
    return R"({"model":"m","messages":[{"role":"user","content":"x"}],)" + member + "}";
  };
  EXPECT_EQ(error_of(with(R"("stream":"yes")")), "'stream' must be a boolean");
  EXPECT_EQ(error_of(with(R"("stream":null)")), "");
  EXPECT_EQ(error_of(with(R"("stream_options":[])")), "'stream_options' must be an object");
  EXPECT_EQ(error_of(with(R"("stream_options":{"include_usage":null})")),
            "'stream_options.include_usage' must be a boolean");
  EXPECT_EQ(error_of(with(R"("max_tokens":0)")), "'max_tokens' must be a positive integer");
  EXPECT_EQ(error_of(with(R"("max_tokens":1.5)")), "'max_tokens' must be a positive integer");
  EXPECT_EQ(error_of(with(R"("max_tokens":99999999999999999999)")),
            "'max_tokens' must be a positive integer");
  EXPECT_EQ(error_of(with(R"("max_completion_tokens":"5")")),
            "'max_completion_tokens' must be a positive integer");
  EXPECT_EQ(error_of(with(R"("n":-1)")), "'n' must be a positive integer");
  EXPECT_EQ(error_of(with(R"("temperature":2.5)")), "'temperature' must be between 0.0 and 2.0");
  EXPECT_EQ(error_of(with(R"("temperature":"hot")")), "'temperature' must be a number");
  EXPECT_EQ(error_of(with(R"("top_p":1e400)")), "'top_p' must be between 0.0 and 1.0");
  EXPECT_EQ(error_of(with(R"("presence_penalty":-3)")),
            "'presence_penalty' must be between -2.0 and 2.0");
  EXPECT_EQ(error_of(with(R"("frequency_penalty":2)")), "");
  EXPECT_EQ(error_of(with(R"("tools":{})")), "'tools' must be an array");
  EXPECT_EQ(error_of(with(R"("user":5)")), "'user' must be a string");
  // Duplicate keys: the last one counts, as in a DOM.
  EXPECT_EQ(error_of(with(R"("temperature":9,"temperature":1)")), "");
  EXPECT_EQ(error_of(with(R"("stream":true,"stream":"x")")), "'stream' must be a boolean");
}

TEST(ChatScan, FlagsDuplicateModelAndStreamOptionsKeys) {
  ChatScan scan;
  ASSERT_FALSE(scan_chat_request(
      R"({"model":"a","model":"b","messages":[{"role":"user","content":"x"}]})", scan));
  EXPECT_EQ(scan.model, "b");
  EXPECT_TRUE(scan.duplicate_keys);
  ASSERT_FALSE(scan_chat_request(R"({"model":"a","stream_options":{},"stream_options":{},)"
                                 R"("messages":[{"role":"user","content":"x"}]})",
                                 scan));
  EXPECT_TRUE(scan.duplicate_keys);
  ASSERT_FALSE(scan_chat_request(kMinimal, scan));
  EXPECT_FALSE(scan.duplicate_keys);
  EXPECT_FALSE(scan.stream_options_present);
}

TEST(ChatScan, EstimateMatchesTheDomEstimate) {
  const std::vector<std::string> bodies = {
      std::string(kMinimal),
      R"({"model":"m","messages":[{"role":"user","content":"a\nb\u00e9\ud83d\ude00"},)"
      R"({"role":"assistant","content":null,"tool_calls":[{"id":"c"}]},)"
      R"({"role":"tool","tool_call_id":"c","content":"result"}]})",
      R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"one"},)"
      R"({"type":"text","text":5},{"text":"two","text":"three"},7]}],)"
      R"("tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]})",
      R"({"model":"m","messages":[{"role":"user","content":"x","content":"longer text"}]})",
  };
  for (const auto& body : bodies) {
    ChatScan scan;
    ASSERT_FALSE(scan_chat_request(body, scan)) << body;
    EXPECT_EQ(scan.prompt_tokens, routing::estimate_prompt_tokens(nlohmann::json::parse(body)))
        << body;
  }
}

// Random byte edits of valid requests: the reader calls a text invalid JSON exactly when
// nlohmann's parser rejects it.
TEST(ChatScan, AgreesWithNlohmannOnMutatedBodies) {
  const std::string seed =
      R"({"model":"gpt-4o","messages":[{"role":"system","content":"S\u00e9"},)"
      R"({"role":"user","content":[{"type":"text","text":"hi"}]}],"temperature":0.5,)"
      R"("stream":false,"tools":[{"type":"function","function":{"name":"f"}}],"n":1})";
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]\",:0123456789.eE+-truefalsn \\u\x01\xc3\xa9";
  int checked = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body = seed;
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      std::size_t at = rng() % body.size();
      char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          body[at] = c;
          break;
        case 1:
          body.insert(body.begin() + static_cast<long>(at), c);
          break;
        default:
          body.erase(at, 1);
          break;
      }
    }
    const bool dom_ok = nlohmann::json::accept(body);
    ChatScan scan;
    auto error = scan_chat_request(body, scan);
    const bool invalid_json = error && (error->message == "the request body is not valid JSON" ||
                                        error->message.find("empty") != std::string::npos);
    ASSERT_EQ(invalid_json, !dom_ok) << body;
    ++checked;
  }
  EXPECT_EQ(checked, 20000);
}

TEST(ChatScan, ReplacesTheModelAndInsertsIncludeUsageInPlace) {
  std::string body = R"({ "model" : "gpt-test" ,"messages":[]})";
  auto model_at = body.find("\"gpt-test\"");
  EXPECT_EQ(replace_model(body, model_at, model_at + 10, "prov/\"x\""),
            R"({ "model" : "prov/\"x\"" ,"messages":[]})");
  EXPECT_EQ(insert_include_usage(body, 1),
            R"({"stream_options":{"include_usage":true}, "model" : "gpt-test" ,"messages":[]})");
  EXPECT_TRUE(nlohmann::json::accept(insert_include_usage(body, 1)));
}

}  // namespace
}  // namespace switchboard::gateway
