// The project's own HTTP request/response types, so handlers never see Beast.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard::server {

struct HttpHeader {
  std::string name;  // lower-case
  std::string value;
};

using HttpHeaders = std::vector<HttpHeader>;

// Finds a header by its lower-case name; empty when absent.
std::string_view find_header(const HttpHeaders& headers, std::string_view lower_name);

struct HttpRequest {
  std::string method;
  std::string target;  // path and query
  HttpHeaders headers;
  std::string body;
  std::string remote_address;

  std::string_view header(std::string_view lower_name) const {
    return find_header(headers, lower_name);
  }
  std::string_view path() const;   // target without the query
  std::string_view query() const;  // after '?', empty when none
};

// Writes one response to the client: either whole (`send`) or streamed
// (`start_stream`, `write`..., `finish`). Every call returns false once the
// client is gone; the caller then stops producing.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;

  virtual boost::asio::awaitable<bool> send(int status, HttpHeaders headers, std::string body) = 0;
  // Chunked transfer; `headers` should carry the content type.
  virtual boost::asio::awaitable<bool> start_stream(int status, HttpHeaders headers) = 0;
  virtual boost::asio::awaitable<bool> write(std::string_view data) = 0;
  virtual boost::asio::awaitable<bool> finish() = 0;

  // True once a response (or its head) has been written.
  virtual bool started() const = 0;
  // True once a write failed or the client closed its side.
  virtual bool client_gone() const = 0;
  // During a stream: calls `callback` (once, on the connection's thread) as soon as
  // the client closes its side, so the producer can cancel its upstream call.
  virtual void on_client_gone(std::function<void()> callback) = 0;
  // Closes the connection at once (used to simulate resets in the mock upstream).
  virtual void abort() = 0;
};

// What the listener calls for every request; implemented by api/.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  virtual boost::asio::awaitable<void> handle(HttpRequest& request, ResponseWriter& response) = 0;
};

}  // namespace switchboard::server
