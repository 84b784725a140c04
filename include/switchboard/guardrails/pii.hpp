// PII and secret detectors: hand-written scanners (one pass, no backtracking) with checksums where
// the entity has one (Luhn for cards, mod-97 for IBANs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace switchboard::guardrails {

enum class Entity : std::uint8_t { email, phone, credit_card, ssn, iban, ipv4, secret };
inline constexpr std::size_t kEntityCount = 7;

// A set of entities as bits (1 << Entity).
using EntityMask = std::uint32_t;
inline constexpr EntityMask kAllEntities = (1u << kEntityCount) - 1;
constexpr EntityMask entity_bit(Entity e) {
  return 1u << static_cast<unsigned>(e);
}

std::string_view entity_name(Entity e);         // "credit_card", as in the config
std::string_view entity_placeholder(Entity e);  // "[CREDIT_CARD]", what a redaction leaves
std::optional<Entity> entity_from_name(std::string_view name);

// One detected span [begin, end) of `text`.
struct PiiMatch {
  std::size_t begin = 0;
  std::size_t end = 0;
  Entity entity = Entity::email;
};

// Appends the entities of `mask` found in `text`, sorted by position, never overlapping.
// A private-key block without its END line runs to the end of the text (a stream may not have
// sent the rest yet).
void find_pii(std::string_view text, EntityMask mask, std::vector<PiiMatch>& out);

// The checksums, exposed for tests. Both take the digits or characters only (no separators).
bool luhn_valid(std::string_view digits);
bool iban_valid(std::string_view compact);  // uppercase letters and digits

}  // namespace switchboard::guardrails
