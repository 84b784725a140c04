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

// tenant_for_key answers repeated keys from a per-thread cache: these check that the cache
// never answers differently from the digest lookup.
TEST(RuntimeKeys, RepeatedLookupsOfACachedKeyMatchTheDigestLookup) {
  auto rt = build(std::string(kConfig) + "  beta: {keys: [\"sk-other\"]}\n");
  for (int i = 0; i < 3; ++i) {
    ASSERT_NE(rt->tenant_for_key("sk-plain"), nullptr);
    EXPECT_EQ(rt->tenant_for_key("sk-plain")->name, "acme");
    ASSERT_NE(rt->tenant_for_key("sk-other"), nullptr);
    EXPECT_EQ(rt->tenant_for_key("sk-other")->name, "beta");
  }
  // Wrong keys next to a cached one: a prefix, an extension, one byte changed, a NUL inside.
  for (std::string_view wrong : {"sk-plai", "sk-plain2", "sk-plaim", "Sk-plain"}) {
    EXPECT_EQ(rt->tenant_for_key(wrong), nullptr) << wrong;
  }
  EXPECT_EQ(rt->tenant_for_key(std::string_view("sk-plain\0", 9)), nullptr);
  EXPECT_EQ(rt->tenant_for_key("sk-plain")->name, "acme");
}

TEST(RuntimeKeys, ANewSnapshotDoesNotSeeKeysCachedForTheOldOne) {
  auto before = build(kConfig);
  ASSERT_NE(before->tenant_for_key("sk-plain"), nullptr);  // now cached on this thread
  auto removed = build(R"(
auth: {mode: keys}
providers: {p: {type: mock}}
models: {m: {provider: p}}
tenants:
  acme: {keys: ["sk-new"]}
)");
  EXPECT_EQ(removed->tenant_for_key("sk-plain"), nullptr);
  ASSERT_NE(removed->tenant_for_key("sk-new"), nullptr);
  auto moved = build(R"(
auth: {mode: keys}
providers: {p: {type: mock}}
models: {m: {provider: p}}
tenants:
  acme: {keys: ["sk-new"]}
  beta: {keys: ["sk-plain"]}
)");
  ASSERT_NE(moved->tenant_for_key("sk-plain"), nullptr);
  EXPECT_EQ(moved->tenant_for_key("sk-plain")->name, "beta");
  // The old snapshot still answers as it did (requests in flight keep their snapshot).
  ASSERT_NE(before->tenant_for_key("sk-plain"), nullptr);
  EXPECT_EQ(before->tenant_for_key("sk-plain")->name, "acme");
  EXPECT_EQ(before->tenant_for_key("sk-new"), nullptr);
}

TEST(RuntimeKeys, ManyKeysAndLongKeysAllResolve) {
  // More keys than the cache holds, and keys longer than a cache slot: evictions and
  // uncached lookups answer like cached ones.
  std::string yaml = R"(
auth: {mode: keys}
providers: {p: {type: mock}}
models: {m: {provider: p}}
tenants:
)";
  const std::string long_key = "sk-" + std::string(300, 'z');
  for (int t = 0; t < 20; ++t) {
    yaml += "  t" + std::to_string(t) + ": {keys: [\"sk-key-" + std::to_string(t) + "\"" +
            (t == 0 ? ", \"" + long_key + "\"" : std::string()) + "]}\n";
  }
  auto rt = build(yaml);
  for (int round = 0; round < 3; ++round) {
    for (int t = 0; t < 20; ++t) {
      auto* tenant = rt->tenant_for_key("sk-key-" + std::to_string(t));
      ASSERT_NE(tenant, nullptr);
      EXPECT_EQ(tenant->name, "t" + std::to_string(t));
    }
    ASSERT_NE(rt->tenant_for_key(long_key), nullptr);
    EXPECT_EQ(rt->tenant_for_key(long_key)->name, "t0");
    EXPECT_EQ(rt->tenant_for_key(long_key + "z"), nullptr);
    EXPECT_EQ(rt->tenant_for_key("sk-key-20"), nullptr);
  }
}

