// Compiling guardrails from config, choosing the ones a request gets, and the local
// scan-and-redact step shared by whole bodies and the stream hold-back.
#include "switchboard/guardrails/guardrail.hpp"

#include <re2/re2.h>

#include <algorithm>

namespace switchboard::guardrails {

namespace {

// Matches longer than this inside one word are caught anyway (a word is held whole); a regex
// match spanning several words is caught when it is at most this long.
constexpr std::size_t kRegexHoldWindow = 64;

RE2::Options re2_options() {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_encoding(RE2::Options::EncodingUTF8);
  return o;
}

// "Project  Falcon" -> "project\s+falcon": a phrase matches whatever whitespace separates its
// words. Case is folded by the (?i) of the whole set.
std::string keyword_pattern(std::string_view word, std::size_t& words) {
  std::string out;
  words = 0;
  std::size_t i = 0;
  while (i < word.size()) {
    while (i < word.size() && std::isspace(static_cast<unsigned char>(word[i]))) ++i;
    std::size_t start = i;
    while (i < word.size() && !std::isspace(static_cast<unsigned char>(word[i]))) ++i;
    if (i == start) break;
    if (words++ > 0) out += "\\s+";
    out += RE2::QuoteMeta(word.substr(start, i - start));
  }
  return out;
}

}  // namespace

std::string_view stage_name(GuardrailStage stage) {
  return stage == GuardrailStage::input ? "input" : "output";
}

std::string_view action_name(GuardrailAction action) {
  switch (action) {
    case GuardrailAction::redact:
      return "redact";
    case GuardrailAction::block:
      return "block";
    case GuardrailAction::flag:
      return "flag";
  }
  return "flag";
}

Guardrail::Guardrail(const config::GuardrailConfig& config, std::string& error) : config_(&config) {
  using config::GuardrailType;
  switch (config.type) {
    case GuardrailType::pii:
      for (const auto& name : config.entities) {
        if (auto e = entity_from_name(name)) entities_ |= entity_bit(*e);
      }
      break;
    case GuardrailType::regex:
      for (std::size_t i = 0; i < config.patterns.size(); ++i) {
        auto re = std::make_unique<RE2>(config.patterns[i], re2_options());
        if (!re->ok()) {
          error = "patterns[" + std::to_string(i) + "]: invalid regular expression: " + re->error();
          return;
        }
        patterns_.push_back(std::move(re));
      }
      hold_window_ = kRegexHoldWindow;
      break;
    case GuardrailType::keywords: {
      // One program for the whole list; the boundaries are letters and digits in any script, so
      // "ass" does not match "class" and a keyword may be written in any language.
      std::string alternation;
      for (const auto& w : config.words) {
        std::size_t words = 0;
        std::string p = keyword_pattern(w, words);
        if (p.empty()) continue;
        if (!alternation.empty()) alternation += '|';
        alternation += p;
        hold_window_ = std::max(hold_window_, w.size());
      }
      RE2::Options options = re2_options();
      options.set_max_mem(64 << 20);  // a list of thousands of words is one large program
      keywords_ = std::make_unique<RE2>(
          "(?i)(?:^|[^\\pL\\pN_])(" + alternation + ")(?:$|[^\\pL\\pN_])", options);
      if (!keywords_->ok()) error = "words: " + keywords_->error();
      break;
    }
    case GuardrailType::webhook:
    case GuardrailType::openai_moderation: {
      std::string why;
      if (!upstream::parse_base_url(config.url, endpoint_, why)) {
        error = "url: " + why;
        return;
      }
      target_ = endpoint_.base_path;
      if (config.type == GuardrailType::openai_moderation &&
          !std::string_view(target_).ends_with("/moderations")) {
        target_ += "/moderations";
      }
      if (target_.empty()) target_ = "/";
      break;
    }
  }
}

Guardrail::~Guardrail() = default;
Guardrail::Guardrail(Guardrail&&) noexcept = default;
Guardrail& Guardrail::operator=(Guardrail&&) noexcept = default;

bool Guardrail::applies_to(GuardrailStage stage) const {
  const auto& s = config_->stages;
  return std::find(s.begin(), s.end(), stage) != s.end();
}

bool Guardrail::remote() const {
  return config_->type == config::GuardrailType::webhook ||
         config_->type == config::GuardrailType::openai_moderation;
}

void Guardrail::scan(std::string_view text, std::vector<Finding>& out) const {
  if (entities_ != 0) {
    thread_local std::vector<PiiMatch> matches;
    matches.clear();
    find_pii(text, entities_, matches);
    for (const auto& m : matches) {
      out.push_back({m.begin, m.end, this, static_cast<std::uint16_t>(m.entity)});
    }
    return;
  }
  const re2::StringPiece input(text.data(), text.size());
  re2::StringPiece group[2];
  for (std::size_t p = 0; p < patterns_.size(); ++p) {
    std::size_t pos = 0;
    while (pos <= text.size() &&
           patterns_[p]->Match(input, pos, text.size(), RE2::UNANCHORED, group, 1)) {
      const auto begin = static_cast<std::size_t>(group[0].data() - text.data());
      const auto end = begin + group[0].size();
      if (end > begin) {
        out.push_back({begin, end, this, static_cast<std::uint16_t>(std::min<std::size_t>(p, 63))});
        pos = end;
      } else {  // an empty match finds nothing to act on; step over one UTF-8 character
        pos = end + 1;
        while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
      }
    }
  }
  if (keywords_) {
    std::size_t pos = 0;
    while (pos < text.size() &&
           keywords_->Match(input, pos, text.size(), RE2::UNANCHORED, group, 2)) {
      const auto begin = static_cast<std::size_t>(group[1].data() - text.data());
      const auto end = begin + group[1].size();
      out.push_back({begin, end, this, 0});
      pos = end;  // the boundary after a keyword may be the one before the next
    }
  }
}

std::string_view Guardrail::placeholder(const Finding& f) const {
  if (entities_ != 0) return entity_placeholder(static_cast<Entity>(f.kind));
  return "[REDACTED]";
}

void Guardrail::describe(std::uint64_t kinds, std::string& out) const {
  auto sep = [&] {
    if (!out.empty()) out += ',';
  };
  if (entities_ != 0) {
    for (std::size_t e = 0; e < kEntityCount; ++e) {
      if (kinds & (1ull << e)) sep(), out += entity_name(static_cast<Entity>(e));
    }
  } else if (!patterns_.empty()) {
    for (std::size_t p = 0; p < 64 && p < patterns_.size(); ++p) {
      if (kinds & (1ull << p)) sep(), out += "patterns[" + std::to_string(p) + "]";
    }
  } else if (keywords_) {
    out += "keyword";
  }
}

std::shared_ptr<const GuardrailSet> GuardrailSet::build(const config::Config& config,
                                                        std::string& error) {
  auto set = std::make_shared<GuardrailSet>();
  set->guardrails_.reserve(config.guardrails.size());  // findings point into this vector
  for (const auto& [name, g] : config.guardrails) {
    std::string why;
    Guardrail compiled(g, why);
    if (!why.empty()) {
      error = "guardrails." + name + "." + why;
      return nullptr;
    }
    set->by_name_.emplace(std::string_view(g.name.empty() ? name : g.name),
                          static_cast<std::uint16_t>(set->guardrails_.size()));
    set->guardrails_.push_back(std::move(compiled));
  }
  return set;
}

const Guardrail* GuardrailSet::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &guardrails_[it->second];
}

