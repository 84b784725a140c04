// Unit tests for the SSE reader and writers (protocol/sse.hpp).
#include "switchboard/protocol/sse.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace switchboard::protocol {
namespace {

// Drains every event the reader has ready.
std::vector<SseEvent> drain(SseReader& reader) {
  std::vector<SseEvent> events;
  SseEvent event;
  while (reader.next(event)) events.push_back(event);
  return events;
}

std::vector<SseEvent> parse_whole(std::string_view stream, bool finish = true) {
  SseReader reader;
  reader.feed(stream);
  if (finish) reader.finish();
  return drain(reader);
}

// Feeds `stream` in pieces of the given sizes (the last piece takes the rest), draining after
// each piece, as a network reader would.
std::vector<SseEvent> parse_in_pieces(std::string_view stream, const std::vector<size_t>& sizes) {
  SseReader reader;
  std::vector<SseEvent> events;
  size_t pos = 0;
  for (size_t size : sizes) {
    if (pos >= stream.size()) break;
    reader.feed(stream.substr(pos, size));
    pos += size;
    for (SseEvent& e : drain(reader)) events.push_back(std::move(e));
  }
  if (pos < stream.size()) reader.feed(stream.substr(pos));
  reader.finish();
  for (SseEvent& e : drain(reader)) events.push_back(std::move(e));
  return events;
}

void expect_same_events(const std::vector<SseEvent>& a, const std::vector<SseEvent>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].event, b[i].event) << i;
    EXPECT_EQ(a[i].data, b[i].data) << i;
    EXPECT_EQ(a[i].id, b[i].id) << i;
    EXPECT_EQ(a[i].raw, b[i].raw) << i;
    EXPECT_EQ(a[i].is_comment, b[i].is_comment) << i;
  }
}

std::string concat_raw(const std::vector<SseEvent>& events) {
  std::string out;
  for (const SseEvent& e : events) out += e.raw;
  return out;
}

// A stream exercising every line ending, comments, multi-line data, ids and [DONE].
const std::string kMixedStream =
    ": welcome\n\n"
    "data: {\"a\":1}\n\n"
    "event: message_start\r\ndata: one\r\ndata: two\r\n\r\n"
    "id: 7\rdata:no-space\r\r"
    ":keep-alive\n"
    "data:  leading\n"
    "retry: 100\n"
    "unknown: x\n"
    "\n"
    "data\n\n"
    "data: [DONE]\n\n";

TEST(SseReader, ParsesOpenAiStream) {
  auto events = parse_whole(
      "data: {\"id\":\"1\"}\n\n"
      "data: {\"id\":\"2\"}\n\n" +
      std::string(kSseDone));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].data, "{\"id\":\"1\"}");
  EXPECT_EQ(events[0].raw, "data: {\"id\":\"1\"}\n\n");
  EXPECT_EQ(events[1].data, "{\"id\":\"2\"}");
  EXPECT_TRUE(is_sse_done(events[2].data));
  EXPECT_EQ(events[2].raw, kSseDone);
  for (const auto& e : events) {
    EXPECT_TRUE(e.event.empty());
    EXPECT_FALSE(e.is_comment);
  }
}

