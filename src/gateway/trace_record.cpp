// The trace record: packed on the request thread in the order of its JSON fields, streamed out
// as the JSON line on the trace writer thread.
#include "switchboard/gateway/trace_record.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <limits>

#include "switchboard/gateway/pipeline.hpp"
#include "switchboard/observability/json_writer.hpp"
#include "switchboard/observability/otlp.hpp"
#include "switchboard/observability/pack_bytes.hpp"

namespace switchboard::gateway {

namespace {

// "2026-11-24T10:00:00.123Z" at `p` (room for 64 bytes). The date and time of day change once a
// second: formatted once per second and thread, not per record.
char* write_rfc3339(char* p, std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
  thread_local std::int64_t cached_secs = std::numeric_limits<std::int64_t>::min();
  thread_local std::array<char, 40> cached{};
  thread_local int cached_len = 0;
  if (secs.time_since_epoch().count() != cached_secs) {
    std::time_t tt = std::chrono::system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    cached_len = std::snprintf(cached.data(), cached.size(), "%04d-%02d-%02dT%02d:%02d:%02d",
                               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                               tm.tm_sec);
    cached_secs = secs.time_since_epoch().count();
  }
  std::memcpy(p, cached.data(), static_cast<std::size_t>(cached_len));
  p += cached_len;
  if (ms >= 0 && ms < 1000) {
    p[0] = '.';
    p[1] = static_cast<char>('0' + ms / 100);
    p[2] = static_cast<char>('0' + ms / 10 % 10);
    p[3] = static_cast<char>('0' + ms % 10);
    p[4] = 'Z';
    return p + 5;
  }
  // Before 1970 the cast truncates towards zero: kept as printf wrote it.
  char frac[24];
  int n = std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms));
  std::memcpy(p, frac, static_cast<std::size_t>(n));
  return p + n;
}

double round_ms(double ms) {
  return std::round(ms * 1000) / 1000;
}

// Packs values as they are: strings as a 32-bit length and the bytes, numbers in machine form
// (the record never leaves the process). The record is walked twice: once to size it, then
// to write it through a raw cursor after one resize (this runs on the request thread).
struct PackSize {
  std::size_t bytes = 0;

  template <class T>
  void pod(T) {
    bytes += sizeof(T);
  }
  void str(std::string_view s) { bytes += sizeof(std::uint32_t) + s.size(); }
};

struct Packer {
  char* p;

  template <class T>
  void pod(T v) {
    std::memcpy(p, &v, sizeof v);
    p += sizeof v;
  }
  void str(std::string_view s) {
    pod(static_cast<std::uint32_t>(s.size()));
    p = observability::put_bytes(p, s);
  }
};

// Reads what Packer wrote; past the end it yields zeros and empty strings (never reads beyond).
struct Unpacker {
  std::string_view in;

  template <class T>
  T pod() {
    T v{};
    if (in.size() < sizeof v) {
      in = {};
      return v;
    }
    std::memcpy(&v, in.data(), sizeof v);
    in.remove_prefix(sizeof v);
    return v;
  }
  std::string_view str() {
    auto n = pod<std::uint32_t>();
    auto s = in.substr(0, n);
    in.remove_prefix(s.size());
    return s;
  }
  // A count of items that each take at least `min_bytes`: capped by what is left.
  std::uint32_t count(std::size_t min_bytes) {
    auto n = pod<std::uint32_t>();
    return static_cast<std::uint32_t>(std::min<std::size_t>(n, in.size() / min_bytes));
  }
};

// round_ms(raw) at `p` (room for kJsonNumberRoom bytes): milliseconds to the microsecond. For
// x = raw * 1000 in [0, 1e15) the rounding is done on integers (std::round's half away from
// zero: the fraction x - trunc(x) is exact), and the double nearest t/1000 prints as t/1000 with
// trailing zeros cut (".0" when whole), which is what nlohmann's Grisu2 writes for every such
// value (checked on all of 0..20,000,000 thousandths and 25 M random values up to 1e12) at a
// fraction of the cost; anything else takes the general path.
char* write_ms(char* p, double raw) {
  double x = raw * 1000;
  if (!(x >= 0 && x < 1e15) || std::signbit(x)) {
    return observability::write_json_number(p, round_ms(raw));
  }
  auto t = static_cast<std::uint64_t>(x);
  if (x - static_cast<double>(t) >= 0.5) ++t;
  constexpr std::uint64_t kLimit = 1'000'000'000'000'000;  // t / 1000 < 1e12
  if (t >= kLimit) return observability::write_json_number(p, static_cast<double>(t) / 1000);
  p = observability::write_json_integer(p, static_cast<std::int64_t>(t / 1000));
  auto frac = static_cast<unsigned>(t % 1000);
  p[0] = '.';
  if (frac == 0) {
    p[1] = '0';
    return p + 2;
  }
  p[1] = static_cast<char>('0' + frac / 100);
  p[2] = static_cast<char>('0' + frac / 10 % 10);
  p[3] = static_cast<char>('0' + frac % 10);
  return p + (frac % 10 != 0 ? 4 : frac % 100 != 0 ? 3 : 2);
}

