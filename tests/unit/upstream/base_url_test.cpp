// Parsing provider base URLs into endpoints.
#include <gtest/gtest.h>

#include "switchboard/server/address.hpp"
#include "switchboard/upstream/pool.hpp"

using switchboard::upstream::parse_base_url;
using switchboard::upstream::UpstreamEndpoint;

TEST(ParseBaseUrl, HttpsDefaultsToPort443AndKeepsThePath) {
  UpstreamEndpoint ep;
  std::string error;
  ASSERT_TRUE(parse_base_url("https://api.openai.com/v1/", ep, error));
  EXPECT_TRUE(ep.tls);
  EXPECT_EQ(ep.host, "api.openai.com");
  EXPECT_EQ(ep.port, 443);
  EXPECT_EQ(ep.base_path, "/v1");
}

TEST(ParseBaseUrl, HttpWithPortAndNoPath) {
  UpstreamEndpoint ep;
  std::string error;
  ASSERT_TRUE(parse_base_url("http://127.0.0.1:11434", ep, error));
  EXPECT_FALSE(ep.tls);
  EXPECT_EQ(ep.port, 11434);
  EXPECT_EQ(ep.base_path, "");
}

TEST(ParseBaseUrl, Ipv6Literal) {
  UpstreamEndpoint ep;
  std::string error;
  ASSERT_TRUE(parse_base_url("http://[::1]:8000/v1", ep, error));
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.port, 8000);
}

TEST(ParseBaseUrl, RejectsMalformed) {
  UpstreamEndpoint ep;
  std::string error;
  EXPECT_FALSE(parse_base_url("ftp://x", ep, error));
  EXPECT_FALSE(parse_base_url("https://", ep, error));
  EXPECT_FALSE(parse_base_url("https://host:99999/", ep, error));
  EXPECT_FALSE(parse_base_url("https://host:/", ep, error));
  EXPECT_FALSE(parse_base_url("http://[::1/", ep, error));
}

TEST(SplitHostPort, AcceptsHostPortAndBracketedIpv6) {
  std::string host;
  std::uint16_t port = 0;
  ASSERT_TRUE(switchboard::server::split_host_port("0.0.0.0:8080", host, port));
  EXPECT_EQ(host, "0.0.0.0");
  EXPECT_EQ(port, 8080);
  ASSERT_TRUE(switchboard::server::split_host_port("[::]:0", host, port));
  EXPECT_EQ(host, "::");
  EXPECT_EQ(port, 0);
  EXPECT_FALSE(switchboard::server::split_host_port("::1:80", host, port));
  EXPECT_FALSE(switchboard::server::split_host_port("host", host, port));
  EXPECT_FALSE(switchboard::server::split_host_port("host:65536", host, port));
  EXPECT_EQ(switchboard::server::format_endpoint("::1", 80), "[::1]:80");
}
