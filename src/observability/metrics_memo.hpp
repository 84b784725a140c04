// Private to metrics.cpp: each thread's bounded memo of resolved series.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "switchboard/observability/metrics.hpp"

namespace switchboard::observability::detail {

// A thread's memo of the series it updated: (family id, label values) -> the cell and the lock
// of its shard, so a repeat update skips encoding the key, hashing it and the map lookup.
// Direct-mapped and bounded (kSlots entries; label sets with more than kMaxLabels values or
// kMaxBytes of text are not memoized). An entry is only a shortcut to what update() resolved
// for those values: cells are never erased (the map nodes stay put), what values resolve to
// never changes once resolved (caps only fill, the series set only grows), and a family's id
// is never reused, so an entry of a destroyed family can't match.
class SeriesMemo {
 public:
  static constexpr std::size_t kSlots = 512;  // a power of two
  static constexpr std::size_t kMaxLabels = 8;
  static constexpr std::size_t kMaxBytes = 512;

  struct Entry {
    std::uint64_t family = 0;  // 0: empty
    std::uint64_t hash = 0;
    std::size_t count = 0;
    std::array<std::uint16_t, kMaxLabels> sizes{};
    std::string bytes;  // the values, concatenated
    ShardLock* mu = nullptr;
    void* cell = nullptr;
  };

  // A cheap hash over the family and each value's length and first and last eight bytes: it
  // only picks the slot and filters mismatches before the exact comparison.
  static std::uint64_t hash(std::uint64_t family, std::span<const std::string_view> values) {
    std::uint64_t h = family * 0x9E3779B97F4A7C15ull;
    for (std::string_view v : values) {
      auto [head, tail] = edges(v);
      h = ((h ^ head) * 0xff51afd7ed558ccdull) ^ (tail + v.size());
    }
    return h ^ (h >> 29);
  }

  Entry& slot(std::uint64_t hash) { return entries_[hash & (kSlots - 1)]; }

  static bool matches(const Entry& e, std::uint64_t family, std::uint64_t hash,
                      std::span<const std::string_view> values) {
    if (e.family != family || e.hash != hash || e.count != values.size()) return false;
    const char* p = e.bytes.data();
    for (std::size_t i = 0; i < values.size(); ++i) {
      std::size_t n = values[i].size();
      if (e.sizes[i] != n || !same_bytes(p, values[i].data(), n)) return false;
      p += n;
    }
    return true;
  }

  static void store(Entry& e, std::uint64_t family, std::uint64_t hash,
                    std::span<const std::string_view> values, ShardLock* mu, void* cell) {
    std::size_t total = 0;
    for (std::string_view v : values) total += v.size();
    if (values.size() > kMaxLabels || total > kMaxBytes) return;
    e.family = 0;  // invalid while rewritten
    e.bytes.clear();
    for (std::size_t i = 0; i < values.size(); ++i) {
      e.sizes[i] = static_cast<std::uint16_t>(values[i].size());
      e.bytes.append(values[i]);
    }
    e.count = values.size();
    e.hash = hash;
    e.mu = mu;
    e.cell = cell;
    e.family = family;
  }

 private:
  // The first and the last (up to) eight bytes of `v`, overlapping when it is shorter.
  static std::pair<std::uint64_t, std::uint64_t> edges(std::string_view v) {
    const char* p = v.data();
    std::size_t n = v.size();
    if (n >= 8) {
      std::uint64_t a, b;
      std::memcpy(&a, p, 8);
      std::memcpy(&b, p + n - 8, 8);
      return {a, b};
    }
    if (n >= 4) {
      std::uint32_t a, b;
      std::memcpy(&a, p, 4);
      std::memcpy(&b, p + n - 4, 4);
      return {a, b};
    }
    if (n == 0) return {0, 0};
    return {static_cast<unsigned char>(p[0]) | static_cast<unsigned char>(p[n / 2]) << 8,
            static_cast<unsigned char>(p[n - 1])};
  }

  // memcmp(a, b, n) == 0 inlined for the short strings labels are: word compares.
  static bool same_bytes(const char* a, const char* b, std::size_t n) {
    if (n < 8) {
      auto [a0, a1] = edges({a, n});
      auto [b0, b1] = edges({b, n});
      return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    std::uint64_t diff = 0;
    for (std::size_t i = 0; i + 8 < n; i += 8) {
      std::uint64_t x, y;
      std::memcpy(&x, a + i, 8);
      std::memcpy(&y, b + i, 8);
      diff |= x ^ y;
    }
    std::uint64_t x, y;
    std::memcpy(&x, a + n - 8, 8);
    std::memcpy(&y, b + n - 8, 8);
    return (diff | (x ^ y)) == 0;
  }

  std::vector<Entry> entries_ = std::vector<Entry>(kSlots);
};

inline SeriesMemo& series_memo() {
  thread_local SeriesMemo memo;
  return memo;
}

}  // namespace switchboard::observability::detail
