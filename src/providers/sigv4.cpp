// AWS Signature Version 4 over OpenSSL's SHA-256 and HMAC (see sigv4.hpp and
// provider-formats.md 6.6).
#include "switchboard/providers/sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <utility>
#include <vector>

namespace switchboard::providers::sigv4 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr char kHex[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";

// Headers a proxy or the HTTP stack may add, drop or rewrite on the way: signing them would make a
// valid request fail verification (the JS SDK's list of always-unsignable headers).
constexpr std::array<std::string_view, 15> kUnsignable = {
    "authorization", "cache-control",     "connection", "expect",     "from",
    "keep-alive",    "max-forwards",      "pragma",     "referer",    "te",
    "trailer",       "transfer-encoding", "upgrade",    "user-agent", "x-amzn-trace-id"};

std::string to_hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0x0f]);
  }
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

// Trims the value and collapses each run of spaces or tabs into one space.
std::string canonical_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    if (is_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes; a malformed escape stays as it is.
std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

bool unsignable(std::string_view lower_name) {
  return std::find(kUnsignable.begin(), kUnsignable.end(), lower_name) != kUnsignable.end();
}

std::string_view header_value(const server::HttpHeaders& headers, std::string_view lower_name) {
  for (const auto& h : headers)
    if (lower(h.name) == lower_name) return h.value;
  return {};
}

void erase_header(server::HttpHeaders& headers, std::string_view lower_name) {
  std::erase_if(headers, [&](const server::HttpHeader& h) { return lower(h.name) == lower_name; });
}

}  // namespace

std::string amz_date(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[17];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return std::string(buf, 16);
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &length);
  return std::string(reinterpret_cast<const char*>(mac), length);
}

std::string uri_encode(std::string_view text, bool keep_slash) {
  std::string out;
  out.reserve(text.size() * 3 / 2);
  for (unsigned char c : text) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHexUpper[c >> 4]);
      out.push_back(kHexUpper[c & 0x0f]);
    }
  }
  return out;
}

std::string canonical_uri(std::string_view path, bool s3_path) {
  if (path.empty()) return "/";
  if (s3_path) return std::string(path);
  std::vector<std::string_view> segments;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view segment = path.substr(pos, slash - pos);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    pos = slash + 1;
  }
  std::string out = "/";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out.push_back('/');
    out += uri_encode(segments[i]);
  }
  if (!segments.empty() && path.back() == '/') out.push_back('/');
  return out;
}

std::string canonical_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  std::size_t pos = 0;
  while (pos < query.size()) {
    std::size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    params.emplace_back(uri_encode(percent_decode(name)), uri_encode(percent_decode(value)));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

Signed compute(const upstream::UpstreamRequest& request, const Credentials& credentials,
               const Scope& scope, std::string_view amz_date_value, const Options& options) {
  std::string_view target = request.target;
  std::size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  std::string_view query = question == std::string_view::npos ? "" : target.substr(question + 1);

  // Lower-cased names, sorted; a repeated header's values are joined with ',' in order.
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& h : request.headers) {
    std::string name = lower(h.name);
    if (unsignable(name)) continue;
    std::string value = canonical_value(h.value);
    auto same = std::find_if(headers.begin(), headers.end(),
                             [&](const auto& entry) { return entry.first == name; });
    if (same != headers.end()) {
      same->second += ",";
      same->second += value;
    } else {
      headers.emplace_back(std::move(name), std::move(value));
    }
  }
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });

  Signed out;
  std::string canonical_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers += name + ":" + value + "\n";
    if (!out.signed_headers.empty()) out.signed_headers.push_back(';');
    out.signed_headers += name;
  }
  std::string_view declared_hash = header_value(request.headers, "x-amz-content-sha256");
  std::string payload_hash =
      declared_hash.empty() ? sha256_hex(request.body) : std::string(declared_hash);

  out.canonical_request = request.method + "\n" + canonical_uri(path, options.s3_path) + "\n" +
                          canonical_query(query) + "\n" + canonical_headers + "\n" +
                          out.signed_headers + "\n" + payload_hash;

  std::string date(amz_date_value.substr(0, 8));
  std::string credential_scope = date + "/" + scope.region + "/" + scope.service + "/aws4_request";
  out.string_to_sign = std::string(kAlgorithm) + "\n" + std::string(amz_date_value) + "\n" +
                       credential_scope + "\n" + sha256_hex(out.canonical_request);

  std::string key = hmac_sha256("AWS4" + credentials.secret_access_key, date);
  key = hmac_sha256(key, scope.region);
  key = hmac_sha256(key, scope.service);
  key = hmac_sha256(key, "aws4_request");
  out.signature = to_hex(hmac_sha256(key, out.string_to_sign));
  out.authorization = std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                      credential_scope + ", SignedHeaders=" + out.signed_headers +
                      ", Signature=" + out.signature;
  return out;
}

Signed sign(upstream::UpstreamRequest& request, const Credentials& credentials, const Scope& scope,
            std::int64_t unix_seconds, const Options& options) {
  std::string date = amz_date(unix_seconds);
  for (std::string_view name :
       {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}) {
    if (name == "x-amz-content-sha256" && !options.content_sha256_header) continue;
    erase_header(request.headers, name);
  }
  request.headers.push_back({"x-amz-date", date});
  if (!credentials.session_token.empty())
    request.headers.push_back({"x-amz-security-token", credentials.session_token});
  if (options.content_sha256_header)
    request.headers.push_back({"x-amz-content-sha256", sha256_hex(request.body)});
  Signed out = compute(request, credentials, scope, date, options);
  request.headers.push_back({"authorization", out.authorization});
  return out;
}

}  // namespace switchboard::providers::sigv4
