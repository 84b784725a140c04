// The AWS event stream decoder: AWS's published codec vectors, arbitrary splits, CRC and size
// checks.
#include "switchboard/protocol/eventstream.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <random>
#include <string>
#include <vector>

namespace switchboard::protocol {
namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

// From aws-sdk-js-v3 packages/eventstream-marshaller/src/TestVectors.fixture.ts.
const std::string kEmptyMessage =
    bytes({0, 0, 0, 16, 0, 0, 0, 0, 5, 194, 72, 235, 125, 152, 200, 255});
const std::string kInt32Header =
    bytes({0,   0,   0,   43, 0,   0,   0,   14, 52,  139, 236, 123, 8,  101, 118,
           101, 110, 116, 45, 105, 100, 4,   0,  0,   160, 12,  123, 39, 102, 111,
           111, 39,  58,  39, 98,  97,  114, 39, 125, 211, 137, 2,   133});
const std::string kPayloadNoHeaders =
    bytes({0,   0,   0,  29, 0,  0,  0,  0,   253, 82,  140, 90,  123, 39, 102,
           111, 111, 39, 58, 39, 98, 97, 114, 39,  125, 195, 101, 57,  54});
const std::string kPayloadOneStrHeader =
    bytes({0,   0,   0,   61,  0,   0,   0,   32,  7,   253, 131, 150, 12,  99,  111, 110,
           116, 101, 110, 116, 45,  116, 121, 112, 101, 7,   0,   16,  97,  112, 112, 108,
           105, 99,  97,  116, 105, 111, 110, 47,  106, 115, 111, 110, 123, 39,  102, 111,
           111, 39,  58,  39,  98,  97,  114, 39,  125, 141, 156, 8,   177});
constexpr std::string_view kFooBar = "{'foo':'bar'}";

// Decodes everything `input` holds when fed in the given piece sizes (cycled).
std::vector<EventMessage> decode(const std::string& input, std::vector<std::size_t> pieces,
                                 EventStreamDecoder& decoder) {
  std::vector<EventMessage> out;
  std::size_t pos = 0, i = 0;
  EventMessage m;
  while (pos < input.size()) {
    std::size_t n = std::min(pieces[i++ % pieces.size()], input.size() - pos);
    decoder.feed(std::string_view(input).substr(pos, n));
    pos += n;
    EventStreamDecoder::Status status;
    while ((status = decoder.next(m)) == EventStreamDecoder::Status::message) out.push_back(m);
    if (status == EventStreamDecoder::Status::error) break;
  }
  return out;
}

std::vector<EventMessage> decode(const std::string& input, std::vector<std::size_t> pieces = {1}) {
  EventStreamDecoder decoder;
  return decode(input, std::move(pieces), decoder);
}

TEST(EventStream, Crc32MatchesTheIeeeCheckValue) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32(""), 0u);
  EXPECT_EQ(crc32("56789", crc32("1234")), 0xCBF43926u);  // continues across pieces
}

TEST(EventStream, DecodesAwsCodecVectors) {
  auto empty = decode(kEmptyMessage);
  ASSERT_EQ(empty.size(), 1u);
  EXPECT_TRUE(empty[0].headers.empty());
  EXPECT_TRUE(empty[0].payload.empty());

  auto int32 = decode(kInt32Header);
  ASSERT_EQ(int32.size(), 1u);
  ASSERT_EQ(int32[0].headers.size(), 1u);
  EXPECT_EQ(int32[0].headers[0].name, "event-id");
  EXPECT_EQ(int32[0].headers[0].type, EventHeaderType::int32);
  EXPECT_EQ(int32[0].headers[0].number, 0x0000a00c);
  EXPECT_EQ(int32[0].payload, kFooBar);

  auto no_headers = decode(kPayloadNoHeaders);
  ASSERT_EQ(no_headers.size(), 1u);
  EXPECT_EQ(no_headers[0].payload, kFooBar);

  auto one_str = decode(kPayloadOneStrHeader);
  ASSERT_EQ(one_str.size(), 1u);
  EXPECT_EQ(one_str[0].header("content-type"), "application/json");
  EXPECT_EQ(one_str[0].payload, kFooBar);
}

TEST(EventStream, EncoderReproducesAwsCodecVectors) {
  EventMessage m;
  m.payload = std::string(kFooBar);
  EXPECT_EQ(encode_event_message(m), kPayloadNoHeaders);
  m.headers.push_back(EventHeader::text("content-type", "application/json"));
  EXPECT_EQ(encode_event_message(m), kPayloadOneStrHeader);
  EventMessage id;
  id.headers.push_back(EventHeader::integer("event-id", EventHeaderType::int32, 0xa00c));
  id.payload = std::string(kFooBar);
  EXPECT_EQ(encode_event_message(id), kInt32Header);
  EXPECT_EQ(encode_event_message(EventMessage{}), kEmptyMessage);
}

