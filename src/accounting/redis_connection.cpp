// The pipelined Redis connection: FIFO of waiting calls matched to replies in order, one writer,
// one reader, reconnect with backoff. Everything runs on the owning io_context's thread, so no
// locks; other threads only read `up` and post start/stop.
#include "switchboard/accounting/redis_connection.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <atomic>
#include <deque>
#include <string_view>

namespace switchboard::accounting {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using TlsStream = net::ssl::stream<tcp::socket>;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

struct RedisConnection::Impl : std::enable_shared_from_this<Impl> {
  // The replies of one pipeline() call, filled in as they arrive.
  struct Batch {
    std::vector<Result> results;
    std::size_t outstanding = 0;
    net::steady_timer* timer = nullptr;  // null once the caller stopped waiting
  };
  struct Pending {
    std::shared_ptr<Batch> batch;
    std::size_t index = 0;
    Clock::time_point sent;
  };

  Impl(net::io_context& c, RedisUrl u, StateChange change, PushHandler push)
      : ctx(c), url(std::move(u)), on_change(std::move(change)), on_push(std::move(push)) {}

  net::io_context& ctx;
  RedisUrl url;
  StateChange on_change;
  PushHandler on_push;
  std::vector<std::vector<std::string>> on_connect;
  tcp::socket socket{ctx};  // a redis:// connection's
  // A rediss:// connection's stream, which owns its socket. Shared with the reads and writes in
  // flight, so a reconnect never destroys a stream an operation still uses.
  std::shared_ptr<TlsStream> tls;
  std::unique_ptr<net::ssl::context> tls_context;
  std::atomic<bool> up{false};
  bool connected = false;  // the socket is open (handshake may still be running)
  bool stopped = false;
  std::uint64_t generation = 0;
  std::string out, writing;
  bool write_in_flight = false;
  std::deque<Pending> pending;
  std::unique_ptr<RespReader> reader;
  std::string close_reason;
  net::steady_timer closed{ctx};
  net::steady_timer backoff_timer{ctx};

  void kick() {
    if (write_in_flight || out.empty() || !connected) return;
    writing.swap(out);
    out.clear();
    write_in_flight = true;
    auto done = [self = shared_from_this(), gen = generation, stream = tls](
                    boost::system::error_code ec, std::size_t) {
      self->write_in_flight = false;
      self->writing.clear();
      if (gen != self->generation) {
        self->kick();
        return;
      }
      if (ec) {
        self->fail("write failed: " + ec.message());
        return;
      }
      self->kick();
    };
    if (tls) {
      net::async_write(*tls, net::buffer(writing), std::move(done));
    } else {
      net::async_write(socket, net::buffer(writing), std::move(done));
    }
  }

  // The TCP socket under either kind of connection.
  tcp::socket& tcp_socket() { return tls ? tls->next_layer() : socket; }

  void complete(Pending& p, Result r) {
    auto& b = *p.batch;
    if (b.timer == nullptr) return;  // the caller gave up (timeout)
    b.results[p.index] = std::move(r);
    if (--b.outstanding == 0) b.timer->cancel();
  }

  // Closes the connection: every waiting call fails with `reason`, the run loop reconnects.
  void fail(const std::string& reason) {
    if (!connected) return;
    connected = false;
    up = false;
    ++generation;
    boost::system::error_code ignored;
    tcp_socket().close(ignored);
    out.clear();
    auto waiting = std::move(pending);
    pending.clear();
    for (auto& p : waiting) complete(p, Result{std::nullopt, reason});
    close_reason = reason;
    closed.cancel();
  }

  void dispatch(RedisReply&& reply) {
    if (pending.empty()) {
      if (on_push) on_push(std::move(reply));
      return;
    }
    if (on_push && reply.type == RedisReply::Type::array && !reply.elements.empty() &&
        reply.elements[0].str == "message") {
      on_push(std::move(reply));
      return;
    }
    auto p = std::move(pending.front());
    pending.pop_front();
    complete(p, Result{std::move(reply), {}});
  }

  net::awaitable<void> read_loop(std::shared_ptr<Impl> self, std::uint64_t gen) {
    std::array<char, 16384> buf;
    auto stream = tls;  // kept alive until this loop ends
    while (gen == generation) {
      auto [ec, n] = stream ? co_await stream->async_read_some(net::buffer(buf), kTuple)
                            : co_await socket.async_read_some(net::buffer(buf), kTuple);
      if (gen != generation) break;
      if (ec) {
        // A TLS server that closes without a close_notify (killed, or a proxy that drops the
        // connection) is closed all the same: "stream truncated" says nothing to an operator.
        bool closed = ec == net::error::eof || ec == net::ssl::error::stream_truncated;
        fail(closed ? "connection closed by Redis" : ec.message());
        break;
      }
      if (!reader->feed(buf.data(), n)) {
        fail("protocol error: " + reader->error());
        break;
      }
      RedisReply reply;
      int got = 0;
      while (gen == generation && (got = reader->next(reply)) == 1) dispatch(std::move(reply));
      if (got < 0) {
        fail("protocol error: " + reader->error());
        break;
      }
    }
  }

