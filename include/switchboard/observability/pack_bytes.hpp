// Copying short byte strings into space reserved up front, for the packers that run on the
// request threads (trace records, OTLP spans): most values are ids and names of a few dozen
// bytes, for which a call to memcpy costs more than the copy.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace switchboard::observability {

// Copies `s` to `p` and returns the end. Up to 32 bytes are moved as two overlapping blocks
// (never read or written outside `s` and its copy), longer ones by memcpy.
inline char* put_bytes(char* p, std::string_view s) {
  const char* in = s.data();
  const std::size_t n = s.size();
  auto pair = [&](auto block) {
    std::memcpy(&block, in, sizeof block);
    std::memcpy(p, &block, sizeof block);
    std::memcpy(&block, in + n - sizeof block, sizeof block);
    std::memcpy(p + n - sizeof block, &block, sizeof block);
  };
  struct Block16 {
    char bytes[16];
  };
  if (n > 32) {
    std::memcpy(p, in, n);
  } else if (n > 16) {
    pair(Block16{});
  } else if (n >= 8) {
    pair(std::uint64_t{});
  } else if (n >= 4) {
    pair(std::uint32_t{});
  } else {
    for (std::size_t i = 0; i < n; ++i) p[i] = in[i];
  }
  return p + n;
}

}  // namespace switchboard::observability
