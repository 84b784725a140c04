// The streaming hold-back: matches split across chunks are caught, released text is final, the
// added latency is about one word, and UTF-8 is never cut.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "switchboard/guardrails/holdback.hpp"

namespace switchboard::guardrails {
namespace {

using config::GuardrailConfig;
using config::GuardrailType;

struct Fixture {
  explicit Fixture(std::vector<GuardrailConfig> configs) : configs_(std::move(configs)) {
    guardrails_.reserve(configs_.size());
    for (const auto& c : configs_) {
      std::string error;
      guardrails_.emplace_back(c, error);
      EXPECT_TRUE(error.empty()) << error;
    }
    for (const auto& g : guardrails_) ptrs_.push_back(&g);
  }
  std::span<const Guardrail* const> gs() const { return ptrs_; }

  // Streams `text` in pieces of `step` bytes; returns what the client would see.
  std::string stream(std::string_view text, std::size_t step, bool* blocked = nullptr,
                     std::vector<std::string>* releases = nullptr) {
    HoldBack hold(gs());
    std::vector<Hit> hits;
    std::string out;
    bool b = false;
    for (std::size_t i = 0; i < text.size() && !b; i += step) {
      std::string released;
      b = hold.feed(text.substr(i, step), released, hits);
      if (releases) releases->push_back(released);
      out += released;
    }
    if (!b) b = hold.finish(out, hits);
    if (blocked) *blocked = b;
    return out;
  }

  std::string whole(std::string text) {
    std::vector<Hit> hits;
    std::vector<Finding> scratch;
    apply_local(gs(), text, hits, scratch);
    return text;
  }

