// Usage parsing from OpenAI-shaped bodies and cost arithmetic.
#include "switchboard/accounting/usage.hpp"

#include <nlohmann/json.hpp>

namespace switchboard::accounting {

namespace {

std::int64_t int_at(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return 0;
  return it->get<std::int64_t>();
}

// Index one past the '}' that closes the object starting at `open`, honouring strings.
std::size_t object_end(std::string_view text, std::size_t open) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = open; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
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
  std::size_t pos = text.rfind(kKey);
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
      if (i < text.size() && text[i] == '{') {
        auto end = object_end(text, i);
        if (end == std::string_view::npos) return std::nullopt;
        auto obj = nlohmann::json::parse(text.substr(i, end - i), nullptr, false);
        if (obj.is_discarded()) return std::nullopt;
        return usage_from_openai(obj);
      }
      return std::nullopt;  // "usage": null
    }
    if (pos == 0) break;
    pos = text.rfind(kKey, pos - 1);
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
