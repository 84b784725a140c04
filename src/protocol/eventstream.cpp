// AWS event stream framing: CRC-32, the incremental frame decoder and the frame encoder.
#include "switchboard/protocol/eventstream.hpp"

#include <array>
#include <utility>

namespace switchboard::protocol {
namespace {

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}

constexpr auto kCrcTable = make_crc_table();

// Compacting moves the undecoded tail to the front; only once the decoded prefix is large, so the
// cost stays amortised O(1) per byte.
constexpr std::size_t kCompactMinBytes = 64 * 1024;

std::uint64_t read_be(std::string_view bytes, std::size_t offset, int width) {
  std::uint64_t v = 0;
  for (int i = 0; i < width; ++i)
    v = (v << 8) | static_cast<unsigned char>(bytes[offset + static_cast<std::size_t>(i)]);
  return v;
}

void write_be(std::string& out, std::uint64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Bytes of a fixed-width value of `type`; -1 for the variable-length ones, -2 for unknown types.
int fixed_width(std::uint8_t type) {
  switch (static_cast<EventHeaderType>(type)) {
    case EventHeaderType::bool_true:
    case EventHeaderType::bool_false:
      return 0;
    case EventHeaderType::byte:
      return 1;
    case EventHeaderType::int16:
      return 2;
    case EventHeaderType::int32:
      return 4;
    case EventHeaderType::int64:
    case EventHeaderType::timestamp:
      return 8;
    case EventHeaderType::uuid:
      return 16;
    case EventHeaderType::bytes:
    case EventHeaderType::string:
      return -1;
  }
  return -2;
}

// Sign-extends the low `width` bytes of v.
std::int64_t sign_extend(std::uint64_t v, int width) {
  if (width >= 8) return static_cast<std::int64_t>(v);
  std::uint64_t sign = 1ull << (8 * width - 1);
  return static_cast<std::int64_t>((v ^ sign) - sign);
}

void encode_header(std::string& out, const EventHeader& h) {
  out.push_back(static_cast<char>(h.name.size()));
  out += h.name;
  out.push_back(static_cast<char>(h.type));
  int width = fixed_width(static_cast<std::uint8_t>(h.type));
  if (h.type == EventHeaderType::uuid) {
    std::string id = h.value;
    id.resize(16, '\0');
    out += id;
  } else if (width > 0) {
    write_be(out, static_cast<std::uint64_t>(h.number), width);
  } else if (width == -1) {
    write_be(out, h.value.size(), 2);
    out += h.value;
  }
}

std::string encode_typed(std::string_view type_header, std::string_view type,
                         std::string_view message_type, std::string_view json_payload) {
  EventMessage m;
  m.headers.push_back(EventHeader::text(std::string(type_header), std::string(type)));
  m.headers.push_back(EventHeader::text(":content-type", "application/json"));
  m.headers.push_back(EventHeader::text(":message-type", std::string(message_type)));
  m.payload = std::string(json_payload);
  return encode_event_message(m);
}

}  // namespace

std::uint32_t crc32(std::string_view data, std::uint32_t crc) {
  crc = ~crc;
  for (unsigned char c : data) crc = kCrcTable[(crc ^ c) & 0xff] ^ (crc >> 8);
  return ~crc;
}

EventHeader EventHeader::text(std::string name, std::string value) {
  EventHeader h;
  h.name = std::move(name);
  h.type = EventHeaderType::string;
  h.value = std::move(value);
  return h;
}

EventHeader EventHeader::integer(std::string name, EventHeaderType type, std::int64_t number) {
  EventHeader h;
  h.name = std::move(name);
  h.type = type;
  h.number = number;
  return h;
}

const EventHeader* EventMessage::find(std::string_view name) const {
  for (const auto& h : headers)
    if (h.name == name) return &h;
  return nullptr;
}

std::string_view EventMessage::header(std::string_view name) const {
  const EventHeader* h = find(name);
  return h && h->type == EventHeaderType::string ? std::string_view(h->value) : std::string_view();
}

std::string encode_event_message(const EventMessage& message) {
  std::string headers;
  for (const auto& h : message.headers) encode_header(headers, h);
  std::size_t total = 16 + headers.size() + message.payload.size();
  std::string out;
  out.reserve(total);
  write_be(out, total, 4);
  write_be(out, headers.size(), 4);
  write_be(out, crc32(out), 4);
  out += headers;
  out += message.payload;
  write_be(out, crc32(out), 4);
  return out;
}

std::string encode_event(std::string_view event_type, std::string_view json_payload) {
  return encode_typed(":event-type", event_type, "event", json_payload);
}

std::string encode_exception(std::string_view exception_type, std::string_view json_payload) {
  return encode_typed(":exception-type", exception_type, "exception", json_payload);
}

EventStreamDecoder::EventStreamDecoder(std::size_t max_message_bytes)
    : max_message_bytes_(max_message_bytes) {}

void EventStreamDecoder::feed(std::string_view bytes) {
  if (failed()) return;
  if (start_ > 0 && start_ >= kCompactMinBytes && start_ * 2 >= buf_.size()) {
    buf_.erase(0, start_);
    start_ = 0;
  }
  buf_.append(bytes);
}

EventStreamDecoder::Status EventStreamDecoder::fail(std::string message) {
  error_ = std::move(message);
  buf_.clear();
  start_ = 0;
  return Status::error;
}

EventStreamDecoder::Status EventStreamDecoder::next(EventMessage& out) {
  if (failed()) return Status::error;
  std::string_view pending = std::string_view(buf_).substr(start_);
  if (pending.size() < 12) return Status::need_more;
  std::uint64_t total = read_be(pending, 0, 4);
  std::uint64_t headers_length = read_be(pending, 4, 4);
  if (!prelude_checked_) {
    auto expected = static_cast<std::uint32_t>(read_be(pending, 8, 4));
    if (crc32(pending.substr(0, 8)) != expected) return fail("event stream prelude CRC mismatch");
    if (total < kMinMessageBytes) return fail("event stream frame shorter than its prelude");
    if (total > max_message_bytes_)
      return fail("event stream frame of " + std::to_string(total) +
                  " bytes exceeds the limit of " + std::to_string(max_message_bytes_));
    if (headers_length > total - kMinMessageBytes)
      return fail("event stream headers longer than their frame");
    prelude_checked_ = true;
  }
  if (pending.size() < total) return Status::need_more;

  std::string_view frame = pending.substr(0, total);
  auto expected = static_cast<std::uint32_t>(read_be(frame, total - 4, 4));
  if (crc32(frame.substr(0, total - 4)) != expected)
    return fail("event stream message CRC mismatch");
  out.headers.clear();
  if (!parse_headers(frame.substr(12, headers_length), out.headers))
    return fail("event stream frame has malformed headers");
  out.payload.assign(frame.substr(12 + headers_length, total - 16 - headers_length));
  start_ += total;
  prelude_checked_ = false;
  if (start_ == buf_.size()) {
    buf_.clear();
    start_ = 0;
  }
  return Status::message;
}

bool EventStreamDecoder::parse_headers(std::string_view bytes, std::vector<EventHeader>& headers) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    std::size_t name_length = static_cast<unsigned char>(bytes[pos++]);
    if (name_length == 0 || pos + name_length + 1 > bytes.size()) return false;
    EventHeader h;
    h.name.assign(bytes.substr(pos, name_length));
    pos += name_length;
    auto type = static_cast<std::uint8_t>(bytes[pos++]);
    int width = fixed_width(type);
    if (width == -2) return false;
    h.type = static_cast<EventHeaderType>(type);
    if (width == -1) {
      if (pos + 2 > bytes.size()) return false;
      std::size_t length = read_be(bytes, pos, 2);
      pos += 2;
      if (pos + length > bytes.size()) return false;
      h.value.assign(bytes.substr(pos, length));
      pos += length;
    } else if (h.type == EventHeaderType::uuid) {
      if (pos + 16 > bytes.size()) return false;
      h.value.assign(bytes.substr(pos, 16));
      pos += 16;
    } else if (width > 0) {
      if (pos + static_cast<std::size_t>(width) > bytes.size()) return false;
      h.number = sign_extend(read_be(bytes, pos, width), width);
      pos += static_cast<std::size_t>(width);
    } else {
      h.number = h.type == EventHeaderType::bool_true ? 1 : 0;
    }
    headers.push_back(std::move(h));
  }
  return true;
}

}  // namespace switchboard::protocol
