// Unit tests for the OTLP/JSON span encoding, sampling, endpoint rules and the exporter's bounds.
#include "switchboard/observability/otlp.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <vector>

#include "switchboard/observability/json_writer.hpp"
#include "switchboard/observability/metrics.hpp"
#include "switchboard/observability/trace_sink.hpp"

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

// The span as the JsonWriter-based encoder wrote it before the fragment encoder: the output
// must not change by a byte.
std::string reference_span(const OtlpSpan& s) {
  std::string out;
  JsonWriter w(out);
  auto attr = [&](std::string_view key, std::string_view type) -> JsonWriter& {
    return w.begin_object().key("key").string(key).key("value").begin_object().key(type);
  };
  auto str = [&](std::string_view key, std::string_view v) {
    attr(key, "stringValue").string(v).end_object().end_object();
  };
  auto str_if = [&](std::string_view key, std::string_view v) {
    if (!v.empty()) str(key, v);
  };
  auto integer = [&](std::string_view key, std::int64_t v) {
    attr(key, "intValue").string(std::to_string(v)).end_object().end_object();
  };
  auto dbl = [&](std::string_view key, double v) {
    if (std::isfinite(v)) attr(key, "doubleValue").number(v).end_object().end_object();
  };
  w.begin_object();
  w.key("traceId").string(s.trace_id);
  w.key("spanId").string(s.span_id);
  if (!s.parent_span_id.empty()) w.key("parentSpanId").string(s.parent_span_id);
  std::string name(s.operation);
  if (!s.request_model.empty()) name.append(" ").append(s.request_model);
  w.key("name").string(name);
  w.key("kind").integer(2);
  w.key("startTimeUnixNano").string(std::to_string(s.start_unix_nano));
  w.key("endTimeUnixNano").string(std::to_string(s.end_unix_nano));
  w.key("attributes").begin_array();
  str("gen_ai.operation.name", s.operation);
  str_if("gen_ai.provider.name", s.provider_name);
  str_if("gen_ai.request.model", s.request_model);
  str_if("gen_ai.response.model", s.response_model);
  if (s.usage_known) {
    integer("gen_ai.usage.input_tokens", s.input_tokens);
    integer("gen_ai.usage.output_tokens", s.output_tokens);
    if (s.cached_input_tokens > 0) {
      integer("gen_ai.usage.cache_read.input_tokens", s.cached_input_tokens);
    }
    if (s.cache_write_tokens > 0) {
      integer("gen_ai.usage.cache_creation.input_tokens", s.cache_write_tokens);
    }
  }
  bool failed = s.status >= 400 || s.status == 0 || !s.error.empty();
  if (failed) {
    std::string type = !s.error.empty() ? std::string(s.error)
                       : s.status       ? std::to_string(s.status)
                                        : "_OTHER";
    str("error.type", type);
  }
  if (s.status) integer("http.response.status_code", s.status);
  str_if("url.path", s.endpoint);
  str_if("switchboard.request_id", s.request_id);
  str_if("switchboard.tenant", s.tenant);
  str_if("switchboard.workflow", s.workflow);
  str_if("switchboard.user", s.user);
  str_if("switchboard.route", s.route);
  str_if("switchboard.provider", s.provider);
  str_if("switchboard.model", s.model);
  attr("switchboard.stream", "boolValue").boolean(s.stream).end_object().end_object();
  integer("switchboard.status", s.status);
  str_if("switchboard.error", s.error);
  integer("switchboard.attempts", s.attempts);
  dbl("switchboard.cost_usd", s.cost_usd);
  if (s.ttft_ms >= 0) dbl("switchboard.ttft_ms", s.ttft_ms);
  w.end_array();
  w.key("status").begin_object();
  if (failed) {
    w.key("code").integer(2);
    w.key("message").string(s.error.empty() ? std::string_view("request failed") : s.error);
  } else {
    w.key("code").integer(1);
  }
  w.end_object();
  w.end_object();
  return out;
}

