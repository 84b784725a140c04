// Tests that each invalid config is reported with its path, position and a clear message.
#include <gtest/gtest.h>

#include "config_test_support.hpp"

namespace switchboard::config {
namespace {

using testing::HasError;
using testing::kMinimalTail;
using testing::load;
using testing::NoErrorMentions;
using testing::TempFile;

TEST(ConfigLoader, UnknownKeySuggestsNearest) {
  LoadResult r = load(R"(providers:
  openai:
    type: openai
    keys: [k]
    limits: {rmp: 100}
models:
  m: {provider: openai, qualty: 3}
)");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasError(r, "providers.openai.limits.rmp", 5, 14,
                       "unknown key \"rmp\"; did you mean \"rpm\"?"));
  EXPECT_TRUE(HasError(r, "models.m.qualty", 7, 25, "did you mean \"quality\"?"));
}

TEST(ConfigLoader, UnknownKeyWithoutNearMatchListsValidKeys) {
  LoadResult r = load(std::string("server:\n  bananas: 3\n") + kMinimalTail);
  EXPECT_TRUE(HasError(r, "server.bananas", 2, 3,
                       "unknown key \"bananas\"; expected one of: listen, threads, tls"));
}

TEST(ConfigLoader, MetricsEnabledMustBeABoolean) {
  LoadResult r = load(std::string("observability:\n  metrics: {enabled: sometimes, port: 9}\n") +
                      kMinimalTail);
  EXPECT_TRUE(HasError(r, "observability.metrics.enabled", 2, 22,
                       "expected true or false, got \"sometimes\""));
  EXPECT_TRUE(HasError(r, "observability.metrics.port", 2, 33,
                       "unknown key \"port\"; expected one of: enabled"));
}

TEST(ConfigLoader, UnknownTopLevelSectionSuggestsNearest) {
  LoadResult r = load(std::string("guardrial: {}\n") + kMinimalTail);
  EXPECT_TRUE(HasError(r, "guardrial", 1, 1, "did you mean \"guardrails\"?"));
}

TEST(ConfigLoader, UnknownProviderTypeListsAllowedAndSuggests) {
  LoadResult r = load(R"(providers:
  openai: {type: opneai, keys: [k]}
models:
  m: {provider: openai}
)");
  EXPECT_TRUE(HasError(r, "providers.openai.type", 2, 18,
                       "unknown provider type \"opneai\"; expected one of: openai, azure, "
                       "anthropic, gemini, bedrock, mistral, openai-compatible, mock; did you "
                       "mean \"openai\"?"));
}

