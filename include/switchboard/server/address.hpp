// host:port parsing and formatting shared by the listener, the upstream client and tests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace switchboard::server {

// Splits "host:port" or "[v6]:port"; false when malformed or the port is out of range.
bool split_host_port(std::string_view text, std::string& host, std::uint16_t& port);

// "host:port", bracketing IPv6 literals.
std::string format_endpoint(std::string_view host, std::uint16_t port);

}  // namespace switchboard::server

#ifdef BOOST_ASIO_VERSION
#include <boost/asio/ip/tcp.hpp>
namespace switchboard::server {
// Resolves a listen address (literal IP, "localhost" or a name) at start-up; throws on failure.
boost::asio::ip::tcp::endpoint resolve_listen_address(const std::string& listen);
}  // namespace switchboard::server
#endif
