// Unit tests for the JSON pull reader: reading, decoding, validation of malformed texts, nesting
// limits, raw spans, and a differential check against nlohmann on mutated documents.
#include "switchboard/protocol/json_reader.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace switchboard::protocol {
namespace {

using nlohmann::json;

// Reads any value into a DOM with the reader; false on any reader failure.
bool to_dom(JsonReader& r, json& out, std::string& scratch) {
  switch (r.peek()) {
    case JsonType::object: {
      r.begin_object();
      out = json::object();
      std::string_view key;
      while (r.next_key(key)) {
        std::string k(key);
        json v;
        if (!to_dom(r, v, scratch)) return false;
        out[k] = std::move(v);  // the last duplicate wins, as in nlohmann
      }
      return r.ok();
    }
    case JsonType::array: {
      r.begin_array();
      out = json::array();
      while (r.next_element()) {
        json v;
        if (!to_dom(r, v, scratch)) return false;
        out.push_back(std::move(v));
      }
      return r.ok();
    }
    case JsonType::string: {
      std::string_view s;
      if (!r.read_string(s, scratch)) return false;
      out = std::string(s);
      return true;
    }
    case JsonType::number: {
      std::int64_t i = 0;
      if (r.read_int64(i)) {
        out = i;
        return true;
      }
      double d = 0;
      if (!r.read_double(d)) return false;
      out = d;
      return true;
    }
    case JsonType::boolean: {
      bool b = false;
      if (!r.read_bool(b)) return false;
      out = b;
      return true;
    }
    case JsonType::null:
      out = nullptr;
      return r.read_null();
    case JsonType::invalid:
      return false;
  }
  return false;
}

// Whole-text validation through skip(): the error, or none.
JsonError validate(std::string_view text, int max_depth = JsonReader::kDefaultMaxDepth) {
  JsonReader r(text, max_depth);
  r.skip();
  r.finish();
  return r.error();
}

TEST(JsonReader, ReadsAnObjectMemberByMember) {
  std::string text =
      R"( { "id" : "msg_1", "n": -42, "x": 2.5e1, "ok": true, "no": false, "nothing": null,
           "list": [1, "two", {"three": 3}], "empty": {}, "none": [] } )";
  JsonReader r(text);
  ASSERT_TRUE(r.begin_object());
  std::string scratch;
  std::string_view key, s;
  std::vector<std::string> keys;
  while (r.next_key(key)) {
    keys.emplace_back(key);
    if (key == "id") {
      ASSERT_TRUE(r.read_string(s, scratch));
      EXPECT_EQ(s, "msg_1");
      EXPECT_GE(s.data(), text.data());  // a view into the text: no escapes, no copy
      EXPECT_LT(s.data(), text.data() + text.size());
    } else if (key == "n") {
      std::int64_t n = 0;
      ASSERT_TRUE(r.read_int64(n));
      EXPECT_EQ(n, -42);
    } else if (key == "x") {
      std::int64_t n = 0;
      EXPECT_FALSE(r.read_int64(n));  // not an integer: a mismatch, nothing consumed
      EXPECT_TRUE(r.ok());
      double d = 0;
      ASSERT_TRUE(r.read_double(d));
      EXPECT_EQ(d, 25.0);
    } else if (key == "ok" || key == "no") {
      bool b = key == "no";
      ASSERT_TRUE(r.read_bool(b));
      EXPECT_EQ(b, key == "ok");
    } else if (key == "nothing") {
      EXPECT_FALSE(r.read_string(s, scratch));  // null is not a string
      EXPECT_TRUE(r.ok());
      EXPECT_TRUE(r.read_null());
    } else if (key == "list") {
      ASSERT_TRUE(r.begin_array());
      int count = 0;
      while (r.next_element()) {
        ++count;
        EXPECT_TRUE(r.skip());
      }
      EXPECT_EQ(count, 3);
    } else {
      EXPECT_EQ(r.peek(), key == "empty" ? JsonType::object : JsonType::array);
      EXPECT_TRUE(r.skip());
    }
  }
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.finish());
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "n", "x", "ok", "no", "nothing", "list", "empty",
                                            "none"}));
}