void GuardrailSet::select(GuardrailStage stage, const std::vector<std::string>* tenant,
                          const std::vector<std::string>* route,
                          std::vector<const Guardrail*>& out) const {
  auto attached = [&](const Guardrail& g) {
    for (const auto* list : {tenant, route}) {
      if (list && std::find(list->begin(), list->end(), g.name()) != list->end()) return true;
    }
    return false;
  };
  for (const auto& g : guardrails_) {
    if (!g.applies_to(stage)) continue;
    if (g.config().apply == config::GuardrailApply::all || attached(g)) out.push_back(&g);
  }
}

void add_hit(std::vector<Hit>& hits, const Guardrail* g, std::uint64_t kinds) {
  for (auto& h : hits) {
    if (h.guardrail == g) {
      h.kinds |= kinds;
      return;
    }
  }
  hits.push_back({g, kinds});
}

void scan_all(std::span<const Guardrail* const> gs, std::string_view text,
              std::vector<Finding>& out) {
  out.clear();
  for (const auto* g : gs) {
    if (!g->remote()) g->scan(text, out);
  }
  std::sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
  });
}

void append_redacted(std::string_view text, std::size_t from, std::size_t to,
                     std::span<const Finding> findings, std::string& out) {
  std::size_t pos = from;
  for (const auto& f : findings) {
    if (f.guardrail->action() != GuardrailAction::redact) continue;
    if (f.begin < from || f.end > to) continue;
    if (f.end <= pos) continue;  // inside a span already replaced
    const std::size_t begin = std::max(f.begin, pos);
    out.append(text.substr(pos, begin - pos));
    if (begin == f.begin) out.append(f.guardrail->placeholder(f));
    pos = f.end;
  }
  out.append(text.substr(pos, to - pos));
}

bool apply_local(std::span<const Guardrail* const> gs, std::string& text, std::vector<Hit>& hits,
                 std::vector<Finding>& scratch) {
  scan_all(gs, text, scratch);
  if (scratch.empty()) return false;
  bool blocked = false, redact = false;
  for (const auto& f : scratch) {
    add_hit(hits, f.guardrail, 1ull << f.kind);
    blocked |= f.guardrail->action() == GuardrailAction::block;
    redact |= f.guardrail->action() == GuardrailAction::redact;
  }
  if (redact && !blocked) {
    std::string out;
    out.reserve(text.size());
    append_redacted(text, 0, text.size(), scratch, out);
    text = std::move(out);
  }
  return blocked;
}

}  // namespace switchboard::guardrails
