// A completion condition for net::async_write that offers the kernel everything still to send.
// Asio's own conditions cap each write at 64 KB, so a large body (an OTLP batch of ~750 KB, a
// long prompt) took a write call, and often an epoll wait, per 64 KB.
#pragma once

#include <boost/system/error_code.hpp>
#include <cstddef>

namespace switchboard::server {

struct TransferAll {
  std::size_t operator()(const boost::system::error_code& ec, std::size_t) const {
    return ec ? 0 : std::size_t{1} << 30;  // the socket takes what fits in its buffer
  }
};

}  // namespace switchboard::server
