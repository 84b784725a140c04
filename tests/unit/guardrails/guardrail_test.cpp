// Compiled guardrails: regex (RE2) and keyword scans, redaction, selection by apply/attachment, and
// that pathological patterns stay linear.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "switchboard/guardrails/guardrail.hpp"

namespace switchboard::guardrails {
namespace {

using config::GuardrailConfig;
using config::GuardrailType;

GuardrailConfig make(std::string name, GuardrailType type, GuardrailAction action) {
  GuardrailConfig c;
  c.name = std::move(name);
  c.type = type;
  c.action = action;
  return c;
}

std::string redact(const Guardrail& g, std::string text, bool* blocked = nullptr) {
  std::vector<Hit> hits;
  std::vector<Finding> scratch;
  const Guardrail* gs[] = {&g};
  bool b = apply_local(gs, text, hits, scratch);
  if (blocked) *blocked = b;
  return text;
}

TEST(Guardrail, PiiRedactsWithTypedPlaceholders) {
  auto c = make("pii", GuardrailType::pii, GuardrailAction::redact);
  c.entities = {"email", "credit_card", "secret"};
  std::string error;
  Guardrail g(c, error);
  ASSERT_TRUE(error.empty());
  EXPECT_EQ(
      redact(g, "mail bob@example.com card 4111 1111 1111 1111 key sk-abc123def456ghi789jkl0"),
      "mail [EMAIL] card [CREDIT_CARD] key [SECRET]");
  // Entities not configured stay.
  EXPECT_EQ(redact(g, "ip 10.0.0.1 ssn 123-45-6789"), "ip 10.0.0.1 ssn 123-45-6789");
}

TEST(Guardrail, RegexRedactsEveryMatchOfEveryPattern) {
  auto c = make("codes", GuardrailType::regex, GuardrailAction::redact);
  c.patterns = {"(?i)project\\s+falcon", "TICKET-[0-9]+"};
  std::string error;
  Guardrail g(c, error);
  ASSERT_TRUE(error.empty()) << error;
  EXPECT_EQ(redact(g, "Project  FALCON and TICKET-12, TICKET-7"),
            "[REDACTED] and [REDACTED], [REDACTED]");
  std::string detail;
  g.describe(3, detail);
  EXPECT_EQ(detail, "patterns[0],patterns[1]");
}

TEST(Guardrail, RegexThatRe2CannotCompileIsAnError) {
  auto c = make("bad", GuardrailType::regex, GuardrailAction::block);
  c.patterns = {"ok", "(open", "(?<=lookbehind)x"};
  std::string error;
  Guardrail g(c, error);
  EXPECT_NE(error.find("patterns[1]: invalid regular expression"), std::string::npos) << error;

  config::Config config;
  config.guardrails["bad"] = c;
  std::string set_error;
  EXPECT_EQ(GuardrailSet::build(config, set_error), nullptr);
  EXPECT_EQ(set_error.rfind("guardrails.bad.patterns[1]", 0), 0u) << set_error;
}

TEST(Guardrail, KeywordsAreWholeWordsCaseFoldedInAnyScript) {
  auto c = make("words", GuardrailType::keywords, GuardrailAction::block);
  c.words = {"ass", "Top Secret", "été"};
  std::string error;
  Guardrail g(c, error);
  ASSERT_TRUE(error.empty()) << error;
  bool blocked = false;
  redact(g, "a class of assets, passing", &blocked);
  EXPECT_FALSE(blocked) << "no keyword inside another word";
  redact(g, "this is TOP   secret.", &blocked);
  EXPECT_TRUE(blocked) << "phrases match across any whitespace, any case";
  redact(g, "l'ÉTÉ dernier", &blocked);
  EXPECT_TRUE(blocked) << "Unicode case folding";
  redact(g, "étés", &blocked);
  EXPECT_FALSE(blocked);
  redact(g, "ass", &blocked);
  EXPECT_TRUE(blocked) << "at the start and end of the text";
}

TEST(Guardrail, KeywordsRedactAdjacentMatches) {
  auto c = make("words", GuardrailType::keywords, GuardrailAction::redact);
  c.words = {"foo"};
  std::string error;
  Guardrail g(c, error);
  EXPECT_EQ(redact(g, "foo foo,foo"), "[REDACTED] [REDACTED],[REDACTED]");
}

TEST(Guardrail, LongKeywordListsCompile) {
  auto c = make("many", GuardrailType::keywords, GuardrailAction::redact);
  for (int i = 0; i < 5000; ++i) c.words.push_back("term" + std::to_string(i) + "x");
  std::string error;
  Guardrail g(c, error);
  ASSERT_TRUE(error.empty()) << error;
  EXPECT_EQ(redact(g, "see TERM4321X and term12x, not term12"),
            "see [REDACTED] and [REDACTED], not term12");
}

TEST(Guardrail, FlagAndBlockLeaveTheTextAlone) {
  auto c = make("pii", GuardrailType::pii, GuardrailAction::flag);
  c.entities = {"email"};
  std::string error;
  Guardrail g(c, error);
  std::vector<Hit> hits;
  std::vector<Finding> scratch;
  const Guardrail* gs[] = {&g};
  std::string text = "to a@example.com";
  EXPECT_FALSE(apply_local(gs, text, hits, scratch));
  EXPECT_EQ(text, "to a@example.com");
  ASSERT_EQ(hits.size(), 1u);
  std::string detail;
  hits[0].guardrail->describe(hits[0].kinds, detail);
  EXPECT_EQ(detail, "email");
}

TEST(Guardrail, PathologicalRegexStaysLinear) {
  // Catastrophic for a backtracking engine; RE2 runs it in linear time.
  auto c = make("evil", GuardrailType::regex, GuardrailAction::block);
  c.patterns = {"(a+)+$", "(a|aa)+b", "(x+x+)+y"};
  std::string error;
  Guardrail g(c, error);
  ASSERT_TRUE(error.empty()) << error;
  auto time_for = [&](std::size_t n) {
    std::string text(n, 'a');
    text += 'c';
    text += std::string(n, 'x');
    std::vector<Finding> out;
    auto t0 = std::chrono::steady_clock::now();
    g.scan(text, out);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  time_for(1000);  // warm the DFA caches
  const double small = std::max(time_for(20'000), 1e-5);
  const double large = time_for(160'000);
  EXPECT_LT(large, 2.0) << "160k characters must not take seconds";
  // 8x the input: a linear engine takes about 8x the time; backtracking would take astronomically
  // longer. The bound is loose because the machine is shared.
  EXPECT_LT(large / small, 40.0) << "small " << small << "s, large " << large << "s";
}

TEST(GuardrailSet, SelectsGlobalAndAttachedByStage) {
  config::Config config;
  auto all = make("all", GuardrailType::pii, GuardrailAction::redact);
  all.entities = {"email"};
  auto tenant_only = make("tenant_only", GuardrailType::keywords, GuardrailAction::block);
  tenant_only.words = {"x"};
  tenant_only.apply = config::GuardrailApply::attached;
  auto route_out = make("route_out", GuardrailType::keywords, GuardrailAction::block);
  route_out.words = {"y"};
  route_out.apply = config::GuardrailApply::attached;
  route_out.stages = {GuardrailStage::output};
  config.guardrails = {{"all", all}, {"tenant_only", tenant_only}, {"route_out", route_out}};
  std::string error;
  auto set = GuardrailSet::build(config, error);
  ASSERT_TRUE(set) << error;

  const std::vector<std::string> tenant = {"tenant_only"};
  const std::vector<std::string> route = {"route_out", "all"};
  auto names = [&](GuardrailStage stage, const std::vector<std::string>* t,
                   const std::vector<std::string>* r) {
    std::vector<const Guardrail*> out;
    set->select(stage, t, r, out);
    std::vector<std::string> n;
    for (const auto* g : out) n.push_back(g->name());
    return n;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names(GuardrailStage::input, nullptr, nullptr), V{"all"});
  EXPECT_EQ(names(GuardrailStage::input, &tenant, &route), (V{"all", "tenant_only"}));
  EXPECT_EQ(names(GuardrailStage::output, &tenant, &route), (V{"all", "route_out", "tenant_only"}));
  EXPECT_EQ(names(GuardrailStage::output, nullptr, nullptr), V{"all"});
}

TEST(GuardrailSet, RemoteTargets) {
  config::Config config;
  auto hook = make("hook", GuardrailType::webhook, GuardrailAction::block);
  hook.url = "http://127.0.0.1:9/check";
  auto mod = make("mod", GuardrailType::openai_moderation, GuardrailAction::block);
  mod.url = "https://api.example.com/v1";
  auto mod2 = make("mod2", GuardrailType::openai_moderation, GuardrailAction::block);
  mod2.url = "https://api.example.com/v1/moderations";
  config.guardrails = {{"hook", hook}, {"mod", mod}, {"mod2", mod2}};
  std::string error;
  auto set = GuardrailSet::build(config, error);
  ASSERT_TRUE(set) << error;
  EXPECT_TRUE(set->find("hook")->remote());
  EXPECT_EQ(set->find("hook")->target(), "/check");
  EXPECT_EQ(set->find("hook")->endpoint().port, 9);
  EXPECT_EQ(set->find("mod")->target(), "/v1/moderations");
  EXPECT_TRUE(set->find("mod")->endpoint().tls);
  EXPECT_EQ(set->find("mod2")->target(), "/v1/moderations");
}

}  // namespace
}  // namespace switchboard::guardrails
