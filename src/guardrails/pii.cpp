// PII and secret scanners. Each entity is recognised by a small state machine started at a token
// boundary, so a scan is linear in the text and a 2 KB prompt costs a few microseconds.
#include "switchboard/guardrails/pii.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace switchboard::guardrails {

namespace {

constexpr std::array<std::string_view, kEntityCount> kNames = {
    "email", "phone", "credit_card", "ssn", "iban", "ipv4", "secret"};
constexpr std::array<std::string_view, kEntityCount> kPlaceholders = {
    "[EMAIL]", "[PHONE]", "[CREDIT_CARD]", "[SSN]", "[IBAN]", "[IPV4]", "[SECRET]"};

enum : std::uint8_t {
  kDigit = 1,
  kUpper = 2,
  kLower = 4,
  kEmailLocal = 8,  // besides letters and digits: . _ % + -
  kDomain = 16,     // besides letters and digits: . -
  kToken = 32,      // letters, digits, _ and -: the alphabet of API keys
};

constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = kDigit | kEmailLocal | kDomain | kToken;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = kUpper | kEmailLocal | kDomain | kToken;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = kLower | kEmailLocal | kDomain | kToken;
  for (char c : {'.', '_', '%', '+', '-'}) t[static_cast<unsigned char>(c)] |= kEmailLocal;
  for (char c : {'.', '-'}) t[static_cast<unsigned char>(c)] |= kDomain;
  for (char c : {'_', '-'}) t[static_cast<unsigned char>(c)] |= kToken;
  return t;
}
constexpr auto kClass = make_classes();

bool has(std::string_view s, std::size_t i, std::uint8_t cls) {
  return i < s.size() && (kClass[static_cast<unsigned char>(s[i])] & cls) != 0;
}
bool digit(std::string_view s, std::size_t i) {
  return has(s, i, kDigit);
}
bool alnum(std::string_view s, std::size_t i) {
  return has(s, i, kDigit | kUpper | kLower);
}
bool upper(std::string_view s, std::size_t i) {
  return has(s, i, kUpper);
}
bool alpha(char c) {
  return (kClass[static_cast<unsigned char>(c)] & (kUpper | kLower)) != 0;
}

constexpr std::size_t kNone = 0;  // "no match" (a match is never empty)

// --- email: found from its '@' -------------------------------------------------------------

void find_emails(std::string_view t, std::vector<PiiMatch>& out) {
  std::size_t at = t.find('@');
  while (at != std::string_view::npos) {
    std::size_t l = at;
    while (l > 0 && at - l < 64 && has(t, l - 1, kEmailLocal)) --l;
    while (l < at && (t[l] == '.' || t[l] == '-' || t[l] == '+')) ++l;
    std::size_t r = at + 1;
    while (r - at <= 253 && has(t, r, kDomain)) ++r;
    while (r > at + 1 && (t[r - 1] == '.' || t[r - 1] == '-')) --r;
    std::string_view domain = t.substr(at + 1, r - at - 1);
    auto dot = domain.rfind('.');
    bool ok =
        l < at && dot != std::string_view::npos && dot > 0 &&
        domain.find("..") == std::string_view::npos && domain.size() - dot - 1 >= 2 &&
        std::all_of(domain.begin() + static_cast<std::ptrdiff_t>(dot) + 1, domain.end(), alpha);
    if (ok) out.push_back({l, r, Entity::email});
    at = t.find('@', ok ? r : at + 1);
  }
}

// --- private-key blocks ---------------------------------------------------------------------

void find_private_keys(std::string_view t, std::vector<PiiMatch>& out) {
  std::size_t begin = t.find("-----BEGIN ");
  while (begin != std::string_view::npos) {
    auto line_end = t.find('\n', begin);
    std::string_view head =
        t.substr(begin, line_end == std::string_view::npos ? 80 : line_end - begin);
    auto label = head.find("PRIVATE KEY-----");
    if (label == std::string_view::npos) {
      begin = t.find("-----BEGIN ", begin + 11);
      continue;
    }
    std::size_t end = t.size();
    auto footer = t.find("-----END ", begin + label);
    if (footer != std::string_view::npos) {
      auto close = t.find("-----", footer + 9);
      if (close != std::string_view::npos) end = close + 5;
    }
    out.push_back({begin, end, Entity::secret});
    begin = t.find("-----BEGIN ", end);
  }
}