  net::awaitable<std::vector<Result>> send(std::vector<std::vector<std::string>> commands,
                                           std::chrono::milliseconds deadline, bool internal) {
    auto self = shared_from_this();
    std::vector<Result> results(commands.size());
    const char* refuse = nullptr;
    if (!connected || (!internal && !up))
      refuse = "down";
    else if (pending.size() + commands.size() > kMaxPending)
      refuse = "overloaded";
    if (refuse) {
      for (auto& r : results) r.error = refuse;
      co_return results;
    }
    auto batch = std::make_shared<Batch>();
    batch->results.resize(commands.size());
    batch->outstanding = commands.size();
    net::steady_timer timer(ctx);
    batch->timer = &timer;
    auto now = Clock::now();
    for (std::size_t i = 0; i < commands.size(); ++i) {
      resp_append_command(out, commands[i]);
      pending.push_back(Pending{batch, i, now});
    }
    kick();
    timer.expires_after(deadline);
    co_await timer.async_wait(kTuple);
    batch->timer = nullptr;
    if (batch->outstanding > 0) {
      for (auto& r : batch->results)
        if (!r.reply && r.error.empty()) r.error = "timeout";
      // A spike is survivable; a connection that stopped answering is not: reopen it.
      if (!pending.empty() && Clock::now() - pending.front().sent > kStallTimeout)
        fail("no reply from Redis for " + std::to_string(kStallTimeout.count()) + " ms");
    }
    co_return std::move(batch->results);
  }

  // One connection attempt: connect, AUTH, SELECT, the on-connect commands. Empty on success.
  net::awaitable<std::string> connect_once(std::shared_ptr<Impl> self) {
    tcp::resolver resolver(ctx);
    auto [rec, endpoints] =
        co_await resolver.async_resolve(url.host, std::to_string(url.port), kTuple);
    if (rec) co_return "cannot resolve " + url.host + ": " + rec.message();
    if (url.tls) {
      if (auto why = make_tls_context(); !why.empty()) co_return why;
      tls = std::make_shared<TlsStream>(ctx, *tls_context);
    } else {
      tls.reset();
      socket = tcp::socket(ctx);
    }
    // Connect and handshake within kConnectTimeout. The flags outlive this frame: a timer that
    // fired as the connect finished still runs its handler after the frame is gone, and must
    // then touch nothing (not even a newer connection's socket).
    struct Guarded {
      bool finished = false;
      bool timed_out = false;
    };
    auto state = std::make_shared<Guarded>();
    net::steady_timer guard(ctx);
    guard.expires_after(kConnectTimeout);
    guard.async_wait([self, state](boost::system::error_code ec) {
      if (ec || state->finished) return;
      state->timed_out = true;
      boost::system::error_code ignored;
      self->tcp_socket().close(ignored);
    });
    auto finish = [&] {
      state->finished = true;
      guard.cancel();
    };
    auto [cec, ep] = co_await net::async_connect(tcp_socket(), endpoints, kTuple);
    if (!cec && !state->timed_out && tls) {
      if (auto why = start_tls(); !why.empty()) {
        finish();
        co_return why;
      }
      auto [hec] = co_await tls->async_handshake(net::ssl::stream_base::client, kTuple);
      finish();
      if (state->timed_out) co_return "TLS handshake timed out";
      if (hec) co_return "TLS handshake failed: " + tls_error(hec) + verify_detail(hec);
    }
    finish();
    if (state->timed_out) co_return "connect timed out";
    if (cec) co_return cec.message();
    boost::system::error_code ignored;
    tcp_socket().set_option(tcp::no_delay(true), ignored);
    // A silent peer is found.
    tcp_socket().set_option(net::socket_base::keep_alive(true), ignored);
    connected = true;
    ++generation;
    reader = std::make_unique<RespReader>();
    net::co_spawn(ctx, read_loop(self, generation), net::detached);
    std::vector<std::vector<std::string>> hello;
    if (!url.password.empty()) {
      if (url.username.empty())
        hello.push_back({"AUTH", url.password});
      else
        hello.push_back({"AUTH", url.username, url.password});
    }
    if (url.db != 0) hello.push_back({"SELECT", std::to_string(url.db)});
    for (const auto& c : on_connect) hello.push_back(c);
    if (hello.empty()) hello.push_back({"PING"});
    auto replies = co_await send(hello, kConnectTimeout, true);
    for (auto& r : replies) {
      std::string why = !r.ok() ? r.error : r.reply->is_error() ? r.reply->str : std::string{};
      if (!why.empty()) {
        fail(why);
        co_return why;
      }
    }
    if (!connected) co_return close_reason;
    co_return std::string{};
  }