TEST(EventStream, RejectsAwsCorruptedVectors) {
  std::string corrupted_headers = kPayloadOneStrHeader;
  corrupted_headers[20] = 43;  // a header byte: the message CRC no longer matches
  std::string corrupted_header_len = kPayloadOneStrHeader;
  corrupted_header_len[6] = 1;  // the prelude CRC no longer matches
  std::string corrupted_length = kPayloadNoHeaders;
  corrupted_length[0] = 1;
  std::string corrupted_payload = kPayloadNoHeaders;
  corrupted_payload[24] = static_cast<char>(141);
  for (const auto* input :
       {&corrupted_headers, &corrupted_header_len, &corrupted_length, &corrupted_payload}) {
    EventStreamDecoder decoder;
    EXPECT_TRUE(decode(*input, {1}, decoder).empty());
    EXPECT_TRUE(decoder.failed());
  }
}

TEST(EventStream, BadPreludeCrcFailsBeforeTheBodyArrives) {
  std::string frame = encode_event("messageStart", R"({"role":"assistant"})");
  frame[9] ^= 0x01;
  EventStreamDecoder decoder;
  EventMessage m;
  decoder.feed(std::string_view(frame).substr(0, 12));
  EXPECT_EQ(decoder.next(m), EventStreamDecoder::Status::error);
  EXPECT_NE(decoder.error().find("prelude CRC"), std::string::npos);
  // Sticky: later bytes are dropped and the error stays.
  decoder.feed(std::string_view(frame).substr(12));
  EXPECT_EQ(decoder.next(m), EventStreamDecoder::Status::error);
}

TEST(EventStream, BadMessageCrcIsRejected) {
  std::string frame = encode_event("contentBlockDelta", R"({"delta":{"text":"Hi"}})");
  frame[frame.size() - 6] ^= 0x20;  // a payload byte
  EventStreamDecoder decoder;
  EXPECT_TRUE(decode(frame, {7}, decoder).empty());
  EXPECT_NE(decoder.error().find("message CRC"), std::string::npos);
}

TEST(EventStream, OversizedFrameIsRejectedFromItsPrelude) {
  std::string frame = encode_event("contentBlockDelta", std::string(2000, 'x'));
  EventStreamDecoder decoder(1024);
  EventMessage m;
  decoder.feed(std::string_view(frame).substr(0, 12));
  EXPECT_EQ(decoder.next(m), EventStreamDecoder::Status::error);
  EXPECT_NE(decoder.error().find("exceeds the limit"), std::string::npos);
}

TEST(EventStream, HeadersLongerThanTheFrameAreRejected) {
  // A valid prelude CRC over a header length that does not fit the frame.
  std::string frame = bytes({0, 0, 0, 16, 0, 0, 0, 8});
  std::uint32_t crc = crc32(frame);
  for (int i = 3; i >= 0; --i) frame.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  EventStreamDecoder decoder;
  EventMessage m;
  decoder.feed(frame);
  EXPECT_EQ(decoder.next(m), EventStreamDecoder::Status::error);
}

TEST(EventStream, MalformedHeaderTypeIsRejected) {
  EventMessage m;
  m.headers.push_back(EventHeader::text(":event-type", "x"));
  std::string frame = encode_event_message(m);
  // Rewrite the type byte to 12 (unknown) and fix the message CRC so only the header is wrong.
  frame[12 + 1 + 11] = 12;
  std::string body = frame.substr(0, frame.size() - 4);
  std::uint32_t crc = crc32(body);
  for (int i = 3; i >= 0; --i) body.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  EventStreamDecoder decoder;
  EXPECT_TRUE(decode(body, {1000}, decoder).empty());
  EXPECT_NE(decoder.error().find("malformed headers"), std::string::npos);
}