TEST(ConfigLoader, EnumValuesListTheAllowedSpellings) {
  LoadResult r = load(std::string(R"(auth: {mode: closed}
state: {backend: etcd}
routes:
  r: {targets: [m1], strategy: fastest}
guardrails:
  g: {type: pii, action: redcat, apply: some, on_error: ignore, stages: [during]}
)") + kMinimalTail);
  EXPECT_TRUE(
      HasError(r, "auth.mode", 1, 14, "unknown auth mode \"closed\"; expected one of: keys, open"));
  EXPECT_TRUE(HasError(r, "state.backend", 2, 18, "expected one of: memory, redis"));
  EXPECT_TRUE(HasError(r, "routes.r.strategy", 4, 32,
                       "expected one of: priority, weighted, round-robin, least-latency, "
                       "lowest-cost, best-quality"));
  EXPECT_TRUE(HasError(r, "guardrails.g.action", 6, 26, "did you mean \"redact\"?"));
  EXPECT_TRUE(HasError(r, "guardrails.g.apply", 6, 41, "expected one of: all, attached"));
  EXPECT_TRUE(HasError(r, "guardrails.g.on_error", 6, 57, "expected one of: block, allow"));
  EXPECT_TRUE(HasError(r, "guardrails.g.stages[0]", 6, 74, "expected one of: input, output"));
}

TEST(ConfigLoader, YamlSyntaxErrorHasPosition) {
  LoadResult r = load("server:\n  listen: x\n    threads: 2\nproviders: {}\n");
  ASSERT_EQ(r.errors.size(), 1u) << testing::dump(r);
  EXPECT_EQ(r.errors[0].to_string(), "test.yaml:3:12: YAML syntax error: illegal map value");
  EXPECT_EQ(r.config, nullptr);
  LoadResult unclosed = load("server: {listen: x\n");
  ASSERT_EQ(unclosed.errors.size(), 1u) << testing::dump(unclosed);
  EXPECT_GT(unclosed.errors[0].line, 0);
  EXPECT_NE(unclosed.errors[0].message.find("YAML syntax error"), std::string::npos);
}

TEST(ConfigLoader, CollectsAllErrorsInOnePass) {
  LoadResult r = load(R"(server:
  threads: many
  idle_timeout: 5
providers:
  openai: {type: openai, keys: [k], max_connections: 0}
models:
  m: {provider: nope, quality: 500}
routes:
  r: {targets: [ghost]}
)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.config, nullptr);
  EXPECT_EQ(r.errors.size(), 6u) << testing::dump(r);
  EXPECT_TRUE(HasError(r, "server.threads", 2, 12, "expected a whole number, got \"many\""));
  EXPECT_TRUE(HasError(r, "server.idle_timeout", 3, 17, "a unit is needed"));
  EXPECT_TRUE(HasError(r, "providers.openai.max_connections", 5, 54, "must be at least 1"));
  EXPECT_TRUE(HasError(r, "models.m.provider", 7, 17, "unknown provider \"nope\""));
  EXPECT_TRUE(HasError(r, "models.m.quality", 7, 32, "must be between 0 and 100"));
  EXPECT_TRUE(HasError(r, "routes.r.targets[0]", 9, 17, "unknown model \"ghost\""));
  // Reported in file order.
  for (std::size_t i = 1; i < r.errors.size(); ++i) {
    EXPECT_LE(r.errors[i - 1].line, r.errors[i].line);
  }
}

TEST(ConfigLoader, ProvidersAndModelsAreRequired) {
  LoadResult r = load("server: {threads: 1}\n");
  EXPECT_TRUE(HasError(r, "providers", 1, 1, "missing required section \"providers\""));
  EXPECT_TRUE(HasError(r, "models", 1, 1, "missing required section \"models\""));
  LoadResult empty = load("providers: {}\nmodels:\n");
  EXPECT_TRUE(HasError(empty, "providers", 1, 12, "must define at least one entry"));
  EXPECT_TRUE(HasError(empty, "models", 2, 1, "must define at least one entry"));
  LoadResult nothing = load("");
  EXPECT_TRUE(HasError(nothing, "", 1, 1, "the file is empty"));
}

