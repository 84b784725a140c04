// Client-facing errors: the gateway's error codes and the one place that renders them (OpenAI and
// Anthropic shapes).
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace switchboard::protocol {

// Every error the gateway answers with itself (SPEC section 4's table, then the HTTP-layer
// extras). Enumerator names are the wire `code` strings.
enum class ErrorCode {
  invalid_request,         // 400 invalid_request_error: bad JSON, missing or ill-typed field
  invalid_api_key,         // 401 authentication_error: no or unknown key
  model_not_allowed,       // 403 permission_error: model not allowed for the tenant
  model_not_found,         // 404 invalid_request_error: unknown model
  request_too_large,       // 413 invalid_request_error: body over max_request_bytes
  content_filter,          // 400 invalid_request_error: a guardrail blocked the input
  no_route,                // 422 invalid_request_error: no candidate meets the policy
  rate_limit_exceeded,     // 429 rate_limit_error: tenant rate limit (send Retry-After)
  budget_exceeded,         // 429 insufficient_quota: tenant budget spent
  upstream_error,          // 502 upstream_error: every attempt failed
  no_healthy_upstream,     // 503 upstream_error: every circuit open
  upstream_timeout,        // 504 upstream_error: upstream timed out
  not_found,               // 404 invalid_request_error: unknown path
  method_not_allowed,      // 405 invalid_request_error
  unsupported_media_type,  // 415 invalid_request_error: body is not application/json
  admin_key_required,      // 401 authentication_error: /admin/* without an admin key
  internal_error,          // 500 server_error
  service_unavailable,     // 503 server_error: draining or config not loaded yet
};

// Every ErrorCode, in declaration order (for tests and documentation generators).
std::span<const ErrorCode> all_error_codes();

struct ApiError {
  int status = 500;
  ErrorCode code = ErrorCode::internal_error;
  std::string message;
  std::string param;  // the offending request field; empty renders as null
};

// The one constructor of client-facing errors: the status comes from the code.
ApiError make_error(ErrorCode code, std::string message, std::string param = "");

int error_status(ErrorCode code);
std::string_view error_type(ErrorCode code);       // OpenAI `error.type`
std::string_view error_code_name(ErrorCode code);  // OpenAI `error.code`
std::string_view anthropic_error_type(ErrorCode code);

// {"error":{"message":...,"type":...,"param":...|null,"code":...}}. Invalid UTF-8 in the
// message or param (an upstream's bytes, say) is replaced, never thrown on.
std::string openai_error_body(const ApiError& error);

// {"type":"error","error":{"type":...,"message":...}} for the /v1/messages endpoint.
std::string anthropic_error_body(const ApiError& error);

// The gateway's answer when the last upstream attempt ended with `status` (0 for a transport
// failure with no HTTP status). Client errors an upstream reports are normally passed through
// as they are; this is for what the gateway reports in its own name. See errors.cpp.
ErrorCode error_code_for_upstream_status(int status);

}  // namespace switchboard::protocol
