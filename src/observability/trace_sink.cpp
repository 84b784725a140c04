// Trace JSON-lines writer: the request path appends to a thread-local buffer; a thread does the
// file I/O.
#include "switchboard/observability/trace_sink.hpp"

#include <pthread.h>

#include <stdexcept>

namespace switchboard::observability {

namespace {
constexpr std::size_t kFlushBytes = 64 * 1024;
constexpr std::size_t kMaxQueuedBytes = 64 * 1024 * 1024;

struct ThreadBuffer {
  const TraceSink* owner = nullptr;
  std::string data;
};
thread_local ThreadBuffer thread_buffer;
}  // namespace

TraceSink::TraceSink(const std::string& file) {
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
  auto& tb = thread_buffer;
  if (tb.owner != this) {  // a thread-local left by an earlier sink
    tb.owner = this;
    tb.data.clear();
  }
  tb.data.append(line);
  tb.data.push_back('\n');
  if (tb.data.size() >= kFlushBytes) hand_over(tb.data);
}

void TraceSink::flush_thread() {
  auto& tb = thread_buffer;
  if (!out_ || tb.owner != this || tb.data.empty()) return;
  hand_over(tb.data);
}

void TraceSink::hand_over(std::string& buffer) {
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
  }
  buffer = std::string();
  buffer.reserve(kFlushBytes);
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
    batch.clear();
  }
}

}  // namespace switchboard::observability
