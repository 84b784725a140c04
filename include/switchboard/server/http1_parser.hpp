// An incremental HTTP/1.1 message parser (requests and responses), with no I/O of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace switchboard::server {

enum class Http1Error {
  none,
  need_more,        // not an error: feed more bytes
  end_of_stream,    // the connection closed before any byte of a message
  partial_message,  // the connection closed inside a message
  bad_start_line,
  bad_version,
  bad_field,
  bad_content_length,
  bad_transfer_encoding,
  bad_chunk,
  header_limit,  // the head (or a chunked body's trailers) is over the limit
  body_limit,    // the body is over the limit
};

// What a message's parts are handed to. Views are valid during the call only.
class Http1Handler {
 public:
  virtual ~Http1Handler() = default;
  // The whole head, from the start line to the blank line, before its parts: views handed to
  // the calls that follow point into it.
  virtual void on_head(std::string_view) {}
  virtual void on_request(std::string_view method, std::string_view target, int version) = 0;
  virtual void on_response(int status, int version) = 0;
  // A header field of the head (not of a chunked body's trailers); the value without
  // surrounding spaces and tabs. Names as sent.
  virtual void on_field(std::string_view name, std::string_view value) = 0;
  virtual void on_body(std::string_view data) = 0;
};

// Parses one message. The head must arrive whole before it is parsed (it is searched for its
// blank line, then read in one pass); body bytes are handed on as they come. Strict where it
// matters for a proxy: CRLF line ends, no obs-fold, one Content-Length, Content-Length and
// Transfer-Encoding never together, chunked last; a request's Transfer-Encoding must end in
// chunked; a response without either is read until the connection closes.
class Http1Parser {
 public:
  Http1Parser(bool request, Http1Handler& handler) : request_(request), handler_(handler) {}

  void header_limit(std::size_t bytes) { header_limit_ = bytes; }
  void body_limit(std::optional<std::uint64_t> bytes) { body_limit_ = bytes; }

  // Parses what it can of `data`: returns how many bytes it consumed. The head is consumed
  // whole or not at all; put() returns after the head, so a caller loops while bytes remain.
  // `error` is need_more when more bytes are needed to go on.
  std::size_t put(const char* data, std::size_t size, Http1Error& error);
  // The connection closed: completes a body read until the close, else partial_message
  // (end_of_stream when nothing was received).
  void put_eof(Http1Error& error);

  bool got_some() const { return got_some_; }
  bool header_done() const { return state_ > State::head; }
  bool done() const { return state_ == State::done; }
  int version() const { return version_; }
  int status() const { return status_; }
  std::optional<std::uint64_t> content_length() const {
    return has_length_ ? std::optional<std::uint64_t>(length_) : std::nullopt;
  }
  bool chunked() const { return chunked_; }
  // Whether the connection may carry another message after this one.
  bool keep_alive() const;
  // Whether the body ends only when the connection closes.
  bool need_eof() const { return state_ == State::body_to_eof || (done() && to_eof_); }

 private:
  enum class State {
    head,
    body_length,
    body_to_eof,
    chunk_size,
    chunk_data,
    chunk_end,
    trailers,
    done
  };

  Http1Error parse_head(const char* p, const char* end);
  Http1Error parse_field(std::string_view name, std::string_view value);
  Http1Error start_body();
  std::size_t put_chunked(const char* data, std::size_t size, Http1Error& error);
  bool add_body(std::uint64_t n, Http1Error& error);

  bool request_;
  Http1Handler& handler_;
  std::size_t header_limit_ = 8192;
  std::optional<std::uint64_t> body_limit_ = 8 * 1024 * 1024;
  State state_ = State::head;
  std::size_t scanned_ = 0;  // head bytes already searched for the blank line
  bool got_some_ = false;
  int version_ = 11;
  int status_ = 0;
  bool has_length_ = false;
  bool chunked_ = false;
  bool has_transfer_encoding_ = false;
  bool to_eof_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  std::uint64_t length_ = 0;
  std::uint64_t remaining_ = 0;  // of the Content-Length body or the current chunk
  std::uint64_t body_size_ = 0;
  std::size_t trailer_bytes_ = 0;
};

// Feeds `parser` what `buffer` holds (a ReadBuffer: data, size, consume, empty) until `done()`
// holds or it fails: none when done, need_more when it wants more bytes, else the error.
template <class Buffer, class Done>
Http1Error feed_parser(Http1Parser& parser, Buffer& buffer, Done done) {
  while (!buffer.empty()) {
    Http1Error error = Http1Error::none;
    std::size_t used = parser.put(buffer.data(), buffer.size(), error);
    buffer.consume(used);
    if (error != Http1Error::none && error != Http1Error::need_more) return error;
    if (done()) return Http1Error::none;
    if (used == 0) break;
  }
  return done() ? Http1Error::none : Http1Error::need_more;
}

}  // namespace switchboard::server
