// `switchboard --healthcheck URL`: a one-shot GET for container HEALTHCHECKs (the runtime image
// has no curl); exit 0 only on a 200 within the timeout.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <iostream>
#include <optional>

#include "switchboard/app/app.hpp"

namespace switchboard::app {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;
};

// http[s]://host[:port][/path]; [v6] hosts accepted.
std::optional<Url> parse_url(const std::string& text) {
  Url url;
  std::string rest;
  if (text.rfind("http://", 0) == 0) {
    rest = text.substr(7);
  } else if (text.rfind("https://", 0) == 0) {
    url.tls = true;
    rest = text.substr(8);
  } else {
    return std::nullopt;
  }
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  url.target = slash == std::string::npos ? "/" : rest.substr(slash);
  url.port = url.tls ? "443" : "80";
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) return std::nullopt;
    url.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      url.port = authority.substr(close + 2);
    }
  } else {
    auto colon = authority.rfind(':');
    url.host = authority.substr(0, colon);
    if (colon != std::string::npos) url.port = authority.substr(colon + 1);
  }
  if (url.host.empty() || url.port.empty()) return std::nullopt;
  return url;
}

// Sends the request and reads up to the end of the status line; completion handlers only record the
// outcome, the caller bounds everything with io_context::run_for.
template <class Stream>
void exchange(Stream& stream, const std::string& request, std::string& head,
              boost::system::error_code& result) {
  net::async_write(stream, net::buffer(request), [&](boost::system::error_code ec, std::size_t) {
    if (ec) {
      result = ec;
      return;
    }
    net::async_read_until(
        stream, net::dynamic_buffer(head, 4096), "\r\n",
        [&](boost::system::error_code read_ec, std::size_t) { result = read_ec; });
  });
}

}  // namespace

int run_healthcheck(const std::string& url_text, std::chrono::milliseconds timeout) {
  auto url = parse_url(url_text);
  if (!url) {
    std::cerr << "healthcheck: expected http[s]://HOST[:PORT]/PATH, got '" << url_text << "'\n";
    return 2;
  }
  net::io_context io{1};
  net::ssl::context ssl_ctx(net::ssl::context::tls_client);
  ssl_ctx.set_verify_mode(net::ssl::verify_none);  // the local process, by address: no name check
  net::ssl::stream<tcp::socket> stream(io, ssl_ctx);
  tcp::resolver resolver(io);
  std::string request = "GET " + url->target + " HTTP/1.1\r\nHost: " + url->host +
                        "\r\nUser-Agent: switchboard-healthcheck\r\nConnection: close\r\n\r\n";
  std::string head;
  boost::system::error_code result = net::error::timed_out;

  resolver.async_resolve(url->host, url->port, [&](boost::system::error_code ec, auto endpoints) {
    if (ec) {
      result = ec;
      return;
    }
    net::async_connect(stream.next_layer(), endpoints, [&](boost::system::error_code cec, auto) {
      if (cec) {
        result = cec;
        return;
      }
      if (!url->tls) {
        exchange(stream.next_layer(), request, head, result);
        return;
      }
      SSL_set_tlsext_host_name(stream.native_handle(), url->host.c_str());
      stream.async_handshake(net::ssl::stream_base::client, [&](boost::system::error_code hec) {
        if (hec) {
          result = hec;
          return;
        }
        exchange(stream, request, head, result);
      });
    });
  });
  io.run_for(timeout);
  if (!io.stopped()) {
    std::cerr << "healthcheck: " << url_text << ": no answer within " << timeout.count() << " ms\n";
    return 1;
  }
  if (result) {
    std::cerr << "healthcheck: " << url_text << ": " << result.message() << "\n";
    return 1;
  }
  std::string status_line = head.substr(0, head.find("\r\n"));
  // "HTTP/1.1 200 OK"
  auto space = status_line.find(' ');
  std::string code = space == std::string::npos ? "" : status_line.substr(space + 1, 3);
  if (code != "200") {
    std::cerr << "healthcheck: " << url_text << ": " << status_line << "\n";
    return 1;
  }
  return 0;
}

}  // namespace switchboard::app
