// One pipelined Redis connection living on one io_context (a worker's event loop): reconnects
// with backoff in the background, and every call has a deadline so a slow Redis never holds a
// request for long.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "switchboard/accounting/redis_protocol.hpp"

namespace boost::asio {
class io_context;
}

namespace switchboard::accounting {

class RedisConnection {
 public:
  struct Result {
    std::optional<RedisReply> reply;  // set when Redis answered (possibly with an error reply)
    std::string error;                // otherwise: "down", "timeout", "overloaded" or an I/O error
    bool ok() const { return reply.has_value(); }
  };
  // Called on the connection's thread whenever a connection attempt fails or the connection
  // comes up or goes down; `why` is empty when up. Never contains the password.
  using StateChange = std::function<void(bool up, const std::string& why)>;
  // Replies that arrive with no call waiting (pub/sub messages on a subscribed connection).
  using PushHandler = std::function<void(RedisReply&&)>;

  static constexpr std::size_t kMaxPending = 10000;  // calls in flight; beyond: "overloaded"
  static constexpr std::chrono::milliseconds kConnectTimeout{1000};
  // A connection whose oldest call got no reply for this long is considered dead and reopened.
  static constexpr std::chrono::milliseconds kStallTimeout{3000};

  RedisConnection(boost::asio::io_context& context, RedisUrl url, StateChange on_change,
                  PushHandler on_push = {});
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Thread-safe. Starts connecting (and reconnecting until stop()); `on_connect` runs after each
  // successful AUTH/SELECT (e.g. to SUBSCRIBE) before the connection counts as up.
  void start(std::vector<std::vector<std::string>> on_connect = {});
  void stop();

  bool up() const;  // thread-safe
  boost::asio::io_context& context();
  bool on_own_thread() const;

  // Must be awaited on context()'s thread. Sends the commands in one write and waits at most
  // `deadline` for all replies; unanswered ones come back with error "timeout".
  boost::asio::awaitable<std::vector<Result>> pipeline(
      std::vector<std::vector<std::string>> commands, std::chrono::milliseconds deadline);
  boost::asio::awaitable<Result> call(std::vector<std::string> args,
                                      std::chrono::milliseconds deadline);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace switchboard::accounting
