// The trace record written without nlohmann must be, byte for byte, the line nlohmann wrote.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <ctime>
#include <limits>
#include <random>

#include "switchboard/gateway/pipeline.hpp"
#include "switchboard/gateway/trace_record.hpp"
#include "switchboard/observability/otlp.hpp"

namespace gw = switchboard::gateway;
using json = nlohmann::ordered_json;

namespace {

// The record as finish_request built it before it had its own writer.
std::string nlohmann_record(const gw::RequestContext& ctx, double duration_ms, double overhead_ms) {
  auto null_if_empty = [](std::string_view s) { return s.empty() ? json(nullptr) : json(s); };
  auto rfc3339 = [](std::chrono::system_clock::time_point t) {
    auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
    std::time_t tt = std::chrono::system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms));
    return std::string(buf);
  };
  json attempts = json::array();
  for (const auto& a : ctx.attempts) {
    attempts.push_back({{"provider", a.provider},
                        {"model", a.model},
                        {"key_id", null_if_empty(a.key_id)},
                        {"status", a.status},
                        {"error", null_if_empty(a.error)},
                        {"ms", std::round(a.ms * 1000) / 1000}});
  }
  json usage = {{"input", ctx.usage.input},
                {"output", ctx.usage.output},
                {"cached_input", ctx.usage.cached_input}};
  if (ctx.usage.cache_write) usage["cache_write"] = ctx.usage.cache_write;
  if (ctx.usage.reasoning) usage["reasoning"] = ctx.usage.reasoning;
  if (ctx.usage.estimated) usage["estimated"] = true;
  json record = {
      {"trace_id", ctx.trace_id},
      {"span_id", ctx.span_id},
      {"parent_span_id", null_if_empty(ctx.parent_span_id)},
      {"time", rfc3339(ctx.wall_start)},
      {"request_id", ctx.request_id},
      {"tenant", ctx.tenant_name},
      {"workflow", ctx.workflow},
      {"user", null_if_empty(ctx.user)},
      {"endpoint", ctx.endpoint},
      {"requested_model", null_if_empty(ctx.requested_model)},
      {"route", null_if_empty(ctx.route)},
      {"policies", ctx.policies},
      {"provider", null_if_empty(ctx.provider)},
      {"model", null_if_empty(ctx.model)},
      {"stream", ctx.stream},
      {"status", ctx.status},
      {"error", null_if_empty(ctx.error)},
      {"attempts", std::move(attempts)},
      {"ttft_ms", ctx.ttft_ms >= 0 ? json(std::round(ctx.ttft_ms * 1000) / 1000) : json(nullptr)},
      {"duration_ms", std::round(duration_ms * 1000) / 1000},
      {"overhead_ms", std::round(overhead_ms * 1000) / 1000},
      {"usage", std::move(usage)},
      {"cost_usd", ctx.cost_usd},
      {"guardrails", json::array()},
  };
  return record.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ours(const gw::RequestContext& ctx, double duration_ms, double overhead_ms) {
  std::string out;
  gw::append_trace_record(out, ctx, duration_ms, overhead_ms);
  return out;
}

gw::RequestContext served_request() {
  gw::RequestContext ctx;
  ctx.wall_start = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764000000123));
  ctx.request_id = "req-1";
  ctx.trace_id = "0af7651916cd43dd8448eb211c80319c";
  ctx.span_id = "b7ad6b7169203331";
  ctx.endpoint = "/v1/chat/completions";
  ctx.tenant_name = "acme";
  ctx.workflow = "summarize";
  ctx.requested_model = "fast";
  ctx.route = "fast";
  ctx.provider = "openai";
  ctx.model = "gpt-4o-mini";
  ctx.policies = {"cheapest", "healthy"};
  ctx.status = 200;
  ctx.attempts.push_back({"azure", "gpt-4o-mini", "key-2", 503, "http_503", 12.3456789});
  ctx.attempts.push_back({"openai", "gpt-4o-mini", "key-0", 200, "", 250.0});
  ctx.usage.known = true;
  ctx.usage.input = 27;
  ctx.usage.output = 26;
  ctx.usage.cached_input = 4;
  ctx.usage.cache_write = 2;
  ctx.usage.reasoning = 9;
  ctx.cost_usd = 0.0000195;
  ctx.ttft_ms = 261.1239;
  return ctx;
}

}  // namespace

