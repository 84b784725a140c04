// OTLP/HTTP JSON trace export: the span encoding (GenAI semantic conventions) and a bounded,
// non-blocking exporter that batches spans off the request path.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "switchboard/observability/record_frame.hpp"

namespace switchboard::observability {

class CounterFamily;
class MetricsRegistry;

// One finished request as a span. Views into the caller's request record: valid only for the
// duration of the call that takes it (submit() encodes at once).
struct OtlpSpan {
  std::string_view trace_id;        // 32 hex
  std::string_view span_id;         // 16 hex
  std::string_view parent_span_id;  // 16 hex or empty (a root span)
  std::string_view operation;       // gen_ai.operation.name: "chat" | "embeddings"
  std::int64_t start_unix_nano = 0;
  std::int64_t end_unix_nano = 0;

  std::string_view provider_name;   // gen_ai.provider.name (semconv value, e.g. "openai")
  std::string_view request_model;   // gen_ai.request.model: what the client asked for
  std::string_view response_model;  // gen_ai.response.model: the upstream model that answered
  bool usage_known = false;
  std::int64_t input_tokens = 0;  // all input, cached included (semconv)
  std::int64_t output_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t cache_write_tokens = 0;

  std::string_view request_id;
  std::string_view endpoint;
  std::string_view tenant;
  std::string_view workflow;
  std::string_view user;
  std::string_view route;
  std::string_view provider;  // the provider's config name
  std::string_view model;     // the configured model name that served
  bool stream = false;
  int status = 0;          // HTTP status returned to the client
  std::string_view error;  // error code; empty on success
  int attempts = 0;
  double cost_usd = 0;
  double ttft_ms = -1;  // < 0: none
};

// The span as one OTLP/JSON Span object (hex ids, int64 and fixed64 as decimal strings, enum
// values as integers, kind SERVER, status ERROR for status >= 400 or an error code).
void append_otlp_span(std::string& out, const OtlpSpan& span);
// The space append_otlp_span reserves for the span: more than it can write.
std::size_t otlp_span_room(const OtlpSpan& span);

// The span as a compact binary record (the numbers, then each string as length + bytes), so
// the request thread only copies it and the exporter thread does the JSON. Appends to `out`.
void pack_otlp_span(std::string& out, const OtlpSpan& span);
// Reads one record packed by pack_otlp_span from the front of `in`: `span` then views into
// `in`. Returns the bytes it took, or 0 when `in` does not start with a whole record.
std::size_t unpack_otlp_span(std::string_view in, OtlpSpan& span);

// Wraps comma-separated Span objects in an ExportTraceServiceRequest with the resource
// (service.name=switchboard, service.version) and the instrumentation scope.
void append_otlp_request(std::string& out, std::string_view spans, std::string_view version);
// The same in two halves, for a caller that appends the spans in between itself.
void append_otlp_request_head(std::string& out, std::string_view version);
void append_otlp_request_tail(std::string& out);

// Deterministic head sampling on the trace id, consistent across gateways and with OTel's
// ratio sampling: the rightmost 56 bits of the trace id are the randomness R; a trace is kept
// when R >= (1 - ratio) * 2^56. A malformed id is kept.
bool otlp_sampled(std::string_view trace_id, double ratio);

// Where spans go. The configured URL without a path (or "/") is a base endpoint, as
// OTEL_EXPORTER_OTLP_ENDPOINT: "/v1/traces" is appended. A URL with a path is used as is, as
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. Returns false with `error` set when the URL is invalid.
struct OtlpTarget {
  std::string base_url;  // scheme://host[:port]
  std::string path;      // e.g. "/v1/traces"
};
bool resolve_otlp_endpoint(std::string_view endpoint, OtlpTarget& out, std::string& error);

// The exporter's counters, registered whether or not export is on so dashboards see zeros.
struct OtlpMetrics {
  CounterFamily& exported;  // accepted by the collector (2xx)
  CounterFamily& failed;    // sent but rejected, or the POST failed or timed out
  CounterFamily& dropped;   // never sent: queue full, or still queued at shutdown

