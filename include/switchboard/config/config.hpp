// The immutable, validated configuration snapshot (SPEC section 2). Built once per load.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace switchboard::config {

using Duration = std::chrono::milliseconds;

struct ServerTls {
  std::string cert_file;
  std::string key_file;
  bool enabled() const { return !cert_file.empty() && !key_file.empty(); }
};

struct ServerConfig {
  std::string listen = "0.0.0.0:8080";  // host:port; [v6]:port accepted
  int threads = 0;                      // 0 = one per core
  ServerTls tls;
  std::uint64_t max_request_bytes = 10ull * 1024 * 1024;
  Duration header_timeout = std::chrono::seconds(10);
  Duration idle_timeout = std::chrono::seconds(75);
  Duration drain_timeout = std::chrono::seconds(30);
  bool watch_config = false;  // reload when the config file changes (polled every second)
};

enum class AuthMode { keys, open };

struct AuthConfig {
  AuthMode mode = AuthMode::keys;
  std::vector<std::string> admin_keys;  // plain or "sha256:<hex>"; empty entries dropped
};

enum class StateBackend { memory, redis };

// How a TLS server is verified (providers.*.tls, state.redis.tls).
struct TlsConfig {
  std::string ca_file;  // empty = system store
  bool verify = true;
};

struct RedisConfig {
  std::string url = "redis://127.0.0.1:6379/0";  // rediss:// for TLS
  std::string key_prefix = "switchboard:";
  TlsConfig tls;  // how a rediss:// server is verified
};

struct StateConfig {
  StateBackend backend = StateBackend::memory;
  RedisConfig redis;
};

enum class LogFormat { json, text };

struct LogConfig {
  std::string level = "info";  // trace | debug | info | warn | error | critical | off
  LogFormat format = LogFormat::json;
};

struct OtlpConfig {
  std::string endpoint;  // empty = off
  std::map<std::string, std::string> headers;
  double sample_ratio = 1.0;  // 0..1
};

struct TracesConfig {
  std::string file = "-";  // "-" stdout, a path, "" off
  OtlpConfig otlp;
  bool capture_content = false;
};

struct MetricsConfig {
  // false: GET /metrics answers 404 and requests update no per-request series (an operator who
  // reads OTLP only; and the "off" side of bench/observability.sh).
  bool enabled = true;
};

struct ObservabilityConfig {
  LogConfig log;
  MetricsConfig metrics;
  TracesConfig traces;
};

enum class ProviderType {
  openai,
  azure,
  anthropic,
  gemini,
  bedrock,
  mistral,
  openai_compatible,
  mock
};

struct ProviderTimeouts {
  Duration connect = std::chrono::seconds(5);
  Duration first_byte = std::chrono::seconds(60);
  Duration total = std::chrono::minutes(10);
};

struct ProviderLimits {
  std::uint64_t rpm = 0;  // 0 = unknown
  std::uint64_t tpm = 0;
};

struct MockFail {
  int status = 503;
  std::uint64_t every = 0;  // every Nth call fails; 0 = never
};

struct MockConfig {
  Duration latency{0};           // before the first byte
  double tokens_per_second = 0;  // stream pacing; 0 = as fast as possible
  std::string response;          // empty = "echo: " + last user message
  MockFail fail;
};

struct ProviderConfig {
  std::string name;
  ProviderType type = ProviderType::openai;
  std::string base_url;  // defaulted per type when absent (openai, anthropic, gemini, mistral)
  std::vector<std::string> keys;  // rotation pool, empty entries dropped
  std::vector<std::string> privacy = {"public"};
  std::map<std::string, std::string> headers;  // extra upstream headers
  std::uint32_t max_connections = 256;
  ProviderTimeouts timeouts;
  ProviderLimits limits;
  TlsConfig tls;
  // azure
  std::string api_version;
  // bedrock (SigV4)
  std::string region;
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  // mock
  MockConfig mock;
};

enum class ModelKind { chat, embedding };

struct Price {  // USD per 1M tokens
  double input = 0;
  double output = 0;
  double cached_input = 0;  // defaults to input when absent
  double cache_write = 0;   // defaults to input when absent
};

// List prices by provider type ("openai", "anthropic", ...) then the provider's model id.
using PriceTable = std::map<std::string, std::map<std::string, Price>>;

