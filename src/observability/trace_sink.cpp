// Trace JSON-lines writer: the request path appends records (lines, or packed forms to be
// encoded) to a thread-local buffer; a thread does the JSON encoding and the file I/O.
#include "switchboard/observability/trace_sink.hpp"

#include "switchboard/observability/background_thread.hpp"
#include "switchboard/observability/otlp.hpp"
#include "switchboard/observability/record_frame.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace switchboard::observability {

namespace {
constexpr std::size_t kFlushBytes = 64 * 1024;
constexpr std::size_t kMaxQueuedBytes = 64 * 1024 * 1024;
// Written buffers kept for the request threads (no 64 KB malloc per hand-over). The writer is
// woken for every hand-over, so a buffer comes back while its lines are still in cache.
constexpr std::size_t kMaxFreeBuffers = 8;
// The writer's lines go to the file 1 MB at a time, or after this long: one write call a
// hand-over cost more than the copy it made.
constexpr std::size_t kWriteBytes = 1024 * 1024;
constexpr auto kWriteInterval = std::chrono::milliseconds(100);

// Each record in a thread buffer is framed: its length, the encoder (null: the bytes are the
// line), then the bytes.
constexpr std::size_t kFrameHead = kRecordFrameHead;

// A sink is told from an earlier one by a generation, not its address: a new sink can be
// allocated where a destroyed one was, and must not inherit its unflushed records.
std::atomic<std::uint64_t> next_generation{1};

struct ThreadBuffer {
  std::uint64_t generation = 0;
  std::string data;
  std::size_t records = 0;
  std::size_t open_at = 0;  // the frame begin_record() started
  bool open_span = false;   // that frame is also a span
};
thread_local ThreadBuffer thread_buffer;
}  // namespace

TraceSink::TraceSink(const std::string& file) : generation_(next_generation.fetch_add(1)) {
  if (file.empty()) return;
  if (file == "-") {
    out_ = stdout;
  } else {
    out_ = std::fopen(file.c_str(), "a");
    if (!out_) throw std::runtime_error("cannot open trace file " + file);
    owns_file_ = true;
    path_ = file;
  }
  enabled_ = true;
  writer_ = std::thread([this] {
    become_background_thread("swb-trace");
    writer_loop();
  });
}

TraceSink::~TraceSink() {
  if (!enabled_) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
  if (owns_file_) std::fclose(out_);
}

void TraceSink::write(std::string_view line) {
  if (!enabled_) return;
  begin_record(nullptr).append(line);
  end_record();
}

void TraceSink::forward_spans(OtlpExporter* exporter, Encoder span_encoder) {
  exporter_ = exporter;
  span_encoder_ = span_encoder;
}

std::string& TraceSink::begin_record(Encoder encode, bool span) {
  auto& tb = thread_buffer;
  if (tb.generation != generation_) {  // a thread-local left by an earlier sink
    tb.generation = generation_;
    tb.data.clear();
    tb.records = 0;
  }
  tb.open_at = tb.data.size();
  tb.open_span = span;
  char head[kFrameHead] = {};
  std::memcpy(head + sizeof(std::uint32_t), &encode, sizeof encode);
  tb.data.append(head, kFrameHead);
  return tb.data;
}

void TraceSink::end_record() {
  auto& tb = thread_buffer;
  auto length = static_cast<std::uint32_t>(tb.data.size() - tb.open_at - kFrameHead);
  if (tb.open_span) length |= kRecordFrameFlag;
  std::memcpy(tb.data.data() + tb.open_at, &length, sizeof length);
  ++tb.records;
  if (tb.data.size() >= kFlushBytes) hand_over(tb.data, tb.records);
}

void TraceSink::reopen() {
  if (!owns_file_) return;
  {
    std::lock_guard lock(mutex_);
    // What is handed over until the first of several pending reopens goes to the old file.
    if (reopen_after_ == kNoReopen) reopen_after_ = queue_.size();
  }
  wake_.notify_one();
}

void TraceSink::flush_thread() {
  auto& tb = thread_buffer;
  if (!enabled_ || tb.generation != generation_ || tb.records == 0) return;
  hand_over(tb.data, tb.records);
}

void TraceSink::hand_over(std::string& buffer, std::size_t& records) {
  std::string next;
  {
    std::lock_guard lock(mutex_);
    if (queued_bytes_ + buffer.size() > kMaxQueuedBytes) {
      dropped_.fetch_add(records, std::memory_order_relaxed);
      buffer.clear();
      records = 0;
      return;
    }
    queued_bytes_ += buffer.size();
    queue_.push_back(Chunk{std::move(buffer), records});
    if (!free_.empty()) {
      next = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (next.capacity() == 0) next.reserve(kFlushBytes + kFlushBytes / 4);
  buffer = std::move(next);
  records = 0;
  wake_.notify_one();
}

void TraceSink::writer_loop() {
  std::vector<Chunk> batch;
  std::string lines;
  lines.reserve(kWriteBytes + 2 * kFlushBytes);
  auto last_write = std::chrono::steady_clock::now();
  auto write_lines = [&] {
    std::fwrite(lines.data(), 1, lines.size(), out_);
    std::fflush(out_);
    lines.clear();
    last_write = std::chrono::steady_clock::now();
  };
  auto reopen_file = [&] {
    if (!lines.empty()) write_lines();
    std::FILE* next = std::fopen(path_.c_str(), "a");
    if (!next) {
      spdlog::error("cannot reopen trace file {}: {}; still writing to the file already open",
                    path_, std::strerror(errno));
      return;
    }
    std::fclose(out_);
    out_ = next;
  };
  for (;;) {
    bool stopping = false;
    std::size_t reopen_after = kNoReopen;  // records handed over before reopen(): the old file
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, kWriteInterval,
                     [this] { return stopping_ || reopen_after_ != kNoReopen || !queue_.empty(); });
      batch.swap(queue_);
      queued_bytes_ = 0;
      stopping = stopping_;
      std::swap(reopen_after, reopen_after_);
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (i == reopen_after) reopen_file();
      const auto& chunk = batch[i];
      std::string_view in = chunk.frames;
      Encoder encode = nullptr;
      std::string_view bytes;
      bool span = false;
      while (next_record_frame(in, encode, bytes, span)) {
        if (encode) {
          encode(lines, bytes);
        } else {
          lines.append(bytes);
        }
        lines.push_back('\n');
        // Copied here, where the record is still in cache, rather than on the request thread.
        if (span && exporter_) exporter_->submit(span_encoder_, bytes);
        if (lines.size() >= kWriteBytes) write_lines();
      }
    }
    if (reopen_after != kNoReopen && reopen_after >= batch.size()) reopen_file();
    // The spans go on at the pace of the records, not at the exporter's per-thread batch size.
    if (exporter_ && !batch.empty()) exporter_->flush_thread();
    if (!batch.empty()) {
      // Emptied buffers go back to the request threads, capacity kept.
      std::lock_guard lock(mutex_);
      for (auto& chunk : batch) {
        if (free_.size() >= kMaxFreeBuffers || chunk.frames.capacity() > 4 * kFlushBytes) continue;
        chunk.frames.clear();
        free_.push_back(std::move(chunk.frames));
      }
    }
    batch.clear();
    if (!lines.empty() &&
        (stopping || std::chrono::steady_clock::now() - last_write >= kWriteInterval)) {
      write_lines();
    }
    if (stopping) {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) break;
    }
  }
}

}  // namespace switchboard::observability
