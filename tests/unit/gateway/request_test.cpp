// Request identity (ids, W3C trace context) and authentication from the request's headers.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "switchboard/config/loader.hpp"
#include "switchboard/gateway/pipeline.hpp"

namespace gw = switchboard::gateway;
using switchboard::server::HttpRequest;

namespace {

HttpRequest request(switchboard::server::HttpHeaders headers) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/v1/chat/completions?x=1";
  r.headers = std::move(headers);
  return r;
}

bool lower_hex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

gw::RuntimePtr runtime(const std::string& mode) {
  auto loaded = switchboard::config::load_config_text(R"(
auth: {mode: )" + mode + R"(}
providers: {p: {type: mock}}
models: {m: {provider: p}}
tenants:
  acme: {keys: ["sk-acme"], defaults: {workflow: batch}}
)",
                                                      "test.yaml");
  EXPECT_TRUE(loaded.ok());
  std::string why;
  auto rt = gw::Runtime::build(loaded.config, why);
  EXPECT_TRUE(rt) << why;
  return rt;
}

}  // namespace

TEST(BeginRequest, GeneratesLowerHexIdsOfTheRightLengths) {
  std::set<std::string> seen;
  std::set<char> digits;
  for (int i = 0; i < 200; ++i) {
    gw::RequestContext ctx;
    auto req = request({});
    gw::begin_request(ctx, req);
    EXPECT_EQ(ctx.endpoint, "/v1/chat/completions");
    ASSERT_EQ(ctx.request_id.size(), 32u);
    ASSERT_EQ(ctx.trace_id.size(), 32u);
    ASSERT_EQ(ctx.span_id.size(), 16u);
    EXPECT_TRUE(ctx.parent_span_id.empty());
    for (const std::string* id : {&ctx.request_id, &ctx.trace_id, &ctx.span_id}) {
      ASSERT_TRUE(lower_hex(*id)) << *id;
      digits.insert(id->begin(), id->end());
      EXPECT_TRUE(seen.insert(*id).second) << "ids repeat: " << *id;
    }
  }
  EXPECT_EQ(digits.size(), 16u) << "every hex digit appears";
}

TEST(BeginRequest, EveryPositionOfAnIdVaries) {
  std::vector<std::set<char>> at(32);
  for (int i = 0; i < 200; ++i) {
    gw::RequestContext ctx;
    auto req = request({});
    gw::begin_request(ctx, req);
    for (std::size_t p = 0; p < 32; ++p) at[p].insert(ctx.trace_id[p]);
  }
  for (std::size_t p = 0; p < 32; ++p) EXPECT_GE(at[p].size(), 8u) << "position " << p;
}

TEST(BeginRequest, KeepsAValidRequestIdAndTraceparent) {
  gw::RequestContext ctx;
  auto req = request({{"x-request-id", "req-123"},
                      {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                      {"x-request-id", "second-is-ignored"}});
  gw::begin_request(ctx, req);
  EXPECT_EQ(ctx.request_id, "req-123");
  EXPECT_EQ(ctx.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(ctx.parent_span_id, "00f067aa0ba902b7");
  EXPECT_EQ(ctx.span_id.size(), 16u);
}

TEST(BeginRequest, ReplacesAnUnsafeRequestIdAndABadTraceparent) {
  gw::RequestContext ctx;
  auto req = request({{"x-request-id", "has space"},
                      {"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}});
  gw::begin_request(ctx, req);
  EXPECT_EQ(ctx.request_id.size(), 32u);
  EXPECT_TRUE(lower_hex(ctx.request_id));
  EXPECT_NE(ctx.trace_id, "00000000000000000000000000000000");
  EXPECT_TRUE(ctx.parent_span_id.empty());
}

TEST(Authenticate, TheBearerSchemeIsCaseInsensitive) {
  EXPECT_EQ(gw::bearer_key("Bearer sk-1", "x"), "sk-1");
  EXPECT_EQ(gw::bearer_key("bearer sk-1", "x"), "sk-1");
  EXPECT_EQ(gw::bearer_key("BEARER sk-1", "x"), "sk-1");
  EXPECT_EQ(gw::bearer_key("BeArEr   sk-1", "x"), "sk-1");
  EXPECT_EQ(gw::bearer_key("Basic c2stMQ==", "x"), "x") << "another scheme: x-api-key";
  EXPECT_EQ(gw::bearer_key("Bearer ", "x"), "x");
  EXPECT_EQ(gw::bearer_key("", ""), "");
}

TEST(Authenticate, BearerThenXApiKeyThenNothing) {
  auto rt = runtime("keys");
  {
    gw::RequestContext ctx;
    ctx.runtime = rt;
    EXPECT_FALSE(gw::authenticate(ctx, request({{"authorization", "Bearer  sk-acme"}})));
    EXPECT_EQ(ctx.tenant_name, "acme");
    EXPECT_EQ(ctx.workflow, "batch");  // the tenant's default
  }
  {
    gw::RequestContext ctx;
    ctx.runtime = rt;
    EXPECT_FALSE(gw::authenticate(ctx, request({{"x-api-key", "sk-acme"},
                                                {"x-switchboard-workflow", "summarize"},
                                                {"x-switchboard-user", std::string(300, 'u')}})));
    EXPECT_EQ(ctx.tenant_name, "acme");
    EXPECT_EQ(ctx.workflow, "summarize");
    EXPECT_EQ(ctx.user, std::string(256, 'u'));
  }
  {
    // A bearer token wins over x-api-key, even a wrong one.
    gw::RequestContext ctx;
    ctx.runtime = rt;
    auto error = gw::authenticate(
        ctx, request({{"authorization", "Bearer wrong"}, {"x-api-key", "sk-acme"}}));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->status, 401);
    EXPECT_EQ(error->message, "invalid API key");
  }
  {
    gw::RequestContext ctx;
    ctx.runtime = rt;
    auto error = gw::authenticate(ctx, request({{"authorization", "Basic abc"}}));
    ASSERT_TRUE(error);
    EXPECT_NE(error->message.find("missing API key"), std::string::npos);
  }
  {
    gw::RequestContext ctx;
    ctx.runtime = rt;
    auto error = gw::authenticate(
        ctx, request({{"authorization", "Bearer sk-acme"}, {"x-switchboard-workflow", "a b"}}));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->status, 400);
  }
}

TEST(Authenticate, OpenModeIsAnonymousUnlessTheKeyIsATenants) {
  auto rt = runtime("open");
  gw::RequestContext anonymous;
  anonymous.runtime = rt;
  EXPECT_FALSE(gw::authenticate(anonymous, request({{"authorization", "Bearer unknown"}})));
  EXPECT_EQ(anonymous.tenant, nullptr);
  EXPECT_EQ(anonymous.tenant_name, "anonymous");
  EXPECT_EQ(anonymous.workflow, "default");
  gw::RequestContext known;
  known.runtime = rt;
  EXPECT_FALSE(gw::authenticate(known, request({{"authorization", "bearer sk-acme"}})));
  EXPECT_EQ(known.tenant_name, "acme");
}
