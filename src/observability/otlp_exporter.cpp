// The OTLP exporter: thread-local span buffers, one bounded queue, and a thread that POSTs
// batches to the collector with the upstream client on an io_context of its own.
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "switchboard/observability/background_thread.hpp"
#include "switchboard/observability/metrics.hpp"
#include "switchboard/observability/otlp.hpp"
#include "switchboard/observability/record_frame.hpp"
#include "switchboard/upstream/pool.hpp"

namespace switchboard::observability {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// A thread's spans go to the queue once this many are buffered (or on flush_thread()). Spans
// are buffered packed (pack_otlp_span: a few hundred bytes each), not as JSON.
constexpr std::size_t kThreadChunkSpans = 64;
constexpr std::size_t kThreadChunkBytes = 64 * 1024;
// Sent chunks' buffers kept for the request threads to reuse (no large malloc per chunk).
constexpr std::size_t kMaxFreeBuffers = 16;
// A collector's reply is a small ExportTraceServiceResponse; more is not read.
constexpr std::size_t kMaxResponseBytes = 64 * 1024;
constexpr auto kFailureLogInterval = std::chrono::seconds(30);

std::atomic<std::uint64_t> next_generation{1};

struct ThreadBuffer {
  std::uint64_t generation = 0;
  std::string spans;  // framed packed spans, as in Chunk
  std::size_t count = 0;
};
thread_local ThreadBuffer thread_buffer;

constexpr std::size_t kFrameHead = kRecordFrameHead;

// The encoder of spans given as an OtlpSpan (packed by pack_otlp_span).
void append_packed_otlp_span(std::string& out, std::string_view packed) {
  OtlpSpan span;
  if (unpack_otlp_span(packed, span) != 0) append_otlp_span(out, span);
}

// RFC 9110 token characters.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool is_field_value(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7F) return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

void apply_otel_environment(OtlpExporterOptions& options) {
  // The batch span processor variables of the OpenTelemetry SDK configuration spec.
  auto read = [](const char* name, std::size_t& out) {
    const char* text = std::getenv(name);
    if (!text || !*text) return;
    std::size_t v = 0;
    auto [p, ec] = std::from_chars(text, text + std::strlen(text), v);
    if (ec != std::errc() || *p != '\0' || v == 0) {
      spdlog::warn("{}: not a positive integer, ignored", name);
      return;
    }
    out = v;
  };
  std::size_t delay = static_cast<std::size_t>(options.flush_interval.count());
  std::size_t timeout = static_cast<std::size_t>(options.timeout.count());
  read("OTEL_BSP_SCHEDULE_DELAY", delay);
  read("OTEL_BSP_EXPORT_TIMEOUT", timeout);
  read("OTEL_BSP_MAX_QUEUE_SIZE", options.max_queue_spans);
  read("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", options.max_batch_spans);
  options.flush_interval = std::chrono::milliseconds(delay);
  options.timeout = std::chrono::milliseconds(timeout);
  options.max_batch_spans = std::min(options.max_batch_spans, options.max_queue_spans);
}

OtlpMetrics OtlpMetrics::create(MetricsRegistry& r) {
  return OtlpMetrics{
      r.counter("switchboard_otlp_spans_exported_total",
                "Spans the OTLP collector accepted (2xx)."),
      r.counter("switchboard_otlp_spans_failed_total",
                "Spans sent to the OTLP collector that it rejected, or whose POST failed or "
                "timed out."),
      r.counter("switchboard_otlp_spans_dropped_total",
                "Spans never sent: the export queue was full (collector slow or down), still held "
                "them at shutdown, or a record could not be read as a span."),
  };
}

struct OtlpExporter::Transport {
  net::io_context io{1};
  std::unique_ptr<upstream::UpstreamPool> pool;
  std::string target;
  server::HttpHeaders headers;
};

OtlpExporter::OtlpExporter(OtlpExporterOptions options, OtlpMetrics metrics)
    : options_(std::move(options)),
      metrics_(metrics),
      generation_(next_generation.fetch_add(1)),
      transport_(std::make_unique<Transport>()) {
  OtlpTarget target;
  std::string error;
  if (!resolve_otlp_endpoint(options_.endpoint, target, error)) {
    throw std::invalid_argument("observability.traces.otlp.endpoint: " + error);
  }
  url_ = target.base_url + target.path;
  if (options_.max_batch_spans == 0) options_.max_batch_spans = 1;
  chunk_spans_ = std::min(kThreadChunkSpans, options_.max_batch_spans);
  upstream::PoolOptions pool;
  upstream::parse_base_url(target.base_url, pool.endpoint, error);
  pool.timeouts.connect = std::min<config::Duration>(options_.timeout, std::chrono::seconds(2));
  pool.timeouts.first_byte = options_.timeout;
  pool.timeouts.total = options_.timeout;
  pool.max_connections = 2;
  transport_->target = target.path;
  transport_->headers.push_back({"content-type", "application/json"});
  for (const auto& [name, value] : options_.headers) {
    // The name may be echoed; the value never is (it is often an API key).
    if (!is_token(name)) {
      throw std::invalid_argument("observability.traces.otlp.headers: invalid header name \"" +
                                  name + "\"");
    }
    if (!is_field_value(value)) {
      throw std::invalid_argument("observability.traces.otlp.headers: the value of " + name +
                                  " has control characters");
    }
    auto lname = lower(name);
    if (lname == "content-type" || lname == "content-length" || lname == "host" ||
        lname == "transfer-encoding" || lname == "connection") {
      throw std::invalid_argument("observability.traces.otlp.headers: " + name +
                                  " is set by the exporter");
    }
    transport_->headers.push_back({lname, value});
  }
  transport_->pool =
      std::make_unique<upstream::UpstreamPool>(transport_->io.get_executor(), std::move(pool));
  thread_ = std::thread([this] {
    become_background_thread("swb-otlp");
    run();
  });
}

OtlpExporter::~OtlpExporter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    stop_deadline_ = Clock::now() + options_.shutdown_deadline;
    stop_requested_.store(true, std::memory_order_release);  // after stop_deadline_ is set
  }
  wake_.notify_one();
  thread_.join();
  transport_->pool.reset();  // before the io_context it runs on
}

