// Accept loop, TLS handshake and the per-connection HTTP/1.1 session (the only Beast server code).
#include "switchboard/server/listener.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <cctype>
#include <stdexcept>

#include "switchboard/server/address.hpp"

namespace switchboard::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

namespace {

constexpr std::size_t kHeaderLimit = 64 * 1024;
constexpr auto kWriteTimeout = std::chrono::seconds(60);

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Watches a streaming response's socket for the client closing its side, so
// the producer can cancel the upstream call instead of noticing on the next write.
struct DisconnectWatch {
  bool done = false;
  std::function<void()> on_gone;
};

template <class Stream>
class SessionWriter final : public ResponseWriter {
 public:
  SessionWriter(Stream& stream, bool keep_alive, const ServerState& state)
      : stream_(stream), keep_alive_(keep_alive), state_(state) {}

  ~SessionWriter() override { stop_watch(); }

  net::awaitable<bool> send(int status, HttpHeaders headers, std::string body) override {
    started_ = true;
    if (gone_) co_return false;
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    apply_headers(res, headers);
    res.keep_alive(keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
    auto [ec, n] = co_await http::async_write(stream_, res, kTuple);
    if (ec) gone_ = true;
    co_return !gone_;
  }

  net::awaitable<bool> start_stream(int status, HttpHeaders headers) override {
    started_ = true;
    if (gone_) co_return false;
    http::response<http::empty_body> res{static_cast<http::status>(status), 11};
    apply_headers(res, headers);
    res.keep_alive(keep_alive());
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
    auto [ec, n] = co_await http::async_write_header(stream_, sr, kTuple);
    if (ec) gone_ = true;
    co_return !gone_;
  }

  net::awaitable<bool> write(std::string_view data) override {
    if (gone_) co_return false;
    if (data.empty()) co_return true;
    beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
    auto [ec, n] = co_await net::async_write(stream_, http::make_chunk(net::buffer(data)), kTuple);
    if (ec) mark_gone();
    co_return !gone_;
  }

  net::awaitable<bool> finish() override {
    stop_watch();
    if (gone_) co_return false;
    beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
    auto [ec, n] = co_await net::async_write(stream_, http::make_chunk_last(), kTuple);
    if (ec) gone_ = true;
    co_return !gone_;
  }

  bool started() const override { return started_; }
  bool client_gone() const override { return gone_; }

  void on_client_gone(std::function<void()> callback) override {
    if (!callback) {  // the producer is done: stop watching
      stop_watch();
      return;
    }
    if (gone_) {
      callback();
      return;
    }
    watch_ = std::make_shared<DisconnectWatch>();
    watch_->on_gone = std::move(callback);
    arm_watch();
  }

  void abort() override {
    stop_watch();
    gone_ = true;
    boost::system::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  bool keep_alive() const {
    return keep_alive_ && !state_.draining.load(std::memory_order_relaxed);
  }

 private:
  template <class Message>
  void apply_headers(Message& res, const HttpHeaders& headers) {
    res.set(http::field::server, "switchboard");
    for (const auto& h : headers) res.set(h.name, h.value);
  }

  void arm_watch() {
    auto& socket = beast::get_lowest_layer(stream_).socket();
    socket.async_wait(tcp::socket::wait_read, [this, watch = watch_](boost::system::error_code ec) {
      if (watch->done || ec == net::error::operation_aborted) return;
      // Readable: either the client closed (EOF/reset) or it pipelined bytes.
      auto& sock = beast::get_lowest_layer(stream_).socket();
      char byte;
      boost::system::error_code peek_ec;
      sock.non_blocking(true);
      std::size_t n = sock.receive(net::buffer(&byte, 1), tcp::socket::message_peek, peek_ec);
      if (peek_ec == net::error::would_block || peek_ec == net::error::try_again) {
        arm_watch();
        return;
      }
      if (!peek_ec && n > 0) return;  // data, not a close: stop watching
      mark_gone();
    });
  }

  void mark_gone() {
    if (gone_) return;
    gone_ = true;
    if (watch_ && !watch_->done) {
      watch_->done = true;
      if (watch_->on_gone) watch_->on_gone();
    }
  }

  void stop_watch() {
    if (!watch_ || watch_->done) return;
    watch_->done = true;
    boost::system::error_code ignored;
    beast::get_lowest_layer(stream_).socket().cancel(ignored);
  }

  Stream& stream_;
  bool keep_alive_;
  const ServerState& state_;
  bool started_ = false;
  bool gone_ = false;
  std::shared_ptr<DisconnectWatch> watch_;
};

}  // namespace

struct Listener::Impl : std::enable_shared_from_this<Listener::Impl> {
  Impl(net::any_io_executor ex, std::function<net::any_io_executor()> next, ListenerOptions o,
       std::shared_ptr<RequestHandler> h, std::shared_ptr<ServerState> s)
      : executor(ex),
        next_worker(std::move(next)),
        options(std::move(o)),
        handler(std::move(h)),
        state(std::move(s)),
        acceptor(ex) {}

