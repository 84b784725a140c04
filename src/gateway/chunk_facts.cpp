// scan_chunk: one walk over the chunk for quotes that may open a key, instead of a search per key
// (each a memchr per occurrence of the key's first letter, and JSON is full of them).
#include "switchboard/gateway/chunk_facts.hpp"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace switchboard::gateway {

namespace {

template <std::size_t N>
bool at(std::string_view s, std::size_t i, const char (&needle)[N]) {
  return i + (N - 1) <= s.size() && std::memcmp(s.data() + i, needle, N - 1) == 0;
}

// Calls f(i) for every i with s[i] == '"' and s[i + 1] one of c, u, t (the keys' first letters),
// in increasing order. Sixteen bytes a step where SSE2 is there; the rest byte by byte.
template <typename F>
void for_each_key_quote(std::string_view s, F&& f) {
  const char* d = s.data();
  const std::size_t n = s.size();
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i c = _mm_set1_epi8('c'), u = _mm_set1_epi8('u'), t = _mm_set1_epi8('t');
  for (; i + 17 <= n; i += 16) {
    __m128i here = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i));
    __m128i next = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i + 1));
    __m128i letter = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(next, c), _mm_cmpeq_epi8(next, u)),
                                  _mm_cmpeq_epi8(next, t));
    auto mask = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(here, quote), letter)));
    for (; mask != 0; mask &= mask - 1) f(i + static_cast<std::size_t>(__builtin_ctz(mask)));
  }
#endif
  for (; i + 1 < n; ++i) {
    if (d[i] == '"' && (d[i + 1] == 'c' || d[i + 1] == 'u' || d[i + 1] == 't')) f(i);
  }
}

}  // namespace

ChunkFacts scan_chunk(std::string_view data) {
  constexpr std::size_t npos = std::string_view::npos;
  constexpr std::size_t kContent = 11;  // "content":"
  ChunkFacts facts;
  std::size_t first_content = npos;
  std::size_t next_content = 0;  // where the next "content":" may start
  bool counting = true;          // until a value has no closing quote
  bool tool_calls = false;
  for_each_key_quote(
      data, [&](std::size_t q) __attribute__((always_inline)) {
        switch (data[q + 1]) {
          case 'c':
            if (q >= next_content && at(data, q, "\"content\":\"")) {
              if (first_content == npos) first_content = q;
              next_content = q + kContent;
              if (counting) {
                auto end = data.find('"', q + kContent);
                if (end == npos) {
                  counting = false;
                } else {
                  facts.content_chars += end - (q + kContent);
                }
              }
            }
            break;
          case 'u':
            if (at(data, q, "\"usage\"")) facts.usage = true;
            break;
          default:  // 't'
            if (at(data, q, "\"tool_calls\"")) tool_calls = true;
            break;
        }
      });
  facts.carries_output = (first_content != npos && first_content + kContent < data.size() &&
                          data[first_content + kContent] != '"') ||
                         tool_calls;
  return facts;
}

}  // namespace switchboard::gateway
