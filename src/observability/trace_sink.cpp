// Trace JSON-lines writer: the request path appends to a thread-local buffer; a thread does the
// file I/O.
#include "switchboard/observability/trace_sink.hpp"

#include <pthread.h>

#include <stdexcept>

namespace switchboard::observability {

namespace {
constexpr std::size_t kFlushBytes = 64 * 1024;
constexpr std::size_t kMaxQueuedBytes = 64 * 1024 * 1024;
// Written buffers kept for the request threads (no 64 KB malloc per hand-over).
constexpr std::size_t kMaxFreeBuffers = 8;

// A sink is told from an earlier one by a generation, not its address: a new sink can be
// allocated where a destroyed one was, and must not inherit its unflushed records.
std::atomic<std::uint64_t> next_generation{1};

struct ThreadBuffer {
  std::uint64_t generation = 0;
  std::string data;
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
  }
  writer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "swb-trace");  // tells it apart in top and /proc
    writer_loop();
  });
}

TraceSink::~TraceSink() {
  if (!out_) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
  if (owns_file_) std::fclose(out_);
}

void TraceSink::write(std::string_view line) {
  if (!out_) return;
  buffer().append(line);
  commit();
}

std::string& TraceSink::buffer() {
  auto& tb = thread_buffer;
  if (tb.generation != generation_) {  // a thread-local left by an earlier sink
    tb.generation = generation_;
    tb.data.clear();
  }
  return tb.data;
}

void TraceSink::commit() {
  auto& tb = thread_buffer;
  tb.data.push_back('\n');
  if (tb.data.size() >= kFlushBytes) hand_over(tb.data);
}

void TraceSink::flush_thread() {
  auto& tb = thread_buffer;
  if (!out_ || tb.generation != generation_ || tb.data.empty()) return;
  hand_over(tb.data);
}

void TraceSink::hand_over(std::string& buffer) {
  std::string next;
  {
    std::lock_guard lock(mutex_);
    if (queued_bytes_ + buffer.size() > kMaxQueuedBytes) {
      std::uint64_t lines = 0;
      for (char c : buffer) lines += c == '\n';
      dropped_.fetch_add(lines, std::memory_order_relaxed);
      buffer.clear();
      return;
    }
    queued_bytes_ += buffer.size();
    queue_.push_back(std::move(buffer));
    if (!free_.empty()) {
      next = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (next.capacity() == 0) next.reserve(kFlushBytes + kFlushBytes / 4);
  buffer = std::move(next);
  wake_.notify_one();
}

void TraceSink::writer_loop() {
  std::vector<std::string> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      batch.swap(queue_);
      queued_bytes_ = 0;
      if (batch.empty() && stopping_) break;
    }
    for (const auto& chunk : batch) std::fwrite(chunk.data(), 1, chunk.size(), out_);
    std::fflush(out_);
    {
      // Emptied buffers go back to the request threads, capacity kept.
      std::lock_guard lock(mutex_);
      for (auto& chunk : batch) {
        if (free_.size() >= kMaxFreeBuffers || chunk.capacity() > 4 * kFlushBytes) continue;
        chunk.clear();
        free_.push_back(std::move(chunk));
      }
    }
    batch.clear();
  }
}

}  // namespace switchboard::observability
