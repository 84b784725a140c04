// A read-only DOM over a JSON text: one validating JsonReader pass indexes every value into a
// reusable arena, so a request can be read like an nlohmann tree without building one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "switchboard/protocol/json_reader.hpp"

namespace switchboard::protocol {

class JsonDocument;

// A value of a JsonDocument, or a missing one (a member that is not there, an index past the
// end), which reads as null with present() false. A small handle: copy it freely. Valid while
// its document is neither re-parsed nor destroyed and the text outlives it.
class JsonValue {
 public:
  JsonValue() = default;  // missing

  bool present() const { return doc_ != nullptr; }
  inline JsonType type() const;  // null when missing
  bool is_null() const { return type() == JsonType::null; }
  bool is_boolean() const { return type() == JsonType::boolean; }
  bool is_number() const { return type() == JsonType::number; }
  bool is_string() const { return type() == JsonType::string; }
  bool is_array() const { return type() == JsonType::array; }
  bool is_object() const { return type() == JsonType::object; }
  // A number without fraction or exponent that fits int64 or uint64: what nlohmann reads as
  // number_integer / number_unsigned (is_number_integer()). Larger ones are floating point.
  inline bool is_integer() const;

  // Elements of an array, members of an object (duplicate keys each counted). As in nlohmann: 0
  // for null (and missing), 1 for any other scalar.
  inline std::size_t size() const;
  bool empty() const { return size() == 0; }
  // The element (or member) at `index`; missing when out of range or not a container.
  inline JsonValue operator[](std::size_t index) const;
  // The member named `key`, the last one when the key repeats (as nlohmann keeps it); missing
  // when there is none or this is not an object.
  JsonValue find(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key).present(); }
  // For a member of an object: its key, decoded. Empty otherwise.
  inline std::string_view key() const;

  // The decoded string (a view into the text, or into the document when it had escapes); empty
  // when not a string.
  inline std::string_view string() const;
  // Is this the string `text`?
  bool equals(std::string_view text) const { return is_string() && string() == text; }
  // The value's exact text (strings with their quotes, containers whole); empty when missing.
  inline std::string_view raw() const;
  // An integer as nlohmann's get<std::int64_t>() gives it (a uint64 above INT64_MAX wraps);
  // a floating point number truncated, INT64_MIN beyond int64's range (as x86 converts it);
  // 0 when not a number.
  std::int64_t int64() const;
  // Any number as a double (nlohmann's get<double>()); 0 when not a number.
  double number() const;
  // true only for the literal true.
  bool boolean() const;

  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = JsonValue;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = JsonValue;

    iterator() = default;
    inline JsonValue operator*() const;
    iterator& operator++() {
      ++at_;
      return *this;
    }
    iterator operator++(int) {
      iterator before = *this;
      ++at_;
      return before;
    }
    bool operator==(const iterator& other) const { return at_ == other.at_; }

   private:
    friend class JsonValue;
    iterator(const JsonDocument* doc, const std::uint32_t* at) : doc_(doc), at_(at) {}
    const JsonDocument* doc_ = nullptr;
    const std::uint32_t* at_ = nullptr;
  };
  // The elements or members in text order; empty for anything else.
  inline iterator begin() const;
  inline iterator end() const;

 private:
  friend class JsonDocument;
  JsonValue(const JsonDocument* doc, std::uint32_t index) : doc_(doc), index_(index) {}
  const JsonDocument* doc_ = nullptr;
  std::uint32_t index_ = 0;
};

// Parses a JSON text into an index of its values. Reuse one document (per thread, per caller)
// across texts: its vectors keep their capacity, so parsing allocates nothing once warm.
//
//   JsonDocument doc;
//   if (!doc.parse(body)) ... doc.error() ...;
//   JsonValue messages = doc.root().find("messages");
//
// Acceptance is JsonReader's: RFC 8259, UTF-8 validated, nesting up to `max_depth`. Strings
// without escapes are views into the text; escaped strings and keys are decoded into the
// document. The text must outlive the document's values.
class JsonDocument {
 public:
  JsonDocument() = default;
  JsonDocument(const JsonDocument&) = delete;
  JsonDocument& operator=(const JsonDocument&) = delete;

  // False on a syntax error (error() / error_offset() say what and where); the document is then
  // empty and root() missing.
  bool parse(std::string_view text, int max_depth = JsonReader::kDefaultMaxDepth);
  JsonValue root() const;
  JsonError error() const { return error_; }
  std::size_t error_offset() const { return error_offset_; }
  // True when some number is beyond double's range (1e400): valid JSON that nlohmann refuses
  // to parse ("number overflow").
  bool number_overflow() const { return overflow_; }
  // Frees the arena when it grew past `bytes` (one huge text should not pin its memory).
  void shrink_to(std::size_t bytes);