TEST(JsonReader, DecodesEscapesIntoTheScratchBuffer) {
  std::string text =
      R"(["a\"b\\c\/d\b\f\n\r\t", "\u00e9\u20AC", "\ud83d\ude00", "caf\u00e9 ok", "\u0000"])";
  JsonReader r(text);
  ASSERT_TRUE(r.begin_array());
  std::string scratch;
  std::string_view s;
  std::vector<std::string> got;
  while (r.next_element()) {
    ASSERT_TRUE(r.read_string(s, scratch));
    EXPECT_EQ(s.data(), scratch.data());  // escaped: decoded into the caller's buffer
    got.emplace_back(s);
  }
  ASSERT_TRUE(r.finish());
  EXPECT_EQ(got[0], "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(got[1], "\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(got[2], "\xF0\x9F\x98\x80");  // a surrogate pair is one 4-byte character
  EXPECT_EQ(got[3], "caf\xC3\xA9 ok");
  EXPECT_EQ(got[4], std::string(1, '\0'));
}

TEST(JsonReader, KeysWithEscapesAreDecoded) {
  JsonReader r(R"({"a\u0062c": 1, "plain": 2})");
  ASSERT_TRUE(r.begin_object());
  std::string_view key;
  ASSERT_TRUE(r.next_key(key));
  EXPECT_EQ(key, "abc");
  ASSERT_TRUE(r.skip());
  ASSERT_TRUE(r.next_key(key));
  EXPECT_EQ(key, "plain");
  ASSERT_TRUE(r.skip());
  EXPECT_FALSE(r.next_key(key));
  EXPECT_TRUE(r.finish());
}

TEST(JsonReader, AppendStringAndRawStringAndRawValue) {
  std::string text = R"({"t": "x\ny", "u": "plain", "v": [ 1, {"b" : "\u00e9"} ] , "w": -0.5})";
  JsonReader r(text);
  ASSERT_TRUE(r.begin_object());
  std::string_view key, raw;
  std::string appended = ">";
  ASSERT_TRUE(r.next_key(key));
  ASSERT_TRUE(r.read_string_raw(raw));
  EXPECT_EQ(raw, R"(x\ny)");
  ASSERT_TRUE(r.next_key(key));
  ASSERT_TRUE(r.append_string(appended));
  EXPECT_EQ(appended, ">plain");
  ASSERT_TRUE(r.next_key(key));
  ASSERT_TRUE(r.raw_value(raw));
  EXPECT_EQ(raw, R"([ 1, {"b" : "\u00e9"} ])");
  std::string minified;
  append_minified(minified, raw);
  EXPECT_EQ(minified, R"([1,{"b":"\u00e9"}])");
  ASSERT_TRUE(r.next_key(key));
  ASSERT_TRUE(r.read_number(raw));
  EXPECT_EQ(raw, "-0.5");
  EXPECT_FALSE(r.next_key(key));
  EXPECT_TRUE(r.finish());

  JsonReader escaped(R"("a\tb")");
  std::string out = "<";
  ASSERT_TRUE(escaped.append_string(out));
  EXPECT_EQ(out, "<a\tb");
}

// Plain runs are scanned eight bytes at a time: a special byte at every offset of a long string
// must still be seen (escape, quote, control character, non-ASCII, invalid UTF-8).
TEST(JsonReader, SpecialBytesAreFoundAtEveryOffset) {
  std::string scratch;
  for (std::size_t at = 0; at < 40; ++at) {
    const std::string before(at, 'a'), after(40 - at, 'b');
    std::string_view value;
    const std::string escaped_text = "\"" + before + "\\n" + after + "\"";
    JsonReader escaped(escaped_text);  // the reader views the text: it must outlive it
    ASSERT_TRUE(escaped.read_string(value, scratch)) << at;
    EXPECT_EQ(value, before + "\n" + after) << at;
    const std::string utf8_text = "\"" + before + "\xC3\xA9" + after + "\"";
    JsonReader utf8(utf8_text);
    ASSERT_TRUE(utf8.read_string(value, scratch)) << at;
    EXPECT_EQ(value, before + "\xC3\xA9" + after) << at;
    const std::string quote_text = "\"" + before + "\"" + after;
    JsonReader quote(quote_text);
    ASSERT_TRUE(quote.read_string(value, scratch)) << at;
    EXPECT_EQ(value, before) << at;
    EXPECT_EQ(validate("\"" + before + "\x1f" + after + "\""), JsonError::control_character) << at;
    EXPECT_EQ(validate("\"" + before + "\x7f" + after + "\""), JsonError::none)
        << at;  // DEL is fine
    EXPECT_EQ(validate("\"" + before + "\xff" + after + "\""), JsonError::invalid_utf8) << at;
  }
}