TEST(SseReader, JoinsMultiLineData) {
  auto events = parse_whole("data: first\ndata: second\ndata:\ndata: fourth\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "first\nsecond\n\nfourth");
}

TEST(SseReader, ReadsEventTypeAndStripsOneLeadingSpace) {
  auto events = parse_whole("event: content_block_delta\ndata:  two spaces\n\ndata:none\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event, "content_block_delta");
  EXPECT_EQ(events[0].data, " two spaces");
  EXPECT_EQ(events[1].event, "");  // event type does not carry over
  EXPECT_EQ(events[1].data, "none");
}

TEST(SseReader, FieldWithoutColonHasEmptyValue) {
  auto events = parse_whole("data\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].is_comment);
  EXPECT_EQ(events[0].data, "");
}

TEST(SseReader, AcceptsAllThreeLineEndings) {
  auto lf = parse_whole("event: e\ndata: a\ndata: b\n\n");
  auto crlf = parse_whole("event: e\r\ndata: a\r\ndata: b\r\n\r\n");
  auto cr = parse_whole("event: e\rdata: a\rdata: b\r\r");
  for (const auto* events : {&lf, &crlf, &cr}) {
    ASSERT_EQ(events->size(), 1u);
    EXPECT_EQ((*events)[0].event, "e");
    EXPECT_EQ((*events)[0].data, "a\nb");
  }
  EXPECT_EQ(crlf[0].raw, "event: e\r\ndata: a\r\ndata: b\r\n\r\n");
}

TEST(SseReader, KeepsCrLfSplitAcrossFeedsAsOneLineEnding) {
  SseReader reader;
  SseEvent event;
  reader.feed("data: a\r");
  EXPECT_FALSE(reader.next(event));
  reader.feed("\n\r");
  EXPECT_FALSE(reader.next(event));  // the blank line's "\r" may still be half of "\r\n"
  reader.feed("\ndata: b\r\n\r\n");
  ASSERT_TRUE(reader.next(event));
  EXPECT_EQ(event.data, "a");
  EXPECT_EQ(event.raw, "data: a\r\n\r\n");
  ASSERT_TRUE(reader.next(event));
  EXPECT_EQ(event.data, "b");
  EXPECT_FALSE(reader.next(event));
}

TEST(SseReader, TrailingCrIsALineEndingAtFinish) {
  SseReader reader;
  SseEvent event;
  reader.feed("data: a\r\r");
  EXPECT_FALSE(reader.next(event));
  reader.finish();
  ASSERT_TRUE(reader.next(event));
  EXPECT_EQ(event.data, "a");
  EXPECT_EQ(event.raw, "data: a\r\r");
  EXPECT_FALSE(reader.next(event));
}

TEST(SseReader, ByteByByteFeedGivesSameEvents) {
  auto whole = parse_whole(kMixedStream);
  std::vector<size_t> ones(kMixedStream.size(), 1);
  expect_same_events(parse_in_pieces(kMixedStream, ones), whole);
}

TEST(SseReader, RandomSplitsGiveSameEvents) {
  auto whole = parse_whole(kMixedStream);
  std::mt19937 rng(12345);
  std::uniform_int_distribution<size_t> piece(1, 17);
  for (int round = 0; round < 200; ++round) {
    std::vector<size_t> sizes;
    for (size_t total = 0; total < kMixedStream.size(); total += sizes.back()) {
      sizes.push_back(piece(rng));
    }
    SCOPED_TRACE(round);
    expect_same_events(parse_in_pieces(kMixedStream, sizes), whole);
  }
}

TEST(SseReader, LongMixedStreamInRandomSplitsGivesSameEvents) {
  // Long enough that the reader compacts its buffer several times mid-stream.
  std::string stream;
  for (int i = 0; i < 200; ++i) stream += kMixedStream;
  auto whole = parse_whole(stream);
  ASSERT_EQ(whole.size(), 200 * parse_whole(kMixedStream).size());
  std::mt19937 rng(99);
  std::uniform_int_distribution<size_t> piece(1, 64);
  for (int round = 0; round < 20; ++round) {
    std::vector<size_t> sizes;
    for (size_t total = 0; total < stream.size(); total += sizes.back()) {
      sizes.push_back(piece(rng));
    }
    SCOPED_TRACE(round);
    expect_same_events(parse_in_pieces(stream, sizes), whole);
  }
}

TEST(SseReader, FeedingWithoutDrainingFirstLosesNothing) {
  std::string stream;
  for (int i = 0; i < 200; ++i) stream += kMixedStream;
  auto whole = parse_whole(stream);
  SseReader reader;
  std::vector<SseEvent> events;
  SseEvent event;
  // At most one event per feed: the buffer holds unread events when it compacts.
  for (size_t pos = 0; pos < stream.size(); pos += 40) {
    reader.feed(std::string_view(stream).substr(pos, 40));
    if (reader.next(event)) events.push_back(event);
  }
  reader.finish();
  while (reader.next(event)) events.push_back(event);
  expect_same_events(events, whole);
}

TEST(SseReader, RawBlocksConcatenateToTheInput) {
  auto events = parse_whole(kMixedStream);
  EXPECT_EQ(concat_raw(events), kMixedStream);
}

TEST(SseReader, CommentOnlyBlocksAreYieldedAsCommentsForForwarding) {
  auto events = parse_whole(": ping\n\ndata: x\n: inside\n\n\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_TRUE(events[0].is_comment);
  EXPECT_EQ(events[0].raw, ": ping\n\n");
  EXPECT_TRUE(events[0].data.empty());
  EXPECT_FALSE(events[1].is_comment);
  EXPECT_EQ(events[1].data, "x");
  EXPECT_EQ(events[1].raw, "data: x\n: inside\n\n");
  EXPECT_TRUE(events[2].is_comment);  // a stray blank line
  EXPECT_EQ(events[2].raw, "\n");
}

TEST(SseReader, BlockWithoutDataIsACommentAndDropsItsEventType) {
  auto events = parse_whole("event: ping\n\ndata: x\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].is_comment);
  EXPECT_EQ(events[0].event, "");
  EXPECT_EQ(events[1].event, "");
  EXPECT_EQ(events[1].data, "x");
}

TEST(SseReader, LastEventIdPersistsAndIgnoresNul) {
  using namespace std::string_literals;
  auto events = parse_whole("id: 1\ndata: a\n\ndata: b\n\nid: 2\0x\ndata: c\n\nid\ndata: d\n\n"s);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].id, "1");
  EXPECT_EQ(events[1].id, "1");
  EXPECT_EQ(events[2].id, "1");  // an id containing NUL is ignored
  EXPECT_EQ(events[3].id, "");   // a bare "id" resets it
}

TEST(SseReader, SkipsLeadingBomButKeepsItInRaw) {
  std::string stream =
      "\xEF\xBB\xBF"
      "data: x\n\n";
  auto whole = parse_whole(stream);
  ASSERT_EQ(whole.size(), 1u);
  EXPECT_EQ(whole[0].data, "x");
  EXPECT_EQ(whole[0].raw, stream);
  expect_same_events(parse_in_pieces(stream, {1, 1, 1, 1}), whole);
  // Only a leading BOM is special.
  auto later = parse_whole(
      "data: x\n\n\xEF\xBB\xBF"
      "data: y\n\n");
  ASSERT_EQ(later.size(), 2u);
  EXPECT_EQ(later[1].data, "");  // the field name is "\xEF\xBB\xBF" "data", unknown
  EXPECT_TRUE(later[1].is_comment);
}

TEST(SseReader, WaitsForTheBlankLine) {
  SseReader reader;
  SseEvent event;
  reader.feed("data: partial\n");
  EXPECT_FALSE(reader.next(event));
  EXPECT_EQ(reader.pending_bytes(), 14u);
  reader.feed("\n");
  ASSERT_TRUE(reader.next(event));
  EXPECT_EQ(event.data, "partial");
  EXPECT_EQ(reader.pending_bytes(), 0u);
}

TEST(SseReader, FinishFlushesEventMissingItsBlankLine) {
  auto events = parse_whole("data: a\n\ndata: cut\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].data, "cut");
  EXPECT_EQ(events[1].raw, "data: cut\n");

  auto unterminated = parse_whole("data: a\n\ndata: [DONE]");
  ASSERT_EQ(unterminated.size(), 2u);
  EXPECT_EQ(unterminated[1].data, "[DONE]");
  EXPECT_EQ(unterminated[1].raw, "data: [DONE]");

  auto without_finish = parse_whole("data: a\n\ndata: cut\n", /*finish=*/false);
  EXPECT_EQ(without_finish.size(), 1u);
}

TEST(SseReader, FinishWithNothingPendingYieldsNothing) {
  SseReader reader;
  SseEvent event;
  reader.feed("data: a\n\n");
  ASSERT_TRUE(reader.next(event));
  reader.finish();
  EXPECT_FALSE(reader.next(event));
  reader.feed("data: late\n\n");  // ignored after finish
  EXPECT_FALSE(reader.next(event));
}

TEST(SseReader, OverflowsOnOversizedCompleteEvent) {
  SseReader reader(16);
  SseEvent event;
  reader.feed("data: ok\n\ndata: 0123456789abcdef\n\ndata: never\n\n");
  ASSERT_TRUE(reader.next(event));
  EXPECT_EQ(event.data, "ok");
  EXPECT_FALSE(reader.next(event));
  EXPECT_TRUE(reader.overflowed());
  EXPECT_FALSE(reader.next(event));
}

TEST(SseReader, OverflowsOnUnterminatedLongLine) {
  SseReader reader(64);
  SseEvent event;
  for (int i = 0; i < 10 && !reader.overflowed(); ++i) {
    reader.feed("data: 0123456789");
    EXPECT_FALSE(reader.next(event));
  }
  EXPECT_TRUE(reader.overflowed());
  EXPECT_EQ(reader.pending_bytes(), 0u);  // the buffer was released
}

TEST(SseReader, EventExactlyAtTheBoundIsAccepted) {
  const std::string block = "data: 0123456789\n\n";  // 18 bytes
  SseReader reader(block.size());
  SseEvent event;
  reader.feed(block);
  reader.feed(block);
  ASSERT_TRUE(reader.next(event));
  ASSERT_TRUE(reader.next(event));
  EXPECT_FALSE(reader.overflowed());
}

TEST(SseReader, LongStreamInSmallFeedsStaysCompact) {
  std::string stream;
  for (int i = 0; i < 5000; ++i) stream += "data: {\"n\":" + std::to_string(i) + "}\n\n";
  SseReader reader(64);
  SseEvent event;
  int seen = 0;
  for (size_t pos = 0; pos < stream.size(); pos += 7) {
    reader.feed(std::string_view(stream).substr(pos, 7));
    while (reader.next(event)) {
      EXPECT_EQ(event.data, "{\"n\":" + std::to_string(seen) + "}");
      ++seen;
    }
    EXPECT_LT(reader.pending_bytes(), 64u);
  }
  EXPECT_EQ(seen, 5000);
  EXPECT_FALSE(reader.overflowed());
}

TEST(SseWriter, AppendsSingleDataFrame) {
  std::string out;
  append_sse_data(out, "{\"a\":1}");
  EXPECT_EQ(out, "data: {\"a\":1}\n\n");
}

TEST(SseWriter, SplitsMultiLineDataIntoDataLines) {
  std::string out;
  append_sse_data(out, "one\ntwo\r\nthree\rfour");
  EXPECT_EQ(out, "data: one\ndata: two\ndata: three\ndata: four\n\n");
  auto events = parse_whole(out);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "one\ntwo\nthree\nfour");
}

TEST(SseWriter, EmptyDataIsOneEmptyDataLine) {
  std::string out;
  append_sse_data(out, "");
  EXPECT_EQ(out, "data: \n\n");
  auto events = parse_whole(out);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].is_comment);
  EXPECT_EQ(events[0].data, "");
}

TEST(SseWriter, AppendsNamedEventThatRoundTrips) {
  std::string out = "prefix";
  append_sse_event(out, "message_stop", "{\"type\":\"message_stop\"}");
  EXPECT_EQ(out, "prefixevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
  auto events = parse_whole(std::string_view(out).substr(6));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "message_stop");
  EXPECT_EQ(events[0].data, "{\"type\":\"message_stop\"}");
}

TEST(SseWriter, EventNameCannotInjectFields) {
  std::string out;
  append_sse_event(out, "evil\ndata: injected", "x");
  EXPECT_EQ(out, "event: evil\ndata: x\n\n");
}

TEST(SseWriter, DoneFrameParsesAsDone) {
  auto events = parse_whole(kSseDone);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(is_sse_done(events[0].data));
}

}  // namespace
}  // namespace switchboard::protocol
