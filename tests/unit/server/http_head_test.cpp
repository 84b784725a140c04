// Message heads rendered by hand must be the bytes Beast wrote for the same message.
#include <gtest/gtest.h>

#include <boost/beast/http.hpp>

#include <sstream>

#include "switchboard/server/http_head.hpp"

namespace http = boost::beast::http;
using switchboard::server::HttpHeaders;
using switchboard::server::render_request_head;
using switchboard::server::render_response_head;

namespace {

// What the listener sent before heads were rendered by hand.
std::string beast_response(int status, const HttpHeaders& headers, bool keep_alive,
                           std::optional<std::string> body) {
  std::ostringstream os;
  if (body) {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::server, "switchboard");
    for (const auto& h : headers) res.set(h.name, h.value);
    res.keep_alive(keep_alive);
    res.body() = *body;
    res.prepare_payload();
    os << res.base();
  } else {
    http::response<http::empty_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::server, "switchboard");
    for (const auto& h : headers) res.set(h.name, h.value);
    res.keep_alive(keep_alive);
    res.chunked(true);
    os << res.base();
  }
  return os.str();
}

// What the upstream client sent before.
std::string beast_request(const std::string& method, const std::string& target,
                          const HttpHeaders& headers, const std::string& body) {
  auto verb = http::string_to_verb(method);
  http::request<http::string_body> req{verb == http::verb::unknown ? http::verb::post : verb,
                                       target, 11};
  req.set(http::field::host, "api.example.com:8443");
  req.set(http::field::user_agent, "switchboard/test");
  for (const auto& h : headers) req.set(h.name, h.value);
  req.body() = body;
  req.keep_alive(true);
  req.prepare_payload();
  std::ostringstream os;
  os << req.base();
  return os.str();
}

std::string ours_response(int status, const HttpHeaders& headers, bool keep_alive,
                          std::optional<std::string> body) {
  std::string out = "stale bytes";
  render_response_head(out, status, headers, keep_alive,
                       body ? std::optional<std::uint64_t>(body->size()) : std::nullopt);
  return out;
}

std::string ours_request(const std::string& method, const std::string& target,
                         const HttpHeaders& headers, const std::string& body) {
  std::string out = "stale bytes";
  render_request_head(out, method, target, "api.example.com:8443", "switchboard/test", headers,
                      body.size());
  return out;
}

HttpHeaders many_headers() {
  HttpHeaders h;
  for (int i = 0; i < 40; ++i) h.push_back({"x-h" + std::to_string(i % 30), std::to_string(i)});
  return h;
}

const std::vector<HttpHeaders>& header_cases() {
  static const std::vector<HttpHeaders> cases = {
      {},
      {{"content-type", "application/json"}, {"x-request-id", "abc"}},
      {{"x-request-id", "a"}, {"x-switchboard-trace-id", "0123"}, {"content-type", "text/plain"}},
      {{"x-a", "1"}, {"X-A", "2"}, {"x-b", "3"}},       // a later header replaces an earlier one
      {{"server", "other"}, {"content-type", "a/b"}},   // replaces the default Server
      {{"x-pad", "  padded\t "}, {"x-empty", ""}},      // values are trimmed
      {{"Host", "override"}, {"user-agent", "sdk/1"}},  // requests: replace the defaults
      {{"connection", "upgrade"}, {"x-a", "1"}},        // framing headers: Beast's semantics
      {{"Connection", "close"}},
      {{"content-length", "99"}},
      {{"transfer-encoding", "gzip"}},
      {{"transfer-encoding", "gzip, chunked"}},
      // same size and last letter, different names: both kept; then a repeat of the first
      {{"x-switchboard-trace-id", "t"},
       {"x-switchboard-cost-usd", "c"},
       {"X-Switchboard-Trace-Id", "u"}},
      many_headers(),  // more than the fast path's 32, with repeats
  };
  return cases;
}

}  // namespace

TEST(HttpHead, ResponseHeadIsWhatBeastWrote) {
  for (int status : {200, 201, 400, 401, 404, 429, 500, 502, 503, 599, 299}) {
    for (const auto& headers : header_cases()) {
      for (bool keep_alive : {true, false}) {
        for (auto body : {std::optional<std::string>("{\"ok\":true}"),
                          std::optional<std::string>(""), std::optional<std::string>()}) {
          SCOPED_TRACE(::testing::Message() << status << " keep_alive=" << keep_alive << " headers="
                                            << headers.size() << " chunked=" << !body.has_value());
          EXPECT_EQ(ours_response(status, headers, keep_alive, body),
                    beast_response(status, headers, keep_alive, body));
        }
      }
    }
  }
}

TEST(HttpHead, ManyHeadersWithDuplicatesAreWhatBeastWrote) {
  HttpHeaders headers;
  for (int i = 0; i < 80; ++i) {
    headers.push_back({"x-h" + std::to_string(i % 50), std::to_string(i)});
    if (i % 7 == 0) headers.push_back({"X-H" + std::to_string(i % 13), " v "});
  }
  EXPECT_EQ(ours_response(200, headers, true, std::string("body")),
            beast_response(200, headers, true, std::string("body")));
  EXPECT_EQ(ours_request("POST", "/", headers, "body"),
            beast_request("POST", "/", headers, "body"));
}

TEST(HttpHead, BodilessStatusesFollowBeast) {
  for (int status : {101, 204, 304}) {
    EXPECT_EQ(ours_response(status, {}, true, std::string()),
              beast_response(status, {}, true, std::string()));
    EXPECT_EQ(ours_response(status, {}, false, std::nullopt),
              beast_response(status, {}, false, std::nullopt));
    EXPECT_THROW(ours_response(status, {}, true, std::string("x")), std::invalid_argument);
  }
}

TEST(HttpHead, RequestHeadIsWhatBeastWrote) {
  for (std::string method : {"POST", "GET", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"}) {
    for (const auto& headers : header_cases()) {
      for (std::string body : {"{\"model\":\"m\"}", ""}) {
        SCOPED_TRACE(::testing::Message()
                     << method << " headers=" << headers.size() << " body=" << body.size());
        EXPECT_EQ(ours_request(method, "/v1/chat/completions?x=1", headers, body),
                  beast_request(method, "/v1/chat/completions?x=1", headers, body));
      }
    }
  }
}

TEST(HttpHead, PlainResponseHeadReadsAsExpected) {
  EXPECT_EQ(ours_response(200, {{"content-type", "application/json"}}, true, std::string("{}")),
            "HTTP/1.1 200 OK\r\nServer: switchboard\r\ncontent-type: application/json\r\n"
            "Content-Length: 2\r\n\r\n");
  EXPECT_EQ(ours_response(200, {{"content-type", "text/event-stream"}}, false, std::nullopt),
            "HTTP/1.1 200 OK\r\nServer: switchboard\r\ncontent-type: text/event-stream\r\n"
            "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n");
}
