// The read-only JSON DOM: JsonValue's navigation and conversions (parsing is in
// json_view_parse.cpp).
#include "switchboard/protocol/json_view.hpp"

#include <charconv>
#include <cstdlib>
#include <functional>
#include <limits>

namespace switchboard::protocol {

namespace {

// A number text as a double, as nlohmann's lexer reads it (strtod: out of range is +-HUGE_VAL
// or a denormal / zero). from_chars first: it needs no terminator and no locale.
double to_double(std::string_view text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) {
    std::string copy(text);  // rare: a number beyond double's range
    v = std::strtod(copy.c_str(), nullptr);
  }
  return v;
}

}  // namespace

// ---- JsonValue

JsonValue JsonValue::find(std::string_view key) const {
  if (!is_object()) return {};
  const auto& n = doc_->nodes_[index_];
  const std::uint32_t* children = doc_->children_.data() + n.a;
  for (std::uint32_t i = n.b; i > 0; --i) {  // from the end: the last duplicate wins
    const std::uint32_t child = children[i - 1];
    const auto& c = doc_->nodes_[child];
    if (c.key_size == key.size() && doc_->key_of(c) == key) return {doc_, child};
  }
  return {};
}

std::int64_t JsonValue::int64() const {
  if (!is_number()) return 0;
  std::string_view text = raw();
  const auto flags = doc_->nodes_[index_].flags;
  if (flags & JsonDocument::kUnsigned) {
    std::uint64_t u = 0;
    std::from_chars(text.data(), text.data() + text.size(), u);
    return static_cast<std::int64_t>(u);
  }
  if (flags & JsonDocument::kInteger) {
    std::int64_t i = 0;
    std::from_chars(text.data(), text.data() + text.size(), i);
    return i;
  }
  double d = to_double(text);
  // Out of int64's range nlohmann's cast is UB; on x86 it gives INT64_MIN, which this returns
  // without the UB (so a huge count reads the same through either). 2^63 itself is out.
  constexpr double kLimit = 9223372036854775808.0;
  if (!(d >= -kLimit && d < kLimit)) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(d);
}

double JsonValue::number() const {
  if (!is_number()) return 0;
  std::string_view text = raw();
  const auto flags = doc_->nodes_[index_].flags;
  // Integers convert as nlohmann converts its stored integer.
  if (flags & JsonDocument::kUnsigned) {
    std::uint64_t u = 0;
    std::from_chars(text.data(), text.data() + text.size(), u);
    return static_cast<double>(u);
  }
  if (flags & JsonDocument::kInteger) {
    std::int64_t i = 0;
    std::from_chars(text.data(), text.data() + text.size(), i);
    return static_cast<double>(i);
  }
  return to_double(text);
}

bool JsonValue::boolean() const {
  return is_boolean() && raw() == "true";
}

// ---- JsonDocument

JsonValue JsonDocument::root() const {
  return nodes_.empty() ? JsonValue() : JsonValue(this, 0);
}

}  // namespace switchboard::protocol