std::string& OtlpExporter::thread_spans() {
  auto& tb = thread_buffer;
  if (tb.generation != generation_) {  // left by an earlier exporter
    tb.generation = generation_;
    tb.spans.clear();
    tb.count = 0;
  }
  return tb.spans;
}

void OtlpExporter::end_submit(std::string& spans) {
  auto& tb = thread_buffer;
  ++tb.count;
  if (tb.count >= chunk_spans_ || spans.size() >= kThreadChunkBytes) hand_over(spans, tb.count);
}

void OtlpExporter::submit(const OtlpSpan& span) {
  auto& spans = thread_spans();
  std::size_t at = spans.size();
  spans.resize(at + kFrameHead);
  pack_otlp_span(spans, span);  // the JSON is written on the exporter thread
  put_record_frame_head(spans.data() + at, spans.size() - at - kFrameHead,
                        &append_packed_otlp_span);
  end_submit(spans);
}

void OtlpExporter::submit(Encoder encode, std::string_view packed) {
  auto& spans = thread_spans();
  std::size_t at = spans.size();
  spans.resize(at + kFrameHead + packed.size());
  put_record_frame_head(spans.data() + at, packed.size(), encode);
  std::memcpy(spans.data() + at + kFrameHead, packed.data(), packed.size());
  end_submit(spans);
}

void OtlpExporter::flush_thread() {
  auto& tb = thread_buffer;
  if (tb.generation != generation_ || tb.count == 0) return;
  hand_over(tb.spans, tb.count);
}

void OtlpExporter::hand_over(std::string& spans, std::size_t& count) {
  bool full = false;
  bool wake = false;
  std::string next;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queued_spans_ + count > options_.max_queue_spans) {
      full = true;
    } else {
      queued_spans_ += count;
      queue_.push_back(Chunk{std::move(spans), count});
      wake = queued_spans_ >= options_.max_batch_spans;
      if (!free_.empty()) {
        next = std::move(free_.back());
        free_.pop_back();
      }
    }
  }
  if (full) {
    metrics_.dropped.add({}, static_cast<double>(count));
    spans.clear();  // keeps its capacity
  } else {
    if (next.capacity() == 0) next.reserve(kThreadChunkBytes);
    spans = std::move(next);
  }
  count = 0;
  if (wake) wake_.notify_one();
}

