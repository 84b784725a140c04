// AWS Signature Version 4: signs an upstream request with HMAC-SHA256 (header-based, not
// presigned).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "switchboard/upstream/call.hpp"

namespace switchboard::providers::sigv4 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // temporary credentials; empty for long-term keys
};

// The credential scope's region and service ("bedrock" for bedrock-runtime).
struct Scope {
  std::string region;
  std::string service;
};

struct Options {
  // Every service but S3 signs the URI-encoded form of the path as sent, i.e. each segment of
  // the (already percent-encoded) wire path is encoded once more: a model id "a:b" goes on the
  // wire as "a%3Ab" and is signed as "a%253Ab", as the AWS SDKs do. S3 signs the wire path as is.
  bool s3_path = false;
  // Adds and signs x-amz-content-sha256 (S3 requires it; other services accept it).
  bool content_sha256_header = false;
};

// What signing produced, step by step (the intermediate texts let tests say which step differs).
struct Signed {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-date"
  std::string signature;       // lower-case hex
  std::string authorization;   // the Authorization header value
};

// "YYYYMMDD'T'HHMMSS'Z'" in UTC for a Unix time.
std::string amz_date(std::int64_t unix_seconds);

// Lower-case hex of SHA-256(data).
std::string sha256_hex(std::string_view data);

// Raw HMAC-SHA256(key, data) (32 bytes).
std::string hmac_sha256(std::string_view key, std::string_view data);

// RFC 3986 percent-encoding as SigV4 wants it: everything but A-Z a-z 0-9 - . _ ~ is encoded with
// upper-case hex; '/' is kept when `keep_slash`.
std::string uri_encode(std::string_view text, bool keep_slash = false);

// The canonical URI of a wire path (see Options::s3_path). Non-S3 paths also drop empty and "."
// segments and resolve ".." first, as the SDKs do; an empty path is "/".
std::string canonical_uri(std::string_view path, bool s3_path = false);

// The canonical query string of a raw query (after '?'): each name and value percent-decoded and
// re-encoded strictly, sorted by name then value, joined with '&'; "a" reads as "a=".
std::string canonical_query(std::string_view query);

// Computes the signature of `request` as it stands, signing every header it carries except the
// ones proxies may rewrite (user-agent, expect, connection, ...). The request must carry `host`
// and `x-amz-date` (= `amz_date_value`). Changes nothing.
Signed compute(const upstream::UpstreamRequest& request, const Credentials& credentials,
               const Scope& scope, std::string_view amz_date_value,
               const Options& options = Options{});

// Signs `request` at `unix_seconds`: sets x-amz-date, x-amz-security-token (when the credentials
// have a session token) and x-amz-content-sha256 (when asked), then appends Authorization.
// `request.headers` must already hold `host` exactly as the transport will send it.
Signed sign(upstream::UpstreamRequest& request, const Credentials& credentials, const Scope& scope,
            std::int64_t unix_seconds, const Options& options = Options{});

}  // namespace switchboard::providers::sigv4