// --- numbers: IPv4, SSN, cards, phones --------------------------------------------------------

std::size_t match_ipv4(std::string_view t, std::size_t i) {
  std::size_t j = i;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (j >= t.size() || t[j] != '.') return kNone;
      ++j;
    }
    int value = 0, n = 0;
    while (n < 3 && digit(t, j)) value = value * 10 + (t[j++] - '0'), ++n;
    if (n == 0 || value > 255 || digit(t, j)) return kNone;
  }
  if (alnum(t, j) || (j + 1 < t.size() && t[j] == '.' && digit(t, j + 1))) return kNone;
  return j;
}

int digits_at(std::string_view t, std::size_t i, std::size_t n) {
  int v = 0;
  for (std::size_t k = 0; k < n; ++k) {
    if (!digit(t, i + k)) return -1;
    v = v * 10 + (t[i + k] - '0');
  }
  return v;
}

// 123-45-6789, with the SSA's never-issued numbers excluded.
std::size_t match_ssn(std::string_view t, std::size_t i) {
  if (i + 11 > t.size() || t[i + 3] != '-' || t[i + 6] != '-') return kNone;
  int area = digits_at(t, i, 3), group = digits_at(t, i + 4, 2), serial = digits_at(t, i + 7, 4);
  if (area < 0 || group < 0 || serial < 0) return kNone;
  if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0) return kNone;
  std::size_t end = i + 11;
  if (alnum(t, end) || (end + 1 < t.size() && t[end] == '-' && digit(t, end + 1))) return kNone;
  return end;
}

int prefix_value(std::string_view digits, std::size_t n) {
  int v = 0;
  for (std::size_t k = 0; k < n && k < digits.size(); ++k) v = v * 10 + (digits[k] - '0');
  return v;
}

// The issuer ranges (IIN) and lengths of the major networks: a Luhn-valid number outside
// them is far more likely an order number than a card.
bool card_shape(std::string_view d) {
  const auto len = d.size();
  const int p1 = prefix_value(d, 1), p2 = prefix_value(d, 2), p3 = prefix_value(d, 3),
            p4 = prefix_value(d, 4);
  if (p1 == 4) return len == 13 || len == 16 || len == 19;                             // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return len == 16;          // Mastercard
  if (p2 == 34 || p2 == 37) return len == 15;                                          // Amex
  if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649)) return len >= 16;            // Discover
  if (p4 >= 3528 && p4 <= 3589) return len >= 16;                                      // JCB
  if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) return len >= 14;  // Diners
  if (p2 == 62) return len >= 16;                                                      // UnionPay
  return false;
}

// 13 to 19 digits, bare or in groups of 3 to 6 split by one kind of separator (space or dash).
std::size_t match_card(std::string_view t, std::size_t i) {
  char digits[20];
  std::size_t n = 0, j = i, group = 0;
  char sep = 0;
  while (j < t.size()) {
    if (digit(t, j)) {
      if (n == 19) return kNone;
      digits[n++] = t[j++];
      ++group;
      continue;
    }
    const char c = t[j];
    if ((c == ' ' || c == '-') && digit(t, j + 1) && (sep == 0 || sep == c) && group >= 3 &&
        group <= 6) {
      sep = c;
      group = 0;
      ++j;
      continue;
    }
    break;
  }
  if (n < 13 || alnum(t, j)) return kNone;
  if (sep != 0 && (group < 3 || group > 6)) return kNone;
  std::string_view d(digits, n);
  return card_shape(d) && luhn_valid(d) ? j : kNone;
}

