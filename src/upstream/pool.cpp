// Pooled keep-alive upstream connections (plain or TLS with SNI and host-name checks) and the HTTP
// call.
#include "switchboard/upstream/pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <optional>
#include <vector>

#include "switchboard/server/http_head.hpp"

namespace switchboard::upstream {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr std::string_view kUserAgent = "switchboard/" SWITCHBOARD_VERSION;

std::string_view call_error_name(CallError e) {
  switch (e) {
    case CallError::none:
      return "none";
    case CallError::connect:
      return "connect_error";
    case CallError::tls:
      return "tls_error";
    case CallError::timeout:
      return "timeout";
    case CallError::reset:
      return "connection_reset";
    case CallError::protocol:
      return "protocol_error";
    case CallError::cancelled:
      return "cancelled";
    case CallError::pool_exhausted:
      return "pool_exhausted";
  }
  return "unknown";
}

bool parse_base_url(std::string_view url, UpstreamEndpoint& out, std::string& error) {
  UpstreamEndpoint ep;
  if (url.starts_with("https://")) {
    ep.tls = true;
    ep.port = 443;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    ep.tls = false;
    ep.port = 80;
    url.remove_prefix(7);
  } else {
    error = "base_url must start with http:// or https://";
    return false;
  }
  auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : url.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (authority.empty()) {
    error = "base_url has no host";
    return false;
  }
  std::string_view host = authority;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "base_url has an unterminated IPv6 literal";
      return false;
    }
    host = authority.substr(1, close - 1);
    authority.remove_prefix(close + 1);
    if (!authority.empty() && authority.front() != ':') {
      error = "base_url has junk after the IPv6 literal";
      return false;
    }
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    authority = colon == std::string_view::npos ? "" : authority.substr(colon);
  }
  if (!authority.empty()) {  // ":port"
    unsigned port = 0;
    auto digits = authority.substr(1);
    if (digits.empty()) {
      error = "base_url has an empty port";
      return false;
    }
    for (char c : digits) {
      if (c < '0' || c > '9' || port > 65535) {
        error = "base_url has an invalid port";
        return false;
      }
      port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port == 0 || port > 65535) {
      error = "base_url has an invalid port";
      return false;
    }
    ep.port = static_cast<std::uint16_t>(port);
  }
  ep.host = std::string(host);
  ep.base_path = std::string(path);
  out = std::move(ep);
  return true;
}

namespace {

// Reads take up to this much per system call; a flat_buffer left to grow on its own reads
// 512 bytes at a time.
constexpr std::size_t kReadBufferBytes = 16 * 1024;
// An idle connection younger than this is taken as alive without asking the kernel: an
// upstream closing it meanwhile costs the stale-connection retry in HttpCall::start.
constexpr auto kTrustIdleFor = std::chrono::seconds(1);

struct Connection {
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  std::string head;                            // the request head being sent
  std::array<char, kReadBufferBytes> body_in;  // where the parser puts body bytes
  Clock::time_point idle_since{};

  Connection() { buffer.reserve(kReadBufferBytes); }

  beast::tcp_stream& tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  // True when an idle connection has not been closed by the upstream meanwhile. `verify`
  // asks the kernel even for a connection idle for less than kTrustIdleFor.
  bool alive(Clock::time_point now, bool verify) {
    auto& sock = tcp().socket();
    if (!sock.is_open() || buffer.size() != 0) return false;
    if (!verify && now - idle_since < kTrustIdleFor) return true;
    // A peek that would block: nothing pending, no FIN. MSG_DONTWAIT leaves the socket's
    // blocking mode alone (no FIONBIO round trip).
    char byte;
    auto n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

CallError map_error(const boost::system::error_code& ec, bool cancelled) {
  if (cancelled) return CallError::cancelled;
  if (ec == beast::error::timeout) return CallError::timeout;
  if (ec.category() == net::error::get_ssl_category() || ec == net::ssl::error::stream_truncated)
    return CallError::reset;
  if (ec.category() == http::make_error_code(http::error::bad_version).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message)
    return CallError::protocol;
  return CallError::reset;
}

}  // namespace

struct UpstreamPool::Impl : std::enable_shared_from_this<UpstreamPool::Impl> {
  Impl(net::any_io_executor ex, PoolOptions o)
      : executor(ex),
        options(std::move(o)),
        resolver(ex),
        port_text(std::to_string(options.endpoint.port)) {
    if (options.endpoint.tls) {
      ssl = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
      ssl->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                       net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                       net::ssl::context::no_tlsv1_1);
      if (options.tls.verify) {
        if (!options.tls.ca_file.empty()) {
          ssl->load_verify_file(options.tls.ca_file);
        } else {
          ssl->set_default_verify_paths();
        }
        ssl->set_verify_mode(net::ssl::verify_peer);
      } else {
        ssl->set_verify_mode(net::ssl::verify_none);
      }
    }
    bool default_port = options.endpoint.port == (options.endpoint.tls ? 443 : 80);
    host_header = options.endpoint.host.find(':') != std::string::npos
                      ? "[" + options.endpoint.host + "]"
                      : options.endpoint.host;
    if (!default_port) host_header += ":" + port_text;
    boost::system::error_code ec;
    net::ip::make_address(options.endpoint.host, ec);
    host_is_ip = !ec;
  }

