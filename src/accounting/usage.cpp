// Usage parsing from OpenAI-shaped bodies and cost arithmetic.
#include "switchboard/accounting/usage.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

namespace switchboard::accounting {

namespace {

std::int64_t int_at(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return 0;
  return it->get<std::int64_t>();
}

// Where `key` last starts in text[0, before + key.size() - 1), npos when nowhere: rfind,
// without a memcmp call per position (the key is rare, its first byte '"' is not).
std::size_t last_of(std::string_view text, std::string_view key, std::size_t before) {
  if (text.size() < key.size()) return std::string_view::npos;
  std::size_t pos = std::min(before, text.size() - key.size() + 1);
  while (pos-- > 0) {
    if (text[pos] == key[0] && text[pos + 1] == key[1] && text.substr(pos, key.size()) == key)
      return pos;
  }
  return std::string_view::npos;
}

// Reads an OpenAI usage object straight from its text: a validating JSON scan (what
// nlohmann::json::parse accepts, it accepts) that keeps only the counts. About a tenth of the
// cost of building a json tree for it.
class UsageScanner {
 public:
  explicit UsageScanner(std::string_view text) : t_(text) {}

  // An object at the start of the text; false when it is not valid JSON. The bytes after it
  // are not looked at: its end is where counting braces outside strings would put it, so
  // this is the verdict a JSON parser gives on exactly that object.
  bool read(Usage& out) {
    out = Usage{};
    out.known = true;
    bool ok = members([&](std::string_view key) {
      if (key == "prompt_tokens") return count(out.input);
      if (key == "completion_tokens") return count(out.output);
      if (key == "prompt_tokens_details") return details("cached_tokens", out.cached_input);
      if (key == "completion_tokens_details") return details("reasoning_tokens", out.reasoning);
      return skip_value();
    });
    return ok;
  }

 private:
  bool at(char c) const { return i_ < t_.size() && t_[i_] == c; }

  // The first index from `i` of a byte a string cannot hold as is ('"', '\\', controls,
  // non-ASCII).
  std::size_t plain_run(std::size_t i) const {
    static constexpr auto kPlain = [] {
      std::array<bool, 256> t{};
      for (int c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
      return t;
    }();
    const char* p = t_.data();
    const std::size_t n = t_.size();
    while (i < n && kPlain[static_cast<unsigned char>(p[i])]) ++i;
    return i;
  }

  void ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\r' || t_[i_] == '\t'))
      ++i_;
  }

  // An object at i_: calls on_value(key) with i_ at each member's value (a later member of
  // the same name wins, as in a parsed object, because it is read later).
  template <class OnValue>
  bool members(OnValue&& on_value) {
    ws();
    if (!at('{')) return false;
    ++i_;
    ws();
    if (at('}')) {
      ++i_;
      return true;
    }
    for (;;) {
      ws();
      std::string_view key;
      if (!string(&key)) return false;
      ws();
      if (!at(':')) return false;
      ++i_;
      ws();
      if (!on_value(key)) return false;
      ws();
      if (at(',')) {
        ++i_;
        continue;
      }
      if (!at('}')) return false;
      ++i_;
      return true;
    }
  }

  // A count: a number as json::get<std::int64_t>() reads it, 0 for any other value.
  bool count(std::int64_t& out) {
    out = 0;
    if (i_ < t_.size() && (t_[i_] == '-' || (t_[i_] >= '0' && t_[i_] <= '9'))) return number(&out);
    return skip_value();
  }

  // {"name": count, ...}; any other value leaves the count at 0.
  bool details(std::string_view name, std::int64_t& out) {
    out = 0;
    if (!at('{')) return skip_value();
    return members([&](std::string_view key) { return key == name ? count(out) : skip_value(); });
  }

  // Any value, validated and skipped. Iterative: nesting depth costs no stack.
  bool skip_value() {
    std::string open;  // the containers entered, '{' or '['
    for (;;) {
      ws();
      if (i_ >= t_.size()) return false;
      char c = t_[i_];
      if (c == '{' || c == '[') {
        ++i_;
        ws();
        if (!at(c == '{' ? '}' : ']')) {  // not empty: its first element is next
          open.push_back(c);
          if (c == '{' && !member_key()) return false;
          continue;
        }
        ++i_;
      } else if (c == '"') {
        if (!string(nullptr)) return false;
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        if (!number(nullptr)) return false;
      } else if (!literal("true") && !literal("false") && !literal("null")) {
        return false;
      }
      // After a value: close containers, or move to the next element.
      for (;;) {
        if (open.empty()) return true;
        ws();
        if (at(',')) {
          ++i_;
          if (open.back() == '{' && !member_key()) return false;
          break;
        }
        if (at(open.back() == '{' ? '}' : ']')) {
          ++i_;
          open.pop_back();
          continue;
        }
        return false;
      }
    }
  }

  // `"key" :` inside an object being skipped.
  bool member_key() {
    ws();
    if (!string(nullptr)) return false;
    ws();
    if (!at(':')) return false;
    ++i_;
    return true;
  }

