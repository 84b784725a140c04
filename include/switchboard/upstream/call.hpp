// One upstream attempt in flight, independent of transport (pooled HTTP/TLS or the in-process
// mock).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "switchboard/server/http.hpp"

namespace switchboard::upstream {

struct UpstreamRequest {
  std::string method = "POST";
  std::string target;  // absolute path and query on the upstream host
  server::HttpHeaders headers;
  std::string body;
};

enum class CallError {
  none,
  connect,         // refused, unreachable, DNS
  tls,             // handshake or certificate verification failed
  timeout,         // connect, first byte or total deadline passed
  reset,           // connection closed or reset mid-response
  protocol,        // malformed HTTP from upstream
  cancelled,       // cancel() was called (client gone)
  pool_exhausted,  // max_connections in use and none freed in time
};

std::string_view call_error_name(CallError e);

class UpstreamCall {
 public:
  virtual ~UpstreamCall() = default;
  // Sends the request and waits for the response head (bounded by the first-byte timeout).
  virtual boost::asio::awaitable<CallError> start(UpstreamRequest request) = 0;
  virtual int status() const = 0;
  virtual std::string_view header(std::string_view lower_name) const = 0;
  // Appends the next piece of the body to `out`. At the end of the body returns
  // none with done() true. Bounded by the total deadline.
  virtual boost::asio::awaitable<CallError> read(std::string& out) = 0;
  virtual bool done() const = 0;
  // Aborts from outside (the client left): the pending operation ends with `cancelled`
  // and the connection is closed rather than returned to the pool.
  virtual void cancel() = 0;
  // Milliseconds spent waiting on the upstream so far (for the gateway-overhead metric).
  virtual double upstream_ms() const = 0;
  // The whole request reached the upstream (it was written to the connection that the response
  // was, or would have been, read from): the provider may be working on it, and may bill it.
  virtual bool request_sent() const = 0;
};

}  // namespace switchboard::upstream
