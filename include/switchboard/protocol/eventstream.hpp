// AWS event stream (application/vnd.amazon.eventstream): the incremental, CRC-checked, bounded
// decoder of the binary frames Bedrock streams, and an encoder for tests and fake upstreams.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard::protocol {

// CRC-32 (IEEE 802.3, the zlib polynomial), continuing from `crc` (0 to start).
std::uint32_t crc32(std::string_view data, std::uint32_t crc = 0);

// Header value types, numbered as on the wire.
enum class EventHeaderType : std::uint8_t {
  bool_true = 0,
  bool_false = 1,
  byte = 2,
  int16 = 3,
  int32 = 4,
  int64 = 5,
  bytes = 6,
  string = 7,
  timestamp = 8,  // milliseconds since the Unix epoch
  uuid = 9,
};

struct EventHeader {
  std::string name;
  EventHeaderType type = EventHeaderType::string;
  std::string value;        // string and bytes values; a uuid's 16 raw bytes
  std::int64_t number = 0;  // bool (0/1), byte, int16, int32, int64 and timestamp values

  static EventHeader text(std::string name, std::string value);
  static EventHeader integer(std::string name, EventHeaderType type, std::int64_t number);
};

struct EventMessage {
  std::vector<EventHeader> headers;
  std::string payload;

  const EventHeader* find(std::string_view name) const;
  // The value of a string header; empty when absent or not a string.
  std::string_view header(std::string_view name) const;
};

// One frame: total length, headers length, prelude CRC, headers, payload, message CRC (all
// integers big-endian; see provider-formats.md 6.5).
std::string encode_event_message(const EventMessage& message);

// A Bedrock-style event frame: :event-type, :content-type application/json, :message-type event.
std::string encode_event(std::string_view event_type, std::string_view json_payload);
// A Bedrock-style exception frame: :exception-type, :content-type, :message-type exception.
std::string encode_exception(std::string_view exception_type, std::string_view json_payload);

// Decodes frames fed in arbitrary pieces. Both CRCs are verified (the prelude's as soon as its
// 12 bytes are in, so a corrupt length never makes the decoder wait for bytes that will not
// come); a frame longer than `max_message_bytes`, a bad CRC or malformed headers put the decoder
// in a sticky error state: next() returns Status::error from then on and feed() drops its input.
class EventStreamDecoder {
 public:
  // The service's own limit is 16 MiB of payload per message.
  static constexpr std::size_t kDefaultMaxMessageBytes = 16u * 1024 * 1024 + 128u * 1024;
  static constexpr std::size_t kMinMessageBytes = 16;

  enum class Status { message, need_more, error };

  explicit EventStreamDecoder(std::size_t max_message_bytes = kDefaultMaxMessageBytes);

  void feed(std::string_view bytes);

  // Fills `out` with the next complete message, or says that more bytes are needed, or that the
  // stream is corrupt (see error()).
  Status next(EventMessage& out);

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // Bytes fed but not yet decoded: non-zero at the end of the body means a truncated frame.
  std::size_t pending_bytes() const { return buf_.size() - start_; }

 private:
  Status fail(std::string message);
  bool parse_headers(std::string_view bytes, std::vector<EventHeader>& headers);

  std::size_t max_message_bytes_;
  std::string buf_;
  std::size_t start_ = 0;  // first byte of the frame being decoded
  bool prelude_checked_ = false;
  std::string error_;
};

}  // namespace switchboard::protocol