 private:
  friend class JsonValue;

  enum Flag : std::uint8_t {
    kInteger = 1,     // number: integer grammar, fits int64 or uint64
    kUnsigned = 2,    // integer: no sign (read as uint64, as nlohmann does)
    kEscaped = 4,     // string: decoded into strings_ at (a, b)
    kKeyInArena = 8,  // key: decoded into strings_
  };
  struct Node {
    std::uint32_t begin = 0, end = 0;           // the value's text in text_
    std::uint32_t key_begin = 0, key_size = 0;  // member key: in text_ or strings_
    std::uint32_t a = 0, b = 0;  // containers: children_[a, a + b); escaped strings: strings_
    JsonType type = JsonType::invalid;
    std::uint8_t flags = 0;
  };
  struct Frame {
    std::uint32_t node, base;  // the open container, its first child's slot in stack_
  };

  void reset(std::string_view text);
  bool parse_fast(JsonReader& r);
  bool parse_checked(JsonReader& r);
  bool add_value(JsonReader& r, std::string_view key);
  bool scan_scalar(JsonReader& r, JsonType type, Node& n);
  bool scan_key(JsonReader& r, std::size_t& at, Node& n);
  void close_container(std::size_t end);
  bool fail(const JsonReader& r);
  std::uint32_t store(std::string_view s, bool& in_arena);
  std::string_view key_of(const Node& n) const {
    return std::string_view((n.flags & kKeyInArena ? strings_.data() : text_.data()) + n.key_begin,
                            n.key_size);
  }
  std::string_view string_of(const Node& n) const {
    if (n.flags & kEscaped) return std::string_view(strings_.data() + n.a, n.b);
    return std::string_view(text_.data() + n.begin + 1, n.end - n.begin - 2);
  }

  std::string_view text_;
  std::vector<Node> nodes_;
  std::vector<std::uint32_t> children_;  // each container's children, contiguous, in order
  std::vector<std::uint32_t> stack_;     // children of the containers still open
  std::vector<Frame> frames_;
  std::string strings_;  // decoded escaped strings and keys
  JsonError error_ = JsonError::none;
  std::size_t error_offset_ = 0;
  bool overflow_ = false;
};

// ---- JsonValue's small accessors, inline: the request translation calls them by the hundred.

JsonType JsonValue::type() const {
  return doc_ ? doc_->nodes_[index_].type : JsonType::null;
}

bool JsonValue::is_integer() const {
  return doc_ && (doc_->nodes_[index_].flags & JsonDocument::kInteger);
}

std::size_t JsonValue::size() const {
  if (!doc_) return 0;
  const auto& n = doc_->nodes_[index_];
  if (n.type == JsonType::array || n.type == JsonType::object) return n.b;
  return n.type == JsonType::null ? 0 : 1;
}

JsonValue JsonValue::operator[](std::size_t index) const {
  if (!doc_) return {};
  const auto& n = doc_->nodes_[index_];
  if ((n.type != JsonType::array && n.type != JsonType::object) || index >= n.b) return {};
  return {doc_, doc_->children_[n.a + index]};
}

std::string_view JsonValue::key() const {
  return doc_ ? doc_->key_of(doc_->nodes_[index_]) : std::string_view();
}

std::string_view JsonValue::string() const {
  if (!is_string()) return {};
  return doc_->string_of(doc_->nodes_[index_]);
}

std::string_view JsonValue::raw() const {
  if (!doc_) return {};
  const auto& n = doc_->nodes_[index_];
  return std::string_view(doc_->text_.data() + n.begin, n.end - n.begin);
}

JsonValue JsonValue::iterator::operator*() const {
  return {doc_, *at_};
}

JsonValue::iterator JsonValue::begin() const {
  if (!doc_) return {};
  const auto& n = doc_->nodes_[index_];
  if ((n.type != JsonType::array && n.type != JsonType::object) || n.b == 0) return {};
  return {doc_, doc_->children_.data() + n.a};
}

JsonValue::iterator JsonValue::end() const {
  if (!doc_) return {};
  const auto& n = doc_->nodes_[index_];
  if ((n.type != JsonType::array && n.type != JsonType::object) || n.b == 0) return {};
  return {doc_, doc_->children_.data() + n.a + n.b};
}

}  // namespace switchboard::protocol
