// The router: strategies, constraints, policies and the no_route explanation, on a real config.
#include <gtest/gtest.h>

#include <map>

#include "switchboard/config/loader.hpp"
#include "switchboard/routing/router.hpp"

using namespace switchboard;

namespace {

const char* kConfig = R"(
providers:
  pub: {type: mock, privacy: [public]}
  priv: {type: mock, privacy: [private]}
models:
  cheap: {provider: pub, price: {input: 0.1, output: 0.4}, quality: 40}
  smart: {provider: pub, price: {input: 5, output: 15}, quality: 90}
  local: {provider: priv, price: {input: 0, output: 0}, quality: 60}
  emb: {provider: pub, kind: embedding, price: {input: 0.02, output: 0}}
routes:
  weighted: {targets: [{model: cheap, weight: 3}, {model: smart, weight: 1}], strategy: weighted}
  rr: {targets: [cheap, smart], strategy: round-robin}
  by-cost: {targets: [smart, cheap], strategy: lowest-cost}
  by-quality: {targets: [cheap, smart], strategy: best-quality}
  with-fallback: {targets: [smart], fallbacks: [local, cheap]}
policies:
  - name: confidential-stays-private
    when: {header: {x-switchboard-privacy: confidential}}
    require: {privacy: [private]}
  - name: interns-cheap
    when: {tenant: [interns]}
    require: {max_cost_usd: 0.001}
    prefer: lowest-cost
tenants:
  acme: {keys: [k1]}
  interns: {keys: [k2]}
  limited: {keys: [k3], models: [cheap]}
)";

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = config::load_config_text(kConfig, "router.yaml");
    ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
    std::string why;
    runtime_ = gateway::Runtime::build(loaded.config, why);
    ASSERT_TRUE(runtime_) << why;
  }

  // Views of string literals: the traits outlive this call.
  routing::RequestTraits traits(std::string_view requested, std::string_view tenant = "acme") {
    routing::RequestTraits t;
    t.requested = requested;
    t.tenant_name = tenant;
    t.tenant = &runtime_->config().tenants.at(std::string(tenant));
    t.headers = &headers_;
    t.prompt_tokens = 100;
    t.max_output_tokens = 100;
    return t;
  }

  routing::Decision decide_ok(const routing::RequestTraits& t) {
    auto d = routing::decide(*runtime_, t, 0);
    auto* ok = std::get_if<routing::Decision>(&d);
    if (!ok) ADD_FAILURE() << std::get<protocol::ApiError>(d).message;
    return ok ? *ok : routing::Decision{};
  }

  std::vector<std::string> order(const routing::Decision& d) {
    std::vector<std::string> names;
    for (const auto& c : d.candidates) names.push_back(c.model->name);
    return names;
  }

  gateway::RuntimePtr runtime_;
  server::HttpHeaders headers_;
};

}  // namespace

TEST_F(RouterTest, ModelNameIsAnImplicitOneTargetRoute) {
  auto d = decide_ok(traits("cheap"));
  EXPECT_EQ(order(d), std::vector<std::string>{"cheap"});
  EXPECT_EQ(d.route->name, "cheap");
}

TEST_F(RouterTest, WeightedSpreadFollowsTheWeights) {
  std::map<std::string, int> first;
  constexpr int kCalls = 20000;
  for (int i = 0; i < kCalls; ++i)
    ++first[decide_ok(traits("weighted")).candidates.front().model->name];
  double share = static_cast<double>(first["cheap"]) / kCalls;
  EXPECT_NEAR(share, 0.75, 0.02);
  // The other target is still a candidate (to fail over to), just later.
  EXPECT_EQ(decide_ok(traits("weighted")).candidates.size(), 2u);
}

TEST_F(RouterTest, RoundRobinAlternates) {
  auto a = decide_ok(traits("rr")).candidates.front().model->name;
  auto b = decide_ok(traits("rr")).candidates.front().model->name;
  auto c = decide_ok(traits("rr")).candidates.front().model->name;
  EXPECT_NE(a, b);
  EXPECT_EQ(a, c);
}

TEST_F(RouterTest, LowestCostAndBestQualityOrder) {
  EXPECT_EQ(order(decide_ok(traits("by-cost"))), (std::vector<std::string>{"cheap", "smart"}));
  EXPECT_EQ(order(decide_ok(traits("by-quality"))), (std::vector<std::string>{"smart", "cheap"}));
}

TEST_F(RouterTest, FallbacksFollowTargets) {
  EXPECT_EQ(order(decide_ok(traits("with-fallback"))),
            (std::vector<std::string>{"smart", "local", "cheap"}));
}

TEST_F(RouterTest, ConfidentialPolicyKeepsOnlyPrivateModelsIncludingFallbacks) {
  headers_.push_back({"x-switchboard-privacy", "confidential"});
  auto d = decide_ok(traits("with-fallback"));
  EXPECT_EQ(order(d), std::vector<std::string>{"local"});
  EXPECT_EQ(d.policies, std::vector<std::string>{"confidential-stays-private"});
  ASSERT_EQ(d.removed.size(), 2u);
  EXPECT_NE(d.removed[0].reason.find("privacy"), std::string::npos);
}

TEST_F(RouterTest, NoRouteNamesEachCandidateAndItsReason) {
  headers_.push_back({"x-switchboard-privacy", "private"});
  auto result = routing::decide(*runtime_, traits("rr"), 0);
  auto* error = std::get_if<protocol::ApiError>(&result);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->status, 422);
  EXPECT_EQ(protocol::error_code_name(error->code), "no_route");
  EXPECT_NE(error->message.find("cheap (privacy: requires [private], model has [public])"),
            std::string::npos)
      << error->message;
  EXPECT_NE(error->message.find("smart (privacy"), std::string::npos);
}