// Spans that take every branch of the encoder.
std::vector<OtlpSpan> varied_spans(std::vector<std::string>& storage) {
  storage = {"a\"b\\c\nd\x01", "\xff\xfe", std::string(300, 'm'), "caf\xc3\xa9 \xe2\x82",
             std::string(200, '\x01')};
  std::vector<OtlpSpan> out;
  OtlpSpan s = sample_span();
  out.push_back(s);
  s.parent_span_id = {};
  s.usage_known = false;
  s.ttft_ms = -1;
  s.cache_write_tokens = 7;
  out.push_back(s);
  s = sample_span();
  s.status = 502;
  s.error = "upstream_error";
  s.stream = true;
  s.cache_write_tokens = 5;
  out.push_back(s);
  s.status = 429;
  s.error = {};
  out.push_back(s);
  s.status = 0;
  out.push_back(s);
  s = sample_span();
  s.operation = "embeddings";
  s.request_model = "text-embedding-3-small";
  s.workflow = storage[0];
  s.user = storage[1];
  s.tenant = storage[3];
  s.cost_usd = std::nan("");
  out.push_back(s);
  s = sample_span();
  s.request_model = storage[2];
  s.cost_usd = 0;
  s.ttft_ms = 0.1;
  s.start_unix_nano = 0;
  s.end_unix_nano = -5;
  s.input_tokens = std::numeric_limits<std::int64_t>::min();
  out.push_back(s);
  s.request_model = {};
  s.response_model = {};
  s.provider_name = {};
  s.cost_usd = 1e-7;
  s.ttft_ms = 1e21;
  out.push_back(s);
  s.request_model = storage[1];  // invalid UTF-8 in the name
  s.cost_usd = std::numeric_limits<double>::infinity();
  out.push_back(s);
  // The worst case for the space the encoder reserves: every string escapes to six times its
  // length, the error code appears three times, every number at its widest.
  s = {};
  for (auto field : {&OtlpSpan::trace_id, &OtlpSpan::span_id, &OtlpSpan::parent_span_id,
                     &OtlpSpan::operation, &OtlpSpan::provider_name, &OtlpSpan::request_model,
                     &OtlpSpan::response_model, &OtlpSpan::request_id, &OtlpSpan::endpoint,
                     &OtlpSpan::tenant, &OtlpSpan::workflow, &OtlpSpan::user, &OtlpSpan::route,
                     &OtlpSpan::provider, &OtlpSpan::model, &OtlpSpan::error}) {
    s.*field = storage[4];
  }
  s.start_unix_nano = s.end_unix_nano = std::numeric_limits<std::int64_t>::min();
  s.usage_known = true;
  s.input_tokens = s.output_tokens = s.cached_input_tokens = s.cache_write_tokens =
      std::numeric_limits<std::int64_t>::max();
  s.status = s.attempts = std::numeric_limits<int>::min();
  s.cost_usd = s.ttft_ms = -1.2345678901234567e-300;
  out.push_back(s);
  s.status = 599;
  s.attempts = 7;
  s.ttft_ms = 1.2345678901234567e-300;
  for (auto field : {&OtlpSpan::trace_id, &OtlpSpan::user, &OtlpSpan::error}) s.*field = "x";
  out.push_back(s);
  return out;
}

TEST(OtlpSpan, EncodingIsByteForByteTheJsonWriterOne) {
  std::vector<std::string> storage;
  for (const auto& s : varied_spans(storage)) {
    std::string out = "prefix,";
    append_otlp_span(out, s);
    EXPECT_EQ(out, "prefix," + reference_span(s));
    EXPECT_NO_THROW((void)json::parse(out.substr(7)));
    // Written through a raw cursor into otlp_span_room() bytes, with slack for the number
    // writers, which may write a few bytes past what they keep.
    EXPECT_LE(out.size() - 7 + 64, otlp_span_room(s));
  }
}

TEST(OtlpSpan, EmptyStringsAndWidestNumbersFitTheRoom) {
  // The fixed part of the room: no string to scale it, every number at its widest.
  OtlpSpan s;
  s.usage_known = true;
  s.start_unix_nano = s.end_unix_nano = std::numeric_limits<std::int64_t>::min();
  s.input_tokens = s.output_tokens = s.cached_input_tokens = s.cache_write_tokens =
      std::numeric_limits<std::int64_t>::max();
  s.status = std::numeric_limits<int>::min();
  s.attempts = std::numeric_limits<int>::min();
  s.cost_usd = s.ttft_ms = 1.2345678901234567e-300;
  std::string out;
  append_otlp_span(out, s);
  EXPECT_EQ(out, reference_span(s));
  EXPECT_LE(out.size() + 64, otlp_span_room(s));
}