TEST(ConfigLoader, TypeMismatchesNameTheExpectedType) {
  LoadResult r = load(std::string(R"(server:
  threads: [1]
  tls: "yes"
observability:
  traces: {capture_content: yes, otlp: {sample_ratio: half}}
tenants:
  acme: {keys: abc}
routes: [a, b]
)") + kMinimalTail);
  EXPECT_TRUE(HasError(r, "server.threads", 2, 12, "expected a whole number, got a list"));
  EXPECT_TRUE(HasError(r, "server.tls", 3, 8, "expected a mapping, got \"yes\""));
  EXPECT_TRUE(HasError(r, "observability.traces.capture_content", 5, 29,
                       "expected true or false, got \"yes\""));
  EXPECT_TRUE(HasError(r, "observability.traces.otlp.sample_ratio", 5, 55,
                       "expected a number, got \"half\""));
  EXPECT_TRUE(HasError(r, "tenants.acme.keys", 7, 16, "expected a list, got \"abc\""));
  EXPECT_TRUE(HasError(r, "routes", 8, 9, "expected a mapping, got a list"));
}

TEST(ConfigLoader, WrongTypeIsReportedOnce) {
  LoadResult r = load(R"(providers: demo
models:
  m1: {provider: demo}
routes:
  r: {targets: m1}
)");
  EXPECT_TRUE(HasError(r, "providers", 1, 12, "expected a mapping, got \"demo\""));
  EXPECT_TRUE(HasError(r, "routes.r.targets", 5, 16, "expected a list, got \"m1\""));
  EXPECT_TRUE(
      HasError(r, "models.m1.provider", 3, 18, "unknown provider \"demo\"; none is defined"));
  EXPECT_EQ(r.errors.size(), 3u) << testing::dump(r);
}

TEST(ConfigLoader, DuplicateKeysAreErrors) {
  LoadResult r = load(R"(providers:
  demo: {type: mock}
  demo: {type: openai}
models:
  m1: {provider: demo}
)");
  EXPECT_TRUE(HasError(r, "providers.demo", 3, 3, "duplicate key \"demo\" (first at line 2)"));
}

TEST(ConfigLoader, ModelMustNameAProvider) {
  LoadResult r = load(R"(providers:
  openai: {type: openai, keys: [k]}
models:
  a: {provider: opnai}
  b: {kind: chat}
)");
  EXPECT_TRUE(HasError(r, "models.a.provider", 4, 17,
                       "unknown provider \"opnai\"; did you mean \"openai\"?"));
  EXPECT_TRUE(HasError(r, "models.b.provider", 5, 3, "missing required key \"provider\""));
}

TEST(ConfigLoader, RouteTargetsAndFallbacksMustBeModels) {
  LoadResult r = load(std::string(R"(routes:
  chat-default:
    targets: [{model: m1, weight: 3}, {model: other, weight: 1}, m2]
    fallbacks: [m1, ghost]
  other:
    targets: [m1]
)") + kMinimalTail);
  EXPECT_TRUE(HasError(r, "routes.chat-default.targets[1].model", 3, 47,
                       "names route \"other\"; route targets and fallbacks must be models"));
  EXPECT_TRUE(HasError(r, "routes.chat-default.targets[2]", 3, 66,
                       "unknown model \"m2\"; did you mean \"m1\"?"));
  EXPECT_TRUE(HasError(r, "routes.chat-default.fallbacks[1]", 4, 21, "unknown model \"ghost\""));
  EXPECT_EQ(r.errors.size(), 3u) << testing::dump(r);
}

TEST(ConfigLoader, RouteNameMayNotShadowAModel) {
  LoadResult r = load(std::string(R"(routes:
  m1:
    targets: [m1]
)") + kMinimalTail);
  EXPECT_TRUE(HasError(r, "routes.m1", 2, 3, "has the same name as a model"));
}

TEST(ConfigLoader, RouteNeedsATargetAndPositiveWeights) {
  LoadResult r = load(std::string(R"(routes:
  empty: {targets: []}
  none: {strategy: weighted}
  weights:
    targets: [{model: m1, weight: 0}, {model: m1, weight: -2}, {weight: 1}]
    retry: {attempts: 0, backoff: 5s, max_backoff: 1s}
)") + kMinimalTail);
  EXPECT_TRUE(HasError(r, "routes.empty.targets", 2, 20, "a route needs at least one target"));
  EXPECT_TRUE(HasError(r, "routes.none.targets", 3, 3, "missing required key \"targets\""));
  EXPECT_TRUE(HasError(r, "routes.weights.targets[0].weight", 5, 35, "must be greater than 0"));
  EXPECT_TRUE(HasError(r, "routes.weights.targets[1].weight", 5, 59, "must be greater than 0"));
  EXPECT_TRUE(
      HasError(r, "routes.weights.targets[2].model", 5, 64, "missing required key \"model\""));
  EXPECT_TRUE(HasError(r, "routes.weights.retry.attempts", 6, 23, "must be between 1 and 100"));
  EXPECT_TRUE(HasError(r, "routes.weights.retry.backoff", 6, 35,
                       "backoff must not be greater than max_backoff"));
}

TEST(ConfigLoader, GuardrailReferencesMustExist) {
  LoadResult r = load(std::string(R"(guardrails:
  pii: {type: pii}
routes:
  r: {targets: [m1], guardrails: [pii, classifier]}
tenants:
  acme: {guardrails: [pi]}
)") + kMinimalTail);
  EXPECT_TRUE(HasError(r, "routes.r.guardrails[1]", 4, 40, "unknown guardrail \"classifier\""));
  EXPECT_TRUE(HasError(r, "tenants.acme.guardrails[0]", 6, 23,
                       "unknown guardrail \"pi\"; did you mean \"pii\"?"));
  EXPECT_EQ(r.errors.size(), 2u) << testing::dump(r);
}

TEST(ConfigLoader, TenantModelsMustNameAModelOrRoute) {
  LoadResult r = load(std::string(R"(routes:
  chat: {targets: [m1]}
tenants:
  acme: {models: [chat, m1, chta]}
)") + kMinimalTail);
  EXPECT_TRUE(HasError(r, "tenants.acme.models[2]", 4, 29,
                       "unknown model or route \"chta\"; did you mean \"chat\"?"));
  EXPECT_EQ(r.errors.size(), 1u) << testing::dump(r);
}

TEST(ConfigLoader, PolicyReferencesAreChecked) {
  LoadResult r = load(std::string(R"(tenants:
  acme: {}
policies:
  - when: {tenant: [acme, anonymous, acmee], model: gpt}
    require: {min_quality: 101, max_cost_usd: -1, latency_target: 0ms}
    prefer: cheapest
  - "not a mapping"
)") + kMinimalTail);
  EXPECT_TRUE(HasError(r, "policies[0].when.tenant[2]", 4, 38,
                       "unknown tenant \"acmee\"; did you mean \"acme\"?"));
  EXPECT_TRUE(HasError(r, "policies[0].when.model", 4, 53, "unknown model or route \"gpt\""));
  EXPECT_TRUE(HasError(r, "policies[0].require.min_quality", 5, 28, "must be between 0 and 100"));
  EXPECT_TRUE(HasError(r, "policies[0].require.max_cost_usd", 5, 47, "must be at least 0"));
  EXPECT_TRUE(HasError(r, "policies[0].require.latency_target", 5, 67, "must be greater than 0"));
  EXPECT_TRUE(HasError(r, "policies[0].prefer", 6, 13, "unknown strategy \"cheapest\""));
  EXPECT_TRUE(HasError(r, "policies[1]", 7, 5, "expected a mapping"));
}

TEST(ConfigLoader, NumericRangesAreChecked) {
  LoadResult r = load(R"(server: {threads: -1}
observability:
  traces: {otlp: {sample_ratio: 1.5}}
providers:
  demo:
    type: mock
    max_connections: 0
    mock: {tokens_per_second: -1, fail: {status: 42, every: -3}}
models:
  m1: {provider: demo, quality: -5, price: {input: -0.1, output: 1, cache_write: -2}}
tenants:
  t: {rate_limit: {rpm: -1}, budget: {usd: -5}}
)");
  EXPECT_TRUE(HasError(r, "server.threads", 1, 19, "must be at least 0"));
  EXPECT_TRUE(
      HasError(r, "observability.traces.otlp.sample_ratio", 3, 33, "must be between 0 and 1"));
  EXPECT_TRUE(HasError(r, "providers.demo.max_connections", 7, 22, "must be at least 1"));
  EXPECT_TRUE(HasError(r, "providers.demo.mock.tokens_per_second", 8, 31, "must be at least 0"));
  EXPECT_TRUE(HasError(r, "providers.demo.mock.fail.status", 8, 50, "must be between 100 and 599"));
  EXPECT_TRUE(HasError(r, "providers.demo.mock.fail.every", 8, 61, "must be at least 0"));
  EXPECT_TRUE(HasError(r, "models.m1.quality", 10, 33, "must be between 0 and 100"));
  EXPECT_TRUE(HasError(r, "models.m1.price.input", 10, 52, "must be at least 0"));
  EXPECT_TRUE(HasError(r, "models.m1.price.cache_write", 10, 82, "must be at least 0"));
  EXPECT_TRUE(HasError(r, "tenants.t.rate_limit.rpm", 12, 25, "must be at least 0"));
  EXPECT_TRUE(HasError(r, "tenants.t.budget.usd", 12, 44, "must be at least 0"));
  EXPECT_EQ(r.errors.size(), 11u) << testing::dump(r);
}

TEST(ConfigLoader, LogLevelAndFormatAreChecked) {
  LoadResult r = load(std::string(R"(observability:
  log: {level: verbose, format: jsn}
)") + kMinimalTail);
  EXPECT_TRUE(HasError(r, "observability.log.level", 2, 16,
                       "unknown log level \"verbose\"; expected one of: trace, debug, info, warn, "
                       "error, critical, off"));
  EXPECT_TRUE(
      HasError(r, "observability.log.format", 2, 33,
               "unknown log format \"jsn\"; expected one of: json, text; did you mean \"json\"?"));
}

TEST(ConfigLoader, ListenMustBeHostColonPort) {
  for (const char* good :
       {"0.0.0.0:8080", "127.0.0.1:0", "localhost:65535", "[::]:443", "[::1]:0"}) {
    LoadResult r = load(std::string("server: {listen: \"") + good + "\"}\n" + kMinimalTail);
    EXPECT_TRUE(r.ok()) << good << "\n" << testing::dump(r);
  }
  for (const char* bad :
       {"8080", ":8080", "localhost", "host:65536", "host:http", "::1:80", "host:", "[::1]80"}) {
    LoadResult r = load(std::string("server: {listen: \"") + bad + "\"}\n" + kMinimalTail);
    EXPECT_TRUE(HasError(r, "server.listen", 1, 18, "expected host:port")) << bad;
  }
}

TEST(ConfigLoader, ServerTlsNeedsBothReadableFiles) {
  LoadResult half =
      load(std::string("server:\n  tls: {cert_file: /etc/cert.pem}\n") + kMinimalTail);
  EXPECT_TRUE(
      HasError(half, "server.tls.key_file", 2, 8, "cert_file and key_file must be set together"));
  LoadResult missing = load(std::string(R"(server:
  tls: {cert_file: /nonexistent/cert.pem, key_file: /nonexistent/key.pem}
)") + kMinimalTail);
  EXPECT_TRUE(HasError(missing, "server.tls.cert_file", 2, 20,
                       "cannot read certificate file \"/nonexistent/cert.pem\": No such file"));
  EXPECT_TRUE(HasError(missing, "server.tls.key_file", 2, 53,
                       "cannot read key file \"/nonexistent/key.pem\""));
  TempFile cert("CERT"), key("KEY");
  LoadResult ok = load("server:\n  tls: {cert_file: " + cert.path() + ", key_file: " + key.path() +
                       "}\n" + kMinimalTail);
  ASSERT_TRUE(ok.ok()) << testing::dump(ok);
  EXPECT_TRUE(ok.config->server.tls.enabled());
  EXPECT_EQ(ok.config->server.tls.cert_file, cert.path());
}

TEST(ConfigLoader, ProviderCaFileMustExist) {
  LoadResult r = load(R"(providers:
  local:
    type: openai-compatible
    base_url: "https://llm.internal/v1"
    tls: {ca_file: /nonexistent/ca.pem}
models:
  m: {provider: local}
)");
  EXPECT_TRUE(HasError(r, "providers.local.tls.ca_file", 5, 20,
                       "cannot read CA file \"/nonexistent/ca.pem\""));
}

TEST(ConfigLoader, RedisUrlNeedsItsSchemeWhenRedisIsTheBackend) {
  LoadResult r = load(std::string(R"(state:
  backend: redis
  redis: {url: "http://10.0.0.1:6379"}
)") + kMinimalTail);
  EXPECT_TRUE(HasError(r, "state.redis.url", 3, 16, "must start with \"redis://\""));
  LoadResult memory = load(std::string(R"(state:
  backend: memory
  redis: {url: "whatever"}
)") + kMinimalTail);
  EXPECT_TRUE(memory.ok()) << testing::dump(memory);
}

TEST(ConfigLoader, RedissTakesATlsBlockWhoseCaFileMustBeReadable) {
  LoadResult ok = load(std::string(R"(state:
  backend: redis
  redis: {url: "rediss://cache.example.com:6380/0", tls: {verify: false}}
)") + kMinimalTail);
  ASSERT_TRUE(ok.ok()) << testing::dump(ok);
  EXPECT_EQ(ok.config->state.redis.url, "rediss://cache.example.com:6380/0");
  EXPECT_FALSE(ok.config->state.redis.tls.verify);
  EXPECT_EQ(ok.config->state.redis.tls.ca_file, "");
  LoadResult bad = load(std::string(R"(state:
  backend: redis
  redis: {url: "rediss://h:6380/0", tls: {ca_file: /nonexistent/redis-ca.pem, colour: red}}
)") + kMinimalTail);
  EXPECT_TRUE(HasError(bad, "state.redis.tls.ca_file", 3, 52,
                       "cannot read CA file \"/nonexistent/redis-ca.pem\""))
      << testing::dump(bad);
  EXPECT_TRUE(HasError(bad, "state.redis.tls.colour", 3, 79, "unknown key")) << testing::dump(bad);
  LoadResult plain = load(std::string(R"(state:
  backend: redis
  redis: {url: "redis://h:6379/0", tls: {verify: true}}
)") + kMinimalTail);
  EXPECT_TRUE(HasError(plain, "state.redis.tls", 3, 41, "applies to rediss:// URLs only"))
      << testing::dump(plain);
}

TEST(ConfigLoader, ModelCircuitSettingsAreReadAndChecked) {
  LoadResult ok = load(R"(providers: {p: {type: mock}}
models:
  m: {provider: p, circuit: {failures: 3, open_for: 10s}}
  d: {provider: p}
)");
  ASSERT_TRUE(ok.ok()) << testing::dump(ok);
  EXPECT_EQ(ok.config->models.at("m").circuit.failures, 3);
  EXPECT_EQ(ok.config->models.at("m").circuit.open_for, std::chrono::seconds(10));
  EXPECT_EQ(ok.config->models.at("d").circuit.failures, 5);
  EXPECT_EQ(ok.config->models.at("d").circuit.open_for, std::chrono::seconds(30));
  LoadResult bad = load(R"(providers: {p: {type: mock}}
models:
  m: {provider: p, circuit: {failures: 0, open_for: 100ms, after: 2}}
)");
  EXPECT_TRUE(HasError(bad, "models.m.circuit.failures", 3, 40, "must be between 1 and 1000"))
      << testing::dump(bad);
  EXPECT_TRUE(HasError(bad, "models.m.circuit.open_for", 3, 53, "must be between 1s and 1h"))
      << testing::dump(bad);
  EXPECT_TRUE(HasError(bad, "models.m.circuit.after", 3, 60, "unknown key")) << testing::dump(bad);
}

TEST(ConfigLoader, HashedKeysNeed64HexCharacters) {
  const std::string good = "sha256:" + std::string(64, 'a');
  LoadResult r = load(std::string(R"(auth:
  admin_keys: ["sha256:1234"]
tenants:
  acme:
    keys: [")") + good +
                      R"(", "sha256:)" + std::string(63, 'b') + R"(g"]
)" + kMinimalTail);
  EXPECT_TRUE(HasError(r, "auth.admin_keys[0]", 2, 16,
                       "\"sha256:\" must be followed by 64 hex characters"));
  EXPECT_TRUE(HasError(r, "tenants.acme.keys[1]", 5, 87,
                       "\"sha256:\" must be followed by 64 hex characters"));
  EXPECT_TRUE(NoErrorMentions(r, "1234"));
  EXPECT_EQ(r.errors.size(), 2u) << testing::dump(r);
}

TEST(ConfigLoader, DuplicateTenantKeyNamesBothTenantsButNotTheKey) {
  LoadResult r = load(std::string(R"(tenants:
  acme:
    keys: [shared-key-123, own-key]
  globex:
    keys: [other, shared-key-123]
)") + kMinimalTail);
  EXPECT_TRUE(HasError(r, "tenants.globex.keys[1]", 5, 19,
                       "listed for tenant \"acme\" (tenants.acme.keys[0]) and tenant \"globex\""));
  EXPECT_TRUE(NoErrorMentions(r, "shared-key-123"));
  EXPECT_EQ(r.errors.size(), 1u) << testing::dump(r);
}

TEST(ConfigLoader, ProviderWithNoKeysLeftIsAnError) {
  testing::ScopedEnv unset("SWB_T_NO_KEY", std::nullopt);
  LoadResult r = load(R"(providers:
  openai:
    type: openai
    keys: ["${SWB_T_NO_KEY:-}"]
  anthropic: {type: anthropic}
  local: {type: openai-compatible, base_url: "http://127.0.0.1:1/v1"}
  demo: {type: mock}
models:
  m: {provider: demo}
)");
  EXPECT_TRUE(HasError(r, "providers.openai.keys", 4, 11,
                       "no key left after dropping empty entries; a provider of type openai "
                       "needs at least one key"));
  EXPECT_TRUE(HasError(r, "providers.anthropic.keys", 5, 3, "missing required key \"keys\""));
  EXPECT_EQ(r.errors.size(), 2u) << testing::dump(r);
}

TEST(ConfigLoader, ProviderTypeRequirements) {
  LoadResult r = load(R"(providers:
  bedrock: {type: bedrock, access_key_id: ""}
  azure: {type: azure, keys: [k]}
  compat: {type: openai-compatible}
  gemini: {type: gemini, keys: [k], base_url: "ftp://x", mock: {latency: 1s}}
models:
  m: {provider: bedrock}
)");
  EXPECT_TRUE(HasError(r, "providers.bedrock.region", 2, 3, "missing required key \"region\""));
  EXPECT_TRUE(HasError(r, "providers.bedrock.access_key_id", 2, 43, "must not be empty"));
  EXPECT_TRUE(HasError(r, "providers.bedrock.secret_access_key", 2, 3, "missing required key"));
  EXPECT_TRUE(HasError(r, "providers.azure.base_url", 3, 3, "missing required key \"base_url\""));
  EXPECT_TRUE(HasError(r, "providers.azure.api_version", 3, 3, "missing required key"));
  EXPECT_TRUE(HasError(r, "providers.compat.base_url", 4, 3, "missing required key"));
  EXPECT_TRUE(HasError(r, "providers.gemini.base_url", 5, 47, "must start with http://"));
  EXPECT_TRUE(HasError(r, "providers.gemini.mock", 5, 58, "only providers of type mock"));
  EXPECT_EQ(r.errors.size(), 8u) << testing::dump(r);
}

TEST(ConfigLoader, GuardrailTypeRequirements) {
  LoadResult r = load(std::string(R"(guardrails:
  re: {type: regex, patterns: ["ok", "(open"]}
  hook: {type: webhook, timeout: 0ms}
  words: {type: keywords}
  mod: {type: openai-moderation}
  pii: {type: pii, entities: [email, passport], stages: []}
  none: {action: block}
)") + kMinimalTail);
  EXPECT_TRUE(HasError(r, "guardrails.re.patterns[1]", 2, 38, "invalid regular expression"));
  EXPECT_TRUE(HasError(r, "guardrails.hook.url", 3, 3, "missing required key \"url\""));
  EXPECT_TRUE(HasError(r, "guardrails.hook.timeout", 3, 34, "must be greater than 0"));
  EXPECT_TRUE(HasError(r, "guardrails.words.words", 4, 3, "missing required key"));
  EXPECT_TRUE(HasError(r, "guardrails.mod.key", 5, 3, "missing required key \"key\""));
  EXPECT_TRUE(HasError(r, "guardrails.pii.entities[1]", 6, 38,
                       "unknown PII entity \"passport\"; expected one of: email, phone"));
  EXPECT_TRUE(HasError(r, "guardrails.pii.stages", 6, 57, "list at least one stage"));
  EXPECT_TRUE(HasError(r, "guardrails.none.type", 7, 3, "missing required key \"type\""));
  EXPECT_EQ(r.errors.size(), 8u) << testing::dump(r);
}

TEST(ConfigLoader, RegexGuardrailPatternsAreRe2) {
  // Backreferences and lookaround are what make a regex backtrack; RE2 has neither, so a pattern
  // using them is refused at load with its position.
  LoadResult r = load(std::string(R"(guardrails:
  re: {type: regex, patterns: ["ok", "(?<=x)y", "(a)\\1"]}
)") + kMinimalTail);
  EXPECT_TRUE(HasError(r, "guardrails.re.patterns[1]", 2, 38, "invalid regular expression"));
  EXPECT_TRUE(HasError(r, "guardrails.re.patterns[2]", 2, 49, "invalid regular expression"));
  EXPECT_EQ(r.errors.size(), 2u) << testing::dump(r);
}

TEST(ConfigLoader, PiiGuardrailDefaultsToEveryEntity) {
  LoadResult r = load(std::string("guardrails:\n  pii: {type: pii}\n") + kMinimalTail);
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_EQ(r.config->guardrails.at("pii").entities.size(), 7u);
}

}  // namespace
}  // namespace switchboard::config