// Several special bytes in one eight-byte word: the first one decides (a control character
// before a quote is an error; a quote before a control character ends the string), wherever
// the word starts.
TEST(JsonReader, TheFirstSpecialByteOfAWordDecides) {
  std::string scratch;
  std::string_view value;
  for (std::size_t at = 0; at < 24; ++at) {
    for (std::size_t gap = 0; gap < 8; ++gap) {
      const std::string before(at, 'a'), mid(gap, 'm');
      EXPECT_EQ(validate("\"" + before + "\x01" + mid + "\"x\""), JsonError::control_character)
          << at << " " << gap;
      const std::string quote_first = "\"" + before + "\"" + mid + "\x01";
      JsonReader quote(quote_first);
      ASSERT_TRUE(quote.read_string(value, scratch)) << at << " " << gap;
      EXPECT_EQ(value, before);
      EXPECT_EQ(validate("\"" + before + "\xff" + mid + "\x01\""), JsonError::invalid_utf8);
      const std::string utf8_then_escape = "\"" + before + "\xC3\xA9" + mid + "\\t\"";
      JsonReader both(utf8_then_escape);
      ASSERT_TRUE(both.read_string(value, scratch)) << at << " " << gap;
      EXPECT_EQ(value, before + "\xC3\xA9" + mid + "\t");
    }
  }
}

TEST(JsonReader, MinifyKeepsStringsAndEscapedQuotesIntact) {
  std::string out;
  append_minified(out, "{ \"a b\" : [ 1 ,\n\t\"x \\\" y\\\\\" , true ] }");
  EXPECT_EQ(out, R"({"a b":[1,"x \" y\\",true]})");
}

TEST(JsonReader, IntegersOutsideInt64AreMismatches) {
  JsonReader r("[9223372036854775807, -9223372036854775808, 9223372036854775808, 1e2]");
  ASSERT_TRUE(r.begin_array());
  std::int64_t v = 0;
  ASSERT_TRUE(r.next_element());
  ASSERT_TRUE(r.read_int64(v));
  EXPECT_EQ(v, INT64_MAX);
  ASSERT_TRUE(r.next_element());
  ASSERT_TRUE(r.read_int64(v));
  EXPECT_EQ(v, INT64_MIN);
  ASSERT_TRUE(r.next_element());
  EXPECT_FALSE(r.read_int64(v));
  EXPECT_TRUE(r.ok());
  double d = 0;
  ASSERT_TRUE(r.read_double(d));
  EXPECT_EQ(d, 9223372036854775808.0);
  ASSERT_TRUE(r.next_element());
  EXPECT_FALSE(r.read_int64(v));
  ASSERT_TRUE(r.skip());
  EXPECT_FALSE(r.next_element());
  EXPECT_TRUE(r.finish());
}

// Integers of up to 18 digits are summed by the reader, longer ones go through from_chars: both
// sides of the boundary read exactly.
TEST(JsonReader, IntegersReadExactlyOnBothSidesOfTheDigitBoundary) {
  for (const char* text : {"0", "-0", "7", "-7", "999999999999999999", "-999999999999999999",
                           "1000000000000000000", "-1000000000000000000", "123456789012345678",
                           "1234567890123456789", "-1234567890123456789", "0000"}) {
    JsonReader r(text);
    std::int64_t v = 1;
    std::int64_t expected = 0;
    auto [end, ec] = std::from_chars(text, text + std::strlen(text), expected);
    const bool valid = std::string_view(text) != "0000";  // leading zeros: not JSON
    if (!valid) {
      EXPECT_FALSE(r.read_int64(v) && r.finish()) << text;
      continue;
    }
    ASSERT_EQ(ec, std::errc{}) << text;
    ASSERT_TRUE(r.read_int64(v)) << text;
    EXPECT_EQ(v, expected) << text;
    EXPECT_TRUE(r.finish()) << text;
  }
  for (const char* text : {"10000000000000000000", "-9223372036854775809", "1.0", "1e0", "-1E+2"}) {
    JsonReader r(text);
    std::int64_t v = 5;
    EXPECT_FALSE(r.read_int64(v)) << text;
    EXPECT_EQ(v, 5) << text;
    EXPECT_TRUE(r.ok()) << text;
    EXPECT_TRUE(r.skip() && r.finish()) << text;
  }
}

TEST(JsonReader, OutOfRangeDoublesSaturate) {
  double d = 1;
  JsonReader big("1e400");
  ASSERT_TRUE(big.read_double(d));
  EXPECT_TRUE(std::isinf(d) && d > 0);
  JsonReader tiny("-1e-400");
  ASSERT_TRUE(tiny.read_double(d));
  EXPECT_EQ(d, 0.0);
}