// +CC groups (8 to 15 digits), or the North American shapes (555) 123-4567, 555-123-4567,
// 555.123.4567, 1-555-123-4567. Bare digit runs without a + are not phones (too many IDs are).
std::size_t match_phone(std::string_view t, std::size_t i) {
  std::size_t j = i;
  const bool plus = t[j] == '+';
  if (plus) ++j;
  std::array<std::uint8_t, 8> groups{};
  std::size_t count = 0, total = 0;
  bool first_paren = false;
  while (count < groups.size()) {
    std::size_t start = j;
    const bool paren = j < t.size() && t[j] == '(';
    if (paren) ++j;
    std::size_t n = 0;
    while (digit(t, j) && n < 15) ++j, ++n;
    if (n == 0 || (paren && (j >= t.size() || t[j] != ')'))) {
      j = start;
      break;
    }
    if (paren) ++j;
    if (count == 0) first_paren = paren;
    groups[count++] = static_cast<std::uint8_t>(n);
    total += n;
    if (total > 15) return kNone;
    // One separator between groups; a closing parenthesis may be followed directly by digits.
    if (j + 1 < t.size() && (t[j] == ' ' || t[j] == '-' || t[j] == '.') &&
        (digit(t, j + 1) || t[j + 1] == '(')) {
      ++j;
    } else if (!(paren && digit(t, j))) {
      break;
    }
  }
  if (count == 0) return kNone;
  while (j > i && (t[j - 1] == ' ' || t[j - 1] == '-' || t[j - 1] == '.')) --j;
  if (alnum(t, j)) return kNone;
  if (plus) return total >= 8 && total <= 15 ? j : kNone;
  const bool nanp = count == 3 && groups[0] == 3 && groups[1] == 3 && groups[2] == 4;
  const bool nanp1 = count == 4 && groups[0] == 1 && t[i] == '1' && groups[1] == 3 &&
                     groups[2] == 3 && groups[3] == 4;
  if (!(nanp || nanp1)) return kNone;
  if (nanp && !first_paren && t[i + 3] != t[i + 7]) return kNone;  // 555-123.4567 is not a phone
  return j;
}

// --- IBAN -------------------------------------------------------------------------------------

struct IbanCountry {
  char code[3];
  std::uint8_t length;
};
constexpr IbanCountry kIbanCountries[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22},
    {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27},
    {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28},
    {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20},
    {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24},
    {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18}, {"NO", 15}, {"PK", 24},
    {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24}, {"SC", 31},
    {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22},
    {"VG", 24}, {"XK", 20}};

std::size_t iban_length(std::string_view t, std::size_t i) {
  for (const auto& c : kIbanCountries) {
    if (t[i] == c.code[0] && t[i + 1] == c.code[1]) return c.length;
  }
  return 0;
}

// DE89370400440532013000 or DE89 3704 0044 0532 0130 00 (groups of four).
std::size_t match_iban(std::string_view t, std::size_t i) {
  if (!(upper(t, i) && upper(t, i + 1) && digit(t, i + 2) && digit(t, i + 3))) return kNone;
  const std::size_t length = iban_length(t, i);
  if (length == 0) return kNone;
  char compact[34];
  std::size_t n = 0, j = i;
  bool spaced = false;
  while (n < length && j < t.size()) {
    if (t[j] == ' ' && n % 4 == 0 && (n == 4 || spaced) && alnum(t, j + 1)) {
      spaced = true;
      ++j;
      continue;
    }
    if (!(digit(t, j) || upper(t, j))) break;
    compact[n++] = t[j++];
  }
  if (n != length || alnum(t, j)) return kNone;
  return iban_valid(std::string_view(compact, n)) ? j : kNone;
}

// --- secrets: API keys and tokens by their published shapes ----------------------------------

