// Per-worker, per-provider pool of keep-alive HTTP/1.1 connections, plain or TLS.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "switchboard/config/config.hpp"
#include "switchboard/upstream/call.hpp"

namespace switchboard::upstream {

struct UpstreamEndpoint {
  bool tls = true;
  std::string host;
  std::uint16_t port = 443;
  std::string base_path;  // without trailing slash, e.g. "/v1"
};

// Parses "https://host[:port][/path]"; false with `error` set when malformed.
bool parse_base_url(std::string_view url, UpstreamEndpoint& out, std::string& error);

struct PoolOptions {
  UpstreamEndpoint endpoint;
  config::ProviderTimeouts timeouts;
  config::TlsConfig tls;
  std::uint32_t max_connections = 256;  // this pool's share
};

// Not thread-safe: each event-loop thread owns its pools, so the hot path takes no lock.
// The counters are atomics so /metrics can read them from another thread.
class UpstreamPool {
 public:
  UpstreamPool(boost::asio::any_io_executor executor, PoolOptions options);
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  std::unique_ptr<UpstreamCall> make_call();
  const PoolOptions& options() const;

  struct Impl;  // defined in pool.cpp

  std::int64_t active() const;  // leased
  std::int64_t idle() const;
  std::uint64_t opened() const;  // connections ever opened

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace switchboard::upstream