  std::vector<GuardrailConfig> configs_;
  std::vector<Guardrail> guardrails_;
  std::vector<const Guardrail*> ptrs_;
};

GuardrailConfig pii(GuardrailAction action = GuardrailAction::redact) {
  GuardrailConfig c;
  c.name = "pii";
  c.type = GuardrailType::pii;
  c.action = action;
  c.entities = {"email", "phone", "credit_card", "ssn", "iban", "ipv4", "secret"};
  return c;
}

TEST(HoldBack, RedactsAnEmailSplitAcrossChunks) {
  Fixture f({pii()});
  std::vector<std::string> releases;
  HoldBack hold(f.gs());
  std::vector<Hit> hits;
  std::string out;
  for (std::string_view piece : {"Contact ali", "ce@exa", "mple.com now", " please"}) {
    std::string released;
    EXPECT_FALSE(hold.feed(piece, released, hits));
    EXPECT_EQ(released.find("ali"), std::string::npos) << "released part of the address";
    EXPECT_EQ(released.find("exa"), std::string::npos) << "released part of the address";
    out += released;
  }
  EXPECT_FALSE(hold.finish(out, hits));
  EXPECT_EQ(out, "Contact [EMAIL] now please");
  ASSERT_EQ(hits.size(), 1u);
}

TEST(HoldBack, EveryChunkSizeGivesTheSameTextAsAWholeScan) {
  Fixture f({pii()});
  const std::string text =
      "Hi, I am Bob (bob.smith@example.com, +44 20 7946 0958). Card 4111 1111 1111 1111, "
      "IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789, server 192.168.0.12, key "
      "sk-proj-abc123DEF456ghi789JKL012mno and\n-----BEGIN PRIVATE KEY-----\nMIIEv\n"
      "-----END PRIVATE KEY-----\nbye (415) 555-2671.";
  const std::string expected = f.whole(text);
  EXPECT_EQ(expected,
            "Hi, I am Bob ([EMAIL], [PHONE]). Card [CREDIT_CARD], IBAN [IBAN], SSN [SSN], "
            "server [IPV4], key [SECRET] and\n[SECRET]\nbye [PHONE].");
  for (std::size_t step : {1u, 2u, 3u, 5u, 7u, 11u, 16u, 64u}) {
    EXPECT_EQ(f.stream(text, step), expected) << "chunks of " << step;
  }
}

TEST(HoldBack, AddsAboutOneWordOfLatency) {
  Fixture f({pii()});
  std::vector<std::string> releases;
  f.stream("Hello there my friend", 6, nullptr, &releases);  // "Hello ", "there ", ...
  ASSERT_GE(releases.size(), 2u);
  EXPECT_EQ(releases[0], "Hello ");
  EXPECT_EQ(releases[1], "there ");
}

TEST(HoldBack, BlockStopsBeforeTheMatchIsReleased) {
  GuardrailConfig words;
  words.name = "words";
  words.type = GuardrailType::keywords;
  words.action = GuardrailAction::block;
  words.words = {"project falcon"};
  Fixture f({words});
  for (std::size_t step : {1u, 3u, 8u}) {
    bool blocked = false;
    std::string out = f.stream(
        "all fine here. The Project Fal"
        "con plan is secret",
        step, &blocked);
    EXPECT_TRUE(blocked) << step;
    EXPECT_EQ(out.find("Fal"), std::string::npos) << out;
    EXPECT_EQ(out.find("Project"), std::string::npos) << out;
  }
}

TEST(HoldBack, RegexMatchesAcrossWordsWithinTheWindow) {
  GuardrailConfig re;
  re.name = "re";
  re.type = GuardrailType::regex;
  re.action = GuardrailAction::redact;
  re.patterns = {"order number [0-9]+ of [A-Z]+"};
  Fixture f({re});
  const std::string text = "see order number 42 of ACME today and order number 7 of XY.";
  for (std::size_t step : {1u, 4u, 9u}) {
    EXPECT_EQ(f.stream(text, step), "see [REDACTED] today and [REDACTED].") << step;
  }
}

TEST(HoldBack, NeverCutsUtf8AndReleasesTextWithoutSpaces) {
  Fixture f({pii()});
  const std::string text = "こんにちは世界、今日はいい天気ですね。メールはbob@example.comです。";
  std::vector<std::string> releases;
  std::string out = f.stream(text, 1, nullptr, &releases);
  EXPECT_EQ(out, "こんにちは世界、今日はいい天気ですね。メールは[EMAIL]です。");
  // Text without ASCII spaces still flows (it is not held to the end).
  std::string before_end;
  for (std::size_t i = 0; i + 1 < releases.size(); ++i) before_end += releases[i];
  EXPECT_GE(before_end.size(), std::string("こんにちは世界、今日はいい天気ですね。").size());
  for (const auto& r : releases) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (i == 0)
        EXPECT_NE(static_cast<unsigned char>(r[i]) & 0xC0, 0x80) << "starts mid-character";
    }
  }
}

TEST(HoldBack, HoldAllKeepsEverythingUntilFinish) {
  Fixture f({pii()});
  HoldBack hold(f.gs());
  hold.hold_all();
  std::vector<Hit> hits;
  std::string out;
  EXPECT_FALSE(hold.feed("one two three ", out, hits));
  EXPECT_FALSE(hold.feed("a@example.com four", out, hits));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(hold.finish(out, hits));
  EXPECT_EQ(out, "one two three [EMAIL] four");
}

TEST(HoldBack, HoldPointRules) {
  EXPECT_EQ(HoldBack::hold_point("hello wor", 0, false), 6u);
  EXPECT_EQ(HoldBack::hold_point("hello ", 0, false), 6u);
  EXPECT_EQ(HoldBack::hold_point("card 4111 1111 11", 0, true), 5u);
  EXPECT_EQ(HoldBack::hold_point("card 4111 1111 11", 0, false), 15u);
  EXPECT_EQ(HoldBack::hold_point("call (555) 123-45", 0, true), 5u);
  EXPECT_EQ(HoldBack::hold_point("a long sentence here", 8, false),
            7u);  // "here" + 8 bytes, to a word start
}

}  // namespace
}  // namespace switchboard::guardrails
