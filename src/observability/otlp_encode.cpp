// OTLP/JSON encoding of a request span (GenAI semantic conventions), sampling and endpoint rules.
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <iterator>

#include "switchboard/observability/json_writer.hpp"
#include "switchboard/observability/otlp.hpp"
#include "switchboard/observability/pack_bytes.hpp"
#include "switchboard/upstream/pool.hpp"

namespace switchboard::observability {
namespace {

// OTLP/JSON is the protobuf JSON mapping with hex ids: int64 and fixed64 are decimal strings,
// enums are integers.
constexpr int kSpanKindServer = 2;
constexpr int kStatusOk = 1;
constexpr int kStatusError = 2;

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

namespace {

// Every string of a span, in the packed order.
constexpr std::string_view OtlpSpan::*kSpanStrings[] = {
    &OtlpSpan::trace_id,       &OtlpSpan::span_id,       &OtlpSpan::parent_span_id,
    &OtlpSpan::operation,      &OtlpSpan::provider_name, &OtlpSpan::request_model,
    &OtlpSpan::response_model, &OtlpSpan::request_id,    &OtlpSpan::endpoint,
    &OtlpSpan::tenant,         &OtlpSpan::workflow,      &OtlpSpan::user,
    &OtlpSpan::route,          &OtlpSpan::provider,      &OtlpSpan::model,
    &OtlpSpan::error,
};

// The span is mostly fixed text: it is written as literal fragments around the values through a
// raw cursor into space reserved once per span (no per-append capacity and length upkeep), each
// fragment a compile-time constant copied inline. Every fragment below is exactly what a
// JsonWriter would have produced (tests/unit/observability/otlp_test.cpp compares the two byte
// for byte).

// The fixed text of a span is under 2.5 KB; an escaped value takes at most 6 bytes per byte
// (\u00XX), and a value appears at most three times (the error code).
constexpr std::size_t kFixedBound = 3072;
constexpr std::size_t kEscapeFactor = kJsonEscapeGrowth * 3;

// A string literal as a template argument.
template <std::size_t N>
struct Name {
  char text[N];
  constexpr Name(const char (&s)[N]) {  // NOLINT: implicit, so that "..." converts
    for (std::size_t i = 0; i < N; ++i) text[i] = s[i];
  }
  constexpr std::string_view view() const { return {text, N - 1}; }
};

// `,{"key":"KEY","value":{"TYPE":`, assembled at compile time.
template <Name Key, Name Type>
struct AttrHead {
  static constexpr auto text = [] {
    constexpr std::string_view parts[] = {R"(,{"key":")", Key.view(), R"(","value":{")",
                                          Type.view(), R"(":)"};
    std::array<char, parts[0].size() + parts[1].size() + parts[2].size() + parts[3].size() +
                         parts[4].size()>
        out{};
    std::size_t n = 0;
    for (auto part : parts) {
      for (char c : part) out[n++] = c;
    }
    return out;
  }();
};

struct Cursor {
  char* p;

  template <std::size_t N>
  void lit(const char (&s)[N]) {  // a literal: its length is known, the copy is inlined
    std::memcpy(p, s, N - 1);
    p += N - 1;
  }
  template <std::size_t N>
  void lit(const std::array<char, N>& s, std::size_t from = 0) {
    std::memcpy(p, s.data() + from, N - from);
    p += N - from;
  }
  void ch(char c) { *p++ = c; }
  void esc(std::string_view v) { p = write_json_escaped(p, v); }
  void quoted(std::string_view v) {
    ch('"');
    esc(v);
    ch('"');
  }
  void dec(std::int64_t v) { p = write_json_integer(p, v); }
  void dbl(double v) { p = write_json_number(p, v); }
};

// Attributes: {"key":"...","value":{"xxxValue":...}} with a comma between them. The first one
// (gen_ai.operation.name, always there) is written with first_str.
struct AttrList {
  Cursor& c;

