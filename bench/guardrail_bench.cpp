// Guardrail cost on a typical 2 KB prompt (issue: the PII guardrail under 20 us), plus regex and
// keyword guardrails and the streaming hold-back for comparison.
// Run: build/switchboard_guardrail_bench  (prints p50/p99 per operation).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "switchboard/guardrails/guardrail.hpp"
#include "switchboard/guardrails/holdback.hpp"

using namespace switchboard;
using namespace switchboard::guardrails;

namespace {

// About 2 KB of ordinary prose with one email and one phone number, as a support prompt might be.
std::string typical_prompt() {
  const std::string paragraph =
      "Hello team, I am writing about the invoice we received last Tuesday for the March "
      "subscription. The amount looks higher than the quote we agreed on in January, and the "
      "line items mention two seats that we removed at the end of February. Could you check the "
      "account history and send a corrected invoice? ";
  std::string text = "You are a helpful billing assistant. Answer briefly and politely.\n\n";
  while (text.size() < 1800) text += paragraph;
  text +=
      "You can reach me at jane.doe@example.com or on +1 415 555 2671 during office hours. "
      "Thanks in advance for your help with this, and have a good week.";
  return text;
}

struct Stats {
  double p50 = 0, p99 = 0;
};

template <typename F>
Stats measure(int runs, F&& f) {
  std::vector<double> ns(static_cast<std::size_t>(runs));
  for (int i = 0; i < runs / 10; ++i) f();  // warm up
  for (auto& v : ns) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    v = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  }
  std::sort(ns.begin(), ns.end());
  return {ns[ns.size() / 2] / 1000, ns[ns.size() * 99 / 100] / 1000};
}

void report(const char* what, Stats s) {
  std::printf("%-58s p50 %7.2f us   p99 %7.2f us\n", what, s.p50, s.p99);
}

}  // namespace

int main() {
  config::Config config;
  auto& pii = config.guardrails["pii"];
  pii.name = "pii";
  pii.type = config::GuardrailType::pii;
  pii.entities = {"email", "phone", "credit_card", "ssn", "iban", "ipv4", "secret"};
  auto& re = config.guardrails["re"];
  re.name = "re";
  re.type = config::GuardrailType::regex;
  re.patterns = {"(?i)project\\s+(falcon|condor)", "INV-[0-9]{6}"};
  auto& words = config.guardrails["words"];
  words.name = "words";
  words.type = config::GuardrailType::keywords;
  words.words = {"confidential", "internal only", "do not share", "password", "salary",
                 "lawsuit",      "merger",        "layoff",       "embargo",  "top secret"};
  std::string error;
  auto set = GuardrailSet::build(config, error);
  if (!set) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  const Guardrail* pii_only[] = {set->find("pii")};
  const Guardrail* regex_only[] = {set->find("re")};
  const Guardrail* words_only[] = {set->find("words")};
  const Guardrail* all[] = {set->find("pii"), set->find("re"), set->find("words")};

  const std::string prompt = typical_prompt();
  std::printf("prompt: %zu bytes\n", prompt.size());
  constexpr int kRuns = 20000;
  std::vector<Hit> hits;
  std::vector<Finding> scratch;
  std::string text;
  std::size_t sink = 0;

  auto guard = [&](std::span<const Guardrail* const> gs) {
    return [&, gs] {
      text = prompt;  // the request's string, redacted in place
      hits.clear();
      sink += apply_local(gs, text, hits, scratch) + text.size();
    };
  };
  report("pii guardrail (7 entities, scan + redact)", measure(kRuns, guard(pii_only)));
  std::vector<PiiMatch> matches;
  report("  pii scan only (find_pii)", measure(kRuns, [&] {
           matches.clear();
           find_pii(prompt, kAllEntities, matches);
           sink += matches.size();
         }));
  report("regex guardrail (2 RE2 patterns)", measure(kRuns, guard(regex_only)));
  report("keywords guardrail (10 words and phrases)", measure(kRuns, guard(words_only)));
  report("pii + regex + keywords", measure(kRuns, guard(all)));

  // The stream hold-back: the same text as 4-byte deltas (about one token each).
  Stats stream = measure(kRuns / 20, [&] {
    HoldBack hold(pii_only);
    std::string released;
    hits.clear();
    for (std::size_t i = 0; i < prompt.size(); i += 4) {
      hold.feed(std::string_view(prompt).substr(i, 4), released, hits);
    }
    hold.finish(released, hits);
    sink += released.size();
  });
  const double deltas = static_cast<double>((prompt.size() + 3) / 4);
  report("stream hold-back, pii, whole 2 KB in 4-byte deltas", stream);
  std::printf("%-58s p50 %7.3f us\n", "  per delta", stream.p50 / deltas);
  return sink == 42 ? 1 : 0;
}
