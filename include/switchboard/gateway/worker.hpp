// One event-loop thread: its io_context, its view of the config, its upstream pools. Lock-free by
// ownership.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "switchboard/gateway/runtime.hpp"
#include "switchboard/upstream/call.hpp"
#include "switchboard/upstream/pool.hpp"

namespace switchboard::gateway {

struct PoolStats {
  std::string provider;
  std::int64_t active = 0;
  std::int64_t idle = 0;
  std::uint64_t opened = 0;
};

class Worker {
 public:
  Worker(std::size_t index, std::size_t worker_count);

  // Pools of guardrail endpoints are keyed by this prefix and the guardrail's name.
  static const std::string kGuardrailPoolPrefix;

  boost::asio::io_context& context() { return context_; }
  std::size_t index() const { return index_; }

  // Read and written only on this worker's thread.
  const RuntimePtr& runtime() const { return runtime_; }
  void set_runtime(RuntimePtr runtime);

  // A call to `provider` on this thread's pool (or the in-process mock).
  std::unique_ptr<upstream::UpstreamCall> make_call(const std::string& provider_name,
                                                    const ProviderRuntime& provider);
  // A call through this thread's pool named `pool_key` (e.g. a guardrail's endpoint); the pool is
  // rebuilt when `fingerprint` changes.
  std::unique_ptr<upstream::UpstreamCall> make_call(const std::string& pool_key,
                                                    const std::string& fingerprint,
                                                    const upstream::PoolOptions& options);
  std::vector<PoolStats> pool_stats() const;

  // The worker whose thread is running; null outside worker threads.
  static Worker* current();
  // Runs the event loop on the calling thread until the context is stopped.
  void run();

 private:
  struct PoolEntry {
    std::string fingerprint;
    std::unique_ptr<upstream::UpstreamPool> pool;
  };
  boost::asio::io_context context_{1};
  std::size_t index_;
  std::size_t worker_count_;
  RuntimePtr runtime_;
  std::unordered_map<std::string, PoolEntry> pools_;
};

}  // namespace switchboard::gateway
