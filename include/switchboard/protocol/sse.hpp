// Server-sent events: an incremental, bounded text/event-stream reader and the writers for SSE
// frames.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace switchboard::protocol {

// One event block of a text/event-stream.
//
// `raw` is the exact bytes of the block, comments and the terminating blank line included, so a
// proxy can forward it unchanged: concatenating the `raw` of every event a reader yields gives
// back exactly the bytes it was fed.
//
// A block that carries no `data:` field dispatches no event under the WHATWG rules (a keep-alive
// comment such as ": ping", a stray blank line, a block with only `event:` or `id:`). The reader
// still yields it, with `is_comment = true` and `event` and `data` empty, so its bytes are not
// lost for forwarding; translators simply skip such events.
struct SseEvent {
  std::string event;  // the `event:` field as sent; empty when absent (WHATWG's "message")
  std::string data;   // the `data:` lines joined with '\n'
  std::string id;     // the last event ID in effect (it persists across events, as in WHATWG)
  std::string raw;    // the block's exact bytes
  bool is_comment = false;
};

// Parses a text/event-stream fed in arbitrary pieces, following the WHATWG
// "event stream interpretation": lines end in "\n", "\r\n" or "\r"; `data:` lines are joined
// with '\n'; one space after the colon is stripped; lines starting with ':' are comments; a
// leading UTF-8 BOM is skipped (but kept in the first event's raw); `retry:` and unknown
// fields are ignored.
//
// Departures from the browser algorithm, for a gateway:
// - `finish()` dispatches a final block that lacks its blank line (an upstream cut the
//   stream), where a browser would drop it.
// - A "\r" at the very end of the fed bytes is held until the next byte shows whether it is
//   half of a "\r\n" (or until finish()), so a CRLF split across two feeds stays one line
//   ending and `raw` blocks split cleanly.
//
// Bounded: a block longer than `max_event_bytes` puts the reader in a sticky error state
// (`overflowed()`); from then on next() returns false and feed() drops its input.
//
// Buffers are reused: the internal buffer is compacted lazily, never copied per feed, and
// next() swaps its field buffers with the caller's, so reusing one SseEvent across calls
// settles into no allocations.
class SseReader {
 public:
  static constexpr std::size_t kDefaultMaxEventBytes = 4u * 1024 * 1024;

  explicit SseReader(std::size_t max_event_bytes = kDefaultMaxEventBytes);

  // Appends stream bytes. Ignored after finish() or an overflow.
  void feed(std::string_view bytes);

  // Marks the end of the stream: the next calls to next() also yield a final unterminated
  // block (and an unterminated last line).
  void finish();

  // Fills `out` with the next complete event and returns true, or returns false when more
  // bytes are needed (or after an overflow, or when everything has been yielded after finish()).
  bool next(SseEvent& out);

  bool overflowed() const { return overflowed_; }
  bool finished() const { return finished_; }

  // Bytes fed but not yet yielded as part of an event.
  std::size_t pending_bytes() const { return buf_.size() - start_; }

 private:
  bool skip_bom();
  void process_line(std::string_view line);
  void emit(SseEvent& out, std::size_t end);
  bool overflow();

  std::size_t max_event_bytes_;
  std::string buf_;
  std::size_t start_ = 0;  // first byte of the current (not yet yielded) block
  std::size_t scan_ = 0;   // first byte of the current, not yet processed, line
  std::size_t probe_ = 0;  // where the search for the next line end resumes; >= scan_
  std::string event_;
  std::string data_;  // each data line followed by '\n'; non-empty iff the block has data
  std::string last_id_;
  bool bom_checked_ = false;
  bool finished_ = false;
  bool overflowed_ = false;
};

// The terminating frame of an OpenAI stream.
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// True for the data of OpenAI's terminating event.
inline bool is_sse_done(std::string_view data) {
  return data == "[DONE]";
}

// Appends "data: <line>\n" per line of `data` and a blank line. Any of "\r\n", "\n" or "\r"
// splits lines (SSE cannot carry a bare CR), so a reader gets the lines back joined with '\n'.
void append_sse_data(std::string& out, std::string_view data);

// Appends "event: <event>\n" then the data lines and the blank line. `event` is cut at its
// first line break so it can never inject fields.
void append_sse_event(std::string& out, std::string_view event, std::string_view data);

}  // namespace switchboard::protocol
