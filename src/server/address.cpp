// host:port parsing and listen-address resolution.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "switchboard/server/address.hpp"

#include <charconv>
#include <stdexcept>

namespace switchboard::server {

bool split_host_port(std::string_view text, std::string& host, std::uint16_t& port) {
  std::string_view h, p;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return false;
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (h.find(':') != std::string_view::npos) return false;  // unbracketed IPv6
  }
  if (h.empty() || p.empty()) return false;
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc{} || ptr != p.data() + p.size() || value > 65535) return false;
  host = std::string(h);
  port = static_cast<std::uint16_t>(value);
  return true;
}

std::string format_endpoint(std::string_view host, std::uint16_t port) {
  std::string out;
  if (host.find(':') != std::string_view::npos) {
    out.append("[").append(host).append("]");
  } else {
    out.append(host);
  }
  out.append(":").append(std::to_string(port));
  return out;
}

boost::asio::ip::tcp::endpoint resolve_listen_address(const std::string& listen) {
  std::string host;
  std::uint16_t port = 0;
  if (!split_host_port(listen, host, port)) {
    throw std::runtime_error("invalid listen address \"" + listen + "\" (want host:port)");
  }
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  if (!ec) return {address, port};
  boost::asio::io_context ctx;
  boost::asio::ip::tcp::resolver resolver(ctx);
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    throw std::runtime_error("cannot resolve listen address \"" + listen + "\": " + ec.message());
  }
  return results.begin()->endpoint();
}

}  // namespace switchboard::server