  static OtlpMetrics create(MetricsRegistry& registry);
};

struct OtlpExporterOptions {
  std::string endpoint;
  std::map<std::string, std::string> headers;  // may carry secrets: never logged
  double sample_ratio = 1.0;
  std::string service_version;
  std::size_t max_queue_spans = 4096;  // spans waiting for the exporter thread
  std::size_t max_batch_spans = 512;   // spans per POST (about: whole thread chunks)
  std::chrono::milliseconds flush_interval{1000};
  std::chrono::milliseconds timeout{5000};            // one POST, connect included
  std::chrono::milliseconds shutdown_deadline{2000};  // flushing at destruction
};

// Overrides the batching options from the OpenTelemetry SDK environment variables
// OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_EXPORT_TIMEOUT (milliseconds), OTEL_BSP_MAX_QUEUE_SIZE and
// OTEL_BSP_MAX_EXPORT_BATCH_SIZE; invalid values are ignored with a warning.
void apply_otel_environment(OtlpExporterOptions& options);

// Request threads pack spans into a thread-local buffer (a copy of the values: no JSON, no lock,
// no allocation once warm); full buffers, and every buffer on flush_thread(), go to one bounded
// queue under a short lock, and come back emptied for reuse; a thread of its own encodes the
// batch as OTLP/JSON straight into the POST body and sends it with the project's upstream
// client on a private io_context. When the queue is full the spans are dropped and counted: a slow
// or dead collector never slows requests, it costs only the spans.
class OtlpExporter {
 public:
  // Throws std::invalid_argument for an invalid endpoint or header (the message never
  // carries a header value).
  OtlpExporter(OtlpExporterOptions options, OtlpMetrics metrics);
  // Sends what is queued, within shutdown_deadline; what remains is counted as dropped.
  // Call flush_thread() on every request thread first.
  ~OtlpExporter();
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  bool sampled(std::string_view trace_id) const {
    return otlp_sampled(trace_id, options_.sample_ratio);
  }
  // Turns one packed record into its Span object (JSON), appending to `out`. Runs on the
  // exporter thread, which calls it once per record with the bytes given to submit().
  using Encoder = RecordEncoder;

  // Packs the span into the calling thread's buffer; never blocks on the network.
  void submit(const OtlpSpan& span);
  // A record the caller packed in a form `encode` reads (the gateway hands over its packed trace
  // record, so one copy of the values serves the trace file and the span): copied into the
  // calling thread's buffer.
  void submit(Encoder encode, std::string_view packed);
  // Hands the calling thread's buffer to the exporter thread (event loops call it on a timer).
  void flush_thread();

  const std::string& url() const { return url_; }

 private:
  struct Chunk {
    std::string spans;  // [u32 length][Encoder][packed bytes] per span
    std::size_t count = 0;
  };
  struct Transport;  // the upstream pool and io_context, defined in otlp_exporter.cpp

  std::string& thread_spans();  // the calling thread's buffer, emptied if an earlier exporter's
  void end_submit(std::string& spans);
  void hand_over(std::string& spans, std::size_t& count);
  void run();
  void send(std::deque<Chunk>& batch, std::chrono::steady_clock::time_point deadline);
  void report_failure(std::string_view why, std::size_t spans);

  OtlpExporterOptions options_;
  OtlpMetrics metrics_;
  std::string url_;
  std::size_t chunk_spans_ = 64;  // a thread's buffer goes to the queue at this many spans
  std::uint64_t generation_;      // tells this exporter's thread-local buffers from a former one's
  std::unique_ptr<Transport> transport_;

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Chunk> queue_;
  std::size_t queued_spans_ = 0;
  std::vector<std::string> free_;  // emptied chunk buffers, for hand_over to reuse
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stop_deadline_;  // set once, before stop_requested_
  std::atomic<bool> stop_requested_{false};
  std::chrono::steady_clock::time_point last_failure_log_{};
  std::thread thread_;
};

}  // namespace switchboard::observability
