// Guardrails compiled once per config snapshot (RE2 programs, keyword sets, webhook endpoints), the
// choice of which apply to a request, and the local scan-and-redact step.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "switchboard/config/config.hpp"
#include "switchboard/guardrails/pii.hpp"
#include "switchboard/upstream/pool.hpp"

namespace re2 {
class RE2;
}

namespace switchboard::guardrails {

using config::GuardrailAction;
using config::GuardrailStage;

std::string_view stage_name(GuardrailStage stage);
std::string_view action_name(GuardrailAction action);

class Guardrail;

// One span a local guardrail found. `kind` is the PII entity, the regex pattern's index (capped at
// 63), or 0 for a keyword.
struct Finding {
  std::size_t begin = 0;
  std::size_t end = 0;
  const Guardrail* guardrail = nullptr;
  std::uint16_t kind = 0;
};

class Guardrail {
 public:
  // Compiles `config`; on failure `error` says why ("patterns[1]: missing )").
  Guardrail(const config::GuardrailConfig& config, std::string& error);
  ~Guardrail();
  Guardrail(Guardrail&&) noexcept;
  Guardrail& operator=(Guardrail&&) noexcept;

  const config::GuardrailConfig& config() const { return *config_; }
  const std::string& name() const { return config_->name; }
  GuardrailAction action() const { return config_->action; }
  bool applies_to(GuardrailStage stage) const;
  // webhook and openai-moderation: an HTTP call, not a scan.
  bool remote() const;

  // Local guardrails: appends what `text` contains, in no particular order.
  void scan(std::string_view text, std::vector<Finding>& out) const;
  // What a redaction of `f` leaves in the text.
  std::string_view placeholder(const Finding& f) const;
  // Names what was found (entity names, pattern indexes), never the text itself.
  void describe(std::uint64_t kinds, std::string& out) const;

  // Streaming: bytes of already-complete text to keep back besides the trailing word, so that a
  // match spanning words (a keyword phrase, a regex) is seen whole before it is released.
  std::size_t hold_window() const { return hold_window_; }
  // Streaming: PII shapes span words (spaced digit groups, private-key headers): held together.
  bool holds_pii_shapes() const { return entities_ != 0; }

  // Remote guardrails: where to POST.
  const upstream::UpstreamEndpoint& endpoint() const { return endpoint_; }
  const std::string& target() const { return target_; }

 private:
  const config::GuardrailConfig* config_;
  EntityMask entities_ = 0;
  std::vector<std::unique_ptr<re2::RE2>> patterns_;
  std::unique_ptr<re2::RE2> keywords_;
  std::size_t hold_window_ = 0;
  upstream::UpstreamEndpoint endpoint_;
  std::string target_;
};

// Every guardrail of a config snapshot. Immutable; shared by all requests on that snapshot.
class GuardrailSet {
 public:
  // Null with `error` set ("guardrails.NAME.patterns[0]: ...") when one does not compile.
  static std::shared_ptr<const GuardrailSet> build(const config::Config& config,
                                                   std::string& error);

  bool empty() const { return guardrails_.empty(); }
  std::span<const Guardrail> all() const { return guardrails_; }
  const Guardrail* find(std::string_view name) const;

  // The guardrails for a request at `stage`: every `apply: all` one plus the `attached` ones the
  // tenant or the route lists, in config order, each once. Appends to `out`.
  void select(GuardrailStage stage, const std::vector<std::string>* tenant,
              const std::vector<std::string>* route, std::vector<const Guardrail*>& out) const;

 private:
  std::vector<Guardrail> guardrails_;
  std::unordered_map<std::string_view, std::uint16_t> by_name_;
};

// What local guardrails matched, merged per guardrail (kinds as bits), for the trace and metrics.
struct Hit {
  const Guardrail* guardrail = nullptr;
  std::uint64_t kinds = 0;
};
void add_hit(std::vector<Hit>& hits, const Guardrail* g, std::uint64_t kinds);

// Scans `text` with the local guardrails of `gs` (all on the original text), sorted by position.
void scan_all(std::span<const Guardrail* const> gs, std::string_view text,
              std::vector<Finding>& out);

// Copies text[from, to) to `out` with the findings of `redact` guardrails that lie inside it
// replaced by placeholders (overlapping findings become one). Findings must be sorted.
void append_redacted(std::string_view text, std::size_t from, std::size_t to,
                     std::span<const Finding> findings, std::string& out);

// Scans and redacts one whole text in place. Records hits; true when a `block` guardrail matched.
bool apply_local(std::span<const Guardrail* const> gs, std::string& text, std::vector<Hit>& hits,
                 std::vector<Finding>& scratch);

}  // namespace switchboard::guardrails
