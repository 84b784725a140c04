// The mock provider: deterministic OpenAI-shaped chat and embedding replies, and its in-process
// call.
#include "switchboard/providers/mock.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstring>

#include "switchboard/protocol/base64.hpp"
#include "switchboard/protocol/sse.hpp"

namespace switchboard::providers {

namespace net = boost::asio;
using nlohmann::json;

namespace {

std::string error_body(std::string_view message, std::string_view type, std::string_view code,
                       std::string_view param = {}) {
  json e = {{"error",
             {{"message", message},
              {"type", type},
              {"code", code.empty() ? json(nullptr) : json(code)},
              {"param", param.empty() ? json(nullptr) : json(param)}}}};
  return e.dump();
}

MockReply bad_request(std::string_view message, std::string_view param = {}) {
  return MockReply{
      400, false, error_body(message, "invalid_request_error", "invalid_request", param), {}};
}

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

// The text of a message's content: a string, or the text parts of an array.
std::string content_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (content.is_array()) {
    for (const auto& part : content) {
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
          part["text"].is_string()) {
        if (!out.empty()) out += ' ';
        out += part["text"].get<std::string>();
      }
    }
  }
  return out;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

MockReply chat_reply(const json& req, const config::MockConfig& mock, std::uint64_t call_number) {
  if (!req.contains("model") || !req["model"].is_string())
    return bad_request("you must provide a model parameter", "model");
  if (!req.contains("messages") || !req["messages"].is_array() || req["messages"].empty())
    return bad_request("'messages' must be a non-empty array", "messages");
  std::size_t prompt_tokens = 0;
  std::string last_user;
  for (const auto& m : req["messages"]) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return bad_request("each message must be an object with a string 'role'", "messages");
    auto role = m["role"].get<std::string>();
    if (role != "system" && role != "developer" && role != "user" && role != "assistant" &&
        role != "tool")
      return bad_request("invalid role '" + role + "'", "messages");
    std::string text = m.contains("content") ? content_text(m["content"]) : "";
    prompt_tokens += mock_token_count(text);
    if (role == "user") last_user = std::move(text);
  }
  bool stream = false;
  if (req.contains("stream")) {
    if (!req["stream"].is_boolean()) return bad_request("'stream' must be a boolean", "stream");
    stream = req["stream"].get<bool>();
  }
  std::int64_t max_tokens = -1;
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (req.contains(key) && !req[key].is_null()) {
      if (!req[key].is_number_integer() || req[key].get<std::int64_t>() < 1)
        return bad_request(std::string("'") + key + "' must be a positive integer", key);
      max_tokens = req[key].get<std::int64_t>();
    }
  }
  if (mock.fail.every > 0 && call_number % mock.fail.every == 0) {
    return MockReply{
        mock.fail.status,
        false,
        error_body("mock provider failure (every " + std::to_string(mock.fail.every) + " calls)",
                   mock.fail.status == 429 ? "rate_limit_error" : "server_error", ""),
        {}};
  }

  std::string text = mock.response.empty() ? "echo: " + last_user : mock.response;
  auto words = split_words(text);
  std::string finish = "stop";
  if (max_tokens >= 0 && words.size() > static_cast<std::size_t>(max_tokens)) {
    words.resize(static_cast<std::size_t>(max_tokens));
    finish = "length";
  }
  std::size_t completion_tokens = words.size();
  json usage = {{"prompt_tokens", prompt_tokens},
                {"completion_tokens", completion_tokens},
                {"total_tokens", prompt_tokens + completion_tokens}};
  std::string id = "chatcmpl-mock-" + std::to_string(call_number);
  auto created = unix_now();
  std::string model = req["model"].get<std::string>();

  MockReply reply;
  reply.stream = stream;
  if (!stream) {
    std::string content;
    for (auto w : words) {
      if (!content.empty()) content += ' ';
      content.append(w);
    }
    json body = {
        {"id", id},
        {"object", "chat.completion"},
        {"created", created},
        {"model", model},
        {"choices",
         json::array(
             {{{"index", 0},
               {"message", {{"role", "assistant"}, {"content", content}, {"refusal", nullptr}}},
               {"logprobs", nullptr},
               {"finish_reason", finish}}})},
        {"usage", usage}};
    reply.body = body.dump();
    return reply;
  }

  bool include_usage = req.contains("stream_options") && req["stream_options"].is_object() &&
                       req["stream_options"].value("include_usage", false);
  auto chunk = [&](json delta, json finish_reason) {
    json c = {{"id", id},
              {"object", "chat.completion.chunk"},
              {"created", created},
              {"model", model},
              {"choices", json::array({{{"index", 0},
                                        {"delta", std::move(delta)},
                                        {"logprobs", nullptr},
                                        {"finish_reason", std::move(finish_reason)}}})}};
    if (include_usage) c["usage"] = nullptr;
    std::string out;
    protocol::append_sse_data(out, c.dump());
    return out;
  };
  reply.events.reserve(words.size() + 4);
  reply.events.push_back(chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string piece = i == 0 ? std::string(words[i]) : " " + std::string(words[i]);
    reply.events.push_back(chunk({{"content", piece}}, nullptr));
  }
  reply.events.push_back(chunk(json::object(), finish));
  if (include_usage) {
    json c = {{"id", id},       {"object", "chat.completion.chunk"}, {"created", created},
              {"model", model}, {"choices", json::array()},          {"usage", usage}};
    std::string out;
    protocol::append_sse_data(out, c.dump());
    reply.events.push_back(std::move(out));
  }
  reply.events.emplace_back(protocol::kSseDone);
  return reply;
}

