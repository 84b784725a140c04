// Unit tests for client-facing error shapes (protocol/errors.hpp).
#include "switchboard/protocol/errors.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <tuple>

namespace switchboard::protocol {
namespace {

using nlohmann::json;

struct Expected {
  ErrorCode code;
  int status;
  const char* type;
  const char* name;
  const char* anthropic_type;
};

// SPEC section 4's table plus the HTTP-layer codes, written out independently of errors.cpp.
const Expected kExpected[] = {
    {ErrorCode::invalid_request, 400, "invalid_request_error", "invalid_request",
     "invalid_request_error"},
    {ErrorCode::invalid_api_key, 401, "authentication_error", "invalid_api_key",
     "authentication_error"},
    {ErrorCode::model_not_allowed, 403, "permission_error", "model_not_allowed",
     "permission_error"},
    {ErrorCode::model_not_found, 404, "invalid_request_error", "model_not_found",
     "not_found_error"},
    {ErrorCode::request_too_large, 413, "invalid_request_error", "request_too_large",
     "request_too_large"},
    {ErrorCode::content_filter, 400, "invalid_request_error", "content_filter",
     "invalid_request_error"},
    {ErrorCode::no_route, 422, "invalid_request_error", "no_route", "invalid_request_error"},
    {ErrorCode::rate_limit_exceeded, 429, "rate_limit_error", "rate_limit_exceeded",
     "rate_limit_error"},
    {ErrorCode::budget_exceeded, 429, "insufficient_quota", "budget_exceeded", "rate_limit_error"},
    {ErrorCode::upstream_error, 502, "upstream_error", "upstream_error", "api_error"},
    {ErrorCode::no_healthy_upstream, 503, "upstream_error", "no_healthy_upstream",
     "overloaded_error"},
    {ErrorCode::upstream_timeout, 504, "upstream_error", "upstream_timeout", "api_error"},
    {ErrorCode::not_found, 404, "invalid_request_error", "not_found", "not_found_error"},
    {ErrorCode::method_not_allowed, 405, "invalid_request_error", "method_not_allowed",
     "invalid_request_error"},
    {ErrorCode::unsupported_media_type, 415, "invalid_request_error", "unsupported_media_type",
     "invalid_request_error"},
    {ErrorCode::admin_key_required, 401, "authentication_error", "admin_key_required",
     "authentication_error"},
    {ErrorCode::internal_error, 500, "server_error", "internal_error", "api_error"},
    {ErrorCode::service_unavailable, 503, "server_error", "service_unavailable",
     "overloaded_error"},
};

TEST(ApiErrors, EveryCodeHasTheSpecifiedStatusTypeAndCode) {
  ASSERT_EQ(all_error_codes().size(), std::size(kExpected));
  for (const Expected& e : kExpected) {
    SCOPED_TRACE(e.name);
    EXPECT_EQ(error_status(e.code), e.status);
    EXPECT_EQ(error_type(e.code), e.type);
    EXPECT_EQ(error_code_name(e.code), e.name);
    EXPECT_EQ(anthropic_error_type(e.code), e.anthropic_type);
  }
}

TEST(ApiErrors, CodeNamesAreUnique) {
  std::set<std::string_view> names;
  for (ErrorCode code : all_error_codes()) names.insert(error_code_name(code));
  EXPECT_EQ(names.size(), all_error_codes().size());
}

TEST(ApiErrors, MakeErrorTakesStatusFromCode) {
  for (ErrorCode code : all_error_codes()) {
    ApiError error = make_error(code, "m", "p");
    EXPECT_EQ(error.status, error_status(code));
    EXPECT_EQ(error.code, code);
    EXPECT_EQ(error.message, "m");
    EXPECT_EQ(error.param, "p");
  }
}

TEST(ApiErrors, OpenAiBodyIsValidJsonInOpenAiShapeForEveryCode) {
  for (const Expected& e : kExpected) {
    SCOPED_TRACE(e.name);
    json body = json::parse(openai_error_body(make_error(e.code, "something failed")));
    ASSERT_TRUE(body.is_object());
    ASSERT_EQ(body.size(), 1u);
    const json& error = body.at("error");
    EXPECT_EQ(error.size(), 4u);
    EXPECT_EQ(error.at("message"), "something failed");
    EXPECT_EQ(error.at("type"), e.type);
    EXPECT_EQ(error.at("code"), e.name);
    EXPECT_TRUE(error.at("param").is_null());
  }
}

TEST(ApiErrors, OpenAiBodyCarriesParamWhenPresent) {
  json body = json::parse(
      openai_error_body(make_error(ErrorCode::invalid_request, "bad messages", "messages")));
  EXPECT_EQ(body["error"]["param"], "messages");
}

TEST(ApiErrors, OpenAiBodyKeepsOpenAiFieldOrder) {
  EXPECT_EQ(openai_error_body(make_error(ErrorCode::model_not_found, "no such model")),
            R"({"error":{"message":"no such model","type":"invalid_request_error",)"
            R"("param":null,"code":"model_not_found"}})");
}

TEST(ApiErrors, OpenAiBodyEscapesMessage) {
  std::string message = "quote \" backslash \\ newline \n tab \t ctrl \x01 caf\xC3\xA9";
  std::string text = openai_error_body(make_error(ErrorCode::invalid_request, message));
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_EQ(json::parse(text)["error"]["message"], message);
}

TEST(ApiErrors, OpenAiBodyReplacesInvalidUtf8InsteadOfThrowing) {
  std::string text;
  ASSERT_NO_THROW(text = openai_error_body(make_error(ErrorCode::upstream_error, "bad \xFF\xFE")));
  json body = json::parse(text);
  EXPECT_EQ(body["error"]["message"], "bad \xEF\xBF\xBD\xEF\xBF\xBD");  // U+FFFD twice
}

TEST(ApiErrors, AnthropicBodyIsValidJsonInAnthropicShapeForEveryCode) {
  for (const Expected& e : kExpected) {
    SCOPED_TRACE(e.name);
    json body = json::parse(anthropic_error_body(make_error(e.code, "nope \"x\"")));
    ASSERT_EQ(body.size(), 2u);
    EXPECT_EQ(body.at("type"), "error");
    EXPECT_EQ(body.at("error").size(), 2u);
    EXPECT_EQ(body.at("error").at("type"), e.anthropic_type);
    EXPECT_EQ(body.at("error").at("message"), "nope \"x\"");
  }
}

TEST(ApiErrors, AnthropicBodyHasExactShape) {
  EXPECT_EQ(anthropic_error_body(make_error(ErrorCode::rate_limit_exceeded, "slow down")),
            R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})");
}

TEST(ApiErrors, MapsUpstreamStatusToGatewayCode) {
  const std::tuple<int, ErrorCode> cases[] = {
      {0, ErrorCode::upstream_error},        {500, ErrorCode::upstream_error},
      {502, ErrorCode::upstream_error},      {503, ErrorCode::no_healthy_upstream},
      {529, ErrorCode::no_healthy_upstream}, {504, ErrorCode::upstream_timeout},
      {408, ErrorCode::upstream_timeout},    {429, ErrorCode::rate_limit_exceeded},
      {413, ErrorCode::request_too_large},   {400, ErrorCode::invalid_request},
      {422, ErrorCode::invalid_request},     {401, ErrorCode::upstream_error},
      {403, ErrorCode::upstream_error},      {404, ErrorCode::upstream_error},
      {599, ErrorCode::upstream_error},      {200, ErrorCode::upstream_error},
  };
  for (const auto& [status, code] : cases) {
    EXPECT_EQ(error_code_for_upstream_status(status), code) << status;
  }
}

}  // namespace
}  // namespace switchboard::protocol