// The room the JSON of a packed record can take. Every packed byte of a string becomes at most
// 6 (an escape); every list item packs into at least 4 (a policy: `,""` = 3), 36 (an attempt:
// under 150 of fixed text and numbers) or 16 bytes (a guardrail: under 60) and takes less than 6
// bytes of text per packed byte; the rest of the record is under 1 KB of fixed text and numbers
// (tests/unit/gateway/record_test.cpp checks the worst cases against this).
constexpr std::size_t kRecordFixedRoom = 1536;

// Writes the JSON as literal fragments around the values through a raw cursor into space
// reserved once per record: the keys and separators exactly as a JsonWriter would put them
// (tests/unit/gateway/record_test.cpp holds the line to nlohmann's output byte for byte).
struct RecordWriter {
  char* p;

  template <std::size_t N>
  void lit(const char (&s)[N]) {  // a literal: its length is known, the copy is inlined
    std::memcpy(p, s, N - 1);
    p += N - 1;
  }
  void str(std::string_view v) {
    *p++ = '"';
    p = observability::write_json_escaped(p, v);
    *p++ = '"';
  }
  void str_or_null(std::string_view v) {
    if (v.empty()) {
      lit("null");
    } else {
      str(v);
    }
  }
  void integer(std::int64_t v) { p = observability::write_json_integer(p, v); }
  void number(double v) { p = observability::write_json_number(p, v); }  // null when not finite
  void ms(double raw) { p = write_ms(p, raw); }
  void boolean(bool v) {
    if (v) {
      lit("true");
    } else {
      lit("false");
    }
  }
};

// gen_ai.provider.name: the semconv's well-known value for a provider type; for an
// openai-compatible server or the mock, the provider's config name.
std::string_view genai_provider_name(config::ProviderType type, std::string_view config_name) {
  switch (type) {
    case config::ProviderType::openai:
      return "openai";
    case config::ProviderType::azure:
      return "azure.ai.openai";
    case config::ProviderType::anthropic:
      return "anthropic";
    case config::ProviderType::gemini:
      return "gcp.gemini";
    case config::ProviderType::bedrock:
      return "aws.bedrock";
    case config::ProviderType::mistral:
      return "mistral_ai";
    case config::ProviderType::openai_compatible:
    case config::ProviderType::mock:
      break;
  }
  return config_name;
}

template <class Pack>
void pack_fields(Pack& p, const RequestContext& ctx, double duration_ms, double overhead_ms) {
  p.str(ctx.trace_id);
  p.str(ctx.span_id);
  p.str(ctx.parent_span_id);
  p.pod(static_cast<std::int64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(ctx.wall_start.time_since_epoch())
          .count()));
  p.str(ctx.request_id);
  p.str(ctx.tenant_name);
  p.str(ctx.workflow);
  p.str(ctx.user);
  p.str(ctx.endpoint);
  p.str(ctx.requested_model);
  p.str(ctx.route);
  p.pod(static_cast<std::uint32_t>(ctx.policies.size()));
  for (const auto& policy : ctx.policies) p.str(policy);
  p.str(ctx.provider);
  p.str(ctx.model);
  p.pod(static_cast<std::uint8_t>(ctx.stream));
  p.pod(static_cast<std::int32_t>(ctx.status));
  p.str(ctx.error);
  p.pod(static_cast<std::uint32_t>(ctx.attempts.size()));
  for (const auto& a : ctx.attempts) {
    p.str(a.provider);
    p.str(a.model);
    p.str(a.key_id);
    p.pod(static_cast<std::int32_t>(a.status));
    p.str(a.error);
    p.pod(a.ms);
    p.pod(a.billed_usd);
  }
  p.pod(ctx.ttft_ms);
  p.pod(duration_ms);
  p.pod(overhead_ms);
  p.pod(ctx.usage.input);
  p.pod(ctx.usage.output);
  p.pod(ctx.usage.cached_input);
  p.pod(ctx.usage.cache_write);
  p.pod(ctx.usage.reasoning);
  p.pod(static_cast<std::uint8_t>(ctx.usage.estimated));
  p.pod(ctx.cost_usd);
  p.pod(static_cast<std::uint32_t>(ctx.guardrails.size()));
  for (const auto& g : ctx.guardrails) {
    p.str(g.name);
    p.str(g.stage);
    p.str(g.action);
    p.str(g.detail);
  }
  // Only the span reads on from here (the trace line ends with the guardrails).
  p.str(ctx.provider_config ? genai_provider_name(ctx.provider_config->type, ctx.provider)
                            : std::string_view());
  p.str(ctx.provider_model);
  p.pod(static_cast<std::uint8_t>(ctx.usage.known || ctx.usage.estimated));
}

}  // namespace