struct SecretShape {
  std::string_view prefix;
  std::uint8_t alphabet;  // kToken (letters, digits, _ -) or kDigit|kUpper|kLower
  std::uint8_t min_len;   // of the part after the prefix
  std::uint8_t max_len;   // 0 = unbounded
  bool needs_digit;       // real keys are random: a hyphenated English phrase is not one
};
constexpr std::uint8_t kAlnum = kDigit | kUpper | kLower;
constexpr SecretShape kSecretShapes[] = {
    {"sk-", kToken, 20, 0, true},              // OpenAI (sk-proj-...), Anthropic (sk-ant-...)
    {"sk_live_", kAlnum, 16, 0, false},        // Stripe
    {"sk_test_", kAlnum, 16, 0, false},        // Stripe
    {"rk_live_", kAlnum, 16, 0, false},        // Stripe restricted
    {"AKIA", kDigit | kUpper, 16, 16, false},  // AWS access key id
    {"ASIA", kDigit | kUpper, 16, 16, false},  // AWS temporary access key id
    {"AIza", kToken, 35, 35, false},           // Google API key
    {"ghp_", kAlnum, 36, 0, false},            // GitHub tokens
    {"gho_", kAlnum, 36, 0, false},
    {"ghu_", kAlnum, 36, 0, false},
    {"ghs_", kAlnum, 36, 0, false},
    {"ghr_", kAlnum, 36, 0, false},
    {"github_pat_", kAlnum | kToken, 22, 0, false},
    {"glpat-", kToken, 20, 0, true},  // GitLab
    {"xoxb-", kToken, 10, 0, true},   // Slack
    {"xoxp-", kToken, 10, 0, true},
    {"xoxa-", kToken, 10, 0, true},
    {"xoxr-", kToken, 10, 0, true},
    {"xoxs-", kToken, 10, 0, true},
    {"hf_", kAlnum, 30, 0, false},  // Hugging Face
    {"npm_", kAlnum, 36, 36, false},
};

// Shapes by the first character of their prefix: most words start with none of them, and the rest
// compare against one to five prefixes instead of all.
constexpr std::array<std::uint32_t, 256> make_secret_index() {
  std::array<std::uint32_t, 256> index{};
  std::size_t k = 0;
  for (const auto& s : kSecretShapes) index[static_cast<unsigned char>(s.prefix[0])] |= 1u << k++;
  index['e'] |= 1u << 31;  // JWTs: eyJ...
  return index;
}
constexpr auto kSecretIndex = make_secret_index();
static_assert(std::size(kSecretShapes) < 31);

std::size_t match_jwt(std::string_view t, std::size_t i) {
  if (t.compare(i, 3, "eyJ") != 0) return kNone;
  std::size_t j = i;
  for (int part = 0; part < 3; ++part) {
    if (part > 0) {
      if (j >= t.size() || t[j] != '.') return kNone;
      ++j;
    }
    std::size_t start = j;
    while (has(t, j, kToken)) ++j;
    if (j - start < 10) return kNone;
  }
  return j;
}

std::size_t match_secret(std::string_view t, std::size_t i) {
  std::uint32_t candidates = kSecretIndex[static_cast<unsigned char>(t[i])];
  if (candidates == 0) return kNone;
  if (candidates & (1u << 31)) return match_jwt(t, i);
  for (std::size_t k = 0; candidates != 0; ++k, candidates >>= 1) {
    if ((candidates & 1) == 0) continue;
    const auto& s = kSecretShapes[k];
    if (t.compare(i, s.prefix.size(), s.prefix) != 0) continue;
    std::size_t j = i + s.prefix.size(), body = j;
    bool any_digit = false;
    while (has(t, j, s.alphabet)) any_digit |= digit(t, j++);
    const std::size_t len = j - body;
    if (has(t, j, kToken)) continue;  // runs on in characters the shape does not allow
    if (len < s.min_len || (s.max_len != 0 && len != s.max_len)) continue;
    if (s.needs_digit && !any_digit) continue;
    return j;
  }
  return kNone;
}

// --- the token pass -------------------------------------------------------------------------