TEST(JsonReader, RejectsMalformedTexts) {
  struct Case {
    std::string text;
    JsonError error;
  };
  const std::vector<Case> cases = {
      {"", JsonError::unexpected_end},
      {"   ", JsonError::unexpected_end},
      {"{", JsonError::unexpected_end},
      {"[1,", JsonError::unexpected_end},
      {R"({"a":)", JsonError::unexpected_end},
      {R"({"a)", JsonError::unexpected_end},
      {"[1,]", JsonError::unexpected_character},
      {"[,1]", JsonError::unexpected_character},
      {R"({"a":1,})", JsonError::unexpected_character},
      {"[1 2]", JsonError::unexpected_character},
      {R"({"a" 1})", JsonError::unexpected_character},
      {"{a:1}", JsonError::unexpected_character},
      {"['a']", JsonError::unexpected_character},
      {"[1}", JsonError::unexpected_character},
      {R"({"a":1])", JsonError::unexpected_character},
      {"/*c*/1", JsonError::unexpected_character},
      {"NaN", JsonError::unexpected_character},
      {"+1", JsonError::unexpected_character},
      {"tru", JsonError::invalid_literal},
      {"nul", JsonError::invalid_literal},
      {"True", JsonError::unexpected_character},
      {"-", JsonError::invalid_number},
      {"-a", JsonError::invalid_number},
      {"1.", JsonError::invalid_number},
      {"1.e5", JsonError::invalid_number},
      {"1e", JsonError::invalid_number},
      {"1e+", JsonError::invalid_number},
      {".5", JsonError::unexpected_character},
      {"01", JsonError::trailing_characters},
      {"-Infinity", JsonError::invalid_number},
      {R"("abc)", JsonError::unexpected_end},
      {R"("\x")", JsonError::invalid_escape},
      {R"("\u12")", JsonError::invalid_escape},
      {R"("\u12G4")", JsonError::invalid_escape},
      {R"("\)", JsonError::unexpected_end},
      {R"("\ud800")", JsonError::invalid_surrogate},
      {R"("\udc00")", JsonError::invalid_surrogate},
      {R"("\ud800\u0041")", JsonError::invalid_surrogate},
      {R"("\ud800x")", JsonError::invalid_surrogate},
      {"\"a\tb\"", JsonError::control_character},
      {"\"a\nb\"", JsonError::control_character},
      {std::string("\"a\0b\"", 5), JsonError::control_character},
      {"\"\xff\"", JsonError::invalid_utf8},
      {"\"\xc0\xaf\"", JsonError::invalid_utf8},          // overlong '/'
      {"\"\xe0\x80\xaf\"", JsonError::invalid_utf8},      // overlong
      {"\"\xed\xa0\x80\"", JsonError::invalid_utf8},      // an encoded surrogate
      {"\"\xf4\x90\x80\x80\"", JsonError::invalid_utf8},  // above U+10FFFF
      {"\"\xe2\x82\"", JsonError::invalid_utf8},          // truncated sequence
      {"\"\x80\"", JsonError::invalid_utf8},              // a lone continuation byte
      {"[1]x", JsonError::trailing_characters},
      {"{} {}", JsonError::trailing_characters},
      {"1 2", JsonError::trailing_characters},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(validate(c.text), c.error)
        << "text: " << c.text << " got " << describe(validate(c.text));
    EXPECT_FALSE(json::accept(c.text)) << "nlohmann accepts " << c.text;
  }
}

TEST(JsonReader, AcceptsEdgeCasesOfTheGrammar) {
  for (const char* text :
       {"0", "-0", "0.0e+0", "1E-2", "[]", "{}", " \t\r\n[ ] ", R"("")", "\"\xf4\x8f\xbf\xbf\"",
        R"("\uDBFF\uDFFF")", "[[[]]]", R"({"":{"":[null,true,false]}})"}) {
    EXPECT_EQ(validate(text), JsonError::none) << text;
    EXPECT_TRUE(json::accept(text)) << text;
  }
}

