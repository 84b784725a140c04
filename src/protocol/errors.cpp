// Client-facing errors: the code table and the OpenAI and Anthropic error bodies.
#include "switchboard/protocol/errors.hpp"

#include <array>
#include <cstddef>
#include <utility>

#include <nlohmann/json.hpp>

namespace switchboard::protocol {
namespace {

struct ErrorRow {
  ErrorCode code;
  int status;
  std::string_view type;
  std::string_view name;
  std::string_view anthropic_type;
};

// One row per ErrorCode, in declaration order (checked below).
constexpr std::array kRows{
    ErrorRow{ErrorCode::invalid_request, 400, "invalid_request_error", "invalid_request",
             "invalid_request_error"},
    ErrorRow{ErrorCode::invalid_api_key, 401, "authentication_error", "invalid_api_key",
             "authentication_error"},
    ErrorRow{ErrorCode::model_not_allowed, 403, "permission_error", "model_not_allowed",
             "permission_error"},
    ErrorRow{ErrorCode::model_not_found, 404, "invalid_request_error", "model_not_found",
             "not_found_error"},
    ErrorRow{ErrorCode::request_too_large, 413, "invalid_request_error", "request_too_large",
             "request_too_large"},
    ErrorRow{ErrorCode::content_filter, 400, "invalid_request_error", "content_filter",
             "invalid_request_error"},
    ErrorRow{ErrorCode::no_route, 422, "invalid_request_error", "no_route",
             "invalid_request_error"},
    ErrorRow{ErrorCode::rate_limit_exceeded, 429, "rate_limit_error", "rate_limit_exceeded",
             "rate_limit_error"},
    ErrorRow{ErrorCode::budget_exceeded, 429, "insufficient_quota", "budget_exceeded",
             "rate_limit_error"},
    ErrorRow{ErrorCode::upstream_error, 502, "upstream_error", "upstream_error", "api_error"},
    ErrorRow{ErrorCode::no_healthy_upstream, 503, "upstream_error", "no_healthy_upstream",
             "overloaded_error"},
    ErrorRow{ErrorCode::upstream_timeout, 504, "upstream_error", "upstream_timeout", "api_error"},
    ErrorRow{ErrorCode::not_found, 404, "invalid_request_error", "not_found", "not_found_error"},
    ErrorRow{ErrorCode::method_not_allowed, 405, "invalid_request_error", "method_not_allowed",
             "invalid_request_error"},
    ErrorRow{ErrorCode::unsupported_media_type, 415, "invalid_request_error",
             "unsupported_media_type", "invalid_request_error"},
    ErrorRow{ErrorCode::admin_key_required, 401, "authentication_error", "admin_key_required",
             "authentication_error"},
    ErrorRow{ErrorCode::internal_error, 500, "server_error", "internal_error", "api_error"},
    ErrorRow{ErrorCode::service_unavailable, 503, "server_error", "service_unavailable",
             "overloaded_error"},
};

constexpr bool rows_in_order() {
  for (std::size_t i = 0; i < kRows.size(); ++i) {
    if (static_cast<std::size_t>(kRows[i].code) != i) return false;
  }
  return static_cast<std::size_t>(ErrorCode::service_unavailable) + 1 == kRows.size();
}
static_assert(rows_in_order(), "kRows must list every ErrorCode in declaration order");

constexpr std::array<ErrorCode, kRows.size()> all_codes() {
  std::array<ErrorCode, kRows.size()> codes{};
  for (std::size_t i = 0; i < kRows.size(); ++i) codes[i] = kRows[i].code;
  return codes;
}
constexpr std::array kAllCodes = all_codes();

const ErrorRow& row(ErrorCode code) {
  auto index = static_cast<std::size_t>(code);
  return index < kRows.size() ? kRows[index] : kRows[static_cast<int>(ErrorCode::internal_error)];
}

std::string dump(const nlohmann::ordered_json& body) {
  // An upstream's message may carry invalid UTF-8; an error path must never throw for it.
  return body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

std::span<const ErrorCode> all_error_codes() {
  return kAllCodes;
}

ApiError make_error(ErrorCode code, std::string message, std::string param) {
  return ApiError{error_status(code), code, std::move(message), std::move(param)};
}

int error_status(ErrorCode code) {
  return row(code).status;
}
std::string_view error_type(ErrorCode code) {
  return row(code).type;
}
std::string_view error_code_name(ErrorCode code) {
  return row(code).name;
}
std::string_view anthropic_error_type(ErrorCode code) {
  return row(code).anthropic_type;
}

std::string openai_error_body(const ApiError& error) {
  nlohmann::ordered_json inner;
  inner["message"] = error.message;
  inner["type"] = error_type(error.code);
  inner["param"] =
      error.param.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(error.param);
  inner["code"] = error_code_name(error.code);
  nlohmann::ordered_json body;
  body["error"] = std::move(inner);
  return dump(body);
}

std::string anthropic_error_body(const ApiError& error) {
  nlohmann::ordered_json body;
  body["type"] = "error";
  body["error"]["type"] = anthropic_error_type(error.code);
  body["error"]["message"] = error.message;
  return dump(body);
}

// Upstream status -> what the gateway answers in its own name:
//   0 (no HTTP status: connect/reset/TLS failure)  -> upstream_error       502
//   408 Request Timeout, 504 Gateway Timeout       -> upstream_timeout     504
//   429 Too Many Requests                           -> rate_limit_exceeded  429 (the client's
//       SDK backs off and retries, as provider-formats.md 4.5 maps Anthropic 429 -> 429)
//   503 Service Unavailable, 529 Overloaded         -> no_healthy_upstream  503 (provider
//       overloaded: Anthropic 529 -> 503 per provider-formats.md 4.5)
//   413 Payload Too Large                           -> request_too_large    413
//   400, 422                                        -> invalid_request      400
//   other 5xx (500, 502, ...), 401/403 (the gateway's provider key, not the client's, was
//       refused), 404 (misconfigured provider model id) and anything else -> upstream_error 502
ErrorCode error_code_for_upstream_status(int status) {
  switch (status) {
    case 408:
    case 504:
      return ErrorCode::upstream_timeout;
    case 429:
      return ErrorCode::rate_limit_exceeded;
    case 503:
    case 529:
      return ErrorCode::no_healthy_upstream;
    case 413:
      return ErrorCode::request_too_large;
    case 400:
    case 422:
      return ErrorCode::invalid_request;
    default:
      return ErrorCode::upstream_error;
  }
}

}  // namespace switchboard::protocol
