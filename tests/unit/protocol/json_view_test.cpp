// Unit tests for the read-only JSON DOM (JsonDocument / JsonValue): navigation, decoding, number
// kinds as nlohmann reads them, errors as JsonReader reports them, reuse, and a differential
// check against nlohmann on mutated documents.
#include "switchboard/protocol/json_view.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace switchboard::protocol {
namespace {

using nlohmann::json;

// The view's tree as an nlohmann DOM. Members are looked up with find(), so a repeated key reads
// as find() resolves it (the last one).
json to_dom(JsonValue v) {
  switch (v.type()) {
    case JsonType::object: {
      json out = json::object();
      for (JsonValue m : v) out[std::string(m.key())] = to_dom(v.find(m.key()));
      return out;
    }
    case JsonType::array: {
      json out = json::array();
      for (JsonValue e : v) out.push_back(to_dom(e));
      return out;
    }
    case JsonType::string:
      return std::string(v.string());
    case JsonType::number:
      if (!v.is_integer()) return v.number();
      if (v.raw().front() == '-') return v.int64();
      return static_cast<std::uint64_t>(v.int64());  // unsigned, as nlohmann reads it
    case JsonType::boolean:
      return v.boolean();
    default:
      return nullptr;
  }
}

TEST(JsonView, NavigatesObjectsAndArrays) {
  const std::string text =
      R"( {"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant"}],)"
      R"("n":1,"ok":true,"no":false,"nothing":null,"e":{},"a":[]} )";
  JsonDocument doc;
  ASSERT_TRUE(doc.parse(text));
  JsonValue root = doc.root();
  ASSERT_TRUE(root.is_object());
  EXPECT_EQ(root.size(), 8u);
  EXPECT_EQ(root.find("model").string(), "m");
  EXPECT_TRUE(root.find("model").equals("m"));
  EXPECT_FALSE(root.find("n").equals("1"));
  JsonValue messages = root.find("messages");
  ASSERT_TRUE(messages.is_array());
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].find("content").string(), "hi");
  EXPECT_EQ(messages[1].find("role").raw(), R"("assistant")");
  EXPECT_EQ(messages.raw(), R"([{"role":"user","content":"hi"},{"role":"assistant"}])");
  EXPECT_EQ(messages[0].raw(), R"({"role":"user","content":"hi"})");
  EXPECT_EQ(messages.key(), "messages");
  EXPECT_TRUE(root.find("ok").boolean());
  EXPECT_TRUE(root.find("no").is_boolean());
  EXPECT_FALSE(root.find("no").boolean());
  EXPECT_TRUE(root.find("nothing").is_null());
  EXPECT_TRUE(root.find("nothing").present());
  EXPECT_TRUE(root.find("e").is_object() && root.find("e").empty());
  EXPECT_TRUE(root.find("a").is_array() && root.find("a").empty());
  EXPECT_EQ(root.find("a").begin(), root.find("a").end());

  std::vector<std::string> keys;
  for (JsonValue m : root) keys.emplace_back(m.key());
  EXPECT_EQ(keys,
            (std::vector<std::string>{"model", "messages", "n", "ok", "no", "nothing", "e", "a"}));
}

TEST(JsonView, MissingValuesReadAsNull) {
  JsonDocument doc;
  ASSERT_TRUE(doc.parse(R"({"a":[1],"s":"x"})"));
  JsonValue root = doc.root();
  JsonValue missing = root.find("b");
  EXPECT_FALSE(missing.present());
  EXPECT_TRUE(missing.is_null());
  EXPECT_EQ(missing.size(), 0u);
  EXPECT_EQ(missing.raw(), "");
  EXPECT_FALSE(missing.find("x").present());         // chained lookups stay missing
  EXPECT_FALSE(root.find("a")[1].present());         // past the end
  EXPECT_FALSE(root.find("s").find("x").present());  // not an object
  EXPECT_FALSE(root.find("s")[0].present());         // not a container
  EXPECT_EQ(root.find("a").find("0").present(), false);
  EXPECT_EQ(root.find("s").size(), 1u);                     // as nlohmann counts a scalar
  EXPECT_EQ(root.find("s").begin(), root.find("s").end());  // but it has no elements
}

TEST(JsonView, LastDuplicateKeyWinsAsInNlohmann) {
  const std::string text = R"({"k":1,"x":true,"k":{"deep":2},"k":"last"})";
  JsonDocument doc;
  ASSERT_TRUE(doc.parse(text));
  EXPECT_EQ(doc.root().find("k").string(), "last");
  EXPECT_EQ(doc.root().size(), 4u);  // every member is kept, in order
  EXPECT_EQ(doc.root()[2].key(), "k");
  EXPECT_EQ(doc.root()[2].find("deep").int64(), 2);
  EXPECT_EQ(to_dom(doc.root()), json::parse(text));
}