TEST_F(RouterTest, CostBudgetFromPolicyRemovesExpensiveModelsAndPreferReorders) {
  // 100 prompt + 100 output tokens: cheap costs $0.00005, smart $0.002.
  auto d = decide_ok(traits("with-fallback", "interns"));
  EXPECT_EQ(order(d), (std::vector<std::string>{"local", "cheap"}));
  ASSERT_EQ(d.removed.size(), 1u);
  EXPECT_EQ(d.removed[0].model, "smart");
  EXPECT_NE(d.removed[0].reason.find("cost: estimated $0.002"), std::string::npos)
      << d.removed[0].reason;
  EXPECT_EQ(decide_ok(traits("by-quality", "interns")).strategy, config::Strategy::lowest_cost);
}

TEST_F(RouterTest, HeaderConstraintsTightenAndMalformedOnesAre400) {
  headers_.push_back({"x-switchboard-min-quality", "50"});
  EXPECT_EQ(order(decide_ok(traits("rr"))), std::vector<std::string>{"smart"});
  headers_.clear();
  headers_.push_back({"x-switchboard-max-cost-usd", "lots"});
  auto result = routing::decide(*runtime_, traits("rr"), 0);
  ASSERT_TRUE(std::holds_alternative<protocol::ApiError>(result));
  EXPECT_EQ(std::get<protocol::ApiError>(result).status, 400);
}

TEST_F(RouterTest, OptimizeHeaderReordersSurvivors) {
  headers_.push_back({"x-switchboard-optimize", "quality"});
  EXPECT_EQ(order(decide_ok(traits("with-fallback"))),
            (std::vector<std::string>{"smart", "local", "cheap"}));
  headers_.back().value = "cost";
  EXPECT_EQ(order(decide_ok(traits("with-fallback"))),
            (std::vector<std::string>{"local", "cheap", "smart"}));
}

TEST_F(RouterTest, LatencyTargetUsesRollingP95AndPassesModelsWithoutHistory) {
  auto* health = runtime_->health("smart");
  for (int i = 0; i < 100; ++i) health->record_success(i < 90 ? 100 : 5000);
  headers_.push_back({"x-switchboard-latency-target-ms", "1000"});
  auto d = decide_ok(traits("with-fallback"));
  EXPECT_EQ(order(d), (std::vector<std::string>{"local", "cheap"}));
  EXPECT_NE(d.removed[0].reason.find("latency: p95 5000ms"), std::string::npos)
      << d.removed[0].reason;
}

TEST_F(RouterTest, OpenCircuitRemovesTheModelAndAllOpenIs503) {
  auto* health = runtime_->health("cheap");
  for (int i = 0; i < 5; ++i) health->record_failure(1000);
  auto result = routing::decide(*runtime_, traits("cheap"), 1001);
  ASSERT_TRUE(std::holds_alternative<protocol::ApiError>(result));
  EXPECT_EQ(std::get<protocol::ApiError>(result).status, 503);
  // After the cool-down one probe is admitted; its success closes the circuit.
  EXPECT_TRUE(health->admit(1000 + 30'001));
  EXPECT_FALSE(health->admit(1000 + 30'002));
  health->record_success(10);
  EXPECT_FALSE(health->is_open(1000 + 30'003));
}

TEST_F(RouterTest, TenantModelListAndKindAreEnforced) {
  auto r = routing::decide(*runtime_, traits("smart", "limited"), 0);
  ASSERT_TRUE(std::holds_alternative<protocol::ApiError>(r));
  EXPECT_EQ(std::get<protocol::ApiError>(r).status, 403);
  auto e = routing::decide(*runtime_, traits("emb"), 0);
  ASSERT_TRUE(std::holds_alternative<protocol::ApiError>(e));
  EXPECT_EQ(std::get<protocol::ApiError>(e).status, 400);
  auto unknown = routing::decide(*runtime_, traits("nope"), 0);
  EXPECT_EQ(std::get<protocol::ApiError>(unknown).status, 404);
}

TEST_F(RouterTest, ExplainListsOrderAndRemovals) {
  headers_.push_back({"x-switchboard-privacy", "confidential"});
  auto j = routing::explain(decide_ok(traits("with-fallback")));
  EXPECT_EQ(j["route"], "with-fallback");
  EXPECT_EQ(j["order"], nlohmann::json::array({"local"}));
  EXPECT_EQ(j["removed"].size(), 2u);
  EXPECT_EQ(j["policies"][0], "confidential-stays-private");
}

TEST(KeyPick, PrefersTheLeastLoadedUsableKey) {
  auto loaded = config::load_config_text(R"(
providers: {p: {type: openai, keys: [a, b, c]}}
models: {m: {provider: p}}
)",
                                         "k.yaml");
  ASSERT_TRUE(loaded.ok());
  std::string why;
  auto rt = gateway::Runtime::build(loaded.config, why);
  const auto* p = rt->provider("p");
  p->key_health[0]->in_flight() = 3;
  p->key_health[1]->cool_down(5000);
  EXPECT_EQ(p->pick_key(1000), 2);
  p->key_health[2]->disable();
  EXPECT_EQ(p->pick_key(1000), 0);
  p->key_health[0]->disable();
  EXPECT_EQ(p->pick_key(1000), -2);
  EXPECT_EQ(p->pick_key(6000), 1);  // cool-down over
}
