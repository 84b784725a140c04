// Worker threads: pools are per thread, so the request path never takes a lock to get a connection.
#include "switchboard/gateway/worker.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>

#include "switchboard/providers/mock.hpp"

namespace switchboard::gateway {

namespace {
thread_local Worker* current_worker = nullptr;
}  // namespace

const std::string Worker::kGuardrailPoolPrefix = "guardrail:";

Worker::Worker(std::size_t index, std::size_t worker_count)
    : index_(index), worker_count_(worker_count == 0 ? 1 : worker_count) {}

Worker* Worker::current() {
  return current_worker;
}

void Worker::run() {
  current_worker = this;
  auto guard = boost::asio::make_work_guard(context_);
  for (;;) {
    try {
      context_.run();
      break;
    } catch (const std::exception& e) {
      spdlog::error("worker {} event loop error: {}", index_, e.what());
    }
  }
  current_worker = nullptr;
}

void Worker::set_runtime(RuntimePtr runtime) {
  runtime_ = std::move(runtime);
  // Drop pools of providers that are gone or whose connection settings changed;
  // calls in flight keep their old pool alive until they finish.
  for (auto it = pools_.begin(); it != pools_.end();) {
    if (it->first.starts_with(kGuardrailPoolPrefix)) {  // rebuilt on use when their URL changed
      auto name = std::string_view(it->first).substr(kGuardrailPoolPrefix.size());
      it = runtime_->guardrails().find(name) ? std::next(it) : pools_.erase(it);
      continue;
    }
    const auto* p = runtime_->provider(it->first);
    if (!p || p->pool_fingerprint != it->second.fingerprint) {
      it = pools_.erase(it);
    } else {
      ++it;
    }
  }
}

std::unique_ptr<upstream::UpstreamCall> Worker::make_call(const std::string& provider_name,
                                                          const ProviderRuntime& provider) {
  if (provider.config->type == config::ProviderType::mock) {
    return providers::make_mock_call(context_.get_executor(), provider.config->mock,
                                     provider.mock_calls);
  }
  auto it = pools_.find(provider_name);
  if (it != pools_.end() && it->second.fingerprint == provider.pool_fingerprint) {
    return it->second.pool->make_call();
  }
  upstream::PoolOptions options;
  options.endpoint = provider.endpoint;
  options.timeouts = provider.config->timeouts;
  options.tls = provider.config->tls;
  auto share = provider.config->max_connections / worker_count_;
  options.max_connections = static_cast<std::uint32_t>(share == 0 ? 1 : share);
  return make_call(provider_name, provider.pool_fingerprint, options);
}

std::unique_ptr<upstream::UpstreamCall> Worker::make_call(const std::string& pool_key,
                                                          const std::string& fingerprint,
                                                          const upstream::PoolOptions& options) {
  auto it = pools_.find(pool_key);
  if (it == pools_.end() || it->second.fingerprint != fingerprint) {
    PoolEntry entry{fingerprint,
                    std::make_unique<upstream::UpstreamPool>(context_.get_executor(), options)};
    it = pools_.insert_or_assign(pool_key, std::move(entry)).first;
  }
  return it->second.pool->make_call();
}

std::vector<PoolStats> Worker::pool_stats() const {
  std::vector<PoolStats> out;
  out.reserve(pools_.size());
  for (const auto& [name, entry] : pools_) {
    out.push_back({name, entry.pool->active(), entry.pool->idle(), entry.pool->opened()});
  }
  return out;
}

}  // namespace switchboard::gateway