MockReply embeddings_reply(const json& req, const config::MockConfig& mock,
                           std::uint64_t call_number) {
  if (!req.contains("model") || !req["model"].is_string())
    return bad_request("you must provide a model parameter", "model");
  if (!req.contains("input")) return bad_request("'input' is required", "input");
  std::vector<std::string> inputs;
  const auto& input = req["input"];
  if (input.is_string()) {
    inputs.push_back(input.get<std::string>());
  } else if (input.is_array() && !input.empty()) {
    for (const auto& item : input) {
      if (item.is_string()) {
        inputs.push_back(item.get<std::string>());
      } else if (item.is_number_integer() || item.is_array()) {
        inputs.push_back(item.dump());
      } else {
        return bad_request("'input' must be a string or an array of strings or tokens", "input");
      }
    }
  } else {
    return bad_request("'input' must be a non-empty string or array", "input");
  }
  std::int64_t dims = 8;
  if (req.contains("dimensions")) {
    if (!req["dimensions"].is_number_integer() || req["dimensions"].get<std::int64_t>() < 1 ||
        req["dimensions"].get<std::int64_t>() > 4096)
      return bad_request("'dimensions' must be an integer between 1 and 4096", "dimensions");
    dims = req["dimensions"].get<std::int64_t>();
  }
  bool base64 = false;
  if (auto f = req.find("encoding_format"); f != req.end() && !f->is_null()) {
    if (*f == "base64") {
      base64 = true;
    } else if (*f != "float") {
      return bad_request("'encoding_format' must be 'float' or 'base64'", "encoding_format");
    }
  }
  if (mock.fail.every > 0 && call_number % mock.fail.every == 0) {
    return MockReply{
        mock.fail.status, false, error_body("mock provider failure", "server_error", ""), {}};
  }
  json data = json::array();
  std::size_t tokens = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    tokens += mock_token_count(inputs[i]);
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a seeds a deterministic vector
    for (unsigned char c : inputs[i]) h = (h ^ c) * 1099511628211ull;
    std::vector<double> v(static_cast<std::size_t>(dims));
    double norm = 0;
    for (auto& x : v) {
      h = h * 6364136223846793005ull + 1442695040888963407ull;
      x = static_cast<double>(h >> 11) / 9007199254740992.0 * 2 - 1;
      norm += x * x;
    }
    norm = std::sqrt(norm);
    for (auto& x : v) x = norm > 0 ? x / norm : 0;
    data.push_back({{"object", "embedding"},
                    {"index", i},
                    {"embedding", base64 ? json(protocol::base64_float32(v)) : json(v)}});
  }
  json body = {{"object", "list"},
               {"data", std::move(data)},
               {"model", req["model"]},
               {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
  return MockReply{200, false, body.dump(), {}};
}

class MockCall final : public upstream::UpstreamCall {
 public:
  MockCall(net::any_io_executor ex, const config::MockConfig& mock,
           std::shared_ptr<std::atomic<std::uint64_t>> calls)
      : timer_(ex), mock_(mock), calls_(std::move(calls)) {}

  net::awaitable<upstream::CallError> start(upstream::UpstreamRequest request) override {
    started_ = true;
    auto n = calls_->fetch_add(1, std::memory_order_relaxed) + 1;
    reply_ = mock_reply(mock_endpoint_for(request.target), request.body, mock_, n);
    if (mock_.latency.count() > 0) {
      if (!co_await sleep(mock_.latency)) co_return upstream::CallError::cancelled;
    }
    co_return upstream::CallError::none;
  }

  int status() const override { return reply_.status; }

  std::string_view header(std::string_view lower_name) const override {
    if (lower_name == "content-type")
      return reply_.stream ? "text/event-stream" : "application/json";
    return {};
  }

  net::awaitable<upstream::CallError> read(std::string& out) override {
    if (cancelled_) co_return upstream::CallError::cancelled;
    if (!reply_.stream) {
      out += reply_.body;
      done_ = true;
      co_return upstream::CallError::none;
    }
    if (next_ >= reply_.events.size()) {
      done_ = true;
      co_return upstream::CallError::none;
    }
    if (mock_.tokens_per_second > 0 && next_ > 0) {
      auto gap = std::chrono::duration<double>(1.0 / mock_.tokens_per_second);
      if (!co_await sleep(std::chrono::duration_cast<std::chrono::milliseconds>(gap)))
        co_return upstream::CallError::cancelled;
    }
    out += reply_.events[next_++];
    if (next_ >= reply_.events.size()) done_ = true;
    co_return upstream::CallError::none;
  }

  bool done() const override { return done_; }

  void cancel() override {
    cancelled_ = true;
    timer_.cancel();
  }

  double upstream_ms() const override { return 0; }
  bool request_sent() const override { return started_; }  // in process: it has it at once

 private:
  net::awaitable<bool> sleep(std::chrono::milliseconds d) {
    timer_.expires_after(d);
    co_await timer_.async_wait(net::as_tuple(net::use_awaitable));
    co_return !cancelled_;
  }

  net::steady_timer timer_;
  config::MockConfig mock_;
  std::shared_ptr<std::atomic<std::uint64_t>> calls_;
  MockReply reply_;
  std::size_t next_ = 0;
  bool done_ = false;
  bool cancelled_ = false;
  bool started_ = false;
};

}  // namespace