TEST(TraceRecord, ServedRequestReadsAsBefore) {
  auto ctx = served_request();
  EXPECT_EQ(ours(ctx, 262.44449, 0.7111), nlohmann_record(ctx, 262.44449, 0.7111));
}

TEST(TraceRecord, RejectedRequestHasNullsAndEmptyLists) {
  gw::RequestContext ctx;
  ctx.wall_start = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764000000999));
  ctx.request_id = "r";
  ctx.trace_id = "t";
  ctx.span_id = "s";
  ctx.status = 401;
  ctx.error = "invalid_api_key";
  EXPECT_EQ(ours(ctx, 0.01, 0.01), nlohmann_record(ctx, 0.01, 0.01));
}

TEST(TraceRecord, ClientTextIsEscapedAsBefore) {
  auto ctx = served_request();
  ctx.user = "user \"42\"\n\x01 caf\xC3\xA9 \xFF\xC3";  // quotes, controls, invalid UTF-8
  ctx.workflow = "a\\b";
  ctx.parent_span_id = "00f067aa0ba902b7";
  ctx.usage = {};
  ctx.usage.estimated = true;
  ctx.usage.output = 5;
  ctx.stream = true;
  ctx.ttft_ms = -1;
  ctx.cost_usd = 0;
  EXPECT_EQ(ours(ctx, 1000, 0), nlohmann_record(ctx, 1000, 0));
}

TEST(TraceRecord, TimeIsRightAcrossSecondsAndThreadsCache) {
  auto ctx = served_request();
  for (std::int64_t ms :
       std::initializer_list<std::int64_t>{1764000000000, 1764000000999, 1764000001000,
                                           1764000000500, 0, 1, -500, -1500, 4102444800123}) {
    ctx.wall_start = std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
    EXPECT_EQ(ours(ctx, 1, 1), nlohmann_record(ctx, 1, 1)) << ms;
  }
}

TEST(TraceRecord, FailedAttemptBillingGuardrailsAndNonFiniteNumbersAsBefore) {
  // Captured from the JsonWriter-based writer: billed_usd, guardrail events with and without
  // detail, an empty policy list, and non-finite numbers (null).
  auto ctx = served_request();
  ctx.attempts[0].billed_usd = 0.00042;
  ctx.attempts[1].key_id = "";
  ctx.guardrails.push_back({"pii", "input", "redact", "email,credit_card"});
  ctx.guardrails.push_back({"kw\"x", "output", "flag", ""});
  ctx.policies.clear();
  ctx.cost_usd = std::nan("");
  EXPECT_EQ(
      ours(ctx, 1.23456789, std::numeric_limits<double>::infinity()),
      R"({"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331",)"
      R"("parent_span_id":null,"time":"2025-11-24T16:00:00.123Z","request_id":"req-1",)"
      R"("tenant":"acme","workflow":"summarize","user":null,"endpoint":"/v1/chat/completions",)"
      R"("requested_model":"fast","route":"fast","policies":[],"provider":"openai",)"
      R"("model":"gpt-4o-mini","stream":false,"status":200,"error":null,"attempts":[)"
      R"({"provider":"azure","model":"gpt-4o-mini","key_id":"key-2","status":503,)"
      R"("error":"http_503","ms":12.346,"billed_usd":0.00042},{"provider":"openai",)"
      R"("model":"gpt-4o-mini","key_id":null,"status":200,"error":null,"ms":250.0}],)"
      R"("ttft_ms":261.124,"duration_ms":1.235,"overhead_ms":null,"usage":{"input":27,)"
      R"("output":26,"cached_input":4,"cache_write":2,"reasoning":9},"cost_usd":null,)"
      R"("guardrails":[{"name":"pii","stage":"input","action":"redact",)"
      R"("detail":"email,credit_card"},{"name":"kw\"x","stage":"output","action":"flag"}]})");
}

TEST(TraceRecord, PackedRecordCutShortIsReadSafelyAndStaysValidJson) {
  auto ctx = served_request();
  ctx.guardrails.push_back({"pii", "input", "redact", "email"});
  std::string packed;
  gw::pack_trace_record(packed, ctx, 300.25, 1.5);
  std::string whole;
  gw::append_packed_trace_record(whole, packed);
  EXPECT_EQ(whole, ours(ctx, 300.25, 1.5));
  for (std::size_t n = 0; n < packed.size(); ++n) {
    std::string out;
    gw::append_packed_trace_record(out, std::string_view(packed).substr(0, n));
    EXPECT_NO_THROW((void)json::parse(out)) << n << ": " << out;
  }
}

