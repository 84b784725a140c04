// Webhook and OpenAI-moderation wire formats.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "switchboard/guardrails/remote.hpp"

namespace switchboard::guardrails {
namespace {

using nlohmann::json;

TEST(Webhook, RequestCarriesStageTextModelTenant) {
  std::vector<std::string> segments = {"be nice", "hello"};
  auto body = json::parse(webhook_request("input", segments, "gpt-4o", "acme"));
  EXPECT_EQ(body["stage"], "input");
  EXPECT_EQ(body["text"], "be nice\n\nhello");
  EXPECT_EQ(body["texts"], json(segments));
  EXPECT_EQ(body["model"], "gpt-4o");
  EXPECT_EQ(body["tenant"], "acme");
}

TEST(Webhook, Verdicts) {
  auto allow = parse_webhook_response(R"({"allow":true})", 1);
  EXPECT_TRUE(allow.understood);
  EXPECT_FALSE(allow.flagged);
  auto block = parse_webhook_response(R"({"allow":false,"reason":"violence"})", 1);
  EXPECT_TRUE(block.flagged);
  EXPECT_EQ(block.reason, "violence");
  auto text = parse_webhook_response(R"({"allow":true,"text":"[x]"})", 1);
  EXPECT_EQ(text.texts, std::vector<std::string>{"[x]"});
  auto texts = parse_webhook_response(R"({"allow":true,"texts":["a","b"]})", 2);
  EXPECT_EQ(texts.texts, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(parse_webhook_response(R"({"allow":true,"text":"x"})", 2).unusable_replacement);
  EXPECT_TRUE(parse_webhook_response(R"({"allow":true,"texts":["x"]})", 2).unusable_replacement);
  EXPECT_FALSE(parse_webhook_response(R"({"allow":"yes"})", 1).understood);
  EXPECT_FALSE(parse_webhook_response("not json", 1).understood);
}

TEST(Moderation, RequestAndOpenAiResponseShape) {
  std::vector<std::string> segments = {"some text"};
  auto body = json::parse(moderation_request("omni-moderation-latest", segments));
  EXPECT_EQ(body["model"], "omni-moderation-latest");
  EXPECT_EQ(body["input"], json::array({"some text"}));

  // As OpenAI answers (trimmed category lists).
  const char* flagged = R"({
    "id": "modr-0d9740456c391e43c445bf0f010940c7",
    "model": "omni-moderation-latest",
    "results": [{
      "flagged": true,
      "categories": {"harassment": true, "harassment/threatening": true, "sexual": false,
                     "violence": true, "self-harm": false},
      "category_scores": {"harassment": 0.81, "harassment/threatening": 0.80, "sexual": 0.0001,
                          "violence": 0.97, "self-harm": 0.0002},
      "category_applied_input_types": {"harassment": ["text"], "violence": ["text"]}
    }]})";
  auto v = parse_moderation_response(flagged);
  EXPECT_TRUE(v.understood);
  EXPECT_TRUE(v.flagged);
  EXPECT_EQ(v.reason, "harassment,harassment/threatening,violence");
  auto clean = parse_moderation_response(
      R"({"id":"modr-1","model":"omni-moderation-latest","results":[{"flagged":false,"categories":{"violence":false}}]})");
  EXPECT_TRUE(clean.understood);
  EXPECT_FALSE(clean.flagged);
  EXPECT_FALSE(parse_moderation_response(R"({"error":{"message":"bad key"}})").understood);
}

}  // namespace
}  // namespace switchboard::guardrails