  template <Name Key>
  void first_str(std::string_view value) {
    c.lit(AttrHead<Key, "stringValue">::text, 1);  // without the comma
    c.quoted(value);
    c.lit("}}");
  }
  template <Name Key>
  void str(std::string_view value) {
    c.lit(AttrHead<Key, "stringValue">::text);
    c.quoted(value);
    c.lit("}}");
  }
  template <Name Key>
  void str_if(std::string_view value) {
    if (!value.empty()) str<Key>(value);
  }
  template <Name Key>
  void integer(std::int64_t value) {
    c.lit(AttrHead<Key, "intValue">::text);
    c.ch('"');
    c.dec(value);
    c.lit("\"}}");
  }
  template <Name Key>
  void dbl(double value) {
    if (!std::isfinite(value)) return;  // JSON has no NaN; the attribute is left out
    c.lit(AttrHead<Key, "doubleValue">::text);
    c.dbl(value);
    c.lit("}}");
  }
  template <Name Key>
  void boolean(bool value) {
    c.lit(AttrHead<Key, "boolValue">::text);
    if (value) {
      c.lit("true}}");
    } else {
      c.lit("false}}");
    }
  }
};

}  // namespace

std::size_t otlp_span_room(const OtlpSpan& s) {
  std::size_t values = 0;
  for (auto field : kSpanStrings) values += (s.*field).size();
  return kFixedBound + kEscapeFactor * values;
}

void append_otlp_span(std::string& out, const OtlpSpan& s) {
  // Written into a per-thread scratch that keeps its size, then appended: resizing `out` up to
  // the bound for every span zero-filled ~7 KB a span (half the exporter's instructions).
  thread_local std::string scratch;
  const std::size_t bound = otlp_span_room(s);
  if (scratch.size() < bound) scratch.resize(bound);
  Cursor c{scratch.data()};

  // Ids are hex from the gateway itself or a validated traceparent: escaped anyway, which for
  // plain text is one scan and one copy.
  c.lit(R"({"traceId":)");
  c.quoted(s.trace_id);
  c.lit(R"(,"spanId":)");
  c.quoted(s.span_id);
  if (!s.parent_span_id.empty()) {
    c.lit(R"(,"parentSpanId":)");
    c.quoted(s.parent_span_id);
  }
  // Semconv span name: "{gen_ai.operation.name} {gen_ai.request.model}".
  c.lit(R"(,"name":")");
  c.esc(s.operation);
  if (!s.request_model.empty()) {
    c.ch(' ');
    c.esc(s.request_model);
  }
  static_assert(kSpanKindServer == 2);
  c.lit(R"(","kind":2,"startTimeUnixNano":")");
  c.dec(s.start_unix_nano);
  c.lit(R"(","endTimeUnixNano":")");
  c.dec(s.end_unix_nano);
  c.lit(R"(","attributes":[)");

  AttrList a{c};
  a.first_str<"gen_ai.operation.name">(s.operation);
  a.str_if<"gen_ai.provider.name">(s.provider_name);
  a.str_if<"gen_ai.request.model">(s.request_model);
  a.str_if<"gen_ai.response.model">(s.response_model);
  if (s.usage_known) {
    a.integer<"gen_ai.usage.input_tokens">(s.input_tokens);
    a.integer<"gen_ai.usage.output_tokens">(s.output_tokens);
    if (s.cached_input_tokens > 0) {
      a.integer<"gen_ai.usage.cache_read.input_tokens">(s.cached_input_tokens);
    }
    if (s.cache_write_tokens > 0) {
      a.integer<"gen_ai.usage.cache_creation.input_tokens">(s.cache_write_tokens);
    }
  }
  bool failed = s.status >= 400 || s.status == 0 || !s.error.empty();
  if (failed) {
    if (!s.error.empty()) {
      a.str<"error.type">(s.error);
    } else {
      char buf[24];
      a.str<"error.type">(s.status ? decimal(buf, s.status) : std::string_view("_OTHER"));
    }
  }
  if (s.status) a.integer<"http.response.status_code">(s.status);
  a.str_if<"url.path">(s.endpoint);
  a.str_if<"switchboard.request_id">(s.request_id);
  a.str_if<"switchboard.tenant">(s.tenant);
  a.str_if<"switchboard.workflow">(s.workflow);
  a.str_if<"switchboard.user">(s.user);
  a.str_if<"switchboard.route">(s.route);
  a.str_if<"switchboard.provider">(s.provider);
  a.str_if<"switchboard.model">(s.model);
  a.boolean<"switchboard.stream">(s.stream);
  a.integer<"switchboard.status">(s.status);
  a.str_if<"switchboard.error">(s.error);
  a.integer<"switchboard.attempts">(s.attempts);
  a.dbl<"switchboard.cost_usd">(s.cost_usd);
  if (s.ttft_ms >= 0) a.dbl<"switchboard.ttft_ms">(s.ttft_ms);

  if (failed) {
    static_assert(kStatusError == 2);
    c.lit(R"(],"status":{"code":2,"message":)");
    c.quoted(s.error.empty() ? std::string_view("request failed") : s.error);
    c.lit("}}");
  } else {
    static_assert(kStatusOk == 1);
    c.lit(R"(],"status":{"code":1}})");
  }
  out.append(scratch.data(), static_cast<std::size_t>(c.p - scratch.data()));
}

namespace {

// The fixed-size part of a packed span; the strings follow in kSpanStrings order.
struct PackedHead {
  std::int64_t start_unix_nano;
  std::int64_t end_unix_nano;
  std::int64_t input_tokens;
  std::int64_t output_tokens;
  std::int64_t cached_input_tokens;
  std::int64_t cache_write_tokens;
  double cost_usd;
  double ttft_ms;
  std::int32_t status;
  std::int32_t attempts;
  std::uint8_t usage_known;
  std::uint8_t stream;
};

constexpr std::size_t kStringCount = std::size(kSpanStrings);

}  // namespace

void pack_otlp_span(std::string& out, const OtlpSpan& s) {
  PackedHead head{s.start_unix_nano,
                  s.end_unix_nano,
                  s.input_tokens,
                  s.output_tokens,
                  s.cached_input_tokens,
                  s.cache_write_tokens,
                  s.cost_usd,
                  s.ttft_ms,
                  s.status,
                  s.attempts,
                  static_cast<std::uint8_t>(s.usage_known),
                  static_cast<std::uint8_t>(s.stream)};
  std::uint32_t lengths[kStringCount];
  std::size_t total = sizeof head + sizeof lengths;
  for (std::size_t i = 0; i < kStringCount; ++i) {
    lengths[i] = static_cast<std::uint32_t>((s.*kSpanStrings[i]).size());
    total += lengths[i];
  }
  // One resize, then plain copies: this runs on the request thread.
  std::size_t at = out.size();
  out.resize(at + total);
  char* p = out.data() + at;
  std::memcpy(p, &head, sizeof head);
  p += sizeof head;
  std::memcpy(p, lengths, sizeof lengths);
  p += sizeof lengths;
  for (auto field : kSpanStrings) p = put_bytes(p, s.*field);
}

std::size_t unpack_otlp_span(std::string_view in, OtlpSpan& s) {
  PackedHead head;
  std::uint32_t lengths[kStringCount];
  if (in.size() < sizeof head + sizeof lengths) return 0;
  std::memcpy(&head, in.data(), sizeof head);
  std::memcpy(lengths, in.data() + sizeof head, sizeof lengths);
  std::size_t at = sizeof head + sizeof lengths;
  std::size_t total = 0;  // 16 lengths below 2^32 each: no overflow
  for (std::uint32_t length : lengths) total += length;
  if (in.size() - at < total) return 0;
  for (std::size_t i = 0; i < kStringCount; ++i) {
    s.*kSpanStrings[i] = std::string_view(in.data() + at, lengths[i]);
    at += lengths[i];
  }
  s.start_unix_nano = head.start_unix_nano;
  s.end_unix_nano = head.end_unix_nano;
  s.input_tokens = head.input_tokens;
  s.output_tokens = head.output_tokens;
  s.cached_input_tokens = head.cached_input_tokens;
  s.cache_write_tokens = head.cache_write_tokens;
  s.cost_usd = head.cost_usd;
  s.ttft_ms = head.ttft_ms;
  s.status = head.status;
  s.attempts = head.attempts;
  s.usage_known = head.usage_known != 0;
  s.stream = head.stream != 0;
  return at;
}

void append_otlp_request(std::string& out, std::string_view spans, std::string_view version) {
  append_otlp_request_head(out, version);
  out.append(spans);
  append_otlp_request_tail(out);
}

void append_otlp_request_head(std::string& out, std::string_view version) {
  out.append(R"({"resourceSpans":[{"resource":{"attributes":[)"
             R"({"key":"service.name","value":{"stringValue":"switchboard"}},)"
             R"({"key":"service.version","value":{"stringValue":)");
  JsonWriter(out).string(version);
  out.append(R"(}}]},"scopeSpans":[{"scope":{"name":"switchboard","version":)");
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
