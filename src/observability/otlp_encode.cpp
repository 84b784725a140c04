// OTLP/JSON encoding of a request span (GenAI semantic conventions), sampling and endpoint rules.
#include <charconv>
#include <cmath>
#include <cstring>

#include "switchboard/observability/json_writer.hpp"
#include "switchboard/observability/otlp.hpp"
#include "switchboard/upstream/pool.hpp"

namespace switchboard::observability {
namespace {

// OTLP/JSON is the protobuf JSON mapping with hex ids: int64 and fixed64 are decimal strings,
// enums are integers.
constexpr int kSpanKindServer = 2;
constexpr int kStatusOk = 1;
constexpr int kStatusError = 2;

class Attributes {
 public:
  explicit Attributes(JsonWriter& w) : w_(w) {}

  void str(std::string_view key, std::string_view value) {
    begin(key).key("stringValue").string(value);
    end();
  }
  void str_if(std::string_view key, std::string_view value) {
    if (!value.empty()) str(key, value);
  }
  void integer(std::string_view key, std::int64_t value) {
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, value);
    begin(key).key("intValue").string(std::string_view(buf, static_cast<std::size_t>(p - buf)));
    end();
  }
  void dbl(std::string_view key, double value) {
    if (!std::isfinite(value)) return;  // JSON has no NaN; the attribute is left out
    begin(key).key("doubleValue").number(value);
    end();
  }
  void boolean(std::string_view key, bool value) {
    begin(key).key("boolValue").boolean(value);
    end();
  }

 private:
  JsonWriter& begin(std::string_view key) {
    w_.begin_object().key("key").string(key).key("value").begin_object();
    return w_;
  }
  void end() { w_.end_object().end_object(); }

  JsonWriter& w_;
};

std::string_view decimal(char (&buf)[24], std::int64_t v) {
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return {buf, static_cast<std::size_t>(p - buf)};
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void append_otlp_span(std::string& out, const OtlpSpan& s) {
  JsonWriter w(out);
  w.begin_object();
  w.key("traceId").string(s.trace_id);
  w.key("spanId").string(s.span_id);
  if (!s.parent_span_id.empty()) w.key("parentSpanId").string(s.parent_span_id);
  // Semconv span name: "{gen_ai.operation.name} {gen_ai.request.model}", built on the stack
  // when it fits (this runs on the request thread).
  char name_buf[128];
  std::string long_name;
  std::string_view name = s.operation;
  if (!s.request_model.empty()) {
    std::size_t n = s.operation.size() + 1 + s.request_model.size();
    if (n <= sizeof name_buf) {
      std::memcpy(name_buf, s.operation.data(), s.operation.size());
      name_buf[s.operation.size()] = ' ';
      std::memcpy(name_buf + s.operation.size() + 1, s.request_model.data(),
                  s.request_model.size());
      name = std::string_view(name_buf, n);
    } else {
      long_name.append(s.operation).append(" ").append(s.request_model);
      name = long_name;
    }
  }
  w.key("name").string(name);
  w.key("kind").integer(kSpanKindServer);
  char buf[24];
  w.key("startTimeUnixNano").string(decimal(buf, s.start_unix_nano));
  w.key("endTimeUnixNano").string(decimal(buf, s.end_unix_nano));

  w.key("attributes").begin_array();
  Attributes a(w);
  a.str("gen_ai.operation.name", s.operation);
  a.str_if("gen_ai.provider.name", s.provider_name);
  a.str_if("gen_ai.request.model", s.request_model);
  a.str_if("gen_ai.response.model", s.response_model);
  if (s.usage_known) {
    a.integer("gen_ai.usage.input_tokens", s.input_tokens);
    a.integer("gen_ai.usage.output_tokens", s.output_tokens);
    if (s.cached_input_tokens > 0) {
      a.integer("gen_ai.usage.cache_read.input_tokens", s.cached_input_tokens);
    }
    if (s.cache_write_tokens > 0) {
      a.integer("gen_ai.usage.cache_creation.input_tokens", s.cache_write_tokens);
    }
  }
  bool failed = s.status >= 400 || s.status == 0 || !s.error.empty();
  if (failed) {
    if (!s.error.empty()) {
      a.str("error.type", s.error);
    } else {
      a.str("error.type", s.status ? decimal(buf, s.status) : std::string_view("_OTHER"));
    }
  }
  if (s.status) a.integer("http.response.status_code", s.status);
  a.str_if("url.path", s.endpoint);
  a.str_if("switchboard.request_id", s.request_id);
  a.str_if("switchboard.tenant", s.tenant);
  a.str_if("switchboard.workflow", s.workflow);
  a.str_if("switchboard.user", s.user);
  a.str_if("switchboard.route", s.route);
  a.str_if("switchboard.provider", s.provider);
  a.str_if("switchboard.model", s.model);
  a.boolean("switchboard.stream", s.stream);
  a.integer("switchboard.status", s.status);
  a.str_if("switchboard.error", s.error);
  a.integer("switchboard.attempts", s.attempts);
  a.dbl("switchboard.cost_usd", s.cost_usd);
  if (s.ttft_ms >= 0) a.dbl("switchboard.ttft_ms", s.ttft_ms);
  w.end_array();

  w.key("status").begin_object();
  if (failed) {
    w.key("code").integer(kStatusError);
    w.key("message").string(s.error.empty() ? std::string_view("request failed") : s.error);
  } else {
    w.key("code").integer(kStatusOk);
  }
  w.end_object();
  w.end_object();
}

void append_otlp_request(std::string& out, std::string_view spans, std::string_view version) {
  append_otlp_request_head(out, version);
  out.append(spans);
  append_otlp_request_tail(out);
}

void append_otlp_request_head(std::string& out, std::string_view version) {
  out.append(R"({"resourceSpans":[{"resource":{"attributes":[)");
  JsonWriter w(out);
  Attributes a(w);
  a.str("service.name", "switchboard");
  a.str("service.version", version);
  out.append(R"(]},"scopeSpans":[{"scope":{"name":"switchboard","version":)");
  JsonWriter(out).string(version);
  out.append(R"(},"spans":[)");
}

void append_otlp_request_tail(std::string& out) {
  out.append("]}]}]}");
}

bool otlp_sampled(std::string_view trace_id, double ratio) {
  if (!(ratio < 1.0)) return true;  // NaN counts as "keep everything"
  if (ratio <= 0.0) return false;
  if (trace_id.size() != 32) return true;
  std::uint64_t r = 0;
  for (char c : trace_id.substr(18)) {  // the rightmost 14 hex digits = 56 bits
    int v = hex_value(c);
    if (v < 0) return true;
    r = (r << 4) | static_cast<std::uint64_t>(v);
  }
  constexpr double kTwoTo56 = 72057594037927936.0;
  auto threshold = static_cast<std::uint64_t>(std::ceil((1.0 - ratio) * kTwoTo56));
  return r >= threshold;
}

bool resolve_otlp_endpoint(std::string_view endpoint, OtlpTarget& out, std::string& error) {
  upstream::UpstreamEndpoint ep;
  if (!upstream::parse_base_url(endpoint, ep, error)) return false;
  if (ep.host.empty()) {
    error = "the OTLP endpoint has no host";
    return false;
  }
  if (endpoint.find_first_of("?#") != std::string_view::npos) {
    error = "the OTLP endpoint cannot have a query or fragment";
    return false;
  }
  std::string host = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
  out.base_url = (ep.tls ? "https://" : "http://") + host + ":" + std::to_string(ep.port);
  out.path = ep.base_path.empty() ? "/v1/traces" : ep.base_path;
  return true;
}

}  // namespace switchboard::observability
