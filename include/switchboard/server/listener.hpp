// The client-facing HTTP/1.1 listener: accepts on one socket, spreads connections over workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "switchboard/config/config.hpp"
#include "switchboard/server/http.hpp"

namespace switchboard::server {

struct ListenerOptions {
  std::string listen;  // host:port
  config::ServerTls tls;
  std::uint64_t max_request_bytes = 10ull * 1024 * 1024;
  config::Duration header_timeout = std::chrono::seconds(10);
  config::Duration idle_timeout = std::chrono::seconds(75);
};

// Counters the drain logic and /readyz read.
struct ServerState {
  std::atomic<bool> draining{false};
  std::atomic<std::int64_t> in_flight{0};    // requests being handled
  std::atomic<std::int64_t> connections{0};  // open client connections
  std::atomic<std::uint64_t> accepted{0};    // connections ever accepted
};

class Listener {
 public:
  // `accept_executor` runs the accept loop; `next_worker` picks the executor a new
  // connection lives on. Throws std::runtime_error when it cannot bind or load TLS files.
  Listener(boost::asio::any_io_executor accept_executor,
           std::function<boost::asio::any_io_executor()> next_worker, ListenerOptions options,
           std::shared_ptr<RequestHandler> handler, std::shared_ptr<ServerState> state);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void start();
  void stop();  // stops accepting; open connections finish their current request
  std::string bound_address() const;  // host:port actually bound (port 0 resolved)

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace switchboard::server
