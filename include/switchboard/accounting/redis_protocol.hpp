// Redis wire protocol pieces with no I/O: the redis:// URL, RESP command encoding and the reply
// reader (hiredis's parser), so each is unit-tested on its own.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard::accounting {

// redis://[[username]:password@]host[:port][/db]
struct RedisUrl {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  int db = 0;
  std::string username;  // ACL user; empty = "default" (AUTH with the password only)
  std::string password;  // empty = no AUTH
  bool tls = false;      // rediss://
  // How a TLS server is verified: from state.redis.tls, not from the URL's text.
  std::string ca_file;  // empty = the system's trust store
  bool verify = true;

  // The URL with the password replaced by "***": the only form that may be logged.
  std::string redacted() const;
};

// Parses `url`; nullopt with `error` set (never containing the password) when it is invalid.
std::optional<RedisUrl> parse_redis_url(std::string_view url, std::string& error);

// Appends one command as a RESP array of bulk strings.
void resp_append_command(std::string& out, const std::vector<std::string>& args);

struct RedisReply {
  enum class Type { nil, status, error, integer, string, array, number };
  Type type = Type::nil;
  std::string str;           // status, error, string, number (as text)
  std::int64_t integer = 0;  // integer
  std::vector<RedisReply> elements;

  bool is_error() const { return type == Type::error; }
  // A bulk string, status or integer as a number; `fallback` when it is none (or nil).
  double as_double(double fallback = 0) const;
  std::int64_t as_int(std::int64_t fallback = 0) const;
};

// Incremental reply parser over hiredis's redisReader.
class RespReader {
 public:
  RespReader();
  ~RespReader();
  RespReader(const RespReader&) = delete;
  RespReader& operator=(const RespReader&) = delete;

  // False on a protocol error (the stream is unusable; reconnect).
  bool feed(const char* data, std::size_t size);
  // 1: a reply was produced into `out`; 0: more bytes needed; -1: protocol error.
  int next(RedisReply& out);
  std::string error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchboard::accounting