TEST(JsonView, DecodesEscapedStringsAndKeys) {
  const std::string text =
      R"({"plain":"abc","esc":"a\"b\\c\n\u00e9\ud83d\ude00","k\u00e9y":"v","":"empty key",)"
      R"("e":""})";
  JsonDocument doc;
  ASSERT_TRUE(doc.parse(text));
  JsonValue root = doc.root();
  EXPECT_EQ(root.find("plain").string(), "abc");
  EXPECT_EQ(root.find("esc").string(), "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(root.find("esc").raw(), R"("a\"b\\c\n\u00e9\ud83d\ude00")");
  EXPECT_EQ(root.find("k\xc3\xa9y").string(), "v");
  EXPECT_EQ(root[2].key(), "k\xc3\xa9y");
  EXPECT_EQ(root.find("").string(), "empty key");
  EXPECT_EQ(root.find("e").string(), "");
  EXPECT_TRUE(root.find("e").is_string());
  EXPECT_EQ(root.find("plain").int64(), 0);  // not a number
  EXPECT_EQ(to_dom(root), json::parse(text));
}

TEST(JsonView, NumberKindsAreNlohmanns) {
  const std::string text =
      R"([0,-0,42,-7,9223372036854775807,9223372036854775808,18446744073709551615,)"
      R"(18446744073709551616,-9223372036854775808,-9223372036854775809,1.5,1e2,-2.5E-3,1e-400])";
  JsonDocument doc;
  ASSERT_TRUE(doc.parse(text));
  JsonValue a = doc.root();
  const json theirs = json::parse(text);
  ASSERT_EQ(a.size(), theirs.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(std::string(a[i].raw()));
    EXPECT_TRUE(a[i].is_number());
    EXPECT_EQ(a[i].is_integer(), theirs[i].is_number_integer());
    if (theirs[i].is_number_integer()) EXPECT_EQ(a[i].int64(), theirs[i].get<std::int64_t>());
    EXPECT_EQ(a[i].number(), theirs[i].get<double>());
  }
  EXPECT_EQ(a[5].int64(), INT64_MIN);  // 2^63 wraps as nlohmann's get<int64_t>() wraps it
  EXPECT_EQ(a[6].int64(), -1);
  EXPECT_EQ(a[10].int64(), 1);  // truncated
  EXPECT_FALSE(doc.number_overflow());
}

TEST(JsonView, FloatsBeyondInt64ReadAsX86ConvertsThem) {
  JsonDocument doc;
  ASSERT_TRUE(doc.parse("[99999999999999999999999,9.25e18,-1e19,9.2e18,1e2]"));
  JsonValue a = doc.root();
  EXPECT_EQ(a[0].int64(), INT64_MIN);  // an integer too large for uint64: a double, out of range
  EXPECT_EQ(a[1].int64(), INT64_MIN);  // just above 2^63
  EXPECT_EQ(a[2].int64(), INT64_MIN);
  EXPECT_EQ(a[3].int64(), 9200000000000000000);
  EXPECT_EQ(a[4].int64(), 100);
}

TEST(JsonView, FlagsNumbersBeyondDoubleThatNlohmannRefuses) {
  JsonDocument doc;
  for (const char* text : {"[1e400]", R"({"t":-1E+999})", "[1e309]"}) {
    EXPECT_TRUE(doc.parse(text)) << text;
    EXPECT_TRUE(doc.number_overflow()) << text;
    EXPECT_FALSE(json::accept(text)) << text;
  }
  for (const char* text : {"[1e308]", "[1e-400]", "[123456789012345678901234567890]"}) {
    EXPECT_TRUE(doc.parse(text)) << text;
    EXPECT_FALSE(doc.number_overflow()) << text;
  }
}

// Integers of up to 18 digits are classified without from_chars, and plain decimals without an
// exponent are only converted when long enough to overflow: both sides of each boundary.
TEST(JsonView, NumberKindsAtTheShortcutBoundaries) {
  const std::string text =
      R"([999999999999999999,-999999999999999999,1000000000000000000,-1000000000000000000,)"
      R"(12345678901234567890,-12345678901234567890,0.5,-0.0,1E2,2e-1])";
  JsonDocument doc;
  ASSERT_TRUE(doc.parse(text));
  const json theirs = json::parse(text);
  JsonValue a = doc.root();
  ASSERT_EQ(a.size(), theirs.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(std::string(a[i].raw()));
    EXPECT_EQ(a[i].is_integer(), theirs[i].is_number_integer());
    if (theirs[i].is_number_integer()) EXPECT_EQ(a[i].int64(), theirs[i].get<std::int64_t>());
    EXPECT_EQ(a[i].number(), theirs[i].get<double>());
  }
  EXPECT_FALSE(doc.number_overflow());
  const std::string long_digits(299, '9'), longer_digits(320, '9');
  for (const std::string& number : {long_digits + ".5", "-" + long_digits + ".5", long_digits}) {
    EXPECT_TRUE(doc.parse("[" + number + "]"));
    EXPECT_FALSE(doc.number_overflow()) << number.size();
  }
  for (const std::string& number : {longer_digits + ".5", "-" + longer_digits, longer_digits}) {
    EXPECT_TRUE(doc.parse("[" + number + "]"));
    EXPECT_TRUE(doc.number_overflow()) << number.size();
    EXPECT_FALSE(json::accept("[" + number + "]"));
  }
}

