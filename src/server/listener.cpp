// Accept loop, TLS handshake and the per-connection HTTP/1.1 session (the only Beast server code).
#include "switchboard/server/listener.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <stdexcept>

#include "switchboard/server/address.hpp"
#include "switchboard/server/deadline.hpp"
#include "switchboard/server/http1_parser.hpp"
#include "switchboard/server/http_head.hpp"
#include "switchboard/server/read_buffer.hpp"
#include "switchboard/server/write_all.hpp"

namespace switchboard::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

namespace {

constexpr std::size_t kHeaderLimit = 64 * 1024;
constexpr auto kWriteTimeout = std::chrono::seconds(60);
constexpr std::size_t kReadBufferBytes = 16 * 1024;

using TlsStream = net::ssl::stream<tcp::socket>;
tcp::socket& lowest_layer(tcp::socket& s) {
  return s;
}
tcp::socket& lowest_layer(TlsStream& s) {
  return s.next_layer();
}

// Writes a message of a few buffers. On TLS they are copied into one first (up to 16 KB, as
// Beast's flat_stream did): the SSL stream writes one record per buffer otherwise.
template <class Buffers>
auto write_buffers(tcp::socket& s, const Buffers& buffers, std::string&) {
  return net::async_write(s, buffers, TransferAll{}, kTuple);
}
template <class Buffers>
auto write_buffers(TlsStream& s, const Buffers& buffers, std::string& flat) {
  constexpr std::size_t kCoalesce = 16 * 1024;
  if (net::buffer_size(buffers) > kCoalesce) return net::async_write(s, buffers, kTuple);
  flat.clear();
  for (auto b : buffers) flat.append(static_cast<const char*>(b.data()), b.size());
  std::array<net::const_buffer, 1> one{net::buffer(flat)};
  return net::async_write(s, one, kTuple);
}

// Parses a request straight into the project's HttpRequest: names lower-cased as they arrive.
class RequestReader final : public Http1Handler {
 public:
  explicit RequestReader(HttpRequest& out) : out_(out) {}

 private:
  void on_request(std::string_view method, std::string_view target, int) override {
    out_.method.assign(method.data(), method.size());
    out_.target.assign(target.data(), target.size());
  }

  void on_response(int, int) override {}

