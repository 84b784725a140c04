// JsonDocument's parser: a fast walk of the text's structure for valid texts, and the JsonReader
// driven parse that finds the exact error when the fast walk gives up. Nodes, child lists and
// decoded strings go into vectors the document reuses.
#include <charconv>
#include <cstdlib>
#include <limits>
#include <string>

#include "switchboard/protocol/json_view.hpp"

namespace switchboard::protocol {

namespace {

bool inside(std::string_view outer, std::string_view inner) {
  auto lo = reinterpret_cast<std::uintptr_t>(outer.data());
  auto p = reinterpret_cast<std::uintptr_t>(inner.data());
  return p >= lo && p + inner.size() <= lo + outer.size();
}

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

// Is the number text beyond double's range (as strtod reads it: +-HUGE_VAL)?
bool overflows(std::string_view text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc::result_out_of_range) return false;
  std::string copy(text);  // rare: out of range one way or the other
  v = std::strtod(copy.c_str(), nullptr);
  return v == std::numeric_limits<double>::infinity() ||
         v == -std::numeric_limits<double>::infinity();
}

bool has_exponent(std::string_view number) {
  for (char c : number)
    if (c == 'e' || c == 'E') return true;
  return false;
}

}  // namespace

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

void JsonDocument::reset(std::string_view text) {
  text_ = text;
  nodes_.clear();
  children_.clear();
  stack_.clear();
  frames_.clear();
  strings_.clear();
  error_ = JsonError::none;
  error_offset_ = 0;
  overflow_ = false;
}

// The scalar of type `type` whose first byte is at r.pos_, into `n` (whose begin is set): an
// escaped string is decoded onto strings_, a number classified as nlohmann stores it.
bool JsonDocument::scan_scalar(JsonReader& r, JsonType type, Node& n) {
  switch (type) {
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
      } else if (text.size() > 300 || has_exponent(text)) {
        // (without an exponent, fewer than 300 characters stay below 1e300: no overflow)
        if (overflows(text)) overflow_ = true;
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
  n.end = static_cast<std::uint32_t>(r.pos_);
  return true;
}

// The value at the reader (after its key, for a member), as a new node; a container is opened
// (a frame pushed) and filled by parse_checked's loop.
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
  if (type == JsonType::object || type == JsonType::array) {
    if (!(type == JsonType::object ? r.begin_object() : r.begin_array())) return false;
    frames_.push_back({index, static_cast<std::uint32_t>(stack_.size())});
    nodes_.push_back(n);
    return true;
  }
  if (!scan_scalar(r, type, n)) return false;
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

// A member's key at `at` (its opening quote), through the colon and the whitespace after it;
// the key goes into `n`. False on anything unexpected.
bool JsonDocument::scan_key(JsonReader& r, std::size_t& at, Node& n) {
  const char* const s = text_.data();
  const std::size_t size = text_.size();
  std::size_t i = at;
  if (i >= size || s[i] != '"') return false;
  const std::size_t start = i + 1;
  r.pos_ = start;
  std::string_view raw;
  bool escaped = false;
  const std::size_t before = strings_.size();
  if (!r.scan_string(raw, &strings_, escaped)) return false;
  if (escaped) {
    n.key_begin = static_cast<std::uint32_t>(before);
    n.key_size = static_cast<std::uint32_t>(strings_.size() - before);
    n.flags |= kKeyInArena;
  } else {
    n.key_begin = static_cast<std::uint32_t>(start);
    n.key_size = static_cast<std::uint32_t>(raw.size());
  }
  i = r.pos_;
  while (i < size && is_space(s[i])) ++i;
  if (i >= size || s[i] != ':') return false;
  ++i;
  while (i < size && is_space(s[i])) ++i;
  at = i;
  return true;
}

// A valid text's parse: the structure (brackets, commas, colons, whitespace) is walked here, the
// scalars scanned by the reader's own code, without JsonReader's checks on every call. Anything
// amiss makes it give up (false) and parse() reads the text the checked way, which finds the
// error; so this only has to accept exactly what the reader accepts and build the same nodes.
bool JsonDocument::parse_fast(JsonReader& r) {
  const char* const s = text_.data();
  const std::size_t size = text_.size();
  const std::size_t max_depth = static_cast<std::size_t>(r.max_depth_);
  std::size_t i = 0;
  auto space = [&] {
    while (i < size && static_cast<unsigned char>(s[i]) <= ' ' && is_space(s[i])) ++i;
  };
  Node key;  // the key of the member whose value comes next (key_begin, key_size, flags)
  space();
  while (true) {
    // A value at s[i]; its key in `key` when the innermost container is an object.
    if (i >= size) return false;
    const JsonType type = json_type_at(s[i]);
    if (type == JsonType::invalid) return false;
    const auto index = static_cast<std::uint32_t>(nodes_.size());
    Node n;
    n.type = type;
    n.begin = static_cast<std::uint32_t>(i);
    if (!frames_.empty()) {
      stack_.push_back(index);
      if (nodes_[frames_.back().node].type == JsonType::object) {
        n.key_begin = key.key_begin;
        n.key_size = key.key_size;
        n.flags = key.flags;
      }
    }
    if (type == JsonType::object || type == JsonType::array) {
      if (frames_.size() >= max_depth) return false;
      frames_.push_back({index, static_cast<std::uint32_t>(stack_.size())});
      nodes_.push_back(n);
      ++i;
      space();
      if (i >= size) return false;
      if (s[i] != (type == JsonType::object ? '}' : ']')) {
        if (type == JsonType::object) {
          key = {};
          if (!scan_key(r, i, key)) return false;
        }
        continue;  // its first member's or element's value
      }
      close_container(++i);  // empty
    } else {
      r.pos_ = i;
      if (!scan_scalar(r, type, n)) return false;
      i = r.pos_;
      nodes_.push_back(n);
    }
    // After a value: a comma and the next one, or the end of containers, or of the text.
    while (true) {
      space();
      if (frames_.empty()) return i == size;
      if (i >= size) return false;
      const bool object = nodes_[frames_.back().node].type == JsonType::object;
      if (s[i] == ',') {
        ++i;
        space();
        if (object) {
          key = {};
          if (!scan_key(r, i, key)) return false;
        }
        break;
      }
      if (s[i] != (object ? '}' : ']')) return false;
      close_container(++i);
    }
  }
}

// The checked parse: JsonReader's calls for every step, so a syntax error is found and reported
// exactly as the reader reports it. Iterative: a deep text costs no stack.
bool JsonDocument::parse_checked(JsonReader& r) {
  if (!add_value(r, {})) return fail(r);
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

bool JsonDocument::parse(std::string_view text, int max_depth) {
  reset(text);
  JsonReader r(text, max_depth);
  if (text.size() >= std::numeric_limits<std::uint32_t>::max()) return fail(r);
  if (parse_fast(r)) return true;
  reset(text);
  JsonReader checked(text, max_depth);
  return parse_checked(checked);
}

}  // namespace switchboard::protocol