  bool literal(std::string_view word) {
    if (t_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  static int hex4(std::string_view s) {
    int v = 0;
    for (char c : s) {
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    return v;
  }

  // Length of a valid UTF-8 sequence at i_ (a byte >= 0x80), 0 when invalid.
  std::size_t utf8_sequence() const {
    auto byte = [&](std::size_t k) {
      return i_ + k < t_.size() ? static_cast<unsigned char>(t_[i_ + k]) : 0;
    };
    unsigned char lead = byte(0);
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      len = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      len = 3;
      if (lead == 0xE0) lo = 0xA0;
      if (lead == 0xED) hi = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      len = 4;
      if (lead == 0xF0) lo = 0x90;
      if (lead == 0xF4) hi = 0x8F;
    } else {
      return 0;
    }
    for (std::size_t k = 1; k < len; ++k) {
      unsigned char c = byte(k);
      if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return 0;
    }
    return len;
  }

  // A string at i_, validated as nlohmann's lexer does (no raw control characters, known
  // escapes, paired surrogates, valid UTF-8). With `key`, its value for matching against
  // names: the raw text when it has no escapes, else decoded into scratch_ (escapes of ASCII
  // decoded, any other character as a byte no name contains). Valid until the next string.
  bool string(std::string_view* key) {
    if (!at('"')) return false;
    std::size_t start = ++i_;
    bool escaped = false;
    for (;;) {
      i_ = plain_run(i_);
      if (i_ >= t_.size()) return false;
      auto c = static_cast<unsigned char>(t_[i_]);
      if (c == '"') break;
      if (c < 0x20) return false;
      if (c >= 0x80) {
        std::size_t len = utf8_sequence();
        if (len == 0) return false;
        i_ += len;
        continue;
      }
      if (c != '\\') {
        ++i_;
        continue;
      }
      escaped = true;
      if (i_ + 1 >= t_.size()) return false;
      char e = t_[i_ + 1];
      i_ += 2;
      if (e == 'u') {
        if (t_.size() - i_ < 4) return false;
        int cp = hex4(t_.substr(i_, 4));
        if (cp < 0) return false;
        i_ += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a low surrogate alone
        if (cp >= 0xD800 && cp <= 0xDBFF) {              // must pair with a low one
          if (t_.size() - i_ < 6 || t_.substr(i_, 2) != "\\u") return false;
          int low = hex4(t_.substr(i_ + 2, 4));
          if (low < 0xDC00 || low > 0xDFFF) return false;
          i_ += 6;
        }
      } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
        return false;
      }
    }
    std::string_view raw = t_.substr(start, i_ - start);
    ++i_;  // the closing quote
    if (key) *key = escaped ? decode(raw) : raw;
    return true;
  }

  // The value of a validated string's text, for name matching only.
  std::string_view decode(std::string_view raw) {
    scratch_.clear();
    for (std::size_t k = 0; k < raw.size(); ++k) {
      if (raw[k] != '\\') {
        scratch_.push_back(raw[k]);
        continue;
      }
      char e = raw[++k];
      switch (e) {
        case 'b':
          scratch_.push_back('\b');
          break;
        case 'f':
          scratch_.push_back('\f');
          break;
        case 'n':
          scratch_.push_back('\n');
          break;
        case 'r':
          scratch_.push_back('\r');
          break;
        case 't':
          scratch_.push_back('\t');
          break;
        case 'u': {
          int cp = hex4(raw.substr(k + 1, 4));
          k += 4;
          if (cp >= 0xD800 && cp <= 0xDBFF) k += 6;  // the pair's second half
          scratch_.push_back(cp < 0x80 ? static_cast<char>(cp) : '\xFF');
          break;
        }
        default:  // '"', '\\', '/'
          scratch_.push_back(e);
      }
    }
    return scratch_;
  }

  // A number at i_ (JSON grammar; one that overflows a double is invalid, as for nlohmann);
  // with `out`, its value as json::get<std::int64_t>() gives it: integers within int64 as
  // they are, larger ones as nlohmann stores them (unsigned, then double), fractions truncated.
  bool number(std::int64_t* out) {
    std::size_t start = i_;
    auto digits = [&] {
      std::size_t from = i_;
      while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9') ++i_;
      return i_ - from;
    };
    bool negative = at('-');
    if (negative) ++i_;
    if (at('0')) {
      ++i_;
    } else if (digits() == 0) {
      return false;
    }
    bool integral = true;
    if (at('.')) {
      ++i_;
      integral = false;
      if (digits() == 0) return false;
    }
    if (at('e') || at('E')) {
      ++i_;
      integral = false;
      if (at('+') || at('-')) ++i_;
      if (digits() == 0) return false;
    }
    const char* first = t_.data() + start;
    const char* last = t_.data() + i_;
    std::int64_t ignored = 0;
    if (!out) out = &ignored;
    if (integral) {
      if (negative) {
        std::int64_t v = 0;
        if (std::from_chars(first, last, v).ec == std::errc{}) {
          *out = v;
          return true;
        }
      } else {
        std::uint64_t v = 0;
        if (std::from_chars(first, last, v).ec == std::errc{}) {
          *out = static_cast<std::int64_t>(v);
          return true;
        }
      }
    }
    double d = 0;
    if (std::from_chars(first, last, d).ec != std::errc{}) {
      d = std::strtod(std::string(first, last).c_str(), nullptr);  // out of range: +-inf or 0
    }
    if (!std::isfinite(d)) return false;  // nlohmann rejects a number that overflows a double
    // What a double-to-int64 conversion gives on x86 when out of range, without the UB.
    constexpr double kLimit = 9223372036854775808.0;
    *out = d >= -kLimit && d < kLimit ? static_cast<std::int64_t>(d)
                                      : std::numeric_limits<std::int64_t>::min();
    return true;
  }

  std::string_view t_;
  std::size_t i_ = 0;
  std::string scratch_;  // decoded keys with escapes (rare)
};

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
      if (i < text.size() && text[i] == '{') {
        Usage usage;
        if (!UsageScanner(text.substr(i)).read(usage)) return std::nullopt;
        return usage;
      }
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