  net::any_io_executor executor;
  PoolOptions options;
  tcp::resolver resolver;
  std::string port_text;
  std::string host_header;
  bool host_is_ip = false;
  std::unique_ptr<net::ssl::context> ssl;
  std::vector<std::unique_ptr<Connection>> idle_list;
  std::atomic<std::int64_t> active_count{0};
  std::atomic<std::int64_t> idle_count{0};
  std::atomic<std::uint64_t> opened_count{0};

  struct Acquired {
    CallError error = CallError::none;
    std::unique_ptr<Connection> connection;
    bool reused = false;
  };

  // `verify_idle`: check every idle connection with the kernel before using it (the retry
  // after a stale one: when an upstream restarts, all its pooled connections are dead).
  net::awaitable<Acquired> acquire(bool verify_idle = false) {
    auto now = Clock::now();
    while (!idle_list.empty()) {
      auto c = std::move(idle_list.back());
      idle_list.pop_back();
      idle_count.fetch_sub(1, std::memory_order_relaxed);
      if (c->alive(now, verify_idle)) {
        active_count.fetch_add(1, std::memory_order_relaxed);
        co_return Acquired{CallError::none, std::move(c), true};
      }
    }
    auto give_up = Clock::now() + options.timeouts.connect;
    net::steady_timer wait(executor);
    while (active_count.load(std::memory_order_relaxed) >= options.max_connections) {
      if (!idle_list.empty()) co_return co_await acquire(verify_idle);
      if (Clock::now() >= give_up) co_return Acquired{CallError::pool_exhausted, nullptr, false};
      wait.expires_after(std::chrono::milliseconds(2));
      co_await wait.async_wait(kTuple);
    }
    active_count.fetch_add(1, std::memory_order_relaxed);
    auto result = co_await connect();
    if (result.error != CallError::none) active_count.fetch_sub(1, std::memory_order_relaxed);
    co_return result;
  }

  net::awaitable<Acquired> connect() {
    auto deadline = Clock::now() + options.timeouts.connect;
    auto [rec, results] = co_await resolver.async_resolve(options.endpoint.host, port_text, kTuple);
    if (rec) co_return Acquired{CallError::connect, nullptr, false};
    auto c = std::make_unique<Connection>();
    if (ssl) {
      c->secure.emplace(executor, *ssl);
    } else {
      c->plain.emplace(executor);
    }
    c->tcp().expires_at(deadline);
    auto [cec, ep] = co_await c->tcp().async_connect(results, kTuple);
    if (cec) {
      co_return Acquired{cec == beast::error::timeout ? CallError::timeout : CallError::connect,
                         nullptr, false};
    }
    c->tcp().socket().set_option(tcp::no_delay(true));
    if (ssl) {
      auto* handle = c->secure->native_handle();
      if (!host_is_ip) SSL_set_tlsext_host_name(handle, options.endpoint.host.c_str());
      if (options.tls.verify) {
        c->secure->set_verify_callback(net::ssl::host_name_verification(options.endpoint.host));
      }
      auto [hec] = co_await c->secure->async_handshake(net::ssl::stream_base::client, kTuple);
      if (hec) {
        co_return Acquired{hec == beast::error::timeout ? CallError::timeout : CallError::tls,
                           nullptr, false};
      }
    }
    c->tcp().expires_never();
    opened_count.fetch_add(1, std::memory_order_relaxed);
    co_return Acquired{CallError::none, std::move(c), false};
  }

  void release(std::unique_ptr<Connection> c, bool reusable) {
    active_count.fetch_sub(1, std::memory_order_relaxed);
    if (reusable && c->buffer.size() == 0 && idle_list.size() < options.max_connections) {
      c->tcp().expires_never();
      c->idle_since = Clock::now();
      idle_list.push_back(std::move(c));
      idle_count.fetch_add(1, std::memory_order_relaxed);
    }
  }
};

namespace {

class HttpCall final : public UpstreamCall {
 public:
  explicit HttpCall(std::shared_ptr<UpstreamPool::Impl> pool) : pool_(std::move(pool)) {}

  ~HttpCall() override {
    if (connection_) pool_->release(std::move(connection_), false);
  }

