// The Azure OpenAI adapter: deployment URLs, api-key auth, bodies as they are, content filter.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "switchboard/providers/azure.hpp"

using namespace switchboard;
using namespace switchboard::providers;
using nlohmann::json;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(SWB_TEST_DATA_DIR) + "/azure/" + name, std::ios::binary);
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

class AzureTest : public ::testing::Test {
 protected:
  AzureTest() {
    provider_.name = "azure-eu";
    provider_.type = config::ProviderType::azure;
    provider_.api_version = "2024-10-21";
    provider_.headers = {{"x-ms-client-request-id", "fixed"}};
    target_.provider = &provider_;
    target_.base_path = "";
    target_.key = "az-key";
    target_.model_id = "gpt4o-prod";
  }

  config::ProviderConfig provider_;
  ProviderTarget target_;
  std::unique_ptr<ProviderAdapter> adapter_ = make_azure_adapter();
};

}  // namespace

TEST_F(AzureTest, AzureRequest_TargetsTheDeploymentWithApiVersionAndApiKey) {
  auto request = json::parse(
      R"({"model":"gpt4o-prod","messages":[{"role":"user","content":"hi"}],"stream":true,
          "stream_options":{"include_usage":true},"user":"u1"})");
  upstream::UpstreamRequest out;
  ASSERT_FALSE(adapter_->build_chat(request, true, target_, out));
  EXPECT_TRUE(adapter_->openai_wire());
  EXPECT_EQ(out.method, "POST");
  EXPECT_EQ(out.target, "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21");
  EXPECT_EQ(header(out, "api-key"), "az-key");
  EXPECT_EQ(header(out, "authorization"), "");
  EXPECT_EQ(header(out, "accept"), "text/event-stream");
  EXPECT_EQ(header(out, "x-ms-client-request-id"), "fixed");
  EXPECT_EQ(json::parse(out.body), request);  // OpenAI's wire format: the body goes as it is
}

TEST_F(AzureTest, AzureRequest_EmbeddingsUseTheDeploymentToo) {
  target_.model_id = "text-embedding-3-small";
  upstream::UpstreamRequest out;
  ASSERT_FALSE(
      adapter_->build_embeddings(json::parse(R"({"model":"x","input":"hello"})"), target_, out));
  EXPECT_EQ(out.target,
            "/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21");
  EXPECT_EQ(header(out, "api-key"), "az-key");
}

TEST_F(AzureTest, AzureRequest_EncodesNamesAndKeepsAnOpenaiSuffixedBase) {
  target_.base_path = "/openai";
  target_.model_id = "my deploy";
  provider_.api_version = "2025-04-01-preview";
  EXPECT_EQ(azure_target(target_, "chat/completions"),
            "/openai/deployments/my%20deploy/chat/completions?api-version=2025-04-01-preview");
}

TEST_F(AzureTest, AzureRequest_V1ApiHasNoVersionAndNamesTheDeploymentInTheBody) {
  provider_.api_version = "v1";
  EXPECT_EQ(azure_target(target_, "chat/completions"), "/openai/v1/chat/completions");
  EXPECT_EQ(azure_target(target_, "embeddings"), "/openai/v1/embeddings");
}

TEST_F(AzureTest, AzureError_PromptContentFilterIsContentFilter) {
  bool retryable = true;
  auto e = adapter_->translate_error(400, fixture("content_filter_400.json"), retryable);
  EXPECT_FALSE(retryable);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.code, protocol::ErrorCode::content_filter);
  EXPECT_EQ(e.param, "prompt");
  EXPECT_NE(e.message.find("content management policy"), std::string::npos);
}

TEST_F(AzureTest, AzureError_RateLimitIsRetryableAndOtherErrorsKeepTheirMessage) {
  bool retryable = false;
  auto e = adapter_->translate_error(429, fixture("rate_limit_429.json"), retryable);
  EXPECT_TRUE(retryable);
  EXPECT_NE(e.message.find("Please retry after 6 seconds"), std::string::npos);

  e = adapter_->translate_error(
      404,
      R"({"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}})",
      retryable);
  EXPECT_FALSE(retryable);
  EXPECT_NE(e.code, protocol::ErrorCode::content_filter);
  EXPECT_NE(e.message.find("does not exist"), std::string::npos);

  e = adapter_->translate_error(
      400,
      R"({"error":{"code":"invalid_value","message":"bad temperature","param":"temperature"}})",
      retryable);
  EXPECT_EQ(e.code, protocol::ErrorCode::invalid_request);
}