TEST(JsonView, ErrorsAreJsonReadersAndLeaveNoValues) {
  JsonDocument doc;
  for (const char* text : {"", "{", R"({"a":})", "[1,]", R"({"a":1}x)", R"(["\x"])", "[tru]",
                           "[01]", "{\"a\":\"\x01\"}", "[\"\xff\"]", R"({"a" 1})", "  "}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(doc.parse(text));
    EXPECT_FALSE(doc.root().present());
    JsonReader r(text);
    r.skip();
    r.finish();
    EXPECT_EQ(doc.error(), r.error());
    EXPECT_EQ(doc.error_offset(), r.error_offset());
  }
}

TEST(JsonView, NestingLimitAndDeepTexts) {
  std::string deep(300, '[');
  deep += std::string(300, ']');
  JsonDocument doc;
  EXPECT_FALSE(doc.parse(deep));
  EXPECT_EQ(doc.error(), JsonError::too_deep);
  ASSERT_TRUE(doc.parse(deep, 1000));  // iterative: no recursion on the way in
  JsonValue v = doc.root();
  int depth = 0;
  while (v.size() == 1) {
    v = v[0];
    ++depth;
  }
  EXPECT_EQ(depth, 299);
  // Exactly at the limit, and one past it, through arrays and objects with whitespace.
  for (int levels : {255, 256, 257}) {
    std::string text;
    for (int i = 0; i < levels; ++i) text += i % 2 ? "[ " : R"({ "k" : )";
    text += "0";
    for (int i = levels - 1; i >= 0; --i) text += i % 2 ? " ]" : " }";
    EXPECT_EQ(doc.parse(text), levels <= 256) << levels;
    JsonReader r(text);
    r.skip();
    r.finish();
    EXPECT_EQ(doc.error(), r.error()) << levels;
    EXPECT_EQ(doc.error_offset(), r.error_offset()) << levels;
  }
}

TEST(JsonView, ADocumentIsReusedAndShrinks) {
  JsonDocument doc;
  std::string big = R"({"s":")" + std::string(100000, 'x') + R"(\n","n":[1,2,3]})";
  ASSERT_TRUE(doc.parse(big));
  EXPECT_EQ(doc.root().find("s").string().size(), 100001u);
  ASSERT_TRUE(doc.parse(R"({"a":{"b":"c\td"}})"));
  EXPECT_EQ(doc.root().find("a").find("b").string(), "c\td");
  EXPECT_FALSE(doc.root().find("s").present());
  doc.shrink_to(1024);  // frees the arena the big text grew; the document stays usable
  ASSERT_TRUE(doc.parse(R"(["\u0041",true])"));
  EXPECT_EQ(doc.root()[0].string(), "A");
  EXPECT_TRUE(doc.root()[1].boolean());
}

// Every value's raw() span is that value's text.
void expect_raw_spans(JsonValue v, const std::string& text) {
  EXPECT_EQ(json::parse(v.raw()), to_dom(v)) << text << " at " << v.raw();
  if (v.is_array() || v.is_object())
    for (JsonValue child : v) expect_raw_spans(child, text);
}

// Random byte mutations of a valid document: the view accepts what nlohmann accepts (numbers
// beyond double aside, which it flags), and reads the same values from what both accept.
TEST(JsonView, AgreesWithNlohmannOnMutatedDocuments) {
  const std::string document =
      R"({"a":[1,2.5,-3e-2,"s\"t\u00e9",true,false,null,{"b":{}}],"c":"\ud83d\ude00","d":[],)"
      R"("k":1,"k\u0041":[18446744073709551615,-9],"k":{"x":"y","x":2}})";
  const std::string alphabet = "{}[]\":,\\u0123456789eE.-+ tfnrlakx\x80\xc3\xa9\xff\t\n";
  std::mt19937 rng(11);
  JsonDocument doc;
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text = document;
    int edits = std::uniform_int_distribution<int>(1, 3)(rng);
    for (int e = 0; e < edits; ++e) {
      std::size_t at = std::uniform_int_distribution<std::size_t>(0, text.size() - 1)(rng);
      char c = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
      switch (std::uniform_int_distribution<int>(0, 2)(rng)) {
        case 0:
          text[at] = c;
          break;
        case 1:
          text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          text.erase(at, 1);
      }
    }
    const bool theirs = json::accept(text);
    const bool parsed = doc.parse(text);
    const bool mine = parsed && !doc.number_overflow();
    EXPECT_EQ(mine, theirs) << text;
    if (!parsed) {  // the error is the reader's, where the reader finds it
      JsonReader r(text);
      r.skip();
      r.finish();
      EXPECT_EQ(doc.error(), r.error()) << text;
      EXPECT_EQ(doc.error_offset(), r.error_offset()) << text;
    }
    if (!theirs || !mine) continue;
    ++accepted;
    EXPECT_EQ(to_dom(doc.root()).dump(), json::parse(text).dump()) << text;
    expect_raw_spans(doc.root(), text);
  }
  EXPECT_GT(accepted, 100);
}

}  // namespace
}  // namespace switchboard::protocol