void pack_trace_record(std::string& out, const RequestContext& ctx, double duration_ms,
                       double overhead_ms) {
  PackSize size;
  pack_fields(size, ctx, duration_ms, overhead_ms);
  std::size_t at = out.size();
  out.resize(at + size.bytes);
  Packer p{out.data() + at};
  pack_fields(p, ctx, duration_ms, overhead_ms);
}

void append_packed_trace_record(std::string& out, std::string_view packed) {
  // Written into a per-thread scratch that keeps its size, then appended in one copy.
  thread_local std::string scratch;
  const std::size_t room = trace_record_room(packed);
  if (scratch.size() < room) scratch.resize(room);
  Unpacker in{packed};
  RecordWriter w{scratch.data()};
  w.lit(R"({"trace_id":)");
  w.str(in.str());
  w.lit(R"(,"span_id":)");
  w.str(in.str());
  w.lit(R"(,"parent_span_id":)");
  w.str_or_null(in.str());
  w.lit(R"(,"time":")");
  w.p = write_rfc3339(w.p, std::chrono::system_clock::time_point(
                               std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                   std::chrono::nanoseconds(in.pod<std::int64_t>()))));
  w.lit(R"(","request_id":)");  // the time is digits and punctuation: nothing to escape
  w.str(in.str());
  w.lit(R"(,"tenant":)");
  w.str(in.str());
  w.lit(R"(,"workflow":)");
  w.str(in.str());
  w.lit(R"(,"user":)");
  w.str_or_null(in.str());
  w.lit(R"(,"endpoint":)");
  w.str(in.str());
  w.lit(R"(,"requested_model":)");
  w.str_or_null(in.str());
  w.lit(R"(,"route":)");
  w.str_or_null(in.str());
  w.lit(R"(,"policies":[)");
  for (std::uint32_t i = 0, n = in.count(4); i < n; ++i) {
    if (i > 0) *w.p++ = ',';
    w.str(in.str());
  }
  w.lit(R"(],"provider":)");
  w.str_or_null(in.str());
  w.lit(R"(,"model":)");
  w.str_or_null(in.str());
  w.lit(R"(,"stream":)");
  w.boolean(in.pod<std::uint8_t>() != 0);
  w.lit(R"(,"status":)");
  w.integer(in.pod<std::int32_t>());
  w.lit(R"(,"error":)");
  w.str_or_null(in.str());
  w.lit(R"(,"attempts":[)");
  for (std::uint32_t i = 0, n = in.count(36); i < n; ++i) {
    if (i > 0) *w.p++ = ',';
    w.lit(R"({"provider":)");
    w.str(in.str());
    w.lit(R"(,"model":)");
    w.str(in.str());
    w.lit(R"(,"key_id":)");
    w.str_or_null(in.str());
    w.lit(R"(,"status":)");
    w.integer(in.pod<std::int32_t>());
    w.lit(R"(,"error":)");
    w.str_or_null(in.str());
    w.lit(R"(,"ms":)");
    w.ms(in.pod<double>());
    auto billed_usd = in.pod<double>();
    if (billed_usd > 0) {
      w.lit(R"(,"billed_usd":)");
      w.number(billed_usd);
    }
    *w.p++ = '}';
  }
  w.lit(R"(],"ttft_ms":)");
  auto ttft_ms = in.pod<double>();
  if (ttft_ms >= 0) {
    w.ms(ttft_ms);
  } else {
    w.lit("null");
  }
  w.lit(R"(,"duration_ms":)");
  w.ms(in.pod<double>());
  w.lit(R"(,"overhead_ms":)");
  w.ms(in.pod<double>());
  w.lit(R"(,"usage":{"input":)");
  w.integer(in.pod<std::int64_t>());
  w.lit(R"(,"output":)");
  w.integer(in.pod<std::int64_t>());
  w.lit(R"(,"cached_input":)");
  w.integer(in.pod<std::int64_t>());
  if (auto cache_write = in.pod<std::int64_t>()) {
    w.lit(R"(,"cache_write":)");
    w.integer(cache_write);
  }
  if (auto reasoning = in.pod<std::int64_t>()) {
    w.lit(R"(,"reasoning":)");
    w.integer(reasoning);
  }
  if (in.pod<std::uint8_t>() != 0) w.lit(R"(,"estimated":true)");
  w.lit(R"(},"cost_usd":)");
  w.number(in.pod<double>());
  w.lit(R"(,"guardrails":[)");
  for (std::uint32_t i = 0, n = in.count(16); i < n; ++i) {
    if (i > 0) *w.p++ = ',';
    w.lit(R"({"name":)");
    w.str(in.str());
    w.lit(R"(,"stage":)");
    w.str(in.str());
    w.lit(R"(,"action":)");
    w.str(in.str());
    auto detail = in.str();
    if (!detail.empty()) {
      w.lit(R"(,"detail":)");
      w.str(detail);
    }
    *w.p++ = '}';
  }
  w.lit("]}");
  out.append(scratch.data(), static_cast<std::size_t>(w.p - scratch.data()));
}

