// Pooled keep-alive upstream connections (plain or TLS with SNI and host-name checks) and the HTTP
// call.
#include "switchboard/upstream/pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/container/small_vector.hpp>

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <optional>
#include <vector>

#include "switchboard/server/deadline.hpp"
#include "switchboard/server/http1_parser.hpp"
#include "switchboard/server/http_head.hpp"
#include "switchboard/server/read_buffer.hpp"
#include "switchboard/server/write_all.hpp"

namespace switchboard::upstream {

namespace net = boost::asio;
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
// Request bodies up to this size go out in the head's TLS record (as Beast's flat_stream did).
constexpr std::size_t kCoalesceBytes = 16 * 1024;

using TlsStream = net::ssl::stream<tcp::socket>;

struct Connection {
  std::optional<tcp::socket> plain;
  std::optional<TlsStream> secure;
  std::optional<server::ConnectionDeadline> deadline;  // after the socket: destroyed first
  server::ReadBuffer buffer{kReadBufferBytes};
  std::string head;  // the request head being sent
  Clock::time_point idle_since{};

  tcp::socket& socket() { return secure ? secure->next_layer() : *plain; }

  // True when an idle connection has not been closed by the upstream meanwhile. `verify`
  // asks the kernel even for a connection idle for less than kTrustIdleFor.
  bool alive(Clock::time_point now, bool verify) {
    auto& sock = socket();
    if (!sock.is_open() || !buffer.empty()) return false;
    if (!verify && now - idle_since < kTrustIdleFor) return true;
    // A peek that would block: nothing pending, no FIN. MSG_DONTWAIT leaves the socket's
    // blocking mode alone (no FIONBIO round trip).
    char byte;
    auto n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

// Keeps a response head's fields as lower-cased slices of one string, and hands body bytes to
// the caller's string as they are parsed: no field container, no body buffer.
class ResponseReader final : public server::Http1Handler {
 public:
  ResponseReader() : parser_(/*request=*/false, *this) {
    parser_.body_limit(std::nullopt);
    head_.reserve(512);
  }
  ResponseReader(const ResponseReader&) = delete;
  ResponseReader& operator=(const ResponseReader&) = delete;

  server::Http1Parser& parser() { return parser_; }

  // The first field of that name (ASCII case-insensitively), trimmed; empty when absent.
  std::string_view header(std::string_view lower_name) const {
    for (const auto& f : fields_) {
      if (f.name_size == lower_name.size() &&
          iequals_lower(std::string_view(head_).substr(f.name_at, f.name_size), lower_name))
        return std::string_view(head_).substr(f.value_at, f.value_size);
    }
    return {};
  }

  // Where body bytes go during the next put() calls. The head is parsed alone (put() returns
  // after it), so no body byte arrives before read() sets one.
  void sink(std::string* out) { sink_ = out; }

 private:
  struct Field {
    std::uint32_t name_at, name_size, value_at, value_size;
  };

  void on_request(std::string_view, std::string_view, int) override {}
  void on_response(int, int) override {}

  // The head is copied once; fields are offsets into the copy.
  void on_head(std::string_view head) override {
    head_.assign(head.data(), head.size());
    head_at_ = head.data();
  }

  void on_field(std::string_view name, std::string_view value) override {
    Field f{};
    f.name_at = static_cast<std::uint32_t>(name.data() - head_at_);
    f.name_size = static_cast<std::uint32_t>(name.size());
    f.value_at = static_cast<std::uint32_t>(value.data() - head_at_);
    f.value_size = static_cast<std::uint32_t>(value.size());
    fields_.push_back(f);
  }

  static bool iequals_lower(std::string_view a, std::string_view lower) {
    for (std::size_t i = 0; i < a.size(); ++i) {
      char c = a[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != lower[i]) return false;
    }
    return true;
  }

  void on_body(std::string_view data) override { sink_->append(data.data(), data.size()); }

  server::Http1Parser parser_;
  std::string head_;
  const char* head_at_ = nullptr;  // where the parser's view of the head began
  boost::container::small_vector<Field, 16> fields_;
  std::string* sink_ = nullptr;
};

// What a failed write or read of the connection means for the call.
CallError io_error(Connection& c, bool cancelled) {
  if (cancelled) return CallError::cancelled;
  return c.deadline->expired() ? CallError::timeout : CallError::reset;
}

// After the upstream closed the connection: none when that completed the message (a body
// delimited by the close), else reset.
CallError at_eof(server::Http1Parser& parser) {
  server::Http1Error error = server::Http1Error::none;
  parser.put_eof(error);
  return error == server::Http1Error::none && parser.done() ? CallError::none : CallError::reset;
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
    c->deadline.emplace(executor, c->socket());
    c->deadline->expires_at(deadline);
    // One endpoint at a time, so a deadline that closes the socket ends the whole attempt
    // (a range connect would open the next endpoint's socket after it).
    boost::system::error_code cec = net::error::host_not_found;
    for (const auto& entry : results) {
      if (c->deadline->expired()) break;
      boost::system::error_code ignored;
      c->socket().close(ignored);
      auto [ec] = co_await c->socket().async_connect(entry.endpoint(), kTuple);
      cec = ec;
      if (!cec) break;
    }
    if (cec || c->deadline->expired()) {
      co_return Acquired{c->deadline->expired() ? CallError::timeout : CallError::connect, nullptr,
                         false};
    }
    c->socket().set_option(tcp::no_delay(true));
    if (ssl) {
      auto* handle = c->secure->native_handle();
      if (!host_is_ip) SSL_set_tlsext_host_name(handle, options.endpoint.host.c_str());
      if (options.tls.verify) {
        c->secure->set_verify_callback(net::ssl::host_name_verification(options.endpoint.host));
      }
      auto [hec] = co_await c->secure->async_handshake(net::ssl::stream_base::client, kTuple);
      if (hec) {
        co_return Acquired{c->deadline->expired() ? CallError::timeout : CallError::tls, nullptr,
                           false};
      }
    }
    c->deadline->expires_never();
    opened_count.fetch_add(1, std::memory_order_relaxed);
    co_return Acquired{CallError::none, std::move(c), false};
  }

  void release(std::unique_ptr<Connection> c, bool reusable) {
    active_count.fetch_sub(1, std::memory_order_relaxed);
    if (reusable && c->buffer.empty() && idle_list.size() < options.max_connections) {
      c->deadline->expires_never();
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
      request_sent_ = false;  // a retry on a fresh connection after a stale one
      if (cancelled_) {
        result = CallError::cancelled;
        break;
      }
      auto& c = *connection_;
      // Head and body go out in one write; the head buffer is the connection's, reused.
      server::render_request_head(c.head, request.method, request.target, pool_->host_header,
                                  kUserAgent, request.headers, request.body.size());
      c.deadline->expires_at(
          std::min(Clock::now() + pool_->options.timeouts.first_byte, deadline_));
      // On TLS a small body joins the head: the SSL stream writes a record per buffer.
      bool joined = c.secure && request.body.size() <= kCoalesceBytes;
      if (joined) c.head.append(request.body);
      std::array<net::const_buffer, 2> message{
          net::buffer(c.head), joined ? net::const_buffer() : net::buffer(request.body)};
      // Each operation is awaited here on whichever stream the connection has: a helper
      // coroutine per operation would cost a frame allocation each.
      auto write = [&](auto& s) {
        return net::async_write(s, message, server::TransferAll{}, kTuple);
      };
      auto [wec, wn] = c.secure ? co_await write(*c.secure) : co_await write(*c.plain);
      CallError error = wec ? io_error(c, cancelled_) : CallError::none;
      if (error == CallError::none) {
        request_sent_ = true;
        reader_.emplace();
        auto& parser = reader_->parser();
        for (;;) {  // the head
          auto perror = server::feed_parser(parser, c.buffer, [&] { return parser.header_done(); });
          if (perror == server::Http1Error::none) break;
          if (perror != server::Http1Error::need_more) {
            error = CallError::protocol;
            break;
          }
          std::size_t room = 0;
          char* at = c.buffer.prepare(kReadBufferBytes, room);
          auto read_some = [&](auto& s) {
            return s.async_read_some(net::buffer(at, room), kTuple);
          };
          auto [rec, n] = c.secure ? co_await read_some(*c.secure) : co_await read_some(*c.plain);
          c.buffer.commit(n);
          if (rec) {  // a close before the whole head is a reset (a stale pooled connection)
            error = rec == net::error::eof ? CallError::reset : io_error(c, cancelled_);
            break;
          }
        }
      }
      if (error == CallError::none) {
        status_ = reader_->parser().status();
        break;
      }
      // A pooled connection the upstream closed while idle: try once more on a fresh one.
      bool stale = acquired.reused && attempt == 0 && !cancelled_ && error != CallError::timeout;
      pool_->release(std::move(connection_), false);
      reader_.reset();
      if (!stale) {
        result = cancelled_ ? CallError::cancelled : error;
        break;
      }
    }
    upstream_ms_ += std::chrono::duration<double, std::milli>(Clock::now() - begin).count();
    co_return result;
  }

  int status() const override { return status_; }

  std::string_view header(std::string_view lower_name) const override {
    if (!reader_) return {};
    return reader_->header(lower_name);
  }

  net::awaitable<CallError> read(std::string& out) override {
    if (done_) co_return CallError::none;
    if (!connection_ || !reader_) co_return cancelled_ ? CallError::cancelled : CallError::reset;
    auto begin = Clock::now();
    auto& c = *connection_;
    auto& reader = *reader_;
    auto& parser = reader.parser();
    std::size_t before = out.size();
    reader.sink(&out);
    c.deadline->expires_at(deadline_);
    CallError result = CallError::none;
    for (;;) {
      auto perror = server::feed_parser(parser, c.buffer,
                                        [&] { return parser.done() || out.size() > before; });
      if (perror == server::Http1Error::none) break;
      if (perror != server::Http1Error::need_more) {
        result = CallError::protocol;
        break;
      }
      std::size_t room = 0;
      char* at = c.buffer.prepare(kReadBufferBytes, room);
      auto read_some = [&](auto& s) { return s.async_read_some(net::buffer(at, room), kTuple); };
      auto [ec, n] = c.secure ? co_await read_some(*c.secure) : co_await read_some(*c.plain);
      c.buffer.commit(n);
      if (ec == net::error::eof) {
        result = at_eof(parser);
        break;
      }
      if (ec) {
        result = io_error(c, cancelled_);
        break;
      }
    }
    reader.sink(nullptr);
    if (result != CallError::none) {
      if (cancelled_) result = CallError::cancelled;
      pool_->release(std::move(connection_), false);
    } else if (parser.done()) {
      finish_ok();
    }
    upstream_ms_ += std::chrono::duration<double, std::milli>(Clock::now() - begin).count();
    co_return result;
  }

  bool done() const override { return done_; }

  void cancel() override {
    cancelled_ = true;
    if (connection_) {
      boost::system::error_code ec;
      connection_->socket().cancel(ec);
      connection_->socket().close(ec);
    }
  }

  double upstream_ms() const override { return upstream_ms_; }
  bool request_sent() const override { return request_sent_; }

 private:
  void finish_ok() {
    done_ = true;
    // A body delimited by the upstream closing the connection leaves nothing to reuse.
    auto& parser = reader_->parser();
    bool reusable = parser.keep_alive() && !parser.need_eof() && !cancelled_;
    connection_->deadline->expires_never();
    pool_->release(std::move(connection_), reusable);
  }

  std::shared_ptr<UpstreamPool::Impl> pool_;
  std::unique_ptr<Connection> connection_;
  std::optional<ResponseReader> reader_;
  Clock::time_point deadline_{};
  int status_ = 0;
  bool done_ = false;
  bool cancelled_ = false;
  bool request_sent_ = false;
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
