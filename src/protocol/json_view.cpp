// The read-only JSON DOM: JsonReader validates and tokenises; nodes, child lists and decoded
// strings go into vectors the document reuses.
#include "switchboard/protocol/json_view.hpp"

#include <charconv>
#include <cstdlib>
#include <functional>
#include <limits>

namespace switchboard::protocol {

namespace {

bool inside(std::string_view outer, std::string_view inner) {
  auto lo = reinterpret_cast<std::uintptr_t>(outer.data());
  auto p = reinterpret_cast<std::uintptr_t>(inner.data());
  return p >= lo && p + inner.size() <= lo + outer.size();
}

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

std::uint32_t JsonDocument::store(std::string_view s, bool& in_arena) {
  in_arena = !inside(text_, s);
  if (!in_arena) return static_cast<std::uint32_t>(s.data() - text_.data());
  auto at = static_cast<std::uint32_t>(strings_.size());
  strings_.append(s);
  return at;
}

bool JsonDocument::fail(const JsonReader& r) {
  error_ = r.ok() ? JsonError::misuse : r.error();
  error_offset_ = r.ok() ? r.offset() : r.error_offset();
  nodes_.clear();
  return false;
}

void JsonDocument::shrink_to(std::size_t bytes) {
  auto release = [bytes](auto& v, std::size_t each) {
    if (v.capacity() * each > bytes) std::remove_reference_t<decltype(v)>().swap(v);
  };
  release(nodes_, sizeof(Node));
  release(children_, sizeof(std::uint32_t));
  release(stack_, sizeof(std::uint32_t));
  release(frames_, sizeof(Frame));
  release(strings_, 1);
}

// The value at the reader (after its key, for a member), as a new node; a container is opened
// (a frame pushed) and filled by parse()'s loop.
bool JsonDocument::add_value(JsonReader& r, std::string_view key) {
  const JsonType type = r.peek();
  if (type == JsonType::invalid) return false;
  const auto index = static_cast<std::uint32_t>(nodes_.size());
  Node n;
  n.type = type;
  n.begin = static_cast<std::uint32_t>(r.offset());
  if (!frames_.empty()) {
    stack_.push_back(index);
    if (nodes_[frames_.back().node].type == JsonType::object) {
      bool in_arena = false;
      n.key_begin = store(key, in_arena);
      n.key_size = static_cast<std::uint32_t>(key.size());
      if (in_arena) n.flags |= kKeyInArena;
    }
  }
  switch (type) {
    case JsonType::object:
    case JsonType::array:
      if (!(type == JsonType::object ? r.begin_object() : r.begin_array())) return false;
      frames_.push_back({index, static_cast<std::uint32_t>(stack_.size())});
      nodes_.push_back(n);
      return true;
    case JsonType::string: {
      std::string_view raw;
      bool escaped = false;
      const std::size_t before = strings_.size();
      ++r.pos_;  // the opening quote
      if (!r.scan_string(raw, &strings_, escaped)) return false;
      if (escaped) {  // decoded onto strings_
        n.flags |= kEscaped;
        n.a = static_cast<std::uint32_t>(before);
        n.b = static_cast<std::uint32_t>(strings_.size() - before);
      }
      break;
    }
    case JsonType::number: {
      std::string_view text;
      bool integer = false;  // the integer grammar: no fraction, no exponent
      if (!r.scan_number(text, integer)) return false;
      const bool negative = text.front() == '-';
      // nlohmann: int64 when signed, uint64 otherwise; floating point when larger. Up to 18
      // digits always fit; longer ones are tried.
      if (integer && text.size() - (negative ? 1 : 0) > 18) {
        const char* first = text.data();
        const char* last = first + text.size();
        std::from_chars_result res;
        if (negative) {
          std::int64_t i;
          res = std::from_chars(first, last, i);
        } else {
          std::uint64_t u;
          res = std::from_chars(first, last, u);
        }
        integer = res.ec == std::errc{};
      }
      if (integer) {
        n.flags |= kInteger;
        if (!negative) n.flags |= kUnsigned;
      } else if (text.size() > 300 || text.find_first_of("eE") != std::string_view::npos) {
        // (without an exponent, fewer than 300 characters stay below 1e300: no overflow)
        double d = to_double(text);
        if (d == std::numeric_limits<double>::infinity() ||
            d == -std::numeric_limits<double>::infinity())
          overflow_ = true;
      }
      break;
    }
    case JsonType::boolean:
    case JsonType::null:
      if (!r.scalar(type)) return false;
      break;
    default:
      return false;
  }
  n.end = static_cast<std::uint32_t>(r.offset());
  nodes_.push_back(n);
  return true;
}

// The innermost open container ended at `end`: its children move from stack_ to children_.
void JsonDocument::close_container(std::size_t end) {
  Frame f = frames_.back();
  frames_.pop_back();
  Node& n = nodes_[f.node];
  n.end = static_cast<std::uint32_t>(end);
  n.a = static_cast<std::uint32_t>(children_.size());
  n.b = static_cast<std::uint32_t>(stack_.size() - f.base);
  children_.insert(children_.end(), stack_.begin() + f.base, stack_.end());
  stack_.resize(f.base);
}

bool JsonDocument::parse(std::string_view text, int max_depth) {
  text_ = text;
  nodes_.clear();
  children_.clear();
  stack_.clear();
  frames_.clear();
  strings_.clear();
  error_ = JsonError::none;
  error_offset_ = 0;
  overflow_ = false;
  JsonReader r(text, max_depth);
  if (text.size() >= std::numeric_limits<std::uint32_t>::max()) return fail(r);
  if (!add_value(r, {})) return fail(r);
  // Iterative: a deep text costs no stack. Each turn reads the next member or element of the
  // innermost open container, or closes it.
  std::string_view key;
  while (!frames_.empty()) {
    const bool object = nodes_[frames_.back().node].type == JsonType::object;
    const bool more = object ? r.next_key(key) : r.next_element();
    if (!more) {
      if (!r.ok()) return fail(r);
      close_container(r.offset());
      continue;
    }
    if (!add_value(r, key)) return fail(r);
  }
  if (!r.finish()) return fail(r);
  return true;
}

}  // namespace switchboard::protocol
