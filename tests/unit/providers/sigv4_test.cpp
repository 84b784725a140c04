// SigV4 against AWS's published aws-sig-v4-test-suite vectors, plus Bedrock-shaped requests.
#include "switchboard/providers/sigv4.hpp"

#include <gtest/gtest.h>

#include <string>

namespace switchboard::providers::sigv4 {
namespace {

// The suite's fixed inputs.
const Credentials kSuite{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
const Scope kScope{"us-east-1", "service"};
constexpr std::int64_t kSuiteTime = 1440938160;  // 2015-08-30T12:36:00Z
constexpr std::string_view kAmzDate = "20150830T123600Z";
constexpr std::string_view kEmptyHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::string_view kSuiteScope = "20150830/us-east-1/service/aws4_request";

upstream::UpstreamRequest request(std::string method, std::string target,
                                  server::HttpHeaders headers, std::string body = "") {
  upstream::UpstreamRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

std::string sts(std::string_view canonical_request) {
  return "AWS4-HMAC-SHA256\n" + std::string(kAmzDate) + "\n" + std::string(kSuiteScope) + "\n" +
         sha256_hex(canonical_request);
}

std::string authorization(std::string_view signed_headers, std::string_view signature) {
  return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + std::string(kSuiteScope) +
         ", SignedHeaders=" + std::string(signed_headers) + ", Signature=" + std::string(signature);
}

TEST(SigV4, AmzDateFormatsUtc) {
  EXPECT_EQ(amz_date(kSuiteTime), kAmzDate);
  EXPECT_EQ(amz_date(0), "19700101T000000Z");
}

TEST(SigV4, Sha256OfEmptyString) {
  EXPECT_EQ(sha256_hex(""), kEmptyHash);
}

TEST(SigV4, UriEncodeKeepsOnlyUnreserved) {
  EXPECT_EQ(uri_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(uri_encode("a b:c/d%"), "a%20b%3Ac%2Fd%25");
  EXPECT_EQ(uri_encode("a/b", true), "a/b");
  EXPECT_EQ(uri_encode("\xE1\x88\xB4"), "%E1%88%B4");
}

TEST(SigV4, CanonicalUriEncodesWirePathSegmentsOnceMore) {
  EXPECT_EQ(canonical_uri(""), "/");
  EXPECT_EQ(canonical_uri("/"), "/");
  EXPECT_EQ(canonical_uri("/model/a.b-v1%3A0/converse"), "/model/a.b-v1%253A0/converse");
  EXPECT_EQ(canonical_uri("//example//"), "/example/");
  EXPECT_EQ(canonical_uri("/example/.."), "/");
  EXPECT_EQ(canonical_uri("/a/./b/../c"), "/a/c");
  EXPECT_EQ(canonical_uri("/a%3Ab", /*s3_path=*/true), "/a%3Ab");
}

TEST(SigV4, CanonicalQuerySortsAndReencodes) {
  EXPECT_EQ(canonical_query(""), "");
  EXPECT_EQ(canonical_query("Param2=value2&Param1=value1"), "Param1=value1&Param2=value2");
  EXPECT_EQ(canonical_query("Param1=value2&Param1=value1"), "Param1=value1&Param1=value2");
  EXPECT_EQ(canonical_query("b&a=x%20y"), "a=x%20y&b=");
  EXPECT_EQ(canonical_query("k=a+b"), "k=a%2Bb");  // '+' is a plus, not a space
}

// get-vanilla: GET / with only Host.
TEST(SigV4, Suite_GetVanilla) {
  auto r = request("GET", "/", {{"Host", "example.amazonaws.com"}});
  Signed s = sign(r, kSuite, kScope, kSuiteTime);
  const std::string creq =
      "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
      std::string(kEmptyHash);
  EXPECT_EQ(s.canonical_request, creq);
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(s.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(s.authorization,
            authorization("host;x-amz-date",
                          "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
  // sign() put x-amz-date and the Authorization header on the request.
  EXPECT_EQ(server::find_header(r.headers, "x-amz-date"), kAmzDate);
  EXPECT_EQ(server::find_header(r.headers, "authorization"), s.authorization);
}

// get-vanilla-query: "GET /?" signs like get-vanilla (an empty query).
TEST(SigV4, Suite_GetVanillaQuery) {
  auto r = request("GET", "/?", {{"Host", "example.amazonaws.com"}});
  Signed s = sign(r, kSuite, kScope, kSuiteTime);
  EXPECT_EQ(
      s.canonical_request,
      "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
          std::string(kEmptyHash));
  EXPECT_EQ(s.string_to_sign, sts(s.canonical_request));
  EXPECT_EQ(s.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

// get-vanilla-query-order-key-case: parameters sorted by (case-sensitive) name.
TEST(SigV4, Suite_GetVanillaQueryOrderKeyCase) {
  auto r = request("GET", "/?Param2=value2&Param1=value1", {{"Host", "example.amazonaws.com"}});
  Signed s = sign(r, kSuite, kScope, kSuiteTime);
  EXPECT_EQ(s.canonical_request,
            "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\n"
            "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
                std::string(kEmptyHash));
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0");
  EXPECT_EQ(s.signature, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

// post-vanilla: POST / with an empty body.
TEST(SigV4, Suite_PostVanilla) {
  auto r = request("POST", "/", {{"Host", "example.amazonaws.com"}});
  Signed s = sign(r, kSuite, kScope, kSuiteTime);
  EXPECT_EQ(
      s.canonical_request,
      "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
          std::string(kEmptyHash));
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87");
  EXPECT_EQ(s.signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

// post-header-key-case: upper-case header names are lower-cased.
TEST(SigV4, Suite_PostHeaderKeyCase) {
  auto r =
      request("POST", "/", {{"HOST", "example.amazonaws.com"}, {"X-AMZ-DATE", "20150830T123600Z"}});
  Signed s = compute(r, kSuite, kScope, kAmzDate);
  EXPECT_EQ(
      s.canonical_request,
      "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
          std::string(kEmptyHash));
  EXPECT_EQ(s.string_to_sign, sts(s.canonical_request));
  EXPECT_EQ(s.signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

// post-x-www-form-urlencoded: a signed content-type and the hash of a non-empty body.
TEST(SigV4, Suite_PostXWwwFormUrlencoded) {
  auto r = request(
      "POST", "/",
      {{"Content-Type", "application/x-www-form-urlencoded"}, {"Host", "example.amazonaws.com"}},
      "Param1=value1");
  Signed s = sign(r, kSuite, kScope, kSuiteTime);
  EXPECT_EQ(s.canonical_request,
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n"
            "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "content-type;host;x-amz-date\n"
            "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281");
  EXPECT_EQ(s.signature, "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
  EXPECT_EQ(s.authorization,
            authorization("content-type;host;x-amz-date",
                          "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"));
}

// get-header-value-trim: values trimmed, inner runs of spaces collapsed (even inside quotes).
TEST(SigV4, Suite_GetHeaderValueTrim) {
  auto r = request("GET", "/",
                   {{"Host", "example.amazonaws.com"},
                    {"My-Header1", " value1"},
                    {"My-Header2", " \"a   b   c\""}});
  Signed s = sign(r, kSuite, kScope, kSuiteTime);
  EXPECT_EQ(s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
            "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n" +
                std::string(kEmptyHash));
  EXPECT_EQ(s.string_to_sign, sts(s.canonical_request));
  EXPECT_EQ(s.signature, "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

// get-header-key-duplicate: a repeated header's values join with ',' in order.
TEST(SigV4, Suite_GetHeaderKeyDuplicate) {
  auto r = request("GET", "/",
                   {{"Host", "example.amazonaws.com"},
                    {"My-Header1", "value2"},
                    {"My-Header1", "value2"},
                    {"My-Header1", "value1"}});
  Signed s = sign(r, kSuite, kScope, kSuiteTime);
  EXPECT_NE(s.canonical_request.find("\nmy-header1:value2,value2,value1\n"), std::string::npos);
  EXPECT_EQ(s.signature, "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea");
}

// get-unreserved, get-utf8, get-slashes and get-vanilla-utf8-query: path and query encoding.
TEST(SigV4, Suite_PathAndQueryEncoding) {
  auto unreserved =
      request("GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
              {{"Host", "example.amazonaws.com"}});
  EXPECT_EQ(sign(unreserved, kSuite, kScope, kSuiteTime).signature,
            "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
  auto utf8 = request("GET", "/\xE1\x88\xB4", {{"Host", "example.amazonaws.com"}});
  Signed s = sign(utf8, kSuite, kScope, kSuiteTime);
  EXPECT_NE(s.canonical_request.find("GET\n/%E1%88%B4\n"), std::string::npos);
  EXPECT_EQ(s.signature, "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
  auto slashes = request("GET", "//example//", {{"Host", "example.amazonaws.com"}});
  EXPECT_EQ(sign(slashes, kSuite, kScope, kSuiteTime).signature,
            "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84");
  auto utf8_query = request("GET", "/?\xE1\x88\xB4=bar", {{"Host", "example.amazonaws.com"}});
  EXPECT_EQ(sign(utf8_query, kSuite, kScope, kSuiteTime).signature,
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04");
}

// post-sts-header-before: a session token is sent and signed as x-amz-security-token.
TEST(SigV4, Suite_PostStsHeaderBefore) {
  Credentials temporary = kSuite;
  temporary.session_token =
      "AQoDYXdzEPT//////////"
      "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPf"
      "IeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/"
      "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7W"
      "Z0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"
      "scqKmlzm8FD"
      "rypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
  auto r = request("POST", "/", {{"Host", "example.amazonaws.com"}});
  Signed s = sign(r, temporary, kScope, kSuiteTime);
  EXPECT_EQ(s.signed_headers, "host;x-amz-date;x-amz-security-token");
  EXPECT_EQ(s.signature, "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead");
  EXPECT_EQ(server::find_header(r.headers, "x-amz-security-token"), temporary.session_token);
}

TEST(SigV4, UnsignableHeadersAreLeftOut) {
  auto r = request("POST", "/",
                   {{"Host", "example.amazonaws.com"},
                    {"User-Agent", "switchboard/1"},
                    {"X-Amzn-Trace-Id", "Root=1"}});
  Signed s = sign(r, kSuite, kScope, kSuiteTime);
  EXPECT_EQ(s.signed_headers, "host;x-amz-date");
  EXPECT_EQ(s.signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(SigV4, ResigningReplacesTheOldSignatureHeaders) {
  auto r = request("POST", "/", {{"Host", "example.amazonaws.com"}});
  sign(r, kSuite, kScope, kSuiteTime - 3600);
  Signed s = sign(r, kSuite, kScope, kSuiteTime);
  EXPECT_EQ(s.signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  int authorizations = 0;
  for (const auto& h : r.headers) authorizations += h.name == "authorization";
  EXPECT_EQ(authorizations, 1);
}

TEST(SigV4, ContentSha256HeaderIsOptional) {
  Options options;
  options.content_sha256_header = true;
  auto r = request("POST", "/", {{"Host", "example.amazonaws.com"}}, "{}");
  Signed s = sign(r, kSuite, kScope, kSuiteTime, options);
  EXPECT_EQ(s.signed_headers, "host;x-amz-content-sha256;x-amz-date");
  EXPECT_EQ(server::find_header(r.headers, "x-amz-content-sha256"), sha256_hex("{}"));
}

// A Converse call for a model id with ':' -- checked against botocore 1.43 (SigV4Auth, service
// "bedrock", the suite's keys and time): the wire path's %3A is signed as %253A.
TEST(SigV4, BedrockConversePathIsEncodedTwice) {
  const Scope bedrock{"us-east-1", "bedrock"};
  const std::string body = R"({"messages":[{"role":"user","content":[{"text":"Hi"}]}]})";
  auto r = request(
      "POST", "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
      {{"host", "bedrock-runtime.us-east-1.amazonaws.com"}, {"content-type", "application/json"}},
      body);
  Signed s = sign(r, kSuite, bedrock, kSuiteTime);
  EXPECT_EQ(s.canonical_request,
            "POST\n/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse\n\n"
            "content-type:application/json\nhost:bedrock-runtime.us-east-1.amazonaws.com\n"
            "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n" +
                sha256_hex(body));
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/bedrock/aws4_request\n" +
                sha256_hex(s.canonical_request));
  EXPECT_EQ(s.signature, "68bd8c1403d522a90564452d1a50bfab282fd1f136a75add92048aaa969afaee");

  Credentials temporary = kSuite;
  temporary.session_token = "SESSIONTOKEN";
  auto t = request(
      "POST", "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
      {{"host", "bedrock-runtime.us-east-1.amazonaws.com"}, {"content-type", "application/json"}},
      body);
  EXPECT_EQ(sign(t, temporary, bedrock, kSuiteTime).signature,
            "238d7cdf10a6bb1411ed2a27a7b38c11bfdb6374113749b6c3a51b5e9229ccc8");
}

}  // namespace
}  // namespace switchboard::providers::sigv4