// When a model's circuit opens (not in SPEC): after `failures` consecutive failures, for
// `open_for`, then one probe is let through.
struct CircuitConfig {
  int failures = 5;
  Duration open_for = std::chrono::seconds(30);
};

struct ModelConfig {
  std::string name;      // what clients send in "model"
  std::string provider;  // key into Config::providers
  std::string model;     // the provider's own id; defaults to name
  ModelKind kind = ModelKind::chat;
  Price price;
  bool priced = false;  // a price came from `price:` or the price table (else cost is 0)
  int quality = 50;     // 0..100
  std::vector<std::string> privacy;  // defaults to the provider's labels
  CircuitConfig circuit;
};

enum class Strategy { priority, weighted, round_robin, least_latency, lowest_cost, best_quality };

struct RouteTarget {
  std::string model;
  double weight = 1;
};

struct RetryConfig {
  int attempts = 2;  // tries per candidate (1 = no retry)
  Duration backoff = std::chrono::milliseconds(100);
  Duration max_backoff = std::chrono::seconds(2);
};

struct HedgeConfig {
  Duration after{0};  // 0 = off
};

struct RouteConfig {
  std::string name;
  std::vector<RouteTarget> targets;
  Strategy strategy = Strategy::priority;
  std::vector<std::string> fallbacks;  // model names
  RetryConfig retry;
  std::vector<std::string> guardrails;  // attached guardrails
  HedgeConfig hedge;
};

struct PolicyWhen {  // every listed field must match; absent = any
  std::vector<std::string> tenants;
  std::vector<std::string> workflows;
  std::vector<std::string> models;                          // requested model or route names
  std::map<std::string, std::vector<std::string>> headers;  // lower-case name -> accepted values
};

struct Requirements {
  std::vector<std::string> privacy;
  std::optional<double> max_cost_usd;
  std::optional<int> min_quality;
  std::optional<Duration> latency_target;
};

struct PolicyConfig {
  std::string name;
  PolicyWhen when;
  Requirements require;
  std::optional<Strategy> prefer;
};

struct RateLimit {
  std::uint64_t rpm = 0;  // 0 = unlimited
  std::uint64_t tpm = 0;
};

enum class BudgetPeriod { daily, monthly, total };

struct Budget {
  double usd = 0;
  BudgetPeriod period = BudgetPeriod::monthly;
};

struct TenantConfig {
  std::string name;
  std::vector<std::string> keys;  // plain or "sha256:<64 hex>"; empty entries dropped
  std::optional<std::vector<std::string>> models;  // allowed models/routes; nullopt = all
  RateLimit rate_limit;
  std::optional<Budget> budget;
  std::vector<std::string> guardrails;
  std::string default_workflow = "default";  // defaults.workflow
  std::vector<std::string> privacy;          // defaults.privacy: labels every request requires
};

enum class GuardrailType { pii, regex, keywords, webhook, openai_moderation };
enum class GuardrailAction { redact, block, flag };
enum class GuardrailApply { all, attached };
enum class GuardrailStage { input, output };

struct GuardrailConfig {
  std::string name;
  GuardrailType type = GuardrailType::pii;
  std::vector<std::string> entities;  // pii
  std::vector<GuardrailStage> stages = {GuardrailStage::input, GuardrailStage::output};
  GuardrailAction action = GuardrailAction::redact;
  GuardrailApply apply = GuardrailApply::all;
  std::vector<std::string> patterns;  // regex
  std::vector<std::string> words;     // keywords
  std::string url;                    // webhook, openai-moderation
  std::string key;                    // openai-moderation bearer key
  std::string model;                  // openai-moderation model
  Duration timeout = std::chrono::milliseconds(300);
  bool block_on_error = true;  // on_error: block | allow
};

struct Config {
  std::string source_file;  // the file it was loaded from
  ServerConfig server;
  AuthConfig auth;
  StateConfig state;
  ObservabilityConfig observability;
  std::map<std::string, ProviderConfig> providers;
  std::map<std::string, ModelConfig> models;
  std::map<std::string, RouteConfig> routes;
  std::vector<PolicyConfig> policies;  // ordered
  std::map<std::string, TenantConfig> tenants;
  std::map<std::string, GuardrailConfig> guardrails;
  PriceTable prices;                     // `prices:` includes, then its inline table
  std::vector<std::string> price_files;  // the included files, resolved
};

using ConfigPtr = std::shared_ptr<const Config>;

}  // namespace switchboard::config
