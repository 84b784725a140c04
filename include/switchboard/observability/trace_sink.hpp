// Writes trace records as JSON lines off the event loop: per-thread buffers, one writer thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "switchboard/observability/record_frame.hpp"

namespace switchboard::observability {

class OtlpExporter;

class TraceSink {
 public:
  // Turns a packed record into its JSON line (no newline), appending to `out`. Runs on the
  // writer thread.
  using Encoder = RecordEncoder;

  // "-" = stdout, "" = off, otherwise a file opened for appending. Throws if it cannot open.
  explicit TraceSink(const std::string& file);
  ~TraceSink();
  TraceSink(const TraceSink&) = delete;
  TraceSink& operator=(const TraceSink&) = delete;

  bool enabled() const { return enabled_; }
  // Appends one record (a JSON object, no newline) to the calling thread's buffer.
  void write(std::string_view line);
  // Records begun with `span` set are also handed to `exporter` (with `span_encoder`) by the
  // writer thread once their line is written: the request thread packs a record once and copies
  // it nowhere else. Set before any record is written; the exporter must outlive the sink.
  void forward_spans(OtlpExporter* exporter, Encoder span_encoder);
  bool forwards_spans() const { return exporter_ != nullptr; }
  // A record whose JSON the writer thread produces: append its packed form to the returned
  // buffer, then call end_record() on the same thread before anything else touches the sink.
  // With `encode` null the appended bytes are the line itself. Only when enabled().
  std::string& begin_record(Encoder encode, bool span = false);
  void end_record();
  // Hands the calling thread's buffer to the writer; event loops call it on a short timer.
  void flush_thread();
  // Closes the file and opens its path again (after the writer has written what it holds), so
  // that a log rotator that renames the file gets a new one. If the path cannot be opened, the
  // writer logs it and keeps writing to the file it has: no record is lost. A no-op for stdout.
  void reopen();
  // Lines dropped because the writer fell behind (bounded queue).
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct Chunk {
    std::string frames;  // [u32 length][Encoder][bytes] per record
    std::size_t records = 0;
  };

  void hand_over(std::string& buffer, std::size_t& records);
  void writer_loop();

  std::uint64_t generation_;  // tells this sink's thread-local buffers from a former one's
  std::string path_;          // "" for stdout
  bool enabled_ = false;
  std::FILE* out_ = nullptr;  // the writer thread's once it runs
  bool owns_file_ = false;
  OtlpExporter* exporter_ = nullptr;
  Encoder span_encoder_ = nullptr;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Chunk> queue_;
  std::size_t queued_bytes_ = 0;
  std::vector<std::string> free_;  // written buffers, emptied, for hand_over to reuse
  bool stopping_ = false;
  // Reopen once this many of queue_'s chunks are written (kNoReopen: none asked). Guarded by
  // mutex_.
  static constexpr std::size_t kNoReopen = static_cast<std::size_t>(-1);
  std::size_t reopen_after_ = kNoReopen;
  std::atomic<std::uint64_t> dropped_{0};
  std::thread writer_;
};

}  // namespace switchboard::observability