void find_tokens(std::string_view t, EntityMask mask, std::vector<PiiMatch>& out) {
  const bool numbers = (mask & (entity_bit(Entity::phone) | entity_bit(Entity::credit_card) |
                                entity_bit(Entity::ssn) | entity_bit(Entity::ipv4))) != 0;
  const bool iban = (mask & entity_bit(Entity::iban)) != 0;
  const bool secret = (mask & entity_bit(Entity::secret)) != 0;
  auto on = [&](Entity e) { return (mask & entity_bit(e)) != 0; };
  std::size_t i = 0;
  const std::size_t n = t.size();
  while (i < n) {
    const char c = t[i];
    // A number does not start inside another one ("1.2.3.4.5", "2024-01-15-...").
    const bool continues_number = i >= 2 && (t[i - 1] == '.' || t[i - 1] == '-') && digit(t, i - 2);
    const bool starts_number =
        !continues_number && (digit(t, i) || ((c == '+' || c == '(') && digit(t, i + 1)));
    if (!(starts_number || alpha(c)) || (i > 0 && alnum(t, i - 1))) {
      ++i;
      continue;
    }
    std::size_t end = kNone;
    Entity entity = Entity::secret;
    if (starts_number && numbers) {
      if (on(Entity::ipv4) && digit(t, i) && (end = match_ipv4(t, i))) {
        entity = Entity::ipv4;
      } else if (on(Entity::ssn) && (end = match_ssn(t, i))) {
        entity = Entity::ssn;
      } else if (on(Entity::credit_card) && digit(t, i) && (end = match_card(t, i))) {
        entity = Entity::credit_card;
      } else if (on(Entity::phone) && (end = match_phone(t, i))) {
        entity = Entity::phone;
      }
    } else if (alpha(c)) {
      if (iban && (end = match_iban(t, i))) {
        entity = Entity::iban;
      } else if (secret && (end = match_secret(t, i))) {
        entity = Entity::secret;
      }
    }
    if (end != kNone) {
      out.push_back({i, end, entity});
      i = end;
      continue;
    }
    ++i;
    while (i < n && alnum(t, i)) ++i;  // the rest of this word cannot start a match
  }
}

}  // namespace

std::string_view entity_name(Entity e) {
  return kNames[static_cast<std::size_t>(e)];
}

std::string_view entity_placeholder(Entity e) {
  return kPlaceholders[static_cast<std::size_t>(e)];
}

std::optional<Entity> entity_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<Entity>(i);
  }
  return std::nullopt;
}

bool luhn_valid(std::string_view digits) {
  if (digits.empty()) return false;
  int sum = 0;
  bool twice = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (*it < '0' || *it > '9') return false;
    int d = *it - '0';
    if (twice && (d *= 2) > 9) d -= 9;
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

bool iban_valid(std::string_view s) {
  if (s.size() < 15 || s.size() > 34) return false;
  // Move the country code and check digits to the end; letters count as 10..35; mod 97 == 1.
  int rem = 0;
  for (std::size_t k = 0; k < s.size(); ++k) {
    const char c = s[(k + 4) % s.size()];
    if (c >= '0' && c <= '9') {
      rem = (rem * 10 + (c - '0')) % 97;
    } else if (c >= 'A' && c <= 'Z') {
      rem = (rem * 100 + (c - 'A' + 10)) % 97;
    } else {
      return false;
    }
  }
  return rem == 1;
}

void find_pii(std::string_view text, EntityMask mask, std::vector<PiiMatch>& out) {
  const std::size_t first = out.size();
  if (mask & entity_bit(Entity::email)) find_emails(text, out);
  if (mask & entity_bit(Entity::secret)) find_private_keys(text, out);
  find_tokens(text, mask, out);
  // Sort this scan's matches and drop any that overlap an earlier (or equally early, longer) one.
  auto begin = out.begin() + static_cast<std::ptrdiff_t>(first);
  std::sort(begin, out.end(), [](const PiiMatch& a, const PiiMatch& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
  });
  std::size_t kept = first, reach = 0;
  for (std::size_t k = first; k < out.size(); ++k) {
    if (kept > first && out[k].begin < reach) continue;
    reach = out[k].end;
    out[kept++] = out[k];
  }
  out.resize(kept);
}

}  // namespace switchboard::guardrails
