// Tenant and admin key lookup on the runtime built from a config.
#include <gtest/gtest.h>

#include "switchboard/config/loader.hpp"
#include "switchboard/gateway/runtime.hpp"

using namespace switchboard;

namespace {
gateway::RuntimePtr build(const std::string& yaml) {
  auto loaded = config::load_config_text(yaml, "test.yaml");
  EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
  std::string why;
  auto rt = gateway::Runtime::build(loaded.config, why);
  EXPECT_TRUE(rt) << why;
  return rt;
}

// sha256("sk-hashed")

const char* kConfig = R"(
auth: {mode: keys, admin_keys: ["adm-1"]}
providers: {p: {type: mock}}
models: {m: {provider: p}}
tenants:
  acme: {keys: ["sk-plain"]}
)";
}  // namespace

TEST(RuntimeKeys, FindsTheTenantOfAPlainKey) {
  auto rt = build(kConfig);
  ASSERT_NE(rt->tenant_for_key("sk-plain"), nullptr);
  EXPECT_EQ(rt->tenant_for_key("sk-plain")->name, "acme");
  EXPECT_EQ(rt->tenant_for_key("sk-plain "), nullptr);
  EXPECT_EQ(rt->tenant_for_key(""), nullptr);
}

TEST(RuntimeKeys, MatchesSha256Entries) {
  auto digest = gateway::sha256("sk-hashed");
  std::string hex;
  for (unsigned char c : digest) {
    static const char* k = "0123456789abcdef";
    hex += k[c >> 4];
    hex += k[c & 15];
  }
  auto rt = build(std::string(kConfig) + "  beta: {keys: [\"sha256:" + hex + "\"]}\n");
  ASSERT_NE(rt->tenant_for_key("sk-hashed"), nullptr);
  EXPECT_EQ(rt->tenant_for_key("sk-hashed")->name, "beta");
}

TEST(RuntimeKeys, AdminKeys) {
  auto rt = build(kConfig);
  EXPECT_TRUE(rt->is_admin_key("adm-1"));
  EXPECT_FALSE(rt->is_admin_key("adm-2"));
  EXPECT_FALSE(rt->is_admin_key(""));
}

TEST(RuntimeKeys, KeyIdIsAShortHashNotTheKey) {
  auto id = gateway::key_id("sk-secret-value");
  EXPECT_EQ(id.size(), 12u);
  EXPECT_EQ(id.find("sk-"), std::string::npos);
  EXPECT_EQ(id, gateway::key_id("sk-secret-value"));
  EXPECT_NE(id, gateway::key_id("sk-secret-valuf"));
}
