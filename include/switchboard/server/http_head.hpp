// HTTP/1.1 message heads rendered into one string, so a message goes out as [head, body].
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "switchboard/server/http.hpp"

namespace switchboard::server {

// The header list as Beast's `fields::set` would keep it: a header replaced by a later one of
// the same name (ASCII case-insensitive) is dropped, values are trimmed of spaces and tabs.
// Appends "name: value\r\n" per header kept, names as given.
void append_header_fields(std::string& out, const HttpHeaders& headers);

// True when `headers` has a header of that name, ASCII case-insensitively.
bool has_header_nocase(const HttpHeaders& headers, std::string_view name);

// Renders (replacing `out`) the head of a response: status line, "Server: switchboard" unless
// `headers` sets one, `headers`, "Connection: close" unless `keep_alive`, then
// "Content-Length: N" or, when `content_length` is nullopt, "Transfer-Encoding: chunked".
// The bytes are those Beast wrote for the same message built with set()/keep_alive()/
// prepare_payload(); heads with headers that touch the framing (Connection, Content-Length,
// Transfer-Encoding) are still rendered by Beast. Throws std::invalid_argument, as Beast did,
// for a body on a 1xx, 204 or 304.
void render_response_head(std::string& out, int status, const HttpHeaders& headers, bool keep_alive,
                          std::optional<std::uint64_t> content_length);

// Renders (replacing `out`) the head of a keep-alive request: request line ("POST" when the
// method is not one Beast knows), "Host", "User-Agent" (unless `headers` sets them),
// `headers`, and "Content-Length" as Beast's prepare_payload() sets it.
void render_request_head(std::string& out, std::string_view method, std::string_view target,
                         std::string_view host, std::string_view user_agent,
                         const HttpHeaders& headers, std::uint64_t content_length);

}  // namespace switchboard::server
