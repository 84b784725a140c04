// Message heads as one string: Beast's serializer walks one small buffer per header field
// (about 20k instructions a message); appending to a string costs a few hundred.
#include "switchboard/server/http_head.hpp"

#include <boost/beast/http.hpp>

#include <charconv>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace switchboard::server {

namespace http = boost::beast::http;

namespace {

char lower_ascii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower_ascii(a[i]) != lower_ascii(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// iequals() for two names of the same size, compared from the end: the gateway's own names
// share long prefixes ("x-switchboard-").
bool same_name(std::string_view a, std::string_view b) {
  for (std::size_t i = a.size(); i-- > 0;) {
    if (lower_ascii(a[i]) != lower_ascii(b[i])) return false;
  }
  return true;
}

// A later header of the same name replaces this one (fields::set erases, then appends).
bool replaced_later(const HttpHeaders& headers, std::size_t i) {
  const auto& name = headers[i].name;
  for (std::size_t j = i + 1; j < headers.size(); ++j) {
    const auto& other = headers[j].name;
    if (other.size() == name.size() && same_name(other, name)) return true;
  }
  return false;
}

// Headers whose values Beast merges with the framing it sets (token lists, removals).
bool touches_framing(const HttpHeaders& headers) {
  for (const auto& h : headers) {
    if (iequals(h.name, "connection") || iequals(h.name, "content-length") ||
        iequals(h.name, "transfer-encoding"))
      return true;
  }
  return false;
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ", 2);
  out.append(value);
  out.append("\r\n", 2);
}

template <class Header>
void render_with_beast(std::string& out, const Header& header) {
  std::ostringstream os;
  os << header;
  out = std::move(os).str();
}

bool bodiless(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

}  // namespace

bool has_header_nocase(const HttpHeaders& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return true;
  }
  return false;
}

void append_header_fields(std::string& out, const HttpHeaders& headers) {
  std::size_t n = headers.size();
  constexpr std::size_t kFast = 32;
  if (n > kFast) {  // rare: the quadratic check on the strings themselves
    for (std::size_t i = 0; i < n; ++i) {
      if (!replaced_later(headers, i)) {
        append_field(out, headers[i].name, trim(headers[i].value));
      }
    }
    return;
  }
  // One pass over the headers collects what the rest needs, so the duplicate check compares
  // small keys (name size and last letter) in a local array before any name.
  struct Field {
    const char* name;
    std::uint32_t name_size;
    std::uint32_t key;
    std::string_view value;
  };
  Field fields[kFast];
  std::size_t total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& h = headers[i];
    auto& f = fields[i];
    f.name = h.name.data();
    f.name_size = static_cast<std::uint32_t>(h.name.size());
    f.key = f.name_size << 8 |
            (f.name_size ? static_cast<unsigned char>(lower_ascii(f.name[f.name_size - 1])) : 0u);
    f.value = trim(h.value);
    total += f.name_size + f.value.size() + 4;
  }
  std::uint32_t dropped = 0;  // bit i: a later header of the same name replaces fields[i]
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      if (fields[j].key == fields[i].key &&
          same_name({fields[j].name, fields[j].name_size}, {fields[i].name, fields[i].name_size})) {
        dropped |= std::uint32_t{1} << i;
        total -= fields[i].name_size + fields[i].value.size() + 4;
        break;
      }
    }
  }
  std::size_t at = out.size();
  out.resize(at + total);
  char* p = out.data() + at;
  for (std::size_t i = 0; i < n; ++i) {
    if (dropped >> i & 1) continue;
    const auto& f = fields[i];
    std::memcpy(p, f.name, f.name_size);
    p += f.name_size;
    *p++ = ':';
    *p++ = ' ';
    std::memcpy(p, f.value.data(), f.value.size());
    p += f.value.size();
    *p++ = '\r';
    *p++ = '\n';
  }
}

void render_response_head(std::string& out, int status, const HttpHeaders& headers, bool keep_alive,
                          std::optional<std::uint64_t> content_length) {
  // prepare_payload(): these statuses take no body.
  if (content_length && *content_length > 0 && bodiless(status))
    throw std::invalid_argument("invalid response body");
  if (status < 100 || status > 999 || touches_framing(headers)) {
    http::response<http::empty_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::server, "switchboard");
    for (const auto& h : headers) res.set(h.name, h.value);
    res.keep_alive(keep_alive);
    if (content_length) {
      res.content_length(*content_length);
    } else {
      res.chunked(true);
    }
    render_with_beast(out, res.base());
    return;
  }
  out.clear();
  out.append("HTTP/1.1 ", 9);
  append_uint(out, static_cast<std::uint64_t>(status));
  out.push_back(' ');
  out.append(http::obsolete_reason(static_cast<http::status>(status)));
  out.append("\r\n", 2);
  if (!has_header_nocase(headers, "server")) out.append("Server: switchboard\r\n");
  append_header_fields(out, headers);
  if (!keep_alive) out.append("Connection: close\r\n");
  if (content_length) {
    out.append("Content-Length: ");
    append_uint(out, *content_length);
    out.append("\r\n", 2);
  } else {
    out.append("Transfer-Encoding: chunked\r\n");
  }
  out.append("\r\n", 2);
}

void render_request_head(std::string& out, std::string_view method, std::string_view target,
                         std::string_view host, std::string_view user_agent,
                         const HttpHeaders& headers, std::uint64_t content_length) {
  auto verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) verb = http::verb::post;
  // prepare_payload(): an empty body still gets "Content-Length: 0" on these methods.
  bool sized = content_length > 0 || verb == http::verb::post || verb == http::verb::put ||
               verb == http::verb::options;
  if (verb == http::verb::trace || touches_framing(headers)) {
    http::request<http::empty_body> req{verb, target, 11};
    req.set(http::field::host, host);
    req.set(http::field::user_agent, user_agent);
    for (const auto& h : headers) req.set(h.name, h.value);
    req.keep_alive(true);
    if (verb == http::verb::trace && content_length > 0)
      throw std::invalid_argument("invalid request body");
    if (sized) {
      req.content_length(content_length);
    } else {
      req.chunked(false);
    }
    render_with_beast(out, req.base());
    return;
  }
  out.clear();
  out.append(http::to_string(verb));
  out.push_back(' ');
  out.append(target);
  out.append(" HTTP/1.1\r\n", 11);
  if (!has_header_nocase(headers, "host")) append_field(out, "Host", host);
  if (!has_header_nocase(headers, "user-agent")) append_field(out, "User-Agent", user_agent);
  append_header_fields(out, headers);
  if (sized) {
    out.append("Content-Length: ");
    append_uint(out, content_length);
    out.append("\r\n", 2);
  }
  out.append("\r\n", 2);
}

}  // namespace switchboard::server
