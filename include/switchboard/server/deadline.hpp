// A per-connection deadline that closes the socket when it passes, re-armed lazily.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>

namespace switchboard::server {

// Beast's tcp_stream arms and cancels a timer around every read and write. A connection
// here moves its deadline several times a request (header, body, write, none while the
// handler runs), so moving it only writes a field: the timer is armed when the deadline
// comes earlier than the pending wait, and a wait that fires early re-arms itself for the
// current deadline. When the deadline has passed, the socket is closed (pending operations
// complete with an error) and expired() says why.
class ConnectionDeadline {
 public:
  using Clock = std::chrono::steady_clock;

  ConnectionDeadline(const boost::asio::any_io_executor& executor,
                     boost::asio::ip::tcp::socket& socket)
      : timer_(executor), state_(std::make_shared<State>()) {
    state_->socket = &socket;
  }
  ~ConnectionDeadline() {
    state_->socket = nullptr;  // a wait still queued finds no socket
  }
  ConnectionDeadline(const ConnectionDeadline&) = delete;
  ConnectionDeadline& operator=(const ConnectionDeadline&) = delete;

  void expires_at(Clock::time_point deadline) {
    state_->deadline = deadline;
    state_->expired = false;
    if (deadline < state_->armed) arm(deadline);
  }
  void expires_after(Clock::duration d) { expires_at(Clock::now() + d); }
  void expires_never() {
    state_->deadline = Clock::time_point::max();
    state_->expired = false;
  }
  // True when the last deadline passed (and the socket was closed for it).
  bool expired() const { return state_->expired; }

 private:
  struct State {
    boost::asio::ip::tcp::socket* socket = nullptr;
    Clock::time_point deadline = Clock::time_point::max();
    Clock::time_point armed = Clock::time_point::max();  // the pending wait's expiry
    std::uint64_t generation = 0;                        // of the pending wait
    bool expired = false;
  };

  void arm(Clock::time_point at) {
    auto& s = *state_;
    s.armed = at;
    std::uint64_t generation = ++s.generation;
    timer_.expires_at(at);  // cancels an earlier wait; its handler sees a newer generation
    timer_.async_wait([state = state_, generation, this](const boost::system::error_code&) {
      if (state->generation != generation || state->socket == nullptr) return;
      state->armed = Clock::time_point::max();
      if (state->deadline == Clock::time_point::max()) return;
      if (Clock::now() < state->deadline) {
        arm(state->deadline);  // moved later meanwhile
        return;
      }
      state->expired = true;
      boost::system::error_code ignored;
      state->socket->close(ignored);
    });
  }

  boost::asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

}  // namespace switchboard::server