TEST(JsonReader, NestingLimit) {
  auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_EQ(validate(nested(JsonReader::kDefaultMaxDepth)), JsonError::none);
  EXPECT_EQ(validate(nested(JsonReader::kDefaultMaxDepth + 1)), JsonError::too_deep);
  EXPECT_EQ(validate(nested(3), 3), JsonError::none);
  EXPECT_EQ(validate(nested(4), 3), JsonError::too_deep);
  EXPECT_EQ(validate(nested(JsonReader::kMaxDepthLimit), 1 << 20), JsonError::none);
  EXPECT_EQ(validate(nested(JsonReader::kMaxDepthLimit + 1), 1 << 20), JsonError::too_deep);
  // Deep input costs no stack: skip() is iterative and stops at the limit.
  EXPECT_EQ(validate(std::string(1'000'000, '[')), JsonError::too_deep);
  // Objects and arrays interleaved past 64 levels: closers are matched to their openers.
  std::string mixed, close;
  for (int i = 0; i < 200; ++i) {
    mixed += i % 3 == 0 ? "{\"k\":" : "[";
    close.insert(close.begin(), i % 3 == 0 ? '}' : ']');
  }
  EXPECT_EQ(validate(mixed + "1" + close), JsonError::none);
  std::string wrong = mixed + "1" + close;
  wrong[wrong.size() - 70] = wrong[wrong.size() - 70] == '}' ? ']' : '}';
  EXPECT_NE(validate(wrong), JsonError::none);
}

TEST(JsonReader, ErrorsAreStickyAndSayWhere) {
  JsonReader r(R"({"a": [1, 2,, 3], "b": "x"})");
  ASSERT_TRUE(r.begin_object());
  std::string_view key;
  ASSERT_TRUE(r.next_key(key));
  EXPECT_FALSE(r.skip());
  EXPECT_EQ(r.error(), JsonError::unexpected_character);
  EXPECT_EQ(r.error_offset(), 12u);
  EXPECT_FALSE(r.next_key(key));
  EXPECT_EQ(r.peek(), JsonType::invalid);
  EXPECT_FALSE(r.finish());
  EXPECT_EQ(r.error(), JsonError::unexpected_character);  // the first error stays
  EXPECT_EQ(describe(r.error()), "unexpected character");
}

TEST(JsonReader, MisuseIsAnError) {
  JsonReader in_array("[1]");
  ASSERT_TRUE(in_array.begin_array());
  std::string_view key;
  EXPECT_FALSE(in_array.next_key(key));
  EXPECT_EQ(in_array.error(), JsonError::misuse);

  JsonReader unfinished(R"({"a":1})");
  ASSERT_TRUE(unfinished.begin_object());
  EXPECT_FALSE(unfinished.finish());
  EXPECT_EQ(unfinished.error(), JsonError::misuse);

  JsonReader top("1");
  EXPECT_FALSE(top.next_element());
  EXPECT_EQ(top.error(), JsonError::misuse);
}

TEST(JsonReader, ReadsWhatNlohmannReads) {
  const std::string document = R"({"id":"msg_01","type":"message","content":[
    {"type":"text","text":"Hello \"world\"\n\u00e9\ud83d\ude00 caf\u00e9 – ok"},
    {"type":"tool_use","id":"toolu_1","name":"f","input":{"a":[1,-2.5,3e10,true,null],"b":{}}}],
    "stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":0},"x":-0.0})";
  std::string scratch;
  JsonReader r(document);
  json mine;
  ASSERT_TRUE(to_dom(r, mine, scratch));
  ASSERT_TRUE(r.finish());
  EXPECT_EQ(mine, json::parse(document));
}

// Random byte mutations of a valid document: the reader accepts exactly what nlohmann accepts,
// and reads the same values from what both accept.
TEST(JsonReader, AgreesWithNlohmannOnMutatedDocuments) {
  const std::string document =
      R"({"a":[1,2.5,-3e-2,"s\"t\u00e9",true,false,null,{"b":{}}],"c":"\ud83d\ude00","d":[]})";
  const std::string alphabet = "{}[]\":,\\u0123456789eE.-+ tfnrla\x80\xc3\xa9\xff\t\n";
  std::mt19937 rng(7);
  std::string scratch;
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
    bool theirs = json::accept(text);
    EXPECT_EQ(validate(text) == JsonError::none, theirs) << text;
    if (!theirs) continue;
    ++accepted;
    JsonReader r(text);
    json mine;
    ASSERT_TRUE(to_dom(r, mine, scratch)) << text;
    ASSERT_TRUE(r.finish()) << text;
    EXPECT_EQ(mine.dump(), json::parse(text).dump()) << text;
  }
  EXPECT_GT(accepted, 100);  // the mutations keep enough documents valid to compare values
}

}  // namespace
}  // namespace switchboard::protocol