  void on_field(std::string_view name, std::string_view value) override {
    auto& h = out_.headers.emplace_back();
    h.name.resize(name.size());
    for (std::size_t i = 0; i < name.size(); ++i) {
      char c = name[i];
      h.name[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
    h.value.assign(value.data(), value.size());
  }

  void on_body(std::string_view data) override { out_.body.append(data.data(), data.size()); }

  HttpRequest& out_;
};

// How reading a request (or its body) ended.
enum class ReadResult { ok, need_more, closed, timeout, malformed, header_limit, body_limit };

ReadResult classify(Http1Error error) {
  switch (error) {
    case Http1Error::header_limit:
      return ReadResult::header_limit;
    case Http1Error::body_limit:
      return ReadResult::body_limit;
    case Http1Error::end_of_stream:
      return ReadResult::closed;
    default:
      return ReadResult::malformed;
  }
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
  // `head` is the session's buffer for rendered response heads, reused across requests.
  SessionWriter(Stream& stream, ConnectionDeadline& deadline, std::string& head, bool keep_alive,
                const ServerState& state)
      : stream_(stream), deadline_(deadline), head_(head), keep_alive_(keep_alive), state_(state) {}

  ~SessionWriter() override { stop_watch(); }

  net::awaitable<bool> send(int status, HttpHeaders headers, std::string body) override {
    started_ = true;
    if (gone_) co_return false;
    render_response_head(head_, status, headers, keep_alive(), body.size());
    std::array<net::const_buffer, 2> message{net::buffer(head_), net::buffer(body)};
    deadline_.expires_after(kWriteTimeout);
    auto [ec, n] = co_await write_buffers(stream_, message, flat_);
    deadline_.expires_never();
    if (ec) gone_ = true;
    co_return !gone_;
  }

  net::awaitable<bool> start_stream(int status, HttpHeaders headers) override {
    started_ = true;
    if (gone_) co_return false;
    render_response_head(head_, status, headers, keep_alive(), std::nullopt);
    deadline_.expires_after(kWriteTimeout);
    auto [ec, n] = co_await net::async_write(stream_, net::buffer(head_), kTuple);
    deadline_.expires_never();
    if (ec) gone_ = true;
    co_return !gone_;
  }

  net::awaitable<bool> write(std::string_view data) override {
    if (gone_) co_return false;
    if (data.empty()) co_return true;
    // One chunk: "<hex size>\r\n", the data, "\r\n".
    char size_line[20];
    auto [end, tc] = std::to_chars(size_line, size_line + 16, data.size(), 16);
    *end++ = '\r';
    *end++ = '\n';
    std::array<net::const_buffer, 3> chunk{
        net::buffer(size_line, static_cast<std::size_t>(end - size_line)), net::buffer(data),
        net::buffer("\r\n", 2)};
    deadline_.expires_after(kWriteTimeout);
    auto [ec, n] = co_await write_buffers(stream_, chunk, flat_);
    deadline_.expires_never();
    if (ec) mark_gone();
    co_return !gone_;
  }

  net::awaitable<bool> finish() override {
    stop_watch();
    if (gone_) co_return false;
    deadline_.expires_after(kWriteTimeout);
    auto [ec, n] = co_await net::async_write(stream_, net::buffer("0\r\n\r\n", 5), kTuple);
    deadline_.expires_never();
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
    lowest_layer(stream_).shutdown(tcp::socket::shutdown_both, ignored);
    lowest_layer(stream_).close(ignored);
  }

  bool keep_alive() const {
    return keep_alive_ && !state_.draining.load(std::memory_order_relaxed);
  }

 private:
  void arm_watch() {
    auto& socket = lowest_layer(stream_);
    socket.async_wait(tcp::socket::wait_read, [this, watch = watch_](boost::system::error_code ec) {
      if (watch->done || ec == net::error::operation_aborted) return;
      // Readable: either the client closed (EOF/reset) or it pipelined bytes.
      auto& sock = lowest_layer(stream_);
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
    lowest_layer(stream_).cancel(ignored);
  }

  Stream& stream_;
  ConnectionDeadline& deadline_;
  std::string& head_;
  std::string flat_;  // a TLS message's buffers copied into one
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
      TlsStream stream(std::move(socket), *self->tls);
      ConnectionDeadline deadline(stream.get_executor(), stream.next_layer());
      deadline.expires_after(self->options.header_timeout);
      auto [hec] = co_await stream.async_handshake(net::ssl::stream_base::server, kTuple);
      if (!hec) {
        co_await serve(*self, stream, deadline, remote);
        deadline.expires_after(std::chrono::seconds(2));
        co_await stream.async_shutdown(kTuple);
      }
    } else {
      ConnectionDeadline deadline(socket.get_executor(), socket);
      co_await serve(*self, socket, deadline, remote);
      socket.shutdown(tcp::socket::shutdown_send, ec);
    }
    self->state->connections.fetch_sub(1, std::memory_order_relaxed);
  }

  template <class Stream>
  static net::awaitable<bool> reply_and_close(Stream& stream, ConnectionDeadline& deadline,
                                              int status, std::string_view body) {
    std::string head;
    HttpHeaders headers{{"Content-Type", "application/json"}};
    render_response_head(head, status, headers, /*keep_alive=*/false, body.size());
    std::array<net::const_buffer, 2> message{net::buffer(head), net::buffer(body)};
    deadline.expires_after(std::chrono::seconds(5));
    std::string flat;
    co_await write_buffers(stream, message, flat);
    co_return false;
  }

  // Starts a read of more bytes into `buffer` (commit what it returns): an awaitable, not a
  // coroutine of its own, so a read costs no extra frame.
  template <class Stream>
  static auto read_some(Stream& stream, ReadBuffer& buffer) {
    std::size_t room = 0;
    char* at = buffer.prepare(kReadBufferBytes, room);
    return stream.async_read_some(net::buffer(at, room), kTuple);
  }

  // feed_parser() with the listener's outcome: need_more when it wants more bytes.
  template <class Done>
  static ReadResult feed(Http1Parser& parser, ReadBuffer& buffer, Done done) {
    auto error = feed_parser(parser, buffer, done);
    if (error == Http1Error::none) return ReadResult::ok;
    if (error == Http1Error::need_more) return ReadResult::need_more;
    return classify(error);
  }

  // feed(), reading more as needed. Only a message that did not arrive whole with its first
  // read comes here, so the common request costs no coroutine frame for it.
  template <class Stream, class Done>
  static net::awaitable<ReadResult> read_until(Stream& stream, ReadBuffer& buffer,
                                               ConnectionDeadline& deadline, Http1Parser& parser,
                                               Done done) {
    for (;;) {
      auto [ec, n] = co_await read_some(stream, buffer);
      buffer.commit(n);
      if (ec == net::error::eof) {
        Http1Error error = Http1Error::none;
        parser.put_eof(error);
        if (error == Http1Error::none && done()) co_return ReadResult::ok;
        co_return classify(error);
      }
      if (ec) co_return deadline.expired() ? ReadResult::timeout : ReadResult::closed;
      auto result = feed(parser, buffer, done);
      if (result != ReadResult::need_more) co_return result;
    }
  }

  template <class Stream>
  static net::awaitable<void> serve(Impl& self, Stream& stream, ConnectionDeadline& deadline,
                                    const std::string& remote) {
    ReadBuffer buffer(kReadBufferBytes);
    std::string response_head;  // rendered into one buffer per session
    response_head.reserve(512);
    bool first = true;
    for (;;) {
      if (buffer.empty()) {
        // Between requests the idle timeout applies; once a byte arrives, the header timeout.
        deadline.expires_after(first ? self.options.header_timeout : self.options.idle_timeout);
        auto [ec, n] = co_await read_some(stream, buffer);
        buffer.commit(n);
        if (ec) co_return;
      }
      first = false;
      deadline.expires_after(self.options.header_timeout);
      HttpRequest request;
      request.headers.reserve(12);  // 768 bytes: below malloc's large-chunk path
      RequestReader reader(request);
      Http1Parser parser(/*request=*/true, reader);
      parser.header_limit(kHeaderLimit);
      parser.body_limit(self.options.max_request_bytes);
      auto head_done = [&parser] { return parser.header_done(); };
      auto head = feed(parser, buffer, head_done);
      if (head == ReadResult::need_more)
        head = co_await read_until(stream, buffer, deadline, parser, head_done);
      if (head == ReadResult::header_limit) {
        co_await reply_and_close(
            stream, deadline, 431,
            R"({"error":{"message":"request headers too large","type":"invalid_request_error","code":"invalid_request","param":null}})");
        co_return;
      }
      if (head == ReadResult::body_limit) {  // a Content-Length over max_request_bytes
        co_await reply_and_close(stream, deadline, 413, too_large_body(self));
        co_return;
      }
      if (head == ReadResult::malformed) {
        co_await reply_and_close(
            stream, deadline, 400,
            R"({"error":{"message":"malformed HTTP request","type":"invalid_request_error","code":"invalid_request","param":null}})");
        co_return;
      }
      if (head != ReadResult::ok) co_return;  // closed, or slow headers: drop without a reply
      if (request.header("expect") == "100-continue") {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await net::async_write(stream, net::buffer(kContinue.data(), kContinue.size()), kTuple);
      }
      if (!parser.done()) {
        if (auto length = parser.content_length()) request.body.reserve(*length);
        deadline.expires_after(self.options.idle_timeout);
        auto body_done = [&parser] { return parser.done(); };
        auto body = feed(parser, buffer, body_done);
        if (body == ReadResult::need_more)
          body = co_await read_until(stream, buffer, deadline, parser, body_done);
        if (body == ReadResult::body_limit) {
          co_await reply_and_close(stream, deadline, 413, too_large_body(self));
          co_return;
        }
        if (body == ReadResult::malformed) {  // a bad chunk, or cut short
          co_await reply_and_close(
              stream, deadline, 400,
              R"({"error":{"message":"malformed HTTP request body","type":"invalid_request_error","code":"invalid_request","param":null}})");
          co_return;
        }
        if (body != ReadResult::ok) co_return;
      }
      deadline.expires_never();

      request.remote_address = remote;

      SessionWriter<Stream> writer(stream, deadline, response_head, parser.keep_alive(),
                                   *self.state);
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
