// The streaming hold-back. Each delta is appended to the held text, the local guardrails scan it,
// and only the part no later delta can change is released: the trailing word, spaced digit groups
// and any match that reaches into the held tail stay behind. Typical cost: one word of latency.
#include "switchboard/guardrails/holdback.hpp"

#include <algorithm>

namespace switchboard::guardrails {

namespace {

constexpr std::size_t kMaxToken = 4096;          // a longer run of printable ASCII is released
constexpr std::size_t kDigitGroupSpan = 48;      // "MT84 MALT 0110 0001 2345 MTLC AST0 01S"
constexpr std::size_t kMaxGroup = 6;             // "(555)", "4111", "DE89"
constexpr std::size_t kMaxPending = 256 * 1024;  // beyond this, held text is treated as final

bool graph(char c) {
  return c > 0x20 && c < 0x7f;
}

bool separator(char c) {
  return c == ' ' || c == '-' || c == '.';
}

bool continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Moves `s` back so text[0, s) ends on a whole UTF-8 character.
std::size_t utf8_boundary(std::string_view t, std::size_t s) {
  while (s > 0 && s < t.size() && continuation(t[s])) --s;
  if (s != t.size() || s == 0) return s;
  std::size_t lead = s - 1;
  while (lead > 0 && continuation(t[lead])) --lead;
  const auto c = static_cast<unsigned char>(t[lead]);
  const std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  return lead + len > t.size() ? lead : s;
}

}  // namespace

HoldBack::HoldBack(std::span<const Guardrail* const> gs) : gs_(gs) {
  for (const auto* g : gs_) {
    if (g->remote()) continue;
    window_ = std::max(window_, g->hold_window());
    pii_ |= g->holds_pii_shapes();
  }
}

std::size_t HoldBack::hold_point(std::string_view t, std::size_t window, bool pii) {
  const std::size_t n = t.size();
  std::size_t s = n;
  while (s > 0 && n - s < kMaxToken && graph(t[s - 1])) --s;
  if (pii) {
    // A private-key header is recognised once its line is complete.
    const auto begin = t.rfind("-----BEGIN");
    if (begin != std::string_view::npos && begin < s && n - begin < kMaxToken &&
        t.find('\n', begin) == std::string_view::npos) {
      s = begin;
    }
    const std::size_t floor = s > kDigitGroupSpan ? s - kDigitGroupSpan : 0;
    // Spaced groups of digits or capitals: cards, phones, IBANs ("GB82 WEST 1234").
    while (s > 0 && separator(t[s - 1])) {
      std::size_t g = s - 1;
      bool shaped = true;
      while (g > 0 && graph(t[g - 1]) && s - 1 - g < kMaxGroup + 1) {
        const char c = t[g - 1];
        shaped &= (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || c == '(' || c == ')' ||
                  c == '+' || c == '-';
        --g;
      }
      const std::size_t len = s - 1 - g;
      if (len == 0 || len > kMaxGroup || !shaped || g < floor) break;
      if (g > 0 && graph(t[g - 1])) break;  // the group is the tail of a longer word
      s = g;
    }
  }
  if (window > 0) {
    const std::size_t w = n > window ? n - window : 0;
    if (w < s) {
      s = w;
      const std::size_t limit = s > window ? s - window : 0;
      while (s > limit && t[s - 1] != ' ' && t[s - 1] != '\n' && t[s - 1] != '\t') --s;
    }
  }
  return utf8_boundary(t, s);
}

bool HoldBack::feed(std::string_view delta, std::string& released, std::vector<Hit>& hits) {
  pending_.append(delta);
  if (hold_all_) return false;  // scanned once, whole, at finish()
  return release(pending_.size() > kMaxPending, released, hits);
}

bool HoldBack::finish(std::string& released, std::vector<Hit>& hits) {
  return release(true, released, hits);
}

bool HoldBack::release(bool final, std::string& released, std::vector<Hit>& hits) {
  if (pending_.empty()) return false;
  scan_all(gs_, pending_, findings_);
  std::size_t s = final ? pending_.size() : hold_point(pending_, window_, pii_);
  // A match reaching into the held tail, or to the end of the text, may still grow: hold it
  // from its start.
  const std::size_t n = pending_.size();
  for (bool moved = true; moved;) {
    moved = false;
    for (const auto& f : findings_) {
      if (f.begin < s && (f.end > s || (!final && f.end == n))) {
        s = f.begin;
        moved = true;
      }
    }
  }
  bool blocked = false;
  for (const auto& f : findings_) {
    if (f.end > s) continue;
    add_hit(hits, f.guardrail, 1ull << f.kind);
    blocked |= f.guardrail->action() == GuardrailAction::block;
  }
  if (blocked) {
    pending_.clear();
    return true;
  }
  if (s == 0) return false;
  append_redacted(pending_, 0, s, findings_, released);
  pending_.erase(0, s);
  return false;
}

}  // namespace switchboard::guardrails
