// The HTTP/1.1 parser: the head found by its blank line and read in one pass, then the body.
#include "switchboard/server/http1_parser.hpp"

#include <cstring>

namespace switchboard::server {

namespace {

constexpr std::size_t kChunkLineLimit = 4096;  // a chunk-size line with its extensions

// RFC 9110 tchar.
constexpr bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

struct CharTable {
  bool tchar[256];
  bool value[256];  // field-vchar, obs-text, SP, HTAB
  constexpr CharTable() : tchar(), value() {
    for (int c = 0; c < 256; ++c) {
      tchar[c] = is_tchar(static_cast<unsigned char>(c));
      value[c] = c == ' ' || c == '\t' || (c > 0x20 && c != 0x7f);
    }
  }
};
constexpr CharTable kChars;

bool valid_value_bytes(const char* p, const char* end) {
  for (; p < end; ++p) {
    if (!kChars.value[static_cast<unsigned char>(*p)]) return false;
  }
  return true;
}

// Whether any byte of `x` is below 0x20 or is 0x7f (bytes >= 0x80 are not flagged).
constexpr bool maybe_control(std::uint64_t x) {
  constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  std::uint64_t below_space = (x - ones * 0x20) & ~x & highs;
  std::uint64_t del = x ^ (ones * 0x7f);
  return (below_space | ((del - ones) & ~del & highs)) != 0;
}

// True when every byte of [p, end) may appear in a field value: VCHAR, obs-text, SP, HTAB.
// Eight bytes at a time (the last eight overlapping), a block with a possible control byte
// (a tab, usually) checked byte by byte: most of a head is values.
bool valid_value(const char* p, const char* end) {
  std::size_t n = static_cast<std::size_t>(end - p);
  if (n < 8) return valid_value_bytes(p, end);
  for (std::size_t at = 0;; at += 8) {
    if (at + 8 > n) at = n - 8;
    std::uint64_t x;
    std::memcpy(&x, p + at, 8);
    if (maybe_control(x) && !valid_value_bytes(p + at, p + at + 8)) return false;
    if (at + 8 == n) return true;
  }
}

bool iequals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `each` with every non-empty element of a comma-separated list, trimmed.
template <class Each>
void for_each_token(std::string_view list, Each each) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto token = trim(list.substr(0, comma));
    if (!token.empty()) each(token);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// "HTTP/1.0" or "HTTP/1.1" at p: 10 or 11; else -1.
int parse_version(const char* p, const char* end) {
  if (end - p < 8 || std::memcmp(p, "HTTP/1.", 7) != 0) return -1;
  if (p[7] != '0' && p[7] != '1') return -1;
  return 10 + (p[7] - '0');
}

// The next line of [p, end), which is CRLF-terminated lines; nullptr when a line feed is
// not preceded by a carriage return.
const char* line_end(const char* p, const char* end) {
  auto* lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
  if (lf == nullptr || lf == p || lf[-1] != '\r') return nullptr;
  return lf - 1;
}

// chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ): checked, then
// ignored.
bool valid_chunk_extensions(const char* p, const char* end) {
  auto skip_ws = [&] {
    while (p < end && (*p == ' ' || *p == '\t')) ++p;
  };
  auto token = [&] {
    const char* start = p;
    while (p < end && kChars.tchar[static_cast<unsigned char>(*p)]) ++p;
    return p > start;
  };
  for (;;) {
    const char* before = p;
    skip_ws();
    if (p == end) return p == before;  // whitespace only before ";"
    if (*p++ != ';') return false;
    skip_ws();
    if (!token()) return false;
    skip_ws();
    if (p == end || *p != '=') continue;
    ++p;
    skip_ws();
    if (p < end && *p == '"') {
      for (++p;; ++p) {
        if (p == end) return false;
        if (*p == '"') break;
        if (*p == '\\') {
          if (++p == end) return false;
        }
        if (!kChars.value[static_cast<unsigned char>(*p)]) return false;
      }
      ++p;
    } else if (!token()) {
      return false;
    }
  }
}

}  // namespace

bool Http1Parser::keep_alive() const {
  if (need_eof()) return false;
  if (version_ >= 11) return !connection_close_;
  return connection_keep_alive_ && !connection_close_;
}

std::size_t Http1Parser::put(const char* data, std::size_t size, Http1Error& error) {
  error = Http1Error::none;
  if (size > 0) got_some_ = true;
  switch (state_) {
    case State::head: {
      std::string_view text(data, size);
      auto pos = text.find("\r\n\r\n", scanned_ >= 3 ? scanned_ - 3 : 0);
      if (pos == std::string_view::npos) {
        if (size > header_limit_) {
          error = Http1Error::header_limit;
        } else {
          scanned_ = size;
          error = Http1Error::need_more;
        }
        return 0;
      }
      std::size_t head_size = pos + 4;
      if (head_size > header_limit_) {
        error = Http1Error::header_limit;
        return 0;
      }
      handler_.on_head(std::string_view(data, head_size));
      error = parse_head(data, data + pos + 2);
      if (error == Http1Error::none) error = start_body();
      return error == Http1Error::none ? head_size : 0;
    }
    case State::body_length: {
      if (size == 0) {
        error = Http1Error::need_more;
        return 0;
      }
      std::size_t n = remaining_ < size ? static_cast<std::size_t>(remaining_) : size;
      handler_.on_body(std::string_view(data, n));
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::done;
      return n;
    }
    case State::body_to_eof:
      if (size == 0) {
        error = Http1Error::need_more;
        return 0;
      }
      if (!add_body(size, error)) return 0;
      handler_.on_body(std::string_view(data, size));
      return size;
    case State::chunk_size:
    case State::chunk_data:
    case State::chunk_end:
    case State::trailers:
      return put_chunked(data, size, error);
    case State::done:
      return 0;
  }
  return 0;
}

void Http1Parser::put_eof(Http1Error& error) {
  if (state_ == State::body_to_eof || state_ == State::done) {
    state_ = State::done;
    error = Http1Error::none;
    return;
  }
  error = got_some_ ? Http1Error::partial_message : Http1Error::end_of_stream;
}

Http1Error Http1Parser::parse_head(const char* p, const char* end) {
  const char* eol = line_end(p, end);
  if (eol == nullptr) return Http1Error::bad_start_line;
  if (request_) {
    const char* m = p;
    while (m < eol && kChars.tchar[static_cast<unsigned char>(*m)]) ++m;
    if (m == p || m == eol || *m != ' ') return Http1Error::bad_start_line;
    // The target runs to the space before the version: no spaces or tabs in it.
    const char* t = m + 1;
    if (eol - t < 10) return Http1Error::bad_start_line;
    const char* t_end = eol - 9;
    if (*t_end != ' ') return Http1Error::bad_start_line;
    if (!valid_value(t, t_end) ||
        std::memchr(t, ' ', static_cast<std::size_t>(t_end - t)) != nullptr ||
        std::memchr(t, '\t', static_cast<std::size_t>(t_end - t)) != nullptr)
      return Http1Error::bad_start_line;
    version_ = parse_version(t_end + 1, eol);
    if (version_ < 0) return Http1Error::bad_version;
    handler_.on_request(std::string_view(p, static_cast<std::size_t>(m - p)),
                        std::string_view(t, static_cast<std::size_t>(t_end - t)), version_);
  } else {
    version_ = parse_version(p, eol);
    if (version_ < 0) return Http1Error::bad_version;
    const char* s = p + 8;
    // SP 3DIGIT [SP reason-phrase]
    if (eol - s < 4 || *s != ' ') return Http1Error::bad_start_line;
    int status = 0;
    for (int i = 1; i <= 3; ++i) {
      char c = s[i];
      if (c < '0' || c > '9') return Http1Error::bad_start_line;
      status = status * 10 + (c - '0');
    }
    s += 4;
    if (s < eol && (*s != ' ' || !valid_value(s + 1, eol))) return Http1Error::bad_start_line;
    status_ = status;
    handler_.on_response(status, version_);
  }
  p = eol + 2;
  while (p < end) {
    eol = line_end(p, end);
    if (eol == nullptr) return Http1Error::bad_field;
    const char* n = p;
    while (n < eol && kChars.tchar[static_cast<unsigned char>(*n)]) ++n;
    // No name (which includes obs-fold, a line starting with a space), or no colon right
    // after it.
    if (n == p || n == eol || *n != ':' || !valid_value(n + 1, eol)) return Http1Error::bad_field;
    std::string_view name(p, static_cast<std::size_t>(n - p));
    auto value = trim(std::string_view(n + 1, static_cast<std::size_t>(eol - n - 1)));
    auto error = parse_field(name, value);
    if (error != Http1Error::none) return error;
    handler_.on_field(name, value);
    p = eol + 2;
  }
  return Http1Error::none;
}

Http1Error Http1Parser::parse_field(std::string_view name, std::string_view value) {
  switch (name.size()) {
    case 14:
      if (iequals(name, "content-length")) {
        if (has_length_ || has_transfer_encoding_ || value.empty())
          return Http1Error::bad_content_length;
        std::uint64_t n = 0;
        for (char c : value) {
          if (c < '0' || c > '9') return Http1Error::bad_content_length;
          if (n > (UINT64_MAX - 9) / 10) return Http1Error::bad_content_length;
          n = n * 10 + static_cast<std::uint64_t>(c - '0');
        }
        has_length_ = true;
        length_ = n;
      }
      break;
    case 17:
      if (iequals(name, "transfer-encoding")) {
        if (has_length_ || chunked_) return Http1Error::bad_transfer_encoding;
        has_transfer_encoding_ = true;
        bool bad = false;
        for_each_token(value, [&](std::string_view coding) {
          if (chunked_) bad = true;  // chunked must be the last coding
          if (iequals(coding, "chunked")) chunked_ = true;
        });
        if (bad) return Http1Error::bad_transfer_encoding;
      }
      break;
    case 10:
      if (iequals(name, "connection")) {
        bool bad = false;
        for_each_token(value, [&](std::string_view token) {
          for (char c : token) {
            if (!kChars.tchar[static_cast<unsigned char>(c)]) bad = true;
          }
          if (iequals(token, "close")) connection_close_ = true;
          if (iequals(token, "keep-alive")) connection_keep_alive_ = true;
        });
        if (bad) return Http1Error::bad_field;  // a list of tokens
      }
      break;
    default:
      break;
  }
  return Http1Error::none;
}

Http1Error Http1Parser::start_body() {
  bool bodiless =
      !request_ && ((status_ >= 100 && status_ < 200) || status_ == 204 || status_ == 304);
  if (bodiless) {
    state_ = State::done;
  } else if (chunked_) {
    state_ = State::chunk_size;
  } else if (has_transfer_encoding_) {
    // A request's length cannot be known; a response's runs to the close.
    if (request_) return Http1Error::bad_transfer_encoding;
    state_ = State::body_to_eof;
    to_eof_ = true;
  } else if (has_length_) {
    if (body_limit_ && length_ > *body_limit_) return Http1Error::body_limit;
    remaining_ = length_;
    state_ = length_ > 0 ? State::body_length : State::done;
  } else if (request_) {
    state_ = State::done;
  } else {
    state_ = State::body_to_eof;
    to_eof_ = true;
  }
  return Http1Error::none;
}

bool Http1Parser::add_body(std::uint64_t n, Http1Error& error) {
  if (body_limit_ && n > *body_limit_ - body_size_) {
    error = Http1Error::body_limit;
    return false;
  }
  body_size_ += n;
  return true;
}

std::size_t Http1Parser::put_chunked(const char* data, std::size_t size, Http1Error& error) {
  std::size_t used = 0;
  while (used < size && state_ != State::done) {
    const char* p = data + used;
    std::size_t left = size - used;
    switch (state_) {
      case State::chunk_size: {
        auto* lf = static_cast<const char*>(std::memchr(p, '\n', left));
        if (lf == nullptr) {
          if (left > kChunkLineLimit) {
            error = Http1Error::bad_chunk;
          } else {
            error = Http1Error::need_more;
          }
          return used;
        }
        if (lf == p || lf[-1] != '\r' || lf - p > static_cast<std::ptrdiff_t>(kChunkLineLimit)) {
          error = Http1Error::bad_chunk;
          return used;
        }
        const char* eol = lf - 1;
        const char* h = p;
        std::uint64_t chunk = 0;
        for (; h < eol; ++h) {
          char c = *h;
          int digit = c >= '0' && c <= '9'                     ? c - '0'
                      : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                               : -1;
          if (digit < 0) break;
          if (chunk >> 60) {
            error = Http1Error::bad_chunk;
            return used;
          }
          chunk = chunk * 16 + static_cast<std::uint64_t>(digit);
        }
        if (h == p) {
          error = Http1Error::bad_chunk;
          return used;
        }
        if (!valid_chunk_extensions(h, eol)) {
          error = Http1Error::bad_chunk;
          return used;
        }
        used += static_cast<std::size_t>(lf + 1 - p);
        if (chunk == 0) {
          state_ = State::trailers;
          trailer_bytes_ = 0;
        } else {
          if (!add_body(chunk, error)) return used;
          remaining_ = chunk;
          state_ = State::chunk_data;
        }
        break;
      }
      case State::chunk_data: {
        std::size_t n = remaining_ < left ? static_cast<std::size_t>(remaining_) : left;
        handler_.on_body(std::string_view(p, n));
        remaining_ -= n;
        used += n;
        if (remaining_ == 0) state_ = State::chunk_end;
        break;
      }
      case State::chunk_end:
        if (left < 2) {
          if (*p != '\r') {
            error = Http1Error::bad_chunk;
          } else {
            error = Http1Error::need_more;
          }
          return used;
        }
        if (p[0] != '\r' || p[1] != '\n') {
          error = Http1Error::bad_chunk;
          return used;
        }
        used += 2;
        state_ = State::chunk_size;
        break;
      case State::trailers: {
        auto* lf = static_cast<const char*>(std::memchr(p, '\n', left));
        if (lf == nullptr) {
          if (trailer_bytes_ + left > header_limit_) {
            error = Http1Error::header_limit;
          } else {
            error = Http1Error::need_more;
          }
          return used;
        }
        if (lf == p || lf[-1] != '\r') {
          error = Http1Error::bad_chunk;
          return used;
        }
        std::size_t line = static_cast<std::size_t>(lf + 1 - p);
        trailer_bytes_ += line;
        if (trailer_bytes_ > header_limit_) {
          error = Http1Error::header_limit;
          return used;
        }
        if (line == 2) {  // the blank line: the end of the message
          used += 2;
          state_ = State::done;
          break;
        }
        // A trailer field: name ":" value; checked, then dropped.
        const char* eol = lf - 1;
        const char* n = p;
        while (n < eol && kChars.tchar[static_cast<unsigned char>(*n)]) ++n;
        if (n == p || n == eol || *n != ':') {
          error = Http1Error::bad_field;
          return used;
        }
        for (const char* v = n + 1; v < eol; ++v) {
          if (!kChars.value[static_cast<unsigned char>(*v)]) {
            error = Http1Error::bad_field;
            return used;
          }
        }
        used += line;
        break;
      }
      default:
        return used;
    }
  }
  if (state_ != State::done && used == size) error = Http1Error::need_more;
  return used;
}

}  // namespace switchboard::server
