// redis:// URLs, RESP command encoding, and replies parsed by hiredis's reader.
#include "switchboard/accounting/redis_protocol.hpp"

#include <hiredis/hiredis.h>

#include <charconv>
#include <cstdlib>

namespace switchboard::accounting {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes a user-info part (passwords often carry reserved characters).
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::nil;
      break;
  }
  return out;
}

}  // namespace

std::string RedisUrl::redacted() const {
  std::string out = tls ? "rediss://" : "redis://";
  if (!username.empty() || !password.empty())
    out += username + (password.empty() ? "" : ":***") + "@";
  out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  out += ":" + std::to_string(port) + "/" + std::to_string(db);
  return out;
}

std::optional<RedisUrl> parse_redis_url(std::string_view url, std::string& error) {
  RedisUrl out;
  std::string_view rest;
  if (url.starts_with("redis://")) {
    rest = url.substr(8);
  } else if (url.starts_with("rediss://")) {
    rest = url.substr(9);
    out.tls = true;
  } else {
    error = "the Redis URL must start with redis:// (or rediss:// for TLS)";
    return std::nullopt;
  }
  // The user info ends at the last '@' (a password may contain '@' only percent-encoded, but be
  // lenient).
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view info = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = info.find(':');
    std::string_view user =
        colon == std::string_view::npos ? std::string_view{} : info.substr(0, colon);
    std::string_view pass = colon == std::string_view::npos ? info : info.substr(colon + 1);
    if (!percent_decode(user, out.username) || !percent_decode(pass, out.password)) {
      error = "the Redis URL has a bad percent-escape in its user info";
      return std::nullopt;
    }
  }
  std::string_view hostport = rest;
  std::string_view path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  if (auto q = path.find('?'); q != std::string_view::npos) {
    error = "the Redis URL takes no query parameters";
    return std::nullopt;
  }
  std::string_view port;
  if (hostport.starts_with('[')) {  // [ipv6]:port
    auto close = hostport.find(']');
    if (close == std::string_view::npos) {
      error = "the Redis URL has an unterminated [IPv6] host";
      return std::nullopt;
    }
    out.host = std::string(hostport.substr(1, close - 1));
    auto after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        error = "the Redis URL has junk after its [IPv6] host";
        return std::nullopt;
      }
      port = after.substr(1);
    }
  } else {
    auto colon = hostport.rfind(':');
    out.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) port = hostport.substr(colon + 1);
  }
  if (out.host.empty()) {
    error = "the Redis URL has no host";
    return std::nullopt;
  }
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
      error = "the Redis URL has an invalid port '" + std::string(port) + "'";
      return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  if (!path.empty()) {
    int db = -1;
    auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), db);
    if (ec != std::errc{} || end != path.data() + path.size() || db < 0 || db > 100000) {
      error = "the Redis URL has an invalid database number '" + std::string(path) + "'";
      return std::nullopt;
    }
    out.db = db;
  }
  return out;
}

void resp_append_command(std::string& out, const std::vector<std::string>& args) {
  out += '*';
  out += std::to_string(args.size());
  out += "\r\n";
  for (const auto& a : args) {
    out += '$';
    out += std::to_string(a.size());
    out += "\r\n";
    out += a;
    out += "\r\n";
  }
}

double RedisReply::as_double(double fallback) const {
  if (type == Type::integer) return static_cast<double>(integer);
  if (type != Type::string && type != Type::status && type != Type::number) return fallback;
  char* end = nullptr;
  double v = std::strtod(str.c_str(), &end);
  return end == str.c_str() ? fallback : v;
}

std::int64_t RedisReply::as_int(std::int64_t fallback) const {
  if (type == Type::integer) return integer;
  if (type != Type::string && type != Type::status && type != Type::number) return fallback;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(str.data(), str.data() + str.size(), v);
  return ec == std::errc{} ? v : fallback;
}

struct RespReader::Impl {
  redisReader* reader = redisReaderCreate();
  ~Impl() { redisReaderFree(reader); }
};

RespReader::RespReader() : impl_(std::make_unique<Impl>()) {}
RespReader::~RespReader() = default;

bool RespReader::feed(const char* data, std::size_t size) {
  return redisReaderFeed(impl_->reader, data, size) == REDIS_OK;
}

int RespReader::next(RedisReply& out) {
  void* reply = nullptr;
  if (redisReaderGetReply(impl_->reader, &reply) != REDIS_OK) return -1;
  if (reply == nullptr) return 0;
  out = convert(static_cast<redisReply*>(reply));
  freeReplyObject(reply);
  return 1;
}

std::string RespReader::error() const {
  return impl_->reader->errstr;
}

}  // namespace switchboard::accounting
