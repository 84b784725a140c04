// What the stream relay reads from one OpenAI chat.completion.chunk, in one pass over its bytes.
#pragma once

#include <cstddef>
#include <string_view>

namespace switchboard::gateway {

// Text facts, not a parse: every `"content":"`, `"usage"` and `"tool_calls"` in the bytes counts,
// wherever it is (the relay's cheap reading of what the provider sent).
struct ChunkFacts {
  bool usage = false;  // `"usage"` appears
  // The first `"content":"` opens a non-empty string, or `"tool_calls"` appears.
  bool carries_output = false;
  // For each `"content":"` (each searched for after the previous one), the bytes up to the next
  // '"'; counting stops at one with no '"' after it.
  std::size_t content_chars = 0;
};

ChunkFacts scan_chunk(std::string_view data);

}  // namespace switchboard::gateway
