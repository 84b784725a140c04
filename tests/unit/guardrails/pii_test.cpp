// PII detectors: true positives, checksummed look-alikes and near misses for every entity.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "switchboard/guardrails/pii.hpp"

namespace switchboard::guardrails {
namespace {

// The matched substrings of `text` for `entity` alone.
std::vector<std::string> found(std::string_view text, Entity entity) {
  std::vector<PiiMatch> matches;
  find_pii(text, entity_bit(entity), matches);
  std::vector<std::string> out;
  for (const auto& m : matches) {
    EXPECT_EQ(m.entity, entity);
    out.emplace_back(text.substr(m.begin, m.end - m.begin));
  }
  return out;
}

using Strings = std::vector<std::string>;

TEST(Luhn, AcceptsValidAndRejectsOffByOne) {
  EXPECT_TRUE(luhn_valid("4111111111111111"));
  EXPECT_TRUE(luhn_valid("378282246310005"));
  EXPECT_FALSE(luhn_valid("4111111111111112"));
  EXPECT_FALSE(luhn_valid("4111-1111"));
  EXPECT_FALSE(luhn_valid(""));
}

TEST(Iban, ChecksumMod97) {
  EXPECT_TRUE(iban_valid("DE89370400440532013000"));
  EXPECT_TRUE(iban_valid("GB82WEST12345698765432"));
  EXPECT_TRUE(iban_valid("FR1420041010050500013M02606"));
  EXPECT_FALSE(iban_valid("DE89370400440532013001"));
  EXPECT_FALSE(iban_valid("GB82WEST1234569876543"));  // too short for a real one is still mod-97
  EXPECT_FALSE(iban_valid("de89370400440532013000"));
}

TEST(PiiEmail, FindsAddressesNotLookAlikes) {
  EXPECT_EQ(found("mail alice@example.com today", Entity::email), Strings{"alice@example.com"});
  EXPECT_EQ(found("<first.last+tag@sub.example.co.uk>.", Entity::email),
            Strings{"first.last+tag@sub.example.co.uk"});
  EXPECT_EQ(found("ends with a dot: bob@example.org.", Entity::email), Strings{"bob@example.org"});
  EXPECT_TRUE(found("user@localhost", Entity::email).empty());
  EXPECT_TRUE(found("ping @mention please", Entity::email).empty());
  EXPECT_TRUE(found("a@b.c and x@y.123", Entity::email).empty());
  EXPECT_TRUE(found("an @ sign alone", Entity::email).empty());
}

TEST(PiiCard, LuhnValidNumbersOfKnownNetworks) {
  EXPECT_EQ(found("card 4111111111111111 ok", Entity::credit_card), Strings{"4111111111111111"});
  EXPECT_EQ(found("4111 1111 1111 1111", Entity::credit_card), Strings{"4111 1111 1111 1111"});
  EXPECT_EQ(found("4111-1111-1111-1111.", Entity::credit_card), Strings{"4111-1111-1111-1111"});
  EXPECT_EQ(found("mc 5555555555554444", Entity::credit_card), Strings{"5555555555554444"});
  EXPECT_EQ(found("amex 3782 822463 10005", Entity::credit_card), Strings{"3782 822463 10005"});
  EXPECT_EQ(found("discover 6011111111111117", Entity::credit_card), Strings{"6011111111111117"});
}

TEST(PiiCard, RejectsInvalidChecksumsAndLookAlikes) {
  EXPECT_TRUE(found("4111111111111112", Entity::credit_card).empty());      // Luhn fails
  EXPECT_TRUE(found("1234567812345670", Entity::credit_card).empty());      // Luhn ok, no network
  EXPECT_TRUE(found("41111111111111110000", Entity::credit_card).empty());  // 20 digits
  EXPECT_TRUE(found("4111 1111-1111 1111", Entity::credit_card).empty());   // mixed separators
  EXPECT_TRUE(found("x4111111111111111", Entity::credit_card).empty());     // inside a word
  EXPECT_TRUE(found("order 411111111111", Entity::credit_card).empty());    // 12 digits
}

TEST(PiiSsn, ValidAreaGroupSerialOnly) {
  EXPECT_EQ(found("ssn 123-45-6789.", Entity::ssn), Strings{"123-45-6789"});
  EXPECT_TRUE(found("000-12-3456", Entity::ssn).empty());
  EXPECT_TRUE(found("666-12-3456", Entity::ssn).empty());
  EXPECT_TRUE(found("900-12-3456", Entity::ssn).empty());
  EXPECT_TRUE(found("123-00-6789", Entity::ssn).empty());
  EXPECT_TRUE(found("123-45-0000", Entity::ssn).empty());
  EXPECT_TRUE(found("123-45-67890", Entity::ssn).empty());
  EXPECT_TRUE(found("123456789", Entity::ssn).empty());
}

TEST(PiiIban, CompactAndGroupedWithValidChecksum) {
  EXPECT_EQ(found("pay DE89370400440532013000 now", Entity::iban),
            Strings{"DE89370400440532013000"});
  EXPECT_EQ(found("IBAN: GB82 WEST 1234 5698 7654 32.", Entity::iban),
            Strings{"GB82 WEST 1234 5698 7654 32"});
  EXPECT_EQ(found("NL91ABNA0417164300", Entity::iban), Strings{"NL91ABNA0417164300"});
  EXPECT_TRUE(found("DE89370400440532013001", Entity::iban).empty());     // checksum
  EXPECT_TRUE(found("DE8937040044053201300", Entity::iban).empty());      // one short
  EXPECT_TRUE(found("DE893704004405320130001", Entity::iban).empty());    // one long
  EXPECT_TRUE(found("ZZ89370400440532013000", Entity::iban).empty());     // no such country
  EXPECT_TRUE(found("GB82 WEST 12 345698765432", Entity::iban).empty());  // not in fours
}

TEST(PiiPhone, InternationalAndNorthAmericanShapes) {
  EXPECT_EQ(found("call +1 415 555 2671 now", Entity::phone), Strings{"+1 415 555 2671"});
  EXPECT_EQ(found("+14155552671", Entity::phone), Strings{"+14155552671"});
  EXPECT_EQ(found("+44 20 7946 0958.", Entity::phone), Strings{"+44 20 7946 0958"});
  EXPECT_EQ(found("(415) 555-2671", Entity::phone), Strings{"(415) 555-2671"});
  EXPECT_EQ(found("415-555-2671", Entity::phone), Strings{"415-555-2671"});
  EXPECT_EQ(found("415.555.2671", Entity::phone), Strings{"415.555.2671"});
  EXPECT_EQ(found("1-415-555-2671", Entity::phone), Strings{"1-415-555-2671"});
}

TEST(PiiPhone, RejectsDatesIdsAndMixedShapes) {
  EXPECT_TRUE(found("on 2024-01-15", Entity::phone).empty());
  EXPECT_TRUE(found("415-555.2671", Entity::phone).empty());
  EXPECT_TRUE(found("id 4155552671", Entity::phone).empty());
  EXPECT_TRUE(found("555-1234", Entity::phone).empty());
  EXPECT_TRUE(found("+123", Entity::phone).empty());
}

TEST(PiiIpv4, DottedQuadsInRange) {
  EXPECT_EQ(found("host 192.168.1.10, port", Entity::ipv4), Strings{"192.168.1.10"});
  EXPECT_EQ(found("10.0.0.1.", Entity::ipv4), Strings{"10.0.0.1"});
  EXPECT_TRUE(found("256.1.1.1", Entity::ipv4).empty());
  EXPECT_TRUE(found("1.2.3", Entity::ipv4).empty());
  EXPECT_TRUE(found("1.2.3.4.5", Entity::ipv4).empty());
  EXPECT_TRUE(found("v1.2.3.4", Entity::ipv4).empty());
}

TEST(PiiSecret, ApiKeysTokensAndPrivateKeys) {
  EXPECT_EQ(found("key=sk-proj-abc123DEF456ghi789JKL012mno;", Entity::secret),
            Strings{"sk-proj-abc123DEF456ghi789JKL012mno"});
  EXPECT_EQ(found("sk-ant-api03-AbC123dEf456GhI789jKl012", Entity::secret),
            Strings{"sk-ant-api03-AbC123dEf456GhI789jKl012"});
  EXPECT_EQ(found("AKIAIOSFODNN7EXAMPLE", Entity::secret), Strings{"AKIAIOSFODNN7EXAMPLE"});
  EXPECT_EQ(found("ghp_abcdefghijklmnopqrstuvwxyz0123456789", Entity::secret),
            Strings{"ghp_abcdefghijklmnopqrstuvwxyz0123456789"});
  EXPECT_EQ(found("xoxb-123456789012-abcdefABCDEF", Entity::secret),
            Strings{"xoxb-123456789012-abcdefABCDEF"});
  const std::string jwt =
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_"
      "XgL0n3I9PlFUP0THsR8U";
  EXPECT_EQ(found("Bearer " + jwt, Entity::secret), Strings{jwt});
  const std::string pem =
      "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc=\n-----END RSA PRIVATE KEY-----";
  EXPECT_EQ(found("here:\n" + pem + "\nthanks", Entity::secret), Strings{pem});
  // Without its END line (a stream cut short) the block runs to the end.
  EXPECT_EQ(found("x -----BEGIN PRIVATE KEY-----\nMIIE", Entity::secret),
            Strings{"-----BEGIN PRIVATE KEY-----\nMIIE"});
}

TEST(PiiSecret, RejectsWordsThatLookLikePrefixes) {
  EXPECT_TRUE(found("sk-learn-is-a-python-library-for-ml", Entity::secret).empty());
  EXPECT_TRUE(found("ask-me-anything-about-it-2024-ok", Entity::secret).empty());
  EXPECT_TRUE(found("sk-short1", Entity::secret).empty());
  EXPECT_TRUE(found("AKIAIOSFODNN7EXAMPL", Entity::secret).empty());    // 15 after AKIA
  EXPECT_TRUE(found("AKIAIOSFODNN7EXAMPLEX", Entity::secret).empty());  // 17
  EXPECT_TRUE(found("-----BEGIN CERTIFICATE-----\nMIIB", Entity::secret).empty());
}

TEST(Pii, OnlyTheConfiguredEntitiesAndNoOverlaps) {
  const std::string text = "mail a@example.com, card 4111111111111111, ip 10.0.0.1";
  std::vector<PiiMatch> matches;
  find_pii(text, entity_bit(Entity::email) | entity_bit(Entity::ipv4), matches);
  ASSERT_EQ(matches.size(), 2u);
  EXPECT_EQ(matches[0].entity, Entity::email);
  EXPECT_EQ(matches[1].entity, Entity::ipv4);
  matches.clear();
  find_pii(text, kAllEntities, matches);
  ASSERT_EQ(matches.size(), 3u);
  for (std::size_t i = 1; i < matches.size(); ++i) {
    EXPECT_LE(matches[i - 1].end, matches[i].begin);
  }
}

TEST(Pii, EntityNamesRoundTrip) {
  for (std::size_t i = 0; i < kEntityCount; ++i) {
    auto e = static_cast<Entity>(i);
    EXPECT_EQ(entity_from_name(entity_name(e)), e);
  }
  EXPECT_EQ(entity_placeholder(Entity::credit_card), "[CREDIT_CARD]");
  EXPECT_FALSE(entity_from_name("passport").has_value());
}

}  // namespace
}  // namespace switchboard::guardrails
