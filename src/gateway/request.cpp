// Request identity (ids, W3C trace context), authentication and the single local-reply path.
#include <array>
#include <cstring>
#include <random>

#include "switchboard/gateway/pipeline.hpp"

namespace switchboard::gateway {

namespace {

// Eight lower-case hex digits of the low 32 bits of `x`, as bytes in a word (SWAR): each nibble
// spread to its own byte, then '0'..'9' / 'a'..'f' added to all eight at once. The digits are
// random, so their order does not matter.
std::uint64_t hex8(std::uint64_t x) {
  std::uint64_t n = x & 0xffffffffull;
  n = ((n & 0xffff0000ull) << 16) | (n & 0xffffull);
  n = ((n & 0x0000ff000000ff00ull) << 8) | (n & 0x000000ff000000ffull);
  n = ((n & 0x00f000f000f000f0ull) << 4) | (n & 0x000f000f000f000full);
  // A nibble >= 10 carries into bit 4 once 6 is added: those bytes get 'a' - '0' - 10 more.
  std::uint64_t letters = ((n + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull;
  return n + 0x3030303030303030ull + letters * ('a' - '0' - 10);
}

// `chars` (a multiple of 16) random lower-case hex digits. Returned rather than written into an
// existing string: constructing the string costs less than growing one.
std::string random_hex(std::size_t chars) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out(chars, '0');
  for (std::size_t i = 0; i + 16 <= chars; i += 16) {
    std::uint64_t bits = rng();
    std::uint64_t lo = hex8(bits), hi = hex8(bits >> 32);
    std::memcpy(&out[i], &lo, 8);
    std::memcpy(&out[i + 8], &hi, 8);
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

}  // namespace

std::string_view bearer_key(std::string_view auth, std::string_view api_key) {
  auto is_bearer = [](std::string_view scheme) {  // the scheme is case-insensitive (RFC 9110)
    constexpr std::string_view kBearer = "bearer ";
    for (std::size_t i = 0; i < kBearer.size(); ++i) {
      char c = scheme[i];
      if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c) != kBearer[i]) return false;
    }
    return true;
  };
  if (auth.size() > 7 && is_bearer(auth.substr(0, 7))) {
    auto key = auth.substr(7);
    while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
    return key;
  }
  return api_key;
}

void begin_request(RequestContext& ctx, const server::HttpRequest& request) {
  ctx.endpoint = request.path();
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
  if (!ctx.provider.empty()) h.push_back({"x-switchboard-provider", std::string(ctx.provider)});
  if (!ctx.model.empty()) h.push_back({"x-switchboard-model", std::string(ctx.model)});
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