void OtlpExporter::run() {
  auto next_flush = Clock::now() + options_.flush_interval;
  for (;;) {
    std::deque<Chunk> batch;
    Clock::time_point deadline;
    {
      std::unique_lock lock(mu_);
      wake_.wait_until(lock, next_flush,
                       [this] { return stopping_ || queued_spans_ >= options_.max_batch_spans; });
      if (queue_.empty()) {
        if (stopping_) return;
        next_flush = Clock::now() + options_.flush_interval;
        continue;
      }
      if (stopping_ && Clock::now() >= stop_deadline_) {
        std::size_t left = queued_spans_;
        queue_.clear();
        queued_spans_ = 0;
        lock.unlock();
        metrics_.dropped.add({}, static_cast<double>(left));
        return;
      }
      std::size_t taken = 0;
      while (!queue_.empty() &&
             (taken == 0 || taken + queue_.front().count <= options_.max_batch_spans)) {
        taken += queue_.front().count;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_spans_ -= taken;
      deadline = Clock::now() + options_.timeout;
      if (stopping_) deadline = std::min(deadline, stop_deadline_);
    }
    send(batch, deadline);
    // A backlog goes out at once; otherwise wait for the next interval.
    next_flush = Clock::now() + options_.flush_interval;
  }
}

void OtlpExporter::send(std::deque<Chunk>& batch, Clock::time_point deadline) {
  std::size_t records = 0;
  for (const auto& c : batch) records += c.count;
  std::size_t count = 0;  // spans written into the body
  upstream::UpstreamRequest request;
  request.method = "POST";
  request.target = transport_->target;
  request.headers = transport_->headers;
  // The JSON is written once, straight into the body (about 1.5 KB a span).
  request.body.reserve(records * 1800 + 512);
  append_otlp_request_head(request.body, options_.service_version);
  bool first = true;
  for (auto& chunk : batch) {
    std::string_view frames = chunk.spans;
    Encoder encode = nullptr;
    std::string_view packed;
    while (next_record_frame(frames, encode, packed)) {
      std::size_t before = request.body.size();
      if (!first) request.body.push_back(',');
      encode(request.body, packed);
      if (request.body.size() == before + (first ? 0 : 1)) {
        request.body.resize(before);  // nothing written (a record it could not read): no comma
      } else {
        first = false;
        ++count;
      }
    }
  }
  append_otlp_request_tail(request.body);
  // A record its encoder could not turn into a span never reaches the collector.
  if (records > count) metrics_.dropped.add({}, static_cast<double>(records - count));
  {
    // The buffers go back to the request threads; clear() keeps their capacity.
    std::lock_guard lock(mu_);
    for (auto& chunk : batch) {
      if (free_.size() >= kMaxFreeBuffers) break;
      chunk.spans.clear();
      free_.push_back(std::move(chunk.spans));
    }
  }
  batch.clear();
  if (count == 0) return;  // nothing to send

  auto call = transport_->pool->make_call();
  struct Outcome {
    bool done = false;
    upstream::CallError error = upstream::CallError::none;
    int status = 0;
  } outcome;
  auto exchange = [](upstream::UpstreamCall* c, upstream::UpstreamRequest req,
                     Outcome* out) -> net::awaitable<void> {
    out->error = co_await c->start(std::move(req));
    if (out->error == upstream::CallError::none) {
      out->status = c->status();
      // Read the reply to the end so the connection can be reused.
      std::string body;
      while (!c->done() && body.size() <= kMaxResponseBytes) {
        auto e = co_await c->read(body);
        if (e != upstream::CallError::none) break;
      }
      if (!c->done()) c->cancel();
    }
    out->done = true;
  };
  auto& io = transport_->io;
  io.restart();
  net::co_spawn(io, exchange(call.get(), std::move(request), &outcome), net::detached);
  bool timed_out = false;
  bool shortened = false;
  while (!outcome.done) {
    // A shutdown shortens a POST already under way to the shutdown deadline.
    if (!shortened && stop_requested_.load(std::memory_order_acquire)) {
      shortened = true;
      deadline = std::min(deadline, stop_deadline_);
    }
    if (Clock::now() >= deadline) {
      // Cancelled, the call ends promptly (a connect in progress within its own timeout); the
      // coroutine must finish before `outcome` and `call` go away.
      timed_out = true;
      call->cancel();
      io.restart();
      io.run();
      break;
    }
    io.run_one_until(std::min(deadline, Clock::now() + std::chrono::milliseconds(50)));
  }
  if (!timed_out && outcome.error == upstream::CallError::none && outcome.status >= 200 &&
      outcome.status < 300) {
    metrics_.exported.add({}, static_cast<double>(count));
    return;
  }
  if (timed_out) {
    report_failure("timeout", count);
  } else if (outcome.error != upstream::CallError::none) {
    report_failure(upstream::call_error_name(outcome.error), count);
  } else {
    report_failure("HTTP " + std::to_string(outcome.status), count);
  }
}

void OtlpExporter::report_failure(std::string_view why, std::size_t spans) {
  metrics_.failed.add({}, static_cast<double>(spans));
  // Only the exporter thread gets here: no lock needed for the log throttle.
  auto now = Clock::now();
  if (last_failure_log_ != Clock::time_point{} && now - last_failure_log_ < kFailureLogInterval) {
    return;
  }
  last_failure_log_ = now;
  spdlog::warn(
      "otlp export to {} failed ({}): {} spans lost; failures are counted in "
      "switchboard_otlp_spans_failed_total and logged at most every {} s",
      url_, why, spans, kFailureLogInterval.count());
}

}  // namespace switchboard::observability