MockEndpoint mock_endpoint_for(std::string_view target) {
  auto q = target.find('?');
  if (q != std::string_view::npos) target = target.substr(0, q);
  if (target.ends_with("/chat/completions")) return MockEndpoint::chat;
  if (target.ends_with("/embeddings")) return MockEndpoint::embeddings;
  return MockEndpoint::unknown;
}

std::size_t mock_token_count(std::string_view text) {
  return split_words(text).size();
}

MockReply mock_reply(MockEndpoint endpoint, std::string_view body, const config::MockConfig& mock,
                     std::uint64_t call_number) {
  if (endpoint == MockEndpoint::unknown) {
    return MockReply{
        404, false, error_body("unknown path", "invalid_request_error", "not_found"), {}};
  }
  json req = json::parse(body, nullptr, false);
  if (req.is_discarded() || !req.is_object()) {
    return bad_request("We could not parse the JSON body of your request.");
  }
  return endpoint == MockEndpoint::chat ? chat_reply(req, mock, call_number)
                                        : embeddings_reply(req, mock, call_number);
}

std::unique_ptr<upstream::UpstreamCall> make_mock_call(
    net::any_io_executor executor, const config::MockConfig& mock,
    std::shared_ptr<std::atomic<std::uint64_t>> calls) {
  return std::make_unique<MockCall>(executor, mock, std::move(calls));
}

}  // namespace switchboard::providers