TEST(OtlpSpan, PackedRecordsUnpackToTheSameSpan) {
  std::vector<std::string> storage;
  auto spans = varied_spans(storage);
  std::string packed = "";
  for (const auto& s : spans) pack_otlp_span(packed, s);
  std::string_view in = packed;
  for (const auto& s : spans) {
    OtlpSpan back;
    std::size_t used = unpack_otlp_span(in, back);
    ASSERT_GT(used, 0u);
    std::string a, b;
    append_otlp_span(a, s);
    append_otlp_span(b, back);
    EXPECT_EQ(a, b);
    EXPECT_EQ(back.user, s.user);
    EXPECT_EQ(back.usage_known, s.usage_known);
    EXPECT_EQ(back.stream, s.stream);
    EXPECT_EQ(back.cache_write_tokens, s.cache_write_tokens);
    in.remove_prefix(used);
  }
  EXPECT_TRUE(in.empty());
  // A cut record is not read.
  std::string one;
  pack_otlp_span(one, spans[0]);
  OtlpSpan back;
  for (std::size_t n : {std::size_t{0}, std::size_t{10}, one.size() - 1}) {
    EXPECT_EQ(unpack_otlp_span(std::string_view(one).substr(0, n), back), 0u) << n;
  }
  EXPECT_EQ(unpack_otlp_span(one, back), one.size());
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

// A listening socket on a free loopback port (-1 on failure), for a collector to accept on, or
// to leave unaccepted (a hung collector).
int listen_on_loopback(int& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  port = ntohs(addr.sin_port);
  return fd;
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
  int port = 0;
  int fd = listen_on_loopback(port);
  ASSERT_GE(fd, 0);

  OtlpExporterOptions o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(port);
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

// Accepts one connection, reads one POST (head, then Content-Length bytes of body), answers 200
// and returns the body.
std::string receive_one_post(int listener) {
  int c = ::accept(listener, nullptr, nullptr);
  if (c < 0) return {};
  std::string in;
  char buf[65536];
  std::size_t head_end = std::string::npos;
  std::size_t length = 0;
  for (;;) {
    if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
      auto at = in.find("content-length: ");
      if (at == std::string::npos || at > head_end) break;
      length = std::strtoul(in.c_str() + at + 16, nullptr, 10);
    }
    if (head_end != std::string::npos && in.size() >= head_end + 4 + length) break;
    auto n = ::read(c, buf, sizeof buf);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  static constexpr char kReply[] = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
  [[maybe_unused]] auto w = ::write(c, kReply, sizeof kReply - 1);
  ::close(c);
  return head_end == std::string::npos ? std::string() : in.substr(head_end + 4);
}

// Encoders for records given packed by the caller.
void encode_as_x(std::string& out, std::string_view packed) {
  out.append(R"({"x":")").append(packed).append(R"("})");
}
void encode_nothing(std::string&, std::string_view) {}

// A collector on a loopback port that takes one POST, on a thread of its own.
class OnePostCollector {
 public:
  OnePostCollector() : fd_(listen_on_loopback(port_)) {
    if (fd_ >= 0) thread_ = std::thread([this] { body_ = receive_one_post(fd_); });
  }
  ~OnePostCollector() {
    if (thread_.joinable()) {      // a test that ended early: no POST is coming
      ::shutdown(fd_, SHUT_RDWR);  // wakes the accept()
      thread_.join();
    }
    if (fd_ >= 0) ::close(fd_);
  }
  bool listening() const { return fd_ >= 0; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Waits for the POST; its body, parsed.
  json body() {
    thread_.join();
    return json::parse(body_);  // a dangling comma would not parse
  }
  const std::string& text() const { return body_; }

 private:
  int port_ = 0;
  int fd_;
  std::string body_;
  std::thread thread_;
};

const json& spans_of(const json& request) {
  return request["resourceSpans"][0]["scopeSpans"][0]["spans"];
}

TEST_F(OtlpExporterTest, CallerPackedRecordsGoThroughTheirEncoderInOrder) {
  OnePostCollector collector;
  ASSERT_TRUE(collector.listening());

  OtlpExporterOptions o;
  o.endpoint = collector.endpoint();
  o.flush_interval = std::chrono::seconds(30);  // sent by the destructor, in one POST
  {
    OtlpExporter exporter(std::move(o), metrics);
    exporter.submit(&encode_nothing, "dropped by its encoder");  // first: no comma before the next
    exporter.submit(sample_span());
    exporter.submit(&encode_as_x, "abc");
    exporter.submit(&encode_nothing, "");
    exporter.submit(&encode_as_x, std::string(3000, 'y'));  // longer than any packed span
    exporter.flush_thread();
  }
  json request = collector.body();
  const auto& spans = spans_of(request);
  ASSERT_EQ(spans.size(), 3u) << collector.text().substr(0, 400);
  EXPECT_EQ(spans[0]["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(spans[1], json({{"x", "abc"}}));
  EXPECT_EQ(spans[2], json({{"x", std::string(3000, 'y')}}));
  // Counted as what the collector received: the records their encoder skipped are dropped.
  EXPECT_EQ(metrics.exported.value({}), 3);
  EXPECT_EQ(dropped(), 2);
}

TEST_F(OtlpExporterTest, ABatchWhoseEncoderWroteNothingIsNotSent) {
  OnePostCollector collector;
  ASSERT_TRUE(collector.listening());

  OtlpExporterOptions o;
  o.endpoint = collector.endpoint();
  o.flush_interval = std::chrono::milliseconds(10);
  {
    OtlpExporter exporter(std::move(o), metrics);
    exporter.submit(&encode_nothing, "unreadable");
    exporter.flush_thread();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // several flush intervals
    EXPECT_EQ(dropped(), 1);
    exporter.submit(&encode_as_x, "later");  // the first POST the collector sees
    exporter.flush_thread();
  }
  json request = collector.body();
  const auto& spans = spans_of(request);
  ASSERT_EQ(spans.size(), 1u) << collector.text().substr(0, 400);
  EXPECT_EQ(spans[0], json({{"x", "later"}}));
  EXPECT_EQ(metrics.exported.value({}), 1);
  EXPECT_EQ(dropped(), 1);
}

TEST_F(OtlpExporterTest, ATraceSinkHandsItsFlaggedRecordsOnAfterWritingTheirLines) {
  OnePostCollector collector;
  ASSERT_TRUE(collector.listening());
  char path[] = "/tmp/swb-forward-XXXXXX";
  int file = ::mkstemp(path);
  ASSERT_GE(file, 0);
  ::close(file);

  OtlpExporterOptions o;
  o.endpoint = collector.endpoint();
  o.flush_interval = std::chrono::seconds(30);  // sent by the destructor, in one POST
  constexpr int kRecords = 300;                 // several exporter chunks of 64
  {
    OtlpExporter exporter(std::move(o), metrics);
    TraceSink sink(path);
    sink.forward_spans(&exporter, &encode_as_x);
    ASSERT_TRUE(sink.forwards_spans());
    std::thread request_thread([&] {
      for (int i = 0; i < kRecords; ++i) {
        // Every third record is sampled; the line is the record itself (no encoder).
        sink.begin_record(nullptr, i % 3 == 0).append("r" + std::to_string(i));
        sink.end_record();
      }
      sink.flush_thread();
    });
    request_thread.join();
  }  // the sink goes first, as in the gateway: its writer hands on the last spans
  json request = collector.body();

  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::remove(path);
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kRecords)) << "every record has its line";
  for (int i = 0; i < kRecords; ++i) EXPECT_EQ(lines[i], "r" + std::to_string(i));

  const auto& spans = spans_of(request);
  ASSERT_EQ(spans.size(), static_cast<std::size_t>(kRecords / 3))
      << collector.text().substr(0, 400);
  for (int i = 0; i < kRecords / 3; ++i) {
    EXPECT_EQ(spans[i], json({{"x", "r" + std::to_string(3 * i)}})) << "span " << i;
  }
  EXPECT_EQ(metrics.exported.value({}), kRecords / 3);
  EXPECT_EQ(dropped(), 0);
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