  net::any_io_executor executor;
  std::function<net::any_io_executor()> next_worker;
  ListenerOptions options;
  std::shared_ptr<RequestHandler> handler;
  std::shared_ptr<ServerState> state;
  tcp::acceptor acceptor;
  std::unique_ptr<net::ssl::context> tls;
  bool stopped = false;

  void bind() {
    auto endpoint = resolve_listen_address(options.listen);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
    if (options.tls.enabled()) {
      tls = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
      tls->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                       net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                       net::ssl::context::no_tlsv1_1);
      tls->use_certificate_chain_file(options.tls.cert_file);
      tls->use_private_key_file(options.tls.key_file, net::ssl::context::pem);
    }
  }

  net::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopped) {
      auto [ec, socket] = co_await acceptor.async_accept(next_worker(), kTuple);
      if (ec) {
        if (stopped || ec == net::error::operation_aborted) break;
        spdlog::warn("accept failed: {}", ec.message());
        continue;
      }
      socket.set_option(tcp::no_delay(true));
      auto ex = socket.get_executor();
      net::co_spawn(ex, run_connection(self, std::move(socket)), [](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("connection handler failed: {}", ex.what());
        }
      });
    }
  }

  static net::awaitable<void> run_connection(std::shared_ptr<Impl> self, tcp::socket socket) {
    self->state->connections.fetch_add(1, std::memory_order_relaxed);
    self->state->accepted.fetch_add(1, std::memory_order_relaxed);
    std::string remote;
    boost::system::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    if (!ec) remote = ep.address().to_string();
    if (self->tls) {
      beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *self->tls);
      beast::get_lowest_layer(stream).expires_after(self->options.header_timeout);
      auto [hec] = co_await stream.async_handshake(net::ssl::stream_base::server, kTuple);
      if (!hec) {
        co_await serve(*self, stream, remote);
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
        co_await stream.async_shutdown(kTuple);
      }
    } else {
      beast::tcp_stream stream(std::move(socket));
      co_await serve(*self, stream, remote);
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
    self->state->connections.fetch_sub(1, std::memory_order_relaxed);
  }

  template <class Stream>
  static net::awaitable<bool> reply_and_close(Stream& stream, http::status status,
                                              std::string_view body) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::server, "switchboard");
    res.set(http::field::content_type, "application/json");
    res.keep_alive(false);
    res.body() = std::string(body);
    res.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
    co_await http::async_write(stream, res, kTuple);
    co_return false;
  }

  template <class Stream>
  static net::awaitable<void> serve(Impl& self, Stream& stream, const std::string& remote) {
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
      auto& tcp_layer = beast::get_lowest_layer(stream);
      if (buffer.size() == 0) {
        // Between requests the idle timeout applies; once a byte arrives, the header timeout.
        tcp_layer.expires_after(first ? self.options.header_timeout : self.options.idle_timeout);
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(8192), kTuple);
        if (ec) co_return;
        buffer.commit(n);
      }
      first = false;
      tcp_layer.expires_after(self.options.header_timeout);
      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(self.options.max_request_bytes);
      auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, kTuple);
      if (hec == http::error::header_limit) {
        co_await reply_and_close(
            stream, http::status::request_header_fields_too_large,
            R"({"error":{"message":"request headers too large","type":"invalid_request_error","code":"invalid_request","param":null}})");
        co_return;
      }
      if (hec == beast::error::timeout) co_return;  // slow-loris: drop without a reply
      if (hec == http::error::body_limit) {         // a Content-Length over max_request_bytes
        co_await reply_and_close(stream, http::status::payload_too_large, too_large_body(self));
        co_return;
      }
      if (hec) {
        if (hec != http::error::end_of_stream && hec != net::error::eof &&
            hec != net::error::connection_reset && hec != net::error::operation_aborted) {
          co_await reply_and_close(
              stream, http::status::bad_request,
              R"({"error":{"message":"malformed HTTP request","type":"invalid_request_error","code":"invalid_request","param":null}})");
        }
        co_return;
      }
      auto& head = parser.get();
      auto length = parser.content_length();
      if (length && *length > self.options.max_request_bytes) {
        co_await reply_and_close(stream, http::status::payload_too_large, too_large_body(self));
        co_return;
      }
      if (head[http::field::expect] == "100-continue") {
        http::response<http::empty_body> cont{http::status::continue_, 11};
        co_await http::async_write(stream, cont, kTuple);
      }
      if (!parser.is_done()) {
        tcp_layer.expires_after(self.options.idle_timeout);
        auto [bec, bn] = co_await http::async_read(stream, buffer, parser, kTuple);
        if (bec == http::error::body_limit) {
          co_await reply_and_close(stream, http::status::payload_too_large, too_large_body(self));
          co_return;
        }
        if (bec) co_return;
      }
      tcp_layer.expires_never();

      auto message = parser.release();
      HttpRequest request;
      request.method = std::string(message.method_string());
      request.target = std::string(message.target());
      request.remote_address = remote;
      request.headers.reserve(16);
      for (const auto& field : message) {
        request.headers.push_back({lower(field.name_string()), std::string(field.value())});
      }
      request.body = std::move(message.body());

      SessionWriter<Stream> writer(stream, message.keep_alive(), *self.state);
      self.state->in_flight.fetch_add(1, std::memory_order_relaxed);
      bool failed = false;
      try {
        co_await self.handler->handle(request, writer);
      } catch (const std::exception& e) {
        spdlog::error("request handler failed: {}", e.what());
        failed = true;
      }
      if (failed && !writer.started()) {
        HttpHeaders headers{{"content-type", "application/json"}};
        co_await writer.send(
            500, std::move(headers),
            R"({"error":{"message":"internal error","type":"server_error","code":"internal_error","param":null}})");
      }
      self.state->in_flight.fetch_sub(1, std::memory_order_relaxed);
      if (writer.client_gone() || !writer.keep_alive()) co_return;
    }
  }

  static std::string too_large_body(const Impl& self) {
    return R"({"error":{"message":"request body exceeds the limit of )" +
           std::to_string(self.options.max_request_bytes) +
           R"( bytes","type":"invalid_request_error","code":"request_too_large","param":null}})";
  }
};

Listener::Listener(net::any_io_executor accept_executor,
                   std::function<net::any_io_executor()> next_worker, ListenerOptions options,
                   std::shared_ptr<RequestHandler> handler, std::shared_ptr<ServerState> state)
    : impl_(std::make_shared<Impl>(accept_executor, std::move(next_worker), std::move(options),
                                   std::move(handler), std::move(state))) {
  impl_->bind();
}

Listener::~Listener() {
  stop();
}

void Listener::start() {
  net::co_spawn(impl_->executor, impl_->accept_loop(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::critical("accept loop failed: {}", ex.what());
    }
  });
}

void Listener::stop() {
  auto impl = impl_;
  net::post(impl->executor, [impl] {
    impl->stopped = true;
    boost::system::error_code ec;
    impl->acceptor.close(ec);
  });
}

std::string Listener::bound_address() const {
  auto ep = impl_->acceptor.local_endpoint();
  return format_endpoint(ep.address().to_string(), ep.port());
}

}  // namespace switchboard::server