void append_packed_record_span(std::string& out, std::string_view packed) {
  Unpacker in{packed};
  observability::OtlpSpan s;
  s.trace_id = in.str();
  s.span_id = in.str();
  s.parent_span_id = in.str();
  s.start_unix_nano = in.pod<std::int64_t>();
  s.request_id = in.str();
  s.tenant = in.str();
  s.workflow = in.str();
  s.user = in.str();
  s.endpoint = in.str();
  s.operation = s.endpoint == "/v1/embeddings" ? "embeddings" : "chat";
  s.request_model = in.str();
  s.route = in.str();
  for (std::uint32_t i = 0, n = in.count(4); i < n; ++i) in.str();  // policies
  s.provider = in.str();
  s.model = in.str();
  s.stream = in.pod<std::uint8_t>() != 0;
  s.status = in.pod<std::int32_t>();
  s.error = in.str();
  auto attempts = in.count(36);
  s.attempts = static_cast<int>(attempts);
  for (std::uint32_t i = 0; i < attempts; ++i) {
    in.str();  // provider
    in.str();  // model
    in.str();  // key_id
    in.pod<std::int32_t>();
    in.str();          // error
    in.pod<double>();  // ms
    in.pod<double>();  // billed_usd
  }
  s.ttft_ms = in.pod<double>();
  auto duration_ms = in.pod<double>();
  s.end_unix_nano = s.start_unix_nano + static_cast<std::int64_t>(duration_ms * 1e6);
  in.pod<double>();  // overhead_ms
  s.input_tokens = in.pod<std::int64_t>();
  s.output_tokens = in.pod<std::int64_t>();
  s.cached_input_tokens = in.pod<std::int64_t>();
  s.cache_write_tokens = in.pod<std::int64_t>();
  in.pod<std::int64_t>();  // reasoning
  in.pod<std::uint8_t>();  // estimated
  s.cost_usd = in.pod<double>();
  for (std::uint32_t i = 0, n = in.count(16); i < n; ++i) {
    for (int field = 0; field < 4; ++field) in.str();  // name, stage, action, detail
  }
  s.provider_name = in.str();
  s.response_model = in.str();
  s.usage_known = in.pod<std::uint8_t>() != 0;
  observability::append_otlp_span(out, s);
}

std::size_t trace_record_room(std::string_view packed) {
  return kRecordFixedRoom + observability::kJsonEscapeGrowth * packed.size();
}

void append_trace_record(std::string& out, const RequestContext& ctx, double duration_ms,
                         double overhead_ms) {
  thread_local std::string packed;
  packed.clear();
  pack_trace_record(packed, ctx, duration_ms, overhead_ms);
  append_packed_trace_record(out, packed);
}

}  // namespace switchboard::gateway
