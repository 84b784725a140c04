// The framing shared by the trace sink's and the OTLP exporter's per-thread buffers: each record
// is its length, the function that encodes it on the writer thread, then its packed bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace switchboard::observability {

// Turns one packed record into its JSON, appending to `out`.
using RecordEncoder = void (*)(std::string& out, std::string_view packed);

constexpr std::size_t kRecordFrameHead = sizeof(std::uint32_t) + sizeof(RecordEncoder);
// The length's top bit marks a record flagged for a second consumer (the trace sink's records
// that also become spans); a record is far below 2 GB.
constexpr std::uint32_t kRecordFrameFlag = 0x80000000u;

inline void put_record_frame_head(char* at, std::size_t length, RecordEncoder encode,
                                  bool flagged = false) {
  auto n = static_cast<std::uint32_t>(length) | (flagged ? kRecordFrameFlag : 0);
  std::memcpy(at, &n, sizeof n);
  std::memcpy(at + sizeof n, &encode, sizeof encode);
}

// Takes the next record off the front of `frames`; false when no whole frame head is left.
inline bool next_record_frame(std::string_view& frames, RecordEncoder& encode,
                              std::string_view& packed, bool& flagged) {
  if (frames.size() < kRecordFrameHead) return false;
  std::uint32_t length = 0;
  std::memcpy(&length, frames.data(), sizeof length);
  std::memcpy(&encode, frames.data() + sizeof length, sizeof encode);
  flagged = (length & kRecordFrameFlag) != 0;
  packed = frames.substr(kRecordFrameHead, length & ~kRecordFrameFlag);
  frames.remove_prefix(kRecordFrameHead + packed.size());
  return true;
}
inline bool next_record_frame(std::string_view& frames, RecordEncoder& encode,
                              std::string_view& packed) {
  bool flagged = false;
  return next_record_frame(frames, encode, packed, flagged);
}

}  // namespace switchboard::observability