TEST(TraceRecord, MillisecondsPrintAsNlohmannDoesOverTheirWholeRange) {
  // The record writes round_ms values with a fast path of its own: every one must read exactly
  // as nlohmann's Grisu2 wrote it.
  auto ctx = served_request();
  ctx.attempts.resize(1);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> small(0, 100), large(0, 1e11);
  auto check = [&](double d) {
    ctx.ttft_ms = d;
    ctx.attempts[0].ms = d / 3;
    double overhead = d * 0.001;
    ASSERT_EQ(ours(ctx, d, overhead), nlohmann_record(ctx, d, overhead)) << d;
  };
  for (int n = 0; n < 30000; ++n) check(n / 1000.0);  // the first 30 ms, every microsecond
  for (int i = 0; i < 10000; ++i) check(i % 2 ? small(rng) : large(rng));
  for (double d : {0.0005, 0.0004999, 999.9995, 1e12 - 1, 1e12, 3e15, 1e300}) check(d);
}

TEST(TraceRecord, WorstCaseRecordsFitTheRoomTheEncoderReserves) {
  // The encoder writes through a raw cursor into trace_record_room(packed) bytes: records whose
  // every string escapes to six bytes a byte, whose numbers are at their widest, or whose lists
  // are long with empty items must fit, with the slack the number writers may scribble in.
  auto check = [](const gw::RequestContext& ctx, double duration_ms, double overhead_ms) {
    std::string packed;
    gw::pack_trace_record(packed, ctx, duration_ms, overhead_ms);
    std::string out;
    gw::append_packed_trace_record(out, packed);
    EXPECT_LE(out.size() + 64, gw::trace_record_room(packed)) << out.size();
    EXPECT_NO_THROW((void)json::parse(out));
  };
  constexpr double kWidest = -1.2345678901234567e-300;  // 24 characters
  constexpr double kWidestMs = 1.2345678901234567e299;  // stays as wide once rounded
  constexpr auto kMin64 = std::numeric_limits<std::int64_t>::min();
  gw::RequestContext wide;
  wide.wall_start = std::chrono::system_clock::time_point(std::chrono::milliseconds(-1500));
  wide.status = std::numeric_limits<int>::min();
  wide.usage = {kMin64, kMin64, kMin64, kMin64, kMin64};
  wide.usage.estimated = true;
  wide.cost_usd = kWidest;
  wide.ttft_ms = kWidestMs;
  for (int i = 0; i < 50; ++i) {
    wide.attempts.push_back({"", "", "", std::numeric_limits<int>::min(), "", kWidestMs, -kWidest});
    wide.guardrails.push_back({"", "", "", ""});
    wide.policies.push_back("");
  }
  check(wide, kWidestMs, kWidestMs);
  gw::RequestContext escaping = wide;
  std::string controls(40, '\x01');
  for (auto* field : {&escaping.trace_id, &escaping.span_id, &escaping.parent_span_id,
                      &escaping.request_id, &escaping.tenant_name, &escaping.workflow,
                      &escaping.user, &escaping.requested_model, &escaping.error}) {
    *field = controls;
  }
  // Views (of the request and of the config snapshot).
  for (auto* field : {&escaping.endpoint, &escaping.route, &escaping.provider, &escaping.model}) {
    *field = controls;
  }
  for (auto& a : escaping.attempts) a = {controls, controls, controls, 0, controls, 1, 1};
  for (auto& g : escaping.guardrails) g = {controls, controls, controls, controls};
  for (auto& p : escaping.policies) p = controls;
  check(escaping, 1, 1);
  check(gw::RequestContext{}, 0, 0);
}

