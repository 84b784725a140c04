// `--mock-upstream`: the mock provider over HTTP, steerable per request by x-mock-* headers for
// fault tests.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <charconv>

#include "switchboard/api/handlers.hpp"
#include "switchboard/providers/mock.hpp"

namespace switchboard::api {

namespace net = boost::asio;

namespace {

long header_number(const server::HttpRequest& r, std::string_view name, long fallback) {
  auto v = r.header(name);
  long out = fallback;
  if (!v.empty()) std::from_chars(v.data(), v.data() + v.size(), out);
  return out;
}

std::string openai_error(std::string_view message, std::string_view type, std::string_view code) {
  return nlohmann::json{
      {"error", {{"message", message}, {"type", type}, {"code", code}, {"param", nullptr}}}}
      .dump();
}

class MockUpstreamHandler final : public server::RequestHandler {
 public:
  MockUpstreamHandler(config::MockConfig mock, std::shared_ptr<server::ServerState> state)
      : mock_(std::move(mock)), state_(std::move(state)) {}

  net::awaitable<void> handle(server::HttpRequest& request, server::ResponseWriter& out) override {
    server::HttpHeaders json_type{{"content-type", "application/json"}};
    auto path = request.path();
    if (path == "/mock/stats") {
      nlohmann::json stats = {{"requests", requests_.load()},
                              {"connections_opened", state_->accepted.load()},
                              {"connections_open", state_->connections.load()}};
      co_await out.send(200, json_type, stats.dump());
      co_return;
    }
    if (path == "/healthz") {
      co_await out.send(200, json_type, R"({"status":"ok"})");
      co_return;
    }
    requests_.fetch_add(1);
    if (path.ends_with("/models") && request.method == "GET") {
      co_await out.send(
          200, json_type,
          R"({"object":"list","data":[{"id":"mock","object":"model","created":0,"owned_by":"switchboard"}]})");
      co_return;
    }
    auto endpoint = providers::mock_endpoint_for(path);
    if (endpoint == providers::MockEndpoint::unknown || request.method != "POST") {
      co_await out.send(404, json_type,
                        openai_error("unknown path", "invalid_request_error", "not_found"));
      co_return;
    }
    // Strict like the real API: a bearer key and a JSON body are required.
    auto auth = request.header("authorization");
    if (!auth.starts_with("Bearer ") || auth.size() <= 7) {
      co_await out.send(401, json_type,
                        openai_error("You didn't provide an API key.", "invalid_request_error",
                                     "invalid_api_key"));
      co_return;
    }
    if (!request.header("content-type").starts_with("application/json")) {
      co_await out.send(400, json_type,
                        openai_error("content-type must be application/json",
                                     "invalid_request_error", "invalid_request"));
      co_return;
    }

    config::MockConfig mock = mock_;
    mock.latency = std::chrono::milliseconds(
        header_number(request, "x-mock-latency-ms", mock.latency.count()));
    mock.tokens_per_second = static_cast<double>(header_number(
        request, "x-mock-tokens-per-second", static_cast<long>(mock.tokens_per_second)));
    if (auto r = request.header("x-mock-response"); !r.empty()) mock.response = std::string(r);
    long forced_status = header_number(request, "x-mock-status", 0);
    long reset_after = header_number(request, "x-mock-reset-after", -1);

    auto reply = providers::mock_reply(endpoint, request.body, mock, ++calls_);
    net::steady_timer timer(co_await net::this_coro::executor);
    auto sleep = [&](std::chrono::milliseconds d) -> net::awaitable<void> {
      timer.expires_after(d);
      co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    };
    if (mock.latency.count() > 0) co_await sleep(mock.latency);
    if (forced_status >= 400) {
      server::HttpHeaders h = json_type;
      if (forced_status == 429)
        h.push_back({"retry-after", request.header("x-mock-retry-after").empty()
                                        ? std::string("1")
                                        : std::string(request.header("x-mock-retry-after"))});
      co_await out.send(
          static_cast<int>(forced_status), std::move(h),
          openai_error("mock forced status " + std::to_string(forced_status),
                       forced_status == 429 ? "rate_limit_error" : "server_error", ""));
      co_return;
    }
    if (reset_after == 0) {
      out.abort();
      co_return;
    }
    if (!reply.stream) {
      co_await out.send(reply.status, json_type, std::move(reply.body));
      co_return;
    }
    server::HttpHeaders sse_headers{{"content-type", "text/event-stream"},
                                    {"cache-control", "no-cache"}};
    if (!co_await out.start_stream(200, std::move(sse_headers))) co_return;
    auto gap = mock.tokens_per_second > 0
                   ? std::chrono::milliseconds(static_cast<long>(1000.0 / mock.tokens_per_second))
                   : std::chrono::milliseconds(0);
    for (std::size_t i = 0; i < reply.events.size(); ++i) {
      if (reset_after > 0 && static_cast<long>(i) == reset_after) {
        out.abort();
        co_return;
      }
      if (i > 0 && gap.count() > 0) co_await sleep(gap);
      if (!co_await out.write(reply.events[i])) co_return;
    }
    co_await out.finish();
  }

 private:
  config::MockConfig mock_;
  std::shared_ptr<server::ServerState> state_;
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> calls_{0};
};

}  // namespace

std::shared_ptr<server::RequestHandler> make_mock_upstream_handler(
    config::MockConfig mock, std::shared_ptr<server::ServerState> state) {
  return std::make_shared<MockUpstreamHandler>(std::move(mock), std::move(state));
}

}  // namespace switchboard::api