  net::awaitable<CallError> start(UpstreamRequest request) override {
    auto begin = Clock::now();
    deadline_ = begin + pool_->options.timeouts.total;
    CallError result = CallError::none;
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto acquired = co_await pool_->acquire(/*verify_idle=*/attempt > 0);
      if (acquired.error != CallError::none) {
        result = acquired.error;
        break;
      }
      connection_ = std::move(acquired.connection);
      if (cancelled_) {
        result = CallError::cancelled;
        break;
      }
      // Head and body go out in one write; the head buffer is the connection's, reused.
      server::render_request_head(connection_->head, request.method, request.target,
                                  pool_->host_header, kUserAgent, request.headers,
                                  request.body.size());
      auto first_byte = std::min(Clock::now() + pool_->options.timeouts.first_byte, deadline_);
      connection_->tcp().expires_at(first_byte);
      std::array<net::const_buffer, 2> message{net::buffer(connection_->head),
                                               net::buffer(request.body)};
      // Each operation is awaited here on whichever stream the connection has: a helper
      // coroutine per operation would cost a frame allocation each.
      auto write = [&](auto& s) { return net::async_write(s, message, kTuple); };
      auto ec = std::get<0>(connection_->secure ? co_await write(*connection_->secure)
                                                : co_await write(*connection_->plain));
      if (!ec) {
        parser_.emplace();
        parser_->body_limit(boost::none);
        auto read_head = [&](auto& s) {
          return http::async_read_header(s, connection_->buffer, *parser_, kTuple);
        };
        ec = std::get<0>(connection_->secure ? co_await read_head(*connection_->secure)
                                             : co_await read_head(*connection_->plain));
      }
      if (!ec) {
        status_ = parser_->get().result_int();
        break;
      }
      // A pooled connection the upstream closed while idle: try once more on a fresh one.
      bool stale = acquired.reused && attempt == 0 && !cancelled_ && ec != beast::error::timeout;
      pool_->release(std::move(connection_), false);
      parser_.reset();
      if (!stale) {
        result = map_error(ec, cancelled_);
        break;
      }
    }
    upstream_ms_ += std::chrono::duration<double, std::milli>(Clock::now() - begin).count();
    co_return result;
  }

  int status() const override { return status_; }

  std::string_view header(std::string_view lower_name) const override {
    if (!parser_) return {};
    auto it = parser_->get().find(lower_name);
    if (it == parser_->get().end()) return {};
    return it->value();
  }

  net::awaitable<CallError> read(std::string& out) override {
    if (done_) co_return CallError::none;
    if (!connection_ || !parser_) co_return cancelled_ ? CallError::cancelled : CallError::reset;
    auto begin = Clock::now();
    CallError result = CallError::none;
    for (;;) {
      if (parser_->is_done()) {
        finish_ok();
        break;
      }
      auto& in = connection_->body_in;
      auto& body = parser_->get().body();
      body.data = in.data();
      body.size = in.size();
      connection_->tcp().expires_at(deadline_);
      auto read_some = [&](auto& s) {
        return http::async_read_some(s, connection_->buffer, *parser_, kTuple);
      };
      auto ec = std::get<0>(connection_->secure ? co_await read_some(*connection_->secure)
                                                : co_await read_some(*connection_->plain));
      if (ec == http::error::need_buffer) ec = {};
      std::size_t got = in.size() - parser_->get().body().size;
      if (ec) {
        result = map_error(ec, cancelled_);
        pool_->release(std::move(connection_), false);
        break;
      }
      out.append(in.data(), got);
      if (parser_->is_done()) {
        finish_ok();
        break;
      }
      if (got > 0) break;
    }
    upstream_ms_ += std::chrono::duration<double, std::milli>(Clock::now() - begin).count();
    co_return result;
  }

  bool done() const override { return done_; }

  void cancel() override {
    cancelled_ = true;
    if (connection_) {
      boost::system::error_code ec;
      connection_->tcp().socket().cancel(ec);
      connection_->tcp().socket().close(ec);
    }
  }

  double upstream_ms() const override { return upstream_ms_; }

 private:
  void finish_ok() {
    done_ = true;
    // A body delimited by the upstream closing the connection leaves nothing to reuse.
    bool reusable = parser_->get().keep_alive() && !parser_->need_eof() && !cancelled_;
    connection_->tcp().expires_never();
    pool_->release(std::move(connection_), reusable);
  }

  std::shared_ptr<UpstreamPool::Impl> pool_;
  std::unique_ptr<Connection> connection_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  Clock::time_point deadline_{};
  int status_ = 0;
  bool done_ = false;
  bool cancelled_ = false;
  double upstream_ms_ = 0;
};

}  // namespace

UpstreamPool::UpstreamPool(net::any_io_executor executor, PoolOptions options)
    : impl_(std::make_shared<Impl>(executor, std::move(options))) {}

UpstreamPool::~UpstreamPool() = default;

std::unique_ptr<UpstreamCall> UpstreamPool::make_call() {
  return std::make_unique<HttpCall>(impl_);
}
const PoolOptions& UpstreamPool::options() const {
  return impl_->options;
}
std::int64_t UpstreamPool::active() const {
  return impl_->active_count.load(std::memory_order_relaxed);
}
std::int64_t UpstreamPool::idle() const {
  return impl_->idle_count.load(std::memory_order_relaxed);
}
std::uint64_t UpstreamPool::opened() const {
  return impl_->opened_count.load(std::memory_order_relaxed);
}

}  // namespace switchboard::upstream