TEST(EventStream, EveryHeaderTypeRoundTrips) {
  EventMessage m;
  m.headers.push_back(EventHeader::integer("t", EventHeaderType::bool_true, 1));
  m.headers.push_back(EventHeader::integer("f", EventHeaderType::bool_false, 0));
  m.headers.push_back(EventHeader::integer("b", EventHeaderType::byte, -5));
  m.headers.push_back(EventHeader::integer("s", EventHeaderType::int16, -300));
  m.headers.push_back(EventHeader::integer("i", EventHeaderType::int32, -70000));
  m.headers.push_back(EventHeader::integer("l", EventHeaderType::int64, -5000000000LL));
  m.headers.push_back(EventHeader::integer("ts", EventHeaderType::timestamp, 1700000000123LL));
  EventHeader raw;
  raw.name = "raw";
  raw.type = EventHeaderType::bytes;
  raw.value = std::string("\x00\x01\xff", 3);
  m.headers.push_back(raw);
  m.headers.push_back(EventHeader::text("str", "hello"));
  EventHeader id;
  id.name = "id";
  id.type = EventHeaderType::uuid;
  id.value = "0123456789abcdef";
  m.headers.push_back(id);
  m.payload = "payload";

  auto decoded = decode(encode_event_message(m), {3});
  ASSERT_EQ(decoded.size(), 1u);
  const auto& h = decoded[0].headers;
  ASSERT_EQ(h.size(), m.headers.size());
  for (std::size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(h[i].name, m.headers[i].name);
    EXPECT_EQ(h[i].type, m.headers[i].type);
    EXPECT_EQ(h[i].number, m.headers[i].number) << h[i].name;
    EXPECT_EQ(h[i].value, m.headers[i].value) << h[i].name;
  }
  EXPECT_EQ(decoded[0].header("str"), "hello");
  EXPECT_EQ(decoded[0].header("i"), "");  // not a string header
  EXPECT_EQ(decoded[0].payload, "payload");
}

std::string conversation() {
  return encode_event("messageStart", R"({"role":"assistant","p":"abcd"})") +
         encode_event("contentBlockDelta",
                      R"({"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcdefgh"})") +
         encode_event("contentBlockStop", R"({"contentBlockIndex":0})") +
         encode_event("messageStop", R"({"stopReason":"end_turn"})") +
         encode_event("metadata", R"({"usage":{"inputTokens":3,"outputTokens":1}})");
}

TEST(EventStream, MultipleMessagesInOneFeed) {
  auto messages = decode(conversation(), {100000});
  ASSERT_EQ(messages.size(), 5u);
  EXPECT_EQ(messages[0].header(":event-type"), "messageStart");
  EXPECT_EQ(messages[0].header(":message-type"), "event");
  EXPECT_EQ(messages[0].header(":content-type"), "application/json");
  EXPECT_EQ(messages[4].header(":event-type"), "metadata");
  EXPECT_EQ(messages[4].payload, R"({"usage":{"inputTokens":3,"outputTokens":1}})");
}

TEST(EventStream, ByteByByteAndRandomSplitsGiveTheSameMessages) {
  const std::string input =
      conversation() + encode_exception("throttlingException", R"({"message":"slow down"})");
  auto whole = decode(input, {input.size()});
  ASSERT_EQ(whole.size(), 6u);
  EventStreamDecoder byte_decoder;
  auto by_byte = decode(input, {1}, byte_decoder);
  EXPECT_EQ(byte_decoder.pending_bytes(), 0u);
  std::mt19937 rng(42);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::size_t> pieces;
    for (int i = 0; i < 64; ++i) pieces.push_back(1 + rng() % 97);
    auto split = decode(input, pieces);
    ASSERT_EQ(split.size(), whole.size()) << "round " << round;
    for (std::size_t i = 0; i < whole.size(); ++i) {
      EXPECT_EQ(split[i].payload, whole[i].payload);
      EXPECT_EQ(split[i].header(":event-type"), whole[i].header(":event-type"));
    }
  }
  ASSERT_EQ(by_byte.size(), whole.size());
  EXPECT_EQ(by_byte[5].header(":message-type"), "exception");
  EXPECT_EQ(by_byte[5].header(":exception-type"), "throttlingException");
}

TEST(EventStream, RandomBytesAreRejectedNotTrusted) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string noise;
    for (int i = 0; i < 64; ++i) noise.push_back(static_cast<char>(rng()));
    EventStreamDecoder decoder;
    auto messages = decode(noise, {1 + rng() % 16}, decoder);
    EXPECT_TRUE(messages.empty());  // a random prelude CRC matches about once in 2^32
    EXPECT_TRUE(decoder.failed());
  }
}

TEST(EventStream, TruncatedFrameLeavesPendingBytes) {
  std::string frame = encode_event("messageStart", R"({"role":"assistant"})");
  EventStreamDecoder decoder;
  EventMessage m;
  decoder.feed(std::string_view(frame).substr(0, frame.size() - 3));
  EXPECT_EQ(decoder.next(m), EventStreamDecoder::Status::need_more);
  EXPECT_EQ(decoder.pending_bytes(), frame.size() - 3);
  EXPECT_FALSE(decoder.failed());
}

}  // namespace
}  // namespace switchboard::protocol
