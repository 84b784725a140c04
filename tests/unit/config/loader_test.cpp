// Tests that valid configs load into the expected values, with the documented defaults.
#include <gtest/gtest.h>

#include <filesystem>

#include "config_test_support.hpp"

#ifndef SWB_TEST_DATA_DIR
#define SWB_TEST_DATA_DIR "tests/data"
#endif

namespace switchboard::config {
namespace {

using namespace std::chrono_literals;
using testing::HasError;
using testing::kMinimalTail;
using testing::load;
using testing::ScopedEnv;

std::string data_file(const std::string& name) {
  std::filesystem::path dir = SWB_TEST_DATA_DIR;
  if (!std::filesystem::exists(dir)) {  // built by hand rather than through CMake
    dir = std::filesystem::path(__FILE__).parent_path() / "../../data";
  }
  return (dir / "config" / name).string();
}

class ConfigLoaderFullExample : public ::testing::Test {
 protected:
  ScopedEnv admin_{"SWB_TEST_ADMIN_KEY", "admin-secret"};
  ScopedEnv admin_unset_{"SWB_TEST_UNSET_ADMIN", std::nullopt};
  ScopedEnv openai_{"SWB_TEST_OPENAI_KEY", "sk-openai-1"};
  ScopedEnv openai2_{"SWB_TEST_OPENAI_KEY_2", std::nullopt};
  ScopedEnv acme_{"SWB_TEST_ACME_KEY", "acme-plain-key"};
};

TEST_F(ConfigLoaderFullExample, ServerAuthStateAndObservability) {
  const std::string path = data_file("full.yaml");
  LoadResult r = load_config_file(path);
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.source_file, path);
  EXPECT_EQ(c.server.listen, "127.0.0.1:0");
  EXPECT_EQ(c.server.threads, 4);
  EXPECT_FALSE(c.server.tls.enabled());
  EXPECT_EQ(c.server.max_request_bytes, 2u * 1024 * 1024);
  EXPECT_EQ(c.server.header_timeout, 5s);
  EXPECT_EQ(c.server.idle_timeout, 90s);
  EXPECT_EQ(c.server.drain_timeout, 1500ms);
  EXPECT_EQ(c.auth.mode, AuthMode::keys);
  EXPECT_EQ(c.auth.admin_keys, std::vector<std::string>{"admin-secret"});
  EXPECT_EQ(c.state.backend, StateBackend::redis);
  EXPECT_EQ(c.state.redis.url, "redis://10.0.0.5:6379/2");
  EXPECT_EQ(c.state.redis.key_prefix, "sb:");
  EXPECT_EQ(c.observability.log.level, "debug");
  EXPECT_EQ(c.observability.log.format, LogFormat::text);
  EXPECT_FALSE(c.observability.metrics.enabled);
  EXPECT_EQ(c.observability.traces.file, "/tmp/traces.jsonl");
  EXPECT_EQ(c.observability.traces.otlp.endpoint, "http://otel:4318");
  EXPECT_EQ(c.observability.traces.otlp.headers.at("x-team"), "ai");
  EXPECT_DOUBLE_EQ(c.observability.traces.otlp.sample_ratio, 0.25);
  EXPECT_TRUE(c.observability.traces.capture_content);
}

TEST_F(ConfigLoaderFullExample, ProvidersAndModels) {
  LoadResult r = load_config_file(data_file("full.yaml"));
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  const Config& c = *r.config;
  ASSERT_EQ(c.providers.size(), 6u);
  const ProviderConfig& openai = c.providers.at("openai");
  EXPECT_EQ(openai.name, "openai");
  EXPECT_EQ(openai.type, ProviderType::openai);
  EXPECT_EQ(openai.base_url, "https://api.openai.com/v1");
  EXPECT_EQ(openai.keys, std::vector<std::string>{"sk-openai-1"});
  EXPECT_EQ(openai.privacy, std::vector<std::string>{"public"});
  EXPECT_EQ(openai.headers.at("OpenAI-Organization"), "org-1");
  EXPECT_EQ(openai.max_connections, 64u);
  EXPECT_EQ(openai.timeouts.connect, 2s);
  EXPECT_EQ(openai.timeouts.first_byte, 30s);
  EXPECT_EQ(openai.timeouts.total, 5min);
  EXPECT_EQ(openai.limits.rpm, 500u);
  EXPECT_EQ(openai.limits.tpm, 100000u);
  EXPECT_FALSE(openai.tls.verify);
  const ProviderConfig& azure = c.providers.at("azure");
  EXPECT_EQ(azure.type, ProviderType::azure);
  EXPECT_EQ(azure.api_version, "2024-06-01");
  const ProviderConfig& bedrock = c.providers.at("bedrock");
  EXPECT_EQ(bedrock.base_url, "https://bedrock-runtime.us-east-1.amazonaws.com");
  EXPECT_EQ(bedrock.access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(bedrock.secret_access_key, "secret");
  EXPECT_EQ(bedrock.session_token, "token");
  EXPECT_TRUE(bedrock.keys.empty());
  EXPECT_EQ(c.providers.at("local").type, ProviderType::openai_compatible);
  const ProviderConfig& demo = c.providers.at("demo");
  EXPECT_EQ(demo.type, ProviderType::mock);
  EXPECT_EQ(demo.mock.latency, 20ms);
  EXPECT_DOUBLE_EQ(demo.mock.tokens_per_second, 50);
  EXPECT_EQ(demo.mock.response, "hello");
  EXPECT_EQ(demo.mock.fail.status, 429);
  EXPECT_EQ(demo.mock.fail.every, 3u);

  const ModelConfig& mini = c.models.at("gpt-4o-mini");
  EXPECT_EQ(mini.name, "gpt-4o-mini");
  EXPECT_EQ(mini.provider, "openai");
  EXPECT_EQ(mini.model, "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(mini.kind, ModelKind::chat);
  EXPECT_DOUBLE_EQ(mini.price.input, 0.15);
  EXPECT_DOUBLE_EQ(mini.price.output, 0.60);
  EXPECT_DOUBLE_EQ(mini.price.cached_input, 0.075);
  EXPECT_DOUBLE_EQ(mini.price.cache_write, 0.1875);
  EXPECT_EQ(mini.quality, 70);
  const ModelConfig& haiku = c.models.at("claude-haiku");
  EXPECT_EQ(haiku.model, "claude-haiku");
  EXPECT_DOUBLE_EQ(haiku.price.cached_input, 0.8);
  EXPECT_DOUBLE_EQ(haiku.price.cache_write, 0.8);
  EXPECT_EQ(haiku.privacy, (std::vector<std::string>{"public", "eu"}));
  EXPECT_EQ(c.models.at("embed").kind, ModelKind::embedding);
  EXPECT_EQ(c.models.at("gpt-4o-azure").privacy, std::vector<std::string>{"private"});
}

TEST_F(ConfigLoaderFullExample, RoutesPoliciesTenantsAndGuardrails) {
  LoadResult r = load_config_file(data_file("full.yaml"));
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  const Config& c = *r.config;
  const RouteConfig& route = c.routes.at("chat-default");
  EXPECT_EQ(route.name, "chat-default");
  ASSERT_EQ(route.targets.size(), 2u);
  EXPECT_EQ(route.targets[0].model, "gpt-4o-mini");
  EXPECT_DOUBLE_EQ(route.targets[0].weight, 3);
  EXPECT_EQ(route.targets[1].model, "claude-haiku");
  EXPECT_DOUBLE_EQ(route.targets[1].weight, 1);
  EXPECT_EQ(route.strategy, Strategy::weighted);
  EXPECT_EQ(route.fallbacks, std::vector<std::string>{"claude-sonnet"});
  EXPECT_EQ(route.retry.attempts, 3);
  EXPECT_EQ(route.retry.backoff, 50ms);
  EXPECT_EQ(route.retry.max_backoff, 1s);
  EXPECT_EQ(route.guardrails, std::vector<std::string>{"classifier"});
  EXPECT_EQ(route.hedge.after, 800ms);
  const RouteConfig& priv = c.routes.at("private");
  ASSERT_EQ(priv.targets.size(), 2u);
  EXPECT_EQ(priv.targets[1].model, "embed");
  EXPECT_DOUBLE_EQ(priv.targets[1].weight, 1);
  EXPECT_EQ(priv.strategy, Strategy::lowest_cost);

  ASSERT_EQ(c.policies.size(), 3u);
  EXPECT_EQ(c.policies[0].name, "confidential-stays-private");
  EXPECT_EQ(c.policies[0].when.headers.at("x-switchboard-privacy"),
            std::vector<std::string>{"confidential"});
  EXPECT_EQ(c.policies[0].require.privacy, std::vector<std::string>{"private"});
  EXPECT_FALSE(c.policies[0].prefer.has_value());
  const PolicyConfig& interns = c.policies[1];
  EXPECT_EQ(interns.when.tenants, std::vector<std::string>{"acme"});
  EXPECT_EQ(interns.when.workflows, std::vector<std::string>{"summarize"});
  EXPECT_DOUBLE_EQ(interns.require.max_cost_usd.value(), 0.002);
  EXPECT_EQ(interns.require.min_quality.value(), 50);
  EXPECT_EQ(interns.require.latency_target.value(), 2s);
  EXPECT_EQ(interns.prefer, Strategy::lowest_cost);
  EXPECT_EQ(c.policies[2].name, "policies[2]");
  EXPECT_EQ(c.policies[2].when.models, std::vector<std::string>{"chat-default"});
  EXPECT_EQ(c.policies[2].when.headers.at("x-tier"), (std::vector<std::string>{"gold", "silver"}));
  EXPECT_EQ(c.policies[2].prefer, Strategy::best_quality);

  const TenantConfig& acme = c.tenants.at("acme");
  EXPECT_EQ(acme.name, "acme");
  EXPECT_EQ(acme.keys,
            (std::vector<std::string>{
                "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "acme-plain-key"}));
  ASSERT_TRUE(acme.models.has_value());
  EXPECT_EQ(*acme.models, (std::vector<std::string>{"chat-default", "gpt-4o-mini"}));
  EXPECT_EQ(acme.rate_limit.rpm, 600u);
  EXPECT_EQ(acme.rate_limit.tpm, 200000u);
  ASSERT_TRUE(acme.budget.has_value());
  EXPECT_DOUBLE_EQ(acme.budget->usd, 500);
  EXPECT_EQ(acme.budget->period, BudgetPeriod::daily);
  EXPECT_EQ(acme.guardrails, std::vector<std::string>{"pii"});
  EXPECT_EQ(acme.default_workflow, "general");
  EXPECT_EQ(acme.privacy, std::vector<std::string>{"eu"});
  const TenantConfig& beta = c.tenants.at("beta");
  EXPECT_FALSE(beta.models.has_value());
  EXPECT_FALSE(beta.budget.has_value());
  EXPECT_EQ(beta.default_workflow, "default");

  const GuardrailConfig& pii = c.guardrails.at("pii");
  EXPECT_EQ(pii.type, GuardrailType::pii);
  EXPECT_EQ(pii.entities, (std::vector<std::string>{"email", "credit_card", "secret"}));
  EXPECT_EQ(pii.stages,
            (std::vector<GuardrailStage>{GuardrailStage::input, GuardrailStage::output}));
  EXPECT_EQ(pii.action, GuardrailAction::redact);
  EXPECT_EQ(pii.apply, GuardrailApply::all);
  const GuardrailConfig& classifier = c.guardrails.at("classifier");
  EXPECT_EQ(classifier.type, GuardrailType::webhook);
  EXPECT_EQ(classifier.url, "http://classifier:8000/check");
  EXPECT_EQ(classifier.timeout, 250ms);
  EXPECT_FALSE(classifier.block_on_error);
  EXPECT_EQ(classifier.stages, std::vector<GuardrailStage>{GuardrailStage::output});
  EXPECT_EQ(classifier.action, GuardrailAction::block);
  EXPECT_EQ(classifier.apply, GuardrailApply::attached);
  EXPECT_EQ(c.guardrails.at("banned").words, (std::vector<std::string>{"foo", "bar"}));
  EXPECT_EQ(c.guardrails.at("cards").patterns, std::vector<std::string>{"\\b\\d{4}-\\d{4}\\b"});
  const GuardrailConfig& moderation = c.guardrails.at("moderation");
  EXPECT_EQ(moderation.key, "sk-openai-1");
  EXPECT_EQ(moderation.url, "https://api.openai.com/v1/moderations");
  EXPECT_EQ(moderation.model, "omni-moderation-latest");
}

TEST(ConfigLoader, DefaultsApplyWhenSectionsAreAbsent) {
  LoadResult r = load(R"(providers:
  demo: {type: mock}
models:
  m1: {provider: demo}
)");
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.source_file, "test.yaml");
  EXPECT_EQ(c.server.listen, "0.0.0.0:8080");
  EXPECT_EQ(c.server.threads, 0);
  EXPECT_EQ(c.server.max_request_bytes, 10u * 1024 * 1024);
  EXPECT_EQ(c.server.header_timeout, 10s);
  EXPECT_EQ(c.server.idle_timeout, 75s);
  EXPECT_EQ(c.server.drain_timeout, 30s);
  EXPECT_EQ(c.auth.mode, AuthMode::keys);
  EXPECT_TRUE(c.auth.admin_keys.empty());
  EXPECT_EQ(c.state.backend, StateBackend::memory);
  EXPECT_EQ(c.state.redis.url, "redis://127.0.0.1:6379/0");
  EXPECT_EQ(c.observability.log.level, "info");
  EXPECT_EQ(c.observability.log.format, LogFormat::json);
  EXPECT_TRUE(c.observability.metrics.enabled);
  EXPECT_EQ(c.observability.traces.file, "-");
  EXPECT_DOUBLE_EQ(c.observability.traces.otlp.sample_ratio, 1.0);
  EXPECT_FALSE(c.observability.traces.capture_content);
  const ProviderConfig& demo = c.providers.at("demo");
  EXPECT_EQ(demo.name, "demo");
  EXPECT_TRUE(demo.base_url.empty());
  EXPECT_EQ(demo.privacy, std::vector<std::string>{"public"});
  EXPECT_EQ(demo.max_connections, 256u);
  EXPECT_EQ(demo.timeouts.connect, 5s);
  EXPECT_EQ(demo.timeouts.first_byte, 60s);
  EXPECT_EQ(demo.timeouts.total, 10min);
  EXPECT_TRUE(demo.tls.verify);
  EXPECT_EQ(demo.mock.latency, 0ms);
  EXPECT_EQ(demo.mock.fail.status, 503);
  EXPECT_EQ(demo.mock.fail.every, 0u);
  const ModelConfig& m1 = c.models.at("m1");
  EXPECT_EQ(m1.name, "m1");
  EXPECT_EQ(m1.model, "m1");
  EXPECT_EQ(m1.kind, ModelKind::chat);
  EXPECT_EQ(m1.quality, 50);
  EXPECT_EQ(m1.privacy, std::vector<std::string>{"public"});
  EXPECT_TRUE(c.routes.empty());
  EXPECT_TRUE(c.policies.empty());
  EXPECT_TRUE(c.tenants.empty());
  EXPECT_TRUE(c.guardrails.empty());
}

TEST(ConfigLoader, EmptySectionsAndKeysWithoutValuesUseDefaults) {
  LoadResult r = load(std::string(R"(server:
auth: {}
observability:
  traces:
    file:
routes: {}
)") + kMinimalTail);
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_EQ(r.config->server.listen, "0.0.0.0:8080");
  EXPECT_EQ(r.config->observability.traces.file, "");
}

TEST(ConfigLoader, ModelDefaultsComeFromItsNameAndProvider) {
  LoadResult r = load(R"(providers:
  private-llm: {type: openai-compatible, base_url: "http://llm:8000/v1", privacy: [private, eu]}
models:
  llama:
    provider: private-llm
    price: {input: 2, output: 6}
  explicit:
    provider: private-llm
    privacy: []
    price: {input: 2, cached_input: 0.5}
)");
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  const ModelConfig& llama = r.config->models.at("llama");
  EXPECT_EQ(llama.model, "llama");
  EXPECT_EQ(llama.privacy, (std::vector<std::string>{"private", "eu"}));
  EXPECT_DOUBLE_EQ(llama.price.cached_input, 2);
  EXPECT_DOUBLE_EQ(llama.price.cache_write, 2);
  const ModelConfig& explicit_model = r.config->models.at("explicit");
  EXPECT_TRUE(explicit_model.privacy.empty());
  EXPECT_DOUBLE_EQ(explicit_model.price.cached_input, 0.5);
  EXPECT_DOUBLE_EQ(explicit_model.price.cache_write, 2);
  EXPECT_DOUBLE_EQ(explicit_model.price.output, 0);
}

TEST(ConfigLoader, BaseUrlDefaultsPerProviderType) {
  LoadResult r = load(R"(providers:
  o: {type: openai, keys: [k]}
  a: {type: anthropic, keys: [k]}
  g: {type: gemini, keys: [k]}
  m: {type: mistral, keys: [k]}
  b: {type: bedrock, region: eu-west-3, access_key_id: id, secret_access_key: s}
  own: {type: openai, keys: [k], base_url: "https://proxy.example/v1"}
models:
  x: {provider: o}
)");
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  const auto& p = r.config->providers;
  EXPECT_EQ(p.at("o").base_url, "https://api.openai.com/v1");
  EXPECT_EQ(p.at("a").base_url, "https://api.anthropic.com");
  EXPECT_EQ(p.at("g").base_url, "https://generativelanguage.googleapis.com");
  EXPECT_EQ(p.at("m").base_url, "https://api.mistral.ai/v1");
  EXPECT_EQ(p.at("b").base_url, "https://bedrock-runtime.eu-west-3.amazonaws.com");
  EXPECT_EQ(p.at("own").base_url, "https://proxy.example/v1");
}

TEST(ConfigLoader, PolicyWhenAcceptsAStringOrAList) {
  LoadResult r = load(std::string(R"(tenants:
  acme: {}
policies:
  - name: one
    when: {tenant: acme, workflow: [a, b], model: m1, header: {X-Team: Red}}
    require: {privacy: [private]}
)") + kMinimalTail);
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  const PolicyWhen& when = r.config->policies.at(0).when;
  EXPECT_EQ(when.tenants, std::vector<std::string>{"acme"});
  EXPECT_EQ(when.workflows, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(when.models, std::vector<std::string>{"m1"});
  ASSERT_EQ(when.headers.count("x-team"), 1u);
  EXPECT_EQ(when.headers.at("x-team"), std::vector<std::string>{"Red"});
}

TEST(ConfigLoader, MergeKeysSupplyDefaults) {
  LoadResult r = load(R"(x-common: &common
  type: openai
  keys: [k]
  max_connections: 8
providers:
  a:
    <<: *common
  b:
    <<: *common
    max_connections: 16
models:
  m: {provider: a}
)");
  // "x-common" is not a section: it is reported, everything else loads.
  ASSERT_EQ(r.errors.size(), 1u) << testing::dump(r);
  EXPECT_TRUE(HasError(r, "x-common", 1, 1, "unknown key \"x-common\""));
  LoadResult ok = load(R"(providers:
  a: &common
    type: openai
    keys: [k]
    max_connections: 8
  b:
    <<: *common
    max_connections: 16
models:
  m: {provider: a}
)");
  ASSERT_TRUE(ok.ok()) << testing::dump(ok);
  EXPECT_EQ(ok.config->providers.at("b").max_connections, 16u);
  EXPECT_EQ(ok.config->providers.at("b").keys, std::vector<std::string>{"k"});
  EXPECT_EQ(ok.config->providers.at("b").type, ProviderType::openai);
}

TEST(ConfigLoader, ErrorToStringRendersFileLineColumnPathMessage) {
  ConfigError e{"cfg.yaml", 12, 7, "providers.openai.timeouts.connect", "bad"};
  EXPECT_EQ(e.to_string(), "cfg.yaml:12:7: providers.openai.timeouts.connect: bad");
  ConfigError no_path{"cfg.yaml", 3, 1, "", "YAML syntax error: x"};
  EXPECT_EQ(no_path.to_string(), "cfg.yaml:3:1: YAML syntax error: x");
  ConfigError no_position{"cfg.yaml", 0, 0, "", "cannot read"};
  EXPECT_EQ(no_position.to_string(), "cfg.yaml: cannot read");
}

TEST(ConfigLoader, MissingFileIsAnError) {
  LoadResult r = load_config_file("/nonexistent/switchboard.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.config, nullptr);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, "/nonexistent/switchboard.yaml");
  EXPECT_NE(r.errors[0].message.find("No such file"), std::string::npos);
}

TEST(ConfigLoader, FileAndTextLoadTheSame) {
  testing::TempFile file(std::string("server: {threads: 3}\n") + kMinimalTail);
  LoadResult r = load_config_file(file.path());
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_EQ(r.config->server.threads, 3);
  EXPECT_EQ(r.config->source_file, file.path());
}

}  // namespace
}  // namespace switchboard::config
