// The streaming hold-back: text of one streamed choice is released only once the local guardrails
// have seen it whole, so a match split across chunks is still caught and redacted.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "switchboard/guardrails/guardrail.hpp"

namespace switchboard::guardrails {

class HoldBack {
 public:
  // `gs` (the output guardrails; remote ones are ignored here) must outlive the hold-back.
  explicit HoldBack(std::span<const Guardrail* const> gs);

  // Appends `delta`; appends to `released` the text that can no longer change (redacted).
  // Returns true when a `block` guardrail matched: nothing more should reach the client.
  bool feed(std::string_view delta, std::string& released, std::vector<Hit>& hits);
  // The text is complete: releases everything still held.
  bool finish(std::string& released, std::vector<Hit>& hits);

  // Keep everything until finish() (a remote guardrail needs the whole text).
  void hold_all() { hold_all_ = true; }
  const std::string& held() const { return pending_; }

  // Where the held region of `text` starts: the trailing word (it may still grow); with `pii`,
  // spaced digit groups before it and an unfinished private-key header; `window` bytes pulled
  // back to a word start; never inside a UTF-8 character. Exposed for tests.
  static std::size_t hold_point(std::string_view text, std::size_t window, bool pii);

 private:
  bool release(bool final, std::string& released, std::vector<Hit>& hits);

  std::span<const Guardrail* const> gs_;
  std::size_t window_ = 0;
  bool pii_ = false;
  bool hold_all_ = false;
  std::string pending_;
  std::vector<Finding> findings_;
};

}  // namespace switchboard::guardrails