TEST(RuntimeKeys, OpenModeWithoutTenantKeysFindsNoTenant) {
  auto rt = build(R"(
auth: {mode: open}
providers: {p: {type: mock}}
models: {m: {provider: p}}
)");
  EXPECT_EQ(rt->tenant_for_key("sk-anything"), nullptr);
}

TEST(RuntimeKeys, ASnapshotBuiltWhereAFreedOneLivedDoesNotSeeItsKeys) {
  const char* without = R"(
auth: {mode: keys}
providers: {p: {type: mock}}
models: {m: {provider: p}}
tenants:
  acme: {keys: ["sk-new"]}
)";
  for (int i = 0; i < 5; ++i) {
    auto with = build(kConfig);
    ASSERT_NE(with->tenant_for_key("sk-plain"), nullptr);
    with.reset();  // the next snapshot may well be allocated at the same address
    auto next = build(without);
    EXPECT_EQ(next->tenant_for_key("sk-plain"), nullptr);
  }
}

// models.*.circuit: a model's thresholds come from its config, and a new snapshot (a reload)
// changes them while the circuit's state, shared across snapshots, is kept.
TEST(RuntimeCircuit, ThresholdsComeFromTheConfigAndAReloadChangesThemKeepingTheState) {
  auto registry = std::make_shared<routing::HealthRegistry>();
  auto build_with = [&](const std::string& circuit) {
    auto loaded =
        config::load_config_text("providers: {p: {type: mock}}\nmodels: {m: {provider: p" +
                                     circuit + "}, d: {provider: p}}\n",
                                 "test.yaml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
    std::string why;
    auto rt = gateway::Runtime::build(loaded.config, why, registry);
    EXPECT_TRUE(rt) << why;
    return rt;
  };
  auto first = build_with(", circuit: {failures: 2, open_for: 5s}");
  auto* m = first->health("m");
  ASSERT_NE(m, nullptr);
  EXPECT_FALSE(m->record_failure(1'000));
  EXPECT_TRUE(m->record_failure(1'000)) << "opens at the configured 2 failures, not 5";
  EXPECT_TRUE(m->is_open(5'999));
  EXPECT_FALSE(m->is_open(6'000)) << "for the configured 5 s";
  // The default model keeps the defaults: 5 failures, 30 s.
  auto* d = first->health("d");
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(d->record_failure(1'000));
  EXPECT_TRUE(d->record_failure(1'000));
  EXPECT_TRUE(d->is_open(30'999));
  EXPECT_FALSE(d->is_open(31'000));

  m->record_success(1.0);
  auto second = build_with(", circuit: {failures: 1, open_for: 2s}");
  EXPECT_EQ(second->health("m"), m) << "the same circuit across snapshots";
  EXPECT_TRUE(second->health("d")->is_open(30'999)) << "state kept across the reload";
  EXPECT_TRUE(m->record_failure(50'000)) << "opens at the new threshold of 1";
  EXPECT_FALSE(m->is_open(52'000));
}

// A config that fails to build (a rejected reload) leaves the live circuits' thresholds alone.
TEST(RuntimeCircuit, ARejectedBuildDoesNotChangeTheThresholds) {
  auto registry = std::make_shared<routing::HealthRegistry>();
  auto loaded = config::load_config_text(R"(providers:
  p: {type: mock}
models: {m: {provider: p, circuit: {failures: 2, open_for: 5s}}}
)",
                                         "test.yaml");
  ASSERT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
  std::string why;
  auto rt = gateway::Runtime::build(loaded.config, why, registry);
  ASSERT_TRUE(rt) << why;
  auto broken = std::make_shared<config::Config>(*loaded.config);
  broken->models.at("m").circuit.failures = 1;
  // Only build() reads sha256 entries this far, after the models: the build fails late.
  broken->auth.admin_keys.push_back("sha256:not-hex");
  EXPECT_FALSE(gateway::Runtime::build(broken, why, registry));
  auto* m = rt->health("m");
  EXPECT_FALSE(m->record_failure(1'000)) << "still 2 failures, not the rejected config's 1";
  EXPECT_TRUE(m->record_failure(1'000));
}
