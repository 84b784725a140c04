// Usage parsing from OpenAI-shaped bodies and cost arithmetic.
#include "switchboard/accounting/usage.hpp"

#include <nlohmann/json.hpp>

#include "switchboard/protocol/json_reader.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

namespace switchboard::accounting {

namespace {

std::int64_t int_at(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return 0;
  return it->get<std::int64_t>();
}

// Where `key` (two bytes or more) last starts before position `before` in `text`, npos when
// nowhere: rfind, but the candidates come from memrchr on the key's second byte (for
// "\"usage\"" the 'u', rare in the JSON keys around usage, where '"' is everywhere). This runs
// on every completion and every streamed chunk, most of which have no usage at all.
std::size_t last_of(std::string_view text, std::string_view key, std::size_t before) {
  if (text.size() < key.size()) return std::string_view::npos;
  // Candidate starts are [0, limit); their second bytes are at [1, limit].
  std::size_t limit = std::min(before, text.size() - key.size() + 1);
  while (limit > 0) {
    const void* hit = ::memrchr(text.data() + 1, key[1], limit);
    if (hit == nullptr) break;
    std::size_t pos = static_cast<std::size_t>(static_cast<const char*>(hit) - text.data()) - 1;
    if (text[pos] == key[0] && text.substr(pos, key.size()) == key) return pos;
    limit = pos;
  }
  return std::string_view::npos;
}

// A count as json::get<std::int64_t>() reads it: integers as they are (a uint64 above INT64_MAX
// wraps), fractions truncated, 0 for any other value. False on a syntax error, or for a number
// beyond a double's range, which nlohmann refuses.
bool read_count(protocol::JsonReader& r, std::int64_t& out) {
  out = 0;
  if (r.peek() != protocol::JsonType::number) return r.skip();
  std::string_view text;
  if (!r.read_number(text)) return false;
  const char* first = text.data();
  const char* last = first + text.size();
  // An integer when from_chars takes every byte (it stops at '.', 'e' or 'E').
  if (text[0] == '-') {
    auto [end, ec] = std::from_chars(first, last, out);
    if (ec == std::errc{} && end == last) return true;
  } else {
    std::uint64_t u = 0;
    auto [end, ec] = std::from_chars(first, last, u);
    if (ec == std::errc{} && end == last) {
      out = static_cast<std::int64_t>(u);
      return true;
    }
  }
  double d = 0;
  if (std::from_chars(first, last, d).ec != std::errc{})
    d = std::strtod(std::string(text).c_str(), nullptr);  // out of range: +-inf or 0
  if (!std::isfinite(d)) return false;
  // What a double-to-int64 conversion gives on x86 when out of range, without the UB.
  constexpr double kLimit = 9223372036854775808.0;
  out = d >= -kLimit && d < kLimit ? static_cast<std::int64_t>(d)
                                   : std::numeric_limits<std::int64_t>::min();
  return true;
}

// Reads an OpenAI usage object at the start of `text` with the pull reader, no tree; later
// duplicate keys win, as in a parsed object. The bytes after the object are not looked at.
std::optional<Usage> read_usage_object(std::string_view text) {
  protocol::JsonReader r(text);
  if (!r.begin_object()) return std::nullopt;
  Usage usage;
  usage.known = true;
  // {"name": count, ...}; any other value leaves the count at 0.
  auto detail = [&r](std::string_view name, std::int64_t& out) {
    out = 0;
    if (r.peek() != protocol::JsonType::object) return r.skip();
    r.begin_object();
    std::string_view key;
    while (r.next_key(key)) {
      if (!(key == name ? read_count(r, out) : r.skip())) return false;
    }
    return r.ok();
  };
  std::string_view key;
  while (r.next_key(key)) {
    bool ok = key == "prompt_tokens"               ? read_count(r, usage.input)
              : key == "completion_tokens"         ? read_count(r, usage.output)
              : key == "prompt_tokens_details"     ? detail("cached_tokens", usage.cached_input)
              : key == "completion_tokens_details" ? detail("reasoning_tokens", usage.reasoning)
                                                   : r.skip();
    if (!ok) return std::nullopt;
  }
  if (!r.ok()) return std::nullopt;
  return usage;
}

}  // namespace

Usage usage_from_openai(const nlohmann::json& u) {
  Usage out;
  if (!u.is_object()) return out;
  out.known = true;
  out.input = int_at(u, "prompt_tokens");
  out.output = int_at(u, "completion_tokens");
  if (auto it = u.find("prompt_tokens_details"); it != u.end() && it->is_object()) {
    out.cached_input = int_at(*it, "cached_tokens");
  }
  if (auto it = u.find("completion_tokens_details"); it != u.end() && it->is_object()) {
    out.reasoning = int_at(*it, "reasoning_tokens");
  }
  return out;
}

std::optional<Usage> find_openai_usage(std::string_view text) {
  constexpr std::string_view kKey = "\"usage\"";
  std::size_t pos = last_of(text, kKey, text.size());
  while (pos != std::string_view::npos) {
    std::size_t i = pos + kKey.size();
    while (i < text.size() &&
           (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t'))
      ++i;
    if (i < text.size() && text[i] == ':') {
      ++i;
      while (i < text.size() &&
             (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t'))
        ++i;
      if (i < text.size() && text[i] == '{') return read_usage_object(text.substr(i));
      return std::nullopt;  // "usage": null
    }
    pos = last_of(text, kKey, pos);
  }
  return std::nullopt;
}

double cost_usd(const Usage& u, const config::Price& p) {
  double micro = static_cast<double>(u.uncached_input()) * p.input +
                 static_cast<double>(u.cached_input) * p.cached_input +
                 static_cast<double>(u.cache_write) * p.cache_write +
                 static_cast<double>(u.output) * p.output;
  return micro / 1e6;
}

}  // namespace switchboard::accounting
