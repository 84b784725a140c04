// build_chat on a corpus of requests (tests/data/anthropic/request_cases.json) whose expected
// bodies and 400s were recorded from the previous, DOM-building implementation: the JsonWriter
// version sends the same body (compared parsed) and refuses with the same message and param.
#include "switchboard/providers/anthropic.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

namespace switchboard::providers {
namespace {

using nlohmann::json;

TEST(AnthropicRequestCases, AnthropicRequest_SameBodiesAndErrorsAsTheDomBuilder) {
  std::ifstream in(std::string(SWB_TEST_DATA_DIR) + "/anthropic/request_cases.json");
  ASSERT_TRUE(in.good());
  const json cases = json::parse(in);
  ASSERT_GT(cases.size(), 90u);
  auto adapter = make_anthropic_adapter();
  config::ProviderConfig provider;
  provider.type = config::ProviderType::anthropic;
  ProviderTarget target;
  target.provider = &provider;
  target.model_id = "claude-m";
  int bodies = 0, errors = 0;
  for (const auto& c : cases) {
    const std::string what = c["request"].dump() + (c["stream"] ? " (stream)" : "");
    upstream::UpstreamRequest out;
    auto error = adapter->build_chat(c["request"], c["stream"].get<bool>(), target, out);
    if (c.contains("error")) {
      ASSERT_TRUE(error) << what;
      EXPECT_EQ(error->status, 400) << what;
      EXPECT_EQ(error->param, c["error"]["param"]) << what;
      EXPECT_EQ(error->message, c["error"]["message"]) << what;
      EXPECT_TRUE(out.body.empty()) << what;  // no half-written body is left behind
      ++errors;
    } else {
      ASSERT_FALSE(error) << what << ": " << error->message;
      auto body = json::parse(out.body, nullptr, false);
      EXPECT_EQ(body, c["body"]) << what << "\nsent:     " << out.body
                                 << "\nexpected: " << c["body"].dump();
      ++bodies;
    }
  }
  EXPECT_GT(bodies, 15);
  EXPECT_GT(errors, 60);
}

}  // namespace
}  // namespace switchboard::providers
