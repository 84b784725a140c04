// Request identity (ids, W3C trace context), authentication and the single local-reply path.
#include <array>
#include <cstring>
#include <random>

#include "switchboard/gateway/pipeline.hpp"

namespace switchboard::gateway {

namespace {

// Two hex digits per byte value, so a 64-bit draw becomes 16 characters in 8 copies.
constexpr auto kHexPairs = [] {
  constexpr char kHex[] = "0123456789abcdef";
  std::array<char, 512> t{};
  for (int b = 0; b < 256; ++b) {
    t[static_cast<std::size_t>(2 * b)] = kHex[b >> 4];
    t[static_cast<std::size_t>(2 * b + 1)] = kHex[b & 15];
  }
  return t;
}();

// `chars` (even) random lower-case hex digits. Returned rather than written into an existing
// string: constructing the string costs less than growing one (resize goes through _M_mutate).
std::string random_hex(std::size_t chars) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out(chars, '0');
  for (std::size_t i = 0; i + 1 < chars;) {
    std::uint64_t bits = rng();
    for (int k = 0; k < 8 && i + 1 < chars; ++k, i += 2, bits >>= 8) {
      std::memcpy(&out[i], &kHexPairs[2 * (bits & 0xff)], 2);
    }
  }
  return out;
}

bool is_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool all_zero(std::string_view s) {
  return s.find_first_not_of('0') == std::string_view::npos;
}

bool safe_token(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':' || c == '/' || c == '@';
    if (!ok) return false;
  }
  return true;
}

// The first value of each of `names` (lower-case) in one pass over the headers: what
// find_header would return for each, without a scan per name.
template <std::size_t N>
std::array<std::string_view, N> find_headers(const server::HttpHeaders& headers,
                                             const std::array<std::string_view, N>& names) {
  std::array<std::string_view, N> values{};
  std::array<bool, N> found{};
  for (const auto& h : headers) {
    for (std::size_t i = 0; i < N; ++i) {
      if (!found[i] && h.name == names[i]) {
        values[i] = h.value;
        found[i] = true;
        break;
      }
    }
  }
  return values;
}

std::string_view bearer_key(std::string_view auth, std::string_view api_key) {
  if (auth.size() > 7 && (auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer ")) {
    auto key = auth.substr(7);
    while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
    return key;
  }
  return api_key;
}

}  // namespace

void begin_request(RequestContext& ctx, const server::HttpRequest& request) {
  ctx.endpoint = std::string(request.path());
  auto [rid, tp] = find_headers<2>(request.headers, {"x-request-id", "traceparent"});
  ctx.request_id = safe_token(rid, 128) ? std::string(rid) : random_hex(32);
  // traceparent: version-traceid-parentid-flags
  if (tp.size() >= 55 && tp[2] == '-' && tp[35] == '-' && tp[52] == '-' &&
      is_hex(tp.substr(0, 2)) && tp.substr(0, 2) != "ff" && is_hex(tp.substr(3, 32)) &&
      !all_zero(tp.substr(3, 32)) && is_hex(tp.substr(36, 16)) && !all_zero(tp.substr(36, 16))) {
    ctx.trace_id = tp.substr(3, 32);
    ctx.parent_span_id = tp.substr(36, 16);
  } else {
    ctx.trace_id = random_hex(32);
  }
  ctx.span_id = random_hex(16);
}

std::optional<protocol::ApiError> authenticate(RequestContext& ctx,
                                               const server::HttpRequest& request) {
  const auto& rt = *ctx.runtime;
  auto [auth, api_key, workflow, user] = find_headers<4>(
      request.headers,
      {"authorization", "x-api-key", "x-switchboard-workflow", "x-switchboard-user"});
  auto key = bearer_key(auth, api_key);
  const config::TenantConfig* tenant = key.empty() ? nullptr : rt.tenant_for_key(key);
  if (!tenant && rt.config().auth.mode == config::AuthMode::keys) {
    return protocol::make_error(
        protocol::ErrorCode::invalid_api_key,
        key.empty() ? "missing API key: send 'Authorization: Bearer KEY' or 'x-api-key: KEY'"
                    : "invalid API key");
  }
  ctx.tenant = tenant;
  if (tenant) {
    ctx.tenant_name = tenant->name;
  } else {
    ctx.tenant_name = "anonymous";
  }
  if (!workflow.empty()) {
    if (!safe_token(workflow, 64)) {
      return protocol::make_error(
          protocol::ErrorCode::invalid_request,
          "x-switchboard-workflow must be 1-64 characters of letters, digits and -_.:/@");
    }
    ctx.workflow = workflow;
  } else if (tenant && !tenant->default_workflow.empty()) {
    ctx.workflow = tenant->default_workflow;
  }
  if (!user.empty()) ctx.user = user.substr(0, 256);
  return std::nullopt;
}

server::HttpHeaders response_headers(const RequestContext& ctx) {
  server::HttpHeaders h;
  h.reserve(8);
  h.push_back({"x-request-id", ctx.request_id});
  h.push_back({"x-switchboard-trace-id", ctx.trace_id});
  if (!ctx.provider.empty()) h.push_back({"x-switchboard-provider", ctx.provider});
  if (!ctx.model.empty()) h.push_back({"x-switchboard-model", ctx.model});
  if (!ctx.attempts.empty())
    h.push_back({"x-switchboard-attempts", std::to_string(ctx.attempts.size())});
  return h;
}

boost::asio::awaitable<void> reply_error(RequestContext& ctx, server::ResponseWriter& out,
                                         const protocol::ApiError& error,
                                         server::HttpHeaders extra) {
  ctx.status = error.status;
  ctx.error = std::string(protocol::error_code_name(error.code));
  auto headers = response_headers(ctx);
  headers.push_back({"content-type", "application/json"});
  for (auto& h : extra) headers.push_back(std::move(h));
  co_await out.send(error.status, std::move(headers),
                    ctx.anthropic_client ? protocol::anthropic_error_body(error)
                                         : protocol::openai_error_body(error));
}

}  // namespace switchboard::gateway
