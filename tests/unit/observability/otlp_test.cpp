// Unit tests for the OTLP/JSON span encoding, sampling, endpoint rules and the exporter's bounds.
#include "switchboard/observability/otlp.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "switchboard/observability/metrics.hpp"

namespace switchboard::observability {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

OtlpSpan sample_span() {
  OtlpSpan s;
  s.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  s.span_id = "53995c3f42cd8ad8";
  s.parent_span_id = "00f067aa0ba902b7";
  s.operation = "chat";
  s.start_unix_nano = 1'700'000'000'123'456'789;
  s.end_unix_nano = 1'700'000'001'123'456'789;
  s.provider_name = "openai";
  s.request_model = "gpt-4o-mini";
  s.response_model = "gpt-4o-mini-2024-07-18";
  s.usage_known = true;
  s.input_tokens = 120;
  s.output_tokens = 30;
  s.cached_input_tokens = 100;
  s.request_id = "req-1";
  s.endpoint = "/v1/chat/completions";
  s.tenant = "acme";
  s.workflow = "summarize";
  s.route = "fast";
  s.provider = "openai-main";
  s.model = "gpt-4o-mini";
  s.status = 200;
  s.attempts = 2;
  s.cost_usd = 0.000123;
  s.ttft_ms = 250.5;
  return s;
}

json encode(const OtlpSpan& s) {
  std::string out;
  append_otlp_span(out, s);
  return json::parse(out);
}

// attributes[] as key -> the AnyValue object.
std::map<std::string, json> attrs(const json& span) {
  std::map<std::string, json> out;
  for (const auto& kv : span.at("attributes")) {
    EXPECT_EQ(kv.at("value").size(), 1u) << kv.dump();
    EXPECT_TRUE(out.emplace(kv.at("key").get<std::string>(), kv.at("value")).second)
        << "duplicate " << kv.dump();
  }
  return out;
}

TEST(OtlpSpan, EncodesIdsTimesKindAndStatusAsOtlpJson) {
  json span = encode(sample_span());
  EXPECT_EQ(span.at("traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(span.at("spanId"), "53995c3f42cd8ad8");
  EXPECT_EQ(span.at("parentSpanId"), "00f067aa0ba902b7");
  EXPECT_EQ(span.at("name"), "chat gpt-4o-mini");
  EXPECT_EQ(span.at("kind"), 2);  // SERVER: an integer, not the enum name
  // fixed64 in the protobuf JSON mapping: a decimal string, exact beyond 2^53.
  EXPECT_EQ(span.at("startTimeUnixNano"), "1700000000123456789");
  EXPECT_EQ(span.at("endTimeUnixNano"), "1700000001123456789");
  EXPECT_EQ(span.at("status"), json({{"code", 1}}));
}

TEST(OtlpSpan, CarriesGenAiAndSwitchboardAttributesWithTheirTypes) {
  auto a = attrs(encode(sample_span()));
  EXPECT_EQ(a.at("gen_ai.operation.name"), json({{"stringValue", "chat"}}));
  EXPECT_EQ(a.at("gen_ai.provider.name"), json({{"stringValue", "openai"}}));
  EXPECT_EQ(a.at("gen_ai.request.model"), json({{"stringValue", "gpt-4o-mini"}}));
  EXPECT_EQ(a.at("gen_ai.response.model"), json({{"stringValue", "gpt-4o-mini-2024-07-18"}}));
  // int64 values are strings in OTLP/JSON.
  EXPECT_EQ(a.at("gen_ai.usage.input_tokens"), json({{"intValue", "120"}}));
  EXPECT_EQ(a.at("gen_ai.usage.output_tokens"), json({{"intValue", "30"}}));
  EXPECT_EQ(a.at("gen_ai.usage.cache_read.input_tokens"), json({{"intValue", "100"}}));
  EXPECT_EQ(a.count("gen_ai.usage.cache_creation.input_tokens"), 0u) << "zero is left out";
  EXPECT_EQ(a.at("switchboard.tenant"), json({{"stringValue", "acme"}}));
  EXPECT_EQ(a.at("switchboard.workflow"), json({{"stringValue", "summarize"}}));
  EXPECT_EQ(a.at("switchboard.route"), json({{"stringValue", "fast"}}));
  EXPECT_EQ(a.at("switchboard.provider"), json({{"stringValue", "openai-main"}}));
  EXPECT_EQ(a.at("switchboard.attempts"), json({{"intValue", "2"}}));
  EXPECT_EQ(a.at("switchboard.status"), json({{"intValue", "200"}}));
  EXPECT_EQ(a.at("http.response.status_code"), json({{"intValue", "200"}}));
  EXPECT_EQ(a.at("switchboard.stream"), json({{"boolValue", false}}));
  EXPECT_DOUBLE_EQ(a.at("switchboard.cost_usd").at("doubleValue").get<double>(), 0.000123);
  EXPECT_DOUBLE_EQ(a.at("switchboard.ttft_ms").at("doubleValue").get<double>(), 250.5);
  EXPECT_EQ(a.count("error.type"), 0u);
  EXPECT_EQ(a.count("switchboard.user"), 0u) << "empty strings are left out";
}

TEST(OtlpSpan, RootSpanHasNoParentAndUnknownUsageNoTokenCounts) {
  OtlpSpan s = sample_span();
  s.parent_span_id = {};
  s.usage_known = false;
  s.ttft_ms = -1;
  json span = encode(s);
  EXPECT_FALSE(span.contains("parentSpanId"));
  auto a = attrs(span);
  EXPECT_EQ(a.count("gen_ai.usage.input_tokens"), 0u);
  EXPECT_EQ(a.count("switchboard.ttft_ms"), 0u);
}

TEST(OtlpSpan, FailuresAreErrorsWithErrorType) {
  OtlpSpan s = sample_span();
  s.status = 502;
  s.error = "upstream_error";
  json span = encode(s);
  EXPECT_EQ(span.at("status"), json({{"code", 2}, {"message", "upstream_error"}}));
  EXPECT_EQ(attrs(span).at("error.type"), json({{"stringValue", "upstream_error"}}));

  s.status = 429;
  s.error = {};
  span = encode(s);
  EXPECT_EQ(span.at("status").at("code"), 2);
  EXPECT_EQ(attrs(span).at("error.type"), json({{"stringValue", "429"}}));

  s.status = 0;  // the client left before an answer
  span = encode(s);
  EXPECT_EQ(span.at("status").at("code"), 2);
  EXPECT_EQ(attrs(span).at("error.type"), json({{"stringValue", "_OTHER"}}));
  EXPECT_EQ(attrs(span).count("http.response.status_code"), 0u);
}

TEST(OtlpSpan, EmbeddingsAndClientTextAreEscaped) {
  OtlpSpan s = sample_span();
  s.operation = "embeddings";
  s.request_model = "text-embedding-3-small";
  std::string workflow = "a\"b\\c\nd\x01";
  s.workflow = workflow;
  s.user = "\xff\xfe";  // not UTF-8
  s.cost_usd = std::nan("");
  json span = encode(s);
  EXPECT_EQ(span.at("name"), "embeddings text-embedding-3-small");
  auto a = attrs(span);
  EXPECT_EQ(a.at("switchboard.workflow").at("stringValue"), workflow);
  EXPECT_EQ(a.at("switchboard.user").at("stringValue"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(a.count("switchboard.cost_usd"), 0u) << "NaN has no JSON form";
}

TEST(OtlpSpan, NameOfAnyLengthIsOperationAndRequestedModel) {
  OtlpSpan s = sample_span();
  std::string model(300, 'm');
  s.request_model = model;
  EXPECT_EQ(encode(s).at("name"), "chat " + model);
  s.request_model = {};
  EXPECT_EQ(encode(s).at("name"), "chat");
}

TEST(OtlpRequest, WrapsSpansInResourceAndScope) {
  std::string spans;
  append_otlp_span(spans, sample_span());
  spans.push_back(',');
  append_otlp_span(spans, sample_span());
  std::string out;
  append_otlp_request(out, spans, "1.2.3");
  json body = json::parse(out);
  ASSERT_EQ(body.at("resourceSpans").size(), 1u);
  const auto& rs = body["resourceSpans"][0];
  EXPECT_EQ(rs.at("resource").at("attributes"),
            json::parse(R"([{"key":"service.name","value":{"stringValue":"switchboard"}},
                            {"key":"service.version","value":{"stringValue":"1.2.3"}}])"));
  ASSERT_EQ(rs.at("scopeSpans").size(), 1u);
  EXPECT_EQ(rs["scopeSpans"][0].at("scope"), json({{"name", "switchboard"}, {"version", "1.2.3"}}));
  EXPECT_EQ(rs["scopeSpans"][0].at("spans").size(), 2u);
}

TEST(OtlpSampling, RatioOneKeepsAllZeroNone) {
  EXPECT_TRUE(otlp_sampled("4bf92f3577b34da6a3ce929d0e0e4736", 1.0));
  EXPECT_FALSE(otlp_sampled("4bf92f3577b34da6ffffffffffffffff", 0.0));
  EXPECT_TRUE(otlp_sampled("not-an-id", 0.1)) << "a malformed id is kept";
}

TEST(OtlpSampling, DecidesOnTheRightmost56BitsAgainstTheThreshold) {
  // ratio 0.5: threshold 2^55; R = 0x80000000000000 is exactly it (kept), one below is not.
  EXPECT_TRUE(otlp_sampled("ffffffffffffffffff80000000000000", 0.5));
  EXPECT_FALSE(otlp_sampled("ffffffffffffffffff7fffffffffffff", 0.5));
  // The leftmost 72 bits do not matter.
  EXPECT_FALSE(otlp_sampled("000000000000000000000000000000ab", 0.5));
  EXPECT_FALSE(otlp_sampled("ffffffffffffffffff000000000000ab", 0.5));
  // ratio 1/16: only R >= 15/16 * 2^56 = 0xf0000000000000 is kept.
  EXPECT_TRUE(otlp_sampled("000000000000000000f0000000000000", 0.0625));
  EXPECT_FALSE(otlp_sampled("ffffffffffffffffffefffffffffffff", 0.0625));
}

TEST(OtlpSampling, KeepsAboutTheRatioOfRandomIds) {
  std::mt19937_64 rng(7);
  auto hex_id = [&] {
    char buf[33];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                  static_cast<unsigned long long>(rng()));
    return std::string(buf);
  };
  int kept = 0;
  constexpr int kIds = 20000;
  for (int i = 0; i < kIds; ++i) {
    std::string id = hex_id();
    bool first = otlp_sampled(id, 0.25);
    EXPECT_EQ(first, otlp_sampled(id, 0.25)) << "deterministic";
    if (first) {
      ++kept;
      EXPECT_TRUE(otlp_sampled(id, 0.5)) << "a trace kept at 0.25 is kept at any higher ratio";
    }
  }
  EXPECT_NEAR(kept / static_cast<double>(kIds), 0.25, 0.02);
}

TEST(OtlpEndpoint, BaseUrlGetsTheSignalPathAndAPathIsKept) {
  OtlpTarget t;
  std::string error;
  ASSERT_TRUE(resolve_otlp_endpoint("http://collector:4318", t, error)) << error;
  EXPECT_EQ(t.base_url, "http://collector:4318");
  EXPECT_EQ(t.path, "/v1/traces");
  ASSERT_TRUE(resolve_otlp_endpoint("http://collector:4318/", t, error));
  EXPECT_EQ(t.path, "/v1/traces");
  ASSERT_TRUE(resolve_otlp_endpoint("https://otlp.example.com/api/traces", t, error));
  EXPECT_EQ(t.base_url, "https://otlp.example.com:443");
  EXPECT_EQ(t.path, "/api/traces");
  ASSERT_TRUE(resolve_otlp_endpoint("http://[::1]:4318", t, error));
  EXPECT_EQ(t.base_url, "http://[::1]:4318");
  EXPECT_FALSE(resolve_otlp_endpoint("grpc://collector:4317", t, error));
  EXPECT_FALSE(resolve_otlp_endpoint("http://collector:4318/v1/traces?token=x", t, error));
  EXPECT_FALSE(resolve_otlp_endpoint("http://:4318", t, error));
}

class OtlpExporterTest : public ::testing::Test {
 protected:
  MetricsRegistry registry;
  OtlpMetrics metrics = OtlpMetrics::create(registry);
  double dropped() { return metrics.dropped.value({}); }
  double failed() { return metrics.failed.value({}); }
};

TEST_F(OtlpExporterTest, RejectsBadHeadersWithoutEchoingValues) {
  auto make = [&](std::map<std::string, std::string> headers) {
    OtlpExporterOptions o;
    o.endpoint = "http://127.0.0.1:1";
    o.headers = std::move(headers);
    OtlpExporter e(std::move(o), metrics);
  };
  try {
    make({{"authorization", "Bearer sekrit\r\nx: y"}});
    FAIL() << "accepted a CR LF";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("sekrit"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("authorization"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make({{"bad name", "v"}}), std::invalid_argument);
  EXPECT_THROW(make({{"Content-Type", "application/x-protobuf"}}), std::invalid_argument);
  EXPECT_NO_THROW(make({{"X-Api-Key", "k"}}));
  OtlpExporterOptions bad;
  bad.endpoint = "collector:4318";
  EXPECT_THROW(OtlpExporter(std::move(bad), metrics), std::invalid_argument);
}

TEST_F(OtlpExporterTest, FullQueueDropsAndCountsWithoutBlocking) {
  // A listening socket that is never accepted: the kernel completes the handshake, the POST is
  // written into the backlog and no answer ever comes — a hung collector.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 16), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);

  OtlpExporterOptions o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  o.max_queue_spans = 100;
  o.max_batch_spans = 10;
  o.flush_interval = std::chrono::milliseconds(10);
  o.timeout = std::chrono::seconds(30);
  o.shutdown_deadline = std::chrono::milliseconds(200);
  constexpr int kSpans = 20000;
  auto t0 = Clock::now();
  {
    OtlpExporter exporter(std::move(o), metrics);
    OtlpSpan s = sample_span();
    auto submit_start = Clock::now();
    for (int i = 0; i < kSpans; ++i) {
      exporter.submit(s);
      if (i % 7 == 0) exporter.flush_thread();
    }
    exporter.flush_thread();
    auto submit_ms = std::chrono::duration<double, std::milli>(Clock::now() - submit_start).count();
    // ~1 us a span to encode; a blocking design would wait 30 s on the first batch.
    EXPECT_LT(submit_ms, 2000) << "submit blocked";
    // Queue (100) + one batch in flight (10) at most survive; the rest is counted at once.
    EXPECT_GE(dropped(), kSpans - 110);
  }
  auto total_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  EXPECT_LT(total_ms, 5000) << "the destructor waited on the hung collector";
  // Every span is accounted for: dropped (never sent) or failed (sent, no answer).
  EXPECT_EQ(dropped() + failed(), kSpans);
  EXPECT_EQ(metrics.exported.value({}), 0);
  ::close(fd);
}

TEST(OtlpEnvironment, ReadsTheBatchSpanProcessorVariables) {
  OtlpExporterOptions o;
  ::setenv("OTEL_BSP_SCHEDULE_DELAY", "250", 1);
  ::setenv("OTEL_BSP_EXPORT_TIMEOUT", "7000", 1);
  ::setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64", 1);
  ::setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "abc", 1);
  apply_otel_environment(o);
  EXPECT_EQ(o.flush_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(o.timeout, std::chrono::milliseconds(7000));
  EXPECT_EQ(o.max_queue_spans, 64u);
  EXPECT_EQ(o.max_batch_spans, 64u) << "an invalid value is ignored; a batch fits the queue";
  for (const char* v : {"OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_EXPORT_TIMEOUT",
                        "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"}) {
    ::unsetenv(v);
  }
}

}  // namespace
}  // namespace switchboard::observability
