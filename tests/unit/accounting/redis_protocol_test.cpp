// Redis wire pieces: redis:// URLs (and that the password never shows), RESP encoding, the reply
// reader on split and nested input, spend field names.
#include "switchboard/accounting/redis_protocol.hpp"

#include <gtest/gtest.h>

#include "switchboard/accounting/redis_ledger.hpp"

using namespace switchboard::accounting;

namespace {

RedisUrl parse_ok(std::string_view s) {
  std::string error;
  auto u = parse_redis_url(s, error);
  EXPECT_TRUE(u.has_value()) << s << ": " << error;
  return u.value_or(RedisUrl{});
}

std::string parse_error(std::string_view s) {
  std::string error;
  auto u = parse_redis_url(s, error);
  EXPECT_FALSE(u.has_value()) << s;
  return error;
}

}  // namespace

TEST(RedisUrl, HostPortDb) {
  auto u = parse_ok("redis://10.0.0.5:6380/2");
  EXPECT_EQ(u.host, "10.0.0.5");
  EXPECT_EQ(u.port, 6380);
  EXPECT_EQ(u.db, 2);
  EXPECT_TRUE(u.password.empty());
  auto d = parse_ok("redis://cache.internal");
  EXPECT_EQ(d.host, "cache.internal");
  EXPECT_EQ(d.port, 6379);
  EXPECT_EQ(d.db, 0);
  auto v6 = parse_ok("redis://[::1]:7000/1");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 7000);
  EXPECT_EQ(v6.redacted(), "redis://[::1]:7000/1");
}

TEST(RedisUrl, PasswordAndAclUserNeverInTheRedactedForm) {
  auto p = parse_ok("redis://:s3cr%40t@h:1/0");
  EXPECT_TRUE(p.username.empty());
  EXPECT_EQ(p.password, "s3cr@t");
  EXPECT_EQ(p.redacted(), "redis://:***@h:1/0");
  auto acl = parse_ok("redis://gateway:hunter2@h:6379/4");
  EXPECT_EQ(acl.username, "gateway");
  EXPECT_EQ(acl.password, "hunter2");
  EXPECT_EQ(acl.redacted(), "redis://gateway:***@h:6379/4");
  EXPECT_EQ(acl.redacted().find("hunter2"), std::string::npos);
}

TEST(RedisUrl, RedissIsTls) {
  auto u = parse_ok("rediss://:pw@cache.example.com:6380/1");
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "cache.example.com");
  EXPECT_EQ(u.port, 6380);
  EXPECT_EQ(u.db, 1);
  EXPECT_EQ(u.redacted(), "rediss://:***@cache.example.com:6380/1");
  EXPECT_FALSE(parse_ok("redis://h:1/0").tls);
  EXPECT_NE(parse_error("redisss://h:1").find("rediss://"), std::string::npos);
}

TEST(RedisUrl, BadInputsSayWhatIsWrongWithoutThePassword) {
  EXPECT_NE(parse_error("http://h:1").find("redis://"), std::string::npos);
  EXPECT_NE(parse_error("redis://:pw@h:99999/0").find("port"), std::string::npos);
  EXPECT_NE(parse_error("redis://h:1/x").find("database"), std::string::npos);
  EXPECT_NE(parse_error("redis://:pw@/0").find("no host"), std::string::npos);
  EXPECT_NE(parse_error("redis://h:1/0?timeout=1").find("query"), std::string::npos);
  auto e = parse_error("redis://:topsecret%zz@h:1/0");
  EXPECT_NE(e.find("percent"), std::string::npos);
  EXPECT_EQ(e.find("topsecret"), std::string::npos);
}

TEST(Resp, EncodesCommandsAsBulkStringArrays) {
  std::string out;
  resp_append_command(out, {"SET", "k", ""});
  resp_append_command(out, {"GET", std::string("a\r\nb", 4)});
  EXPECT_EQ(out, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*2\r\n$3\r\nGET\r\n$4\r\na\r\nb\r\n");
}

TEST(Resp, ReaderHandlesSplitInputAndEveryReplyType) {
  RespReader reader;
  RedisReply r;
  std::string wire =
      "+OK\r\n-NOSCRIPT No matching script\r\n:42\r\n$5\r\nhe\r\nl\r\n$-1\r\n"
      "*3\r\n$1\r\n0\r\n*1\r\n:7\r\n$-1\r\n";
  // Fed a byte at a time: a reply only comes out once it is complete.
  std::vector<RedisReply> replies;
  for (char c : wire) {
    ASSERT_TRUE(reader.feed(&c, 1));
    while (reader.next(r) == 1) replies.push_back(r);
  }
  ASSERT_EQ(replies.size(), 6u);
  EXPECT_EQ(replies[0].type, RedisReply::Type::status);
  EXPECT_EQ(replies[0].str, "OK");
  EXPECT_TRUE(replies[1].is_error());
  EXPECT_TRUE(replies[1].str.starts_with("NOSCRIPT"));
  EXPECT_EQ(replies[2].as_int(), 42);
  EXPECT_EQ(replies[3].str, "he\r\nl");
  EXPECT_EQ(replies[4].type, RedisReply::Type::nil);
  ASSERT_EQ(replies[5].elements.size(), 3u);
  EXPECT_EQ(replies[5].elements[0].as_int(-1), 0);
  EXPECT_EQ(replies[5].elements[1].elements[0].integer, 7);
  EXPECT_EQ(replies[5].elements[2].type, RedisReply::Type::nil);
  EXPECT_EQ(reader.next(r), 0);
}

TEST(Resp, ReaderRejectsGarbage) {
  RespReader reader;
  RedisReply r;
  ASSERT_TRUE(reader.feed("?what\r\n", 7));
  EXPECT_EQ(reader.next(r), -1);
  EXPECT_FALSE(reader.error().empty());
}

TEST(Resp, NumbersFromStrings) {
  RedisReply s;
  s.type = RedisReply::Type::string;
  s.str = "0.000005";
  EXPECT_DOUBLE_EQ(s.as_double(), 0.000005);
  s.str = "x";
  EXPECT_EQ(s.as_int(9), 9);
  RedisReply nil;
  EXPECT_EQ(nil.as_double(1.5), 1.5);
}

TEST(SpendField, RoundTripsWhateverTheNamesContain) {
  auto f = spend_field("acme", "tri|age", "open\"ai", "gpt:4", "user\x1f\n");
  std::array<std::string, 5> parts;
  std::string metric;
  ASSERT_TRUE(parse_spend_field(f + "|cw", parts, metric));
  EXPECT_EQ(metric, "cw");
  EXPECT_EQ(parts[0], "acme");
  EXPECT_EQ(parts[1], "tri|age");
  EXPECT_EQ(parts[2], "open\"ai");
  EXPECT_EQ(parts[3], "gpt:4");
  EXPECT_EQ(parts[4], "user\x1f\n");
  EXPECT_FALSE(parse_spend_field("not-a-field", parts, metric));
  EXPECT_FALSE(parse_spend_field("[1,2]|n", parts, metric));
}