namespace {

// The span as finish_request built it before the trace record's packed form served it too.
std::string span_as_before(const gw::RequestContext& ctx, std::string_view provider_name,
                           double duration_ms) {
  switchboard::observability::OtlpSpan s;
  s.trace_id = ctx.trace_id;
  s.span_id = ctx.span_id;
  s.parent_span_id = ctx.parent_span_id;
  s.operation = ctx.endpoint == "/v1/embeddings" ? "embeddings" : "chat";
  s.start_unix_nano =
      std::chrono::duration_cast<std::chrono::nanoseconds>(ctx.wall_start.time_since_epoch())
          .count();
  s.end_unix_nano = s.start_unix_nano + static_cast<std::int64_t>(duration_ms * 1e6);
  s.request_model = ctx.requested_model;
  s.provider_name = provider_name;
  s.response_model = ctx.provider_model;
  s.usage_known = ctx.usage.known || ctx.usage.estimated;
  s.input_tokens = ctx.usage.input;
  s.output_tokens = ctx.usage.output;
  s.cached_input_tokens = ctx.usage.cached_input;
  s.cache_write_tokens = ctx.usage.cache_write;
  s.request_id = ctx.request_id;
  s.endpoint = ctx.endpoint;
  s.tenant = ctx.tenant_name;
  s.workflow = ctx.workflow;
  s.user = ctx.user;
  s.route = ctx.route;
  s.provider = ctx.provider;
  s.model = ctx.model;
  s.stream = ctx.stream;
  s.status = ctx.status;
  s.error = ctx.error;
  s.attempts = static_cast<int>(ctx.attempts.size());
  s.cost_usd = ctx.cost_usd;
  s.ttft_ms = ctx.ttft_ms;
  std::string out;
  switchboard::observability::append_otlp_span(out, s);
  return out;
}

std::string span_from_record(const gw::RequestContext& ctx, double duration_ms) {
  std::string packed;
  gw::pack_trace_record(packed, ctx, duration_ms, 0.5);
  std::string out;
  gw::append_packed_record_span(out, packed);
  return out;
}

}  // namespace

TEST(RecordSpan, ServedRequestSpanFromThePackedRecordIsTheSpanAsBefore) {
  switchboard::config::ProviderConfig openai;
  openai.type = switchboard::config::ProviderType::openai;
  auto ctx = served_request();
  ctx.parent_span_id = "00f067aa0ba902b7";
  ctx.user = "u-7";
  ctx.stream = true;
  ctx.provider_config = &openai;
  ctx.provider_model = "gpt-4o-mini-2024-07-18";
  ctx.guardrails.push_back({"pii", "input", "redact", "email"});  // read past, not into the span
  EXPECT_EQ(span_from_record(ctx, 262.44449), span_as_before(ctx, "openai", 262.44449));
  auto span = json::parse(span_from_record(ctx, 262.5));
  EXPECT_EQ(span["startTimeUnixNano"], "1764000000123000000");
  EXPECT_EQ(span["endTimeUnixNano"], "1764000000385500000");
}

TEST(RecordSpan, ProviderNamesErrorsEmbeddingsAndEstimatedUsage) {
  switchboard::config::ProviderConfig local;
  local.type = switchboard::config::ProviderType::openai_compatible;
  switchboard::config::ProviderConfig bedrock;
  bedrock.type = switchboard::config::ProviderType::bedrock;

  gw::RequestContext refused;  // no provider, no usage: an error span without gen_ai names
  refused.wall_start = std::chrono::system_clock::time_point(std::chrono::milliseconds(5));
  refused.request_id = "r";
  refused.trace_id = "t";
  refused.span_id = "s";
  refused.endpoint = "/v1/chat/completions";
  refused.status = 429;
  refused.error = "rate_limited";
  EXPECT_EQ(span_from_record(refused, 0.2), span_as_before(refused, "", 0.2));

  auto embed = served_request();
  embed.endpoint = "/v1/embeddings";
  embed.provider = "vllm-east";
  embed.provider_config = &local;  // the config name stands for an openai-compatible server
  embed.provider_model = "bge-large";
  embed.usage = {};
  embed.usage.estimated = true;
  embed.usage.input = 40;
  embed.ttft_ms = -1;
  EXPECT_EQ(span_from_record(embed, 3), span_as_before(embed, "vllm-east", 3));

  auto cut = served_request();
  cut.provider_config = &bedrock;
  cut.status = 502;
  cut.error = "stream_interrupted";
  cut.usage.known = false;
  EXPECT_EQ(span_from_record(cut, 9), span_as_before(cut, "aws.bedrock", 9));
}

TEST(RecordSpan, PackedRecordCutShortStillGivesAValidSpan) {
  switchboard::config::ProviderConfig openai;
  auto ctx = served_request();
  ctx.provider_config = &openai;
  ctx.guardrails.push_back({"pii", "input", "redact", "email"});
  std::string packed;
  gw::pack_trace_record(packed, ctx, 300.25, 1.5);
  for (std::size_t n = 0; n < packed.size(); ++n) {
    std::string out;
    gw::append_packed_record_span(out, std::string_view(packed).substr(0, n));
    EXPECT_NO_THROW((void)json::parse(out)) << n << ": " << out;
  }
}