  // The client context of a rediss:// connection, made once: TLS 1.2 or later, the server
  // verified against ca_file (or the system's store) unless verify is off. Empty on success.
  std::string make_tls_context() {
    if (tls_context) return {};
    auto context = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
    context->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                         net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                         net::ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    if (!url.verify) {
      context->set_verify_mode(net::ssl::verify_none);
    } else {
      if (url.ca_file.empty()) {
        context->set_default_verify_paths(ec);
      } else {
        context->load_verify_file(url.ca_file, ec);
      }
      if (ec) return "cannot load the CA for Redis TLS: " + ec.message();
      context->set_verify_mode(net::ssl::verify_peer);
    }
    tls_context = std::move(context);
    return {};
  }

  // SNI and the name check for the stream about to shake hands. Empty on success.
  std::string start_tls() {
    boost::system::error_code ec;
    net::ip::make_address(url.host, ec);
    const bool host_is_ip = !ec;
    if (!host_is_ip && !SSL_set_tlsext_host_name(tls->native_handle(), url.host.c_str())) {
      return "cannot set the TLS server name for Redis";
    }
    if (url.verify) tls->set_verify_callback(net::ssl::host_name_verification(url.host));
    return {};
  }

  // Why the server's certificate was refused, when that is what failed the handshake.
  std::string verify_detail(const boost::system::error_code& ec) {
    if (!tls || ec.category() != net::error::get_ssl_category() ||
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) != SSL_R_CERTIFICATE_VERIFY_FAILED) {
      return {};
    }
    long result = SSL_get_verify_result(tls->native_handle());
    // The chain was good and the one callback, the name check, refused it.
    if (result == X509_V_ERR_UNSPECIFIED)
      return " (the certificate does not name " + url.host + ")";
    return std::string(" (") + X509_verify_cert_error_string(result) + ")";
  }

  // An OpenSSL error as a reason a person can act on (no secrets in it: certificates only).
  static std::string tls_error(const boost::system::error_code& ec) {
    std::string text = ec.message();
    if (ec.category() == net::error::get_ssl_category()) {
      if (auto reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) {
        text = reason;
      }
    }
    return text;
  }

  net::awaitable<void> run(std::shared_ptr<Impl> self) {
    auto backoff = std::chrono::milliseconds(100);
    while (!stopped) {
      auto error = co_await connect_once(self);
      if (stopped) break;
      if (error.empty()) {
        backoff = std::chrono::milliseconds(100);
        up = true;
        on_change(true, {});
        closed.expires_at(Clock::time_point::max());
        co_await closed.async_wait(kTuple);
        if (stopped) break;
        error = close_reason;
      } else {
        boost::system::error_code ignored;
        tcp_socket().close(ignored);
        connected = false;
      }
      up = false;
      on_change(false, error);
      backoff_timer.expires_after(backoff);
      co_await backoff_timer.async_wait(kTuple);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
  }
};

RedisConnection::RedisConnection(net::io_context& context, RedisUrl url, StateChange on_change,
                                 PushHandler on_push)
    : impl_(std::make_shared<Impl>(context, std::move(url), std::move(on_change),
                                   std::move(on_push))) {}

RedisConnection::~RedisConnection() {
  stop();
}

void RedisConnection::start(std::vector<std::vector<std::string>> on_connect) {
  net::post(impl_->ctx, [self = impl_, on_connect = std::move(on_connect)]() mutable {
    self->on_connect = std::move(on_connect);
    net::co_spawn(self->ctx, self->run(self), net::detached);
  });
}

void RedisConnection::stop() {
  net::post(impl_->ctx, [self = impl_] {
    if (self->stopped) return;
    self->stopped = true;
    self->fail("stopped");
    self->closed.cancel();
    self->backoff_timer.cancel();
  });
}

bool RedisConnection::up() const {
  return impl_->up.load(std::memory_order_relaxed);
}
net::io_context& RedisConnection::context() {
  return impl_->ctx;
}
bool RedisConnection::on_own_thread() const {
  return impl_->ctx.get_executor().running_in_this_thread();
}

net::awaitable<std::vector<RedisConnection::Result>> RedisConnection::pipeline(
    std::vector<std::vector<std::string>> commands, std::chrono::milliseconds deadline) {
  auto impl = impl_;
  auto results = co_await impl->send(std::move(commands), deadline, false);
  co_return results;
}

net::awaitable<RedisConnection::Result> RedisConnection::call(std::vector<std::string> args,
                                                              std::chrono::milliseconds deadline) {
  auto impl = impl_;
  std::vector<std::vector<std::string>> commands;
  commands.push_back(std::move(args));
  auto results = co_await impl->send(std::move(commands), deadline, false);
  co_return std::move(results[0]);
}

}  // namespace switchboard::accounting
