// The Anthropic stream's events read into EventFields (part of the stream translation in
// anthropic_stream.cpp): the frequent events as Anthropic spells them by comparing their fixed
// text, any other with the pull reader in one pass, nested objects included.
#include <string>

#include "anthropic_internal.hpp"

namespace switchboard::providers::anthropic {
namespace {

using protocol::JsonReader;

// At a value (the last of duplicate `usage` keys wins, as a DOM keeps it).
bool read_usage_update(JsonReader& r, UsageUpdate& u) {
  u = {};
  if (r.peek() != protocol::JsonType::object) return r.skip();
  u.object = true;
  return read_usage(r, u.counts, &u.given);
}

// At a value: a message_start's `message` (id, model and usage). False when it is no object.
bool read_message(JsonReader& r, EventFields::Message& m) {
  if (!r.begin_object()) {
    r.skip();
    return false;
  }
  std::string_view key;
  while (r.next_key(key)) {
    bool ok = true;
    if (key == "id") {
      ok = r.raw_value(m.id);
    } else if (key == "model") {
      ok = r.raw_value(m.model);
    } else if (key == "usage") {
      ok = read_usage_update(r, m.usage);
    } else {
      ok = r.skip();
    }
    if (!ok) return false;
  }
  return r.ok();
}

// The event Anthropic sends for every few tokens, written exactly as Anthropic writes it:
//   {"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":"..."}}
// (or input_json_delta with partial_json). Data that is byte for byte that shape gets the
// fields read_event would store, without the general reader: the fixed text is compared, the
// index's digits checked, the string validated by the reader. False for anything else (other
// spacing or key order, more members, a malformed string): read_event then reads it.
bool read_canonical_delta(std::string_view data, EventFields& f, std::string& scratch) {
  constexpr std::string_view kHead = R"({"type":"content_block_delta","index":)";
  constexpr std::string_view kText = R"(,"delta":{"type":"text_delta","text":)";
  constexpr std::string_view kJson = R"(,"delta":{"type":"input_json_delta","partial_json":)";
  constexpr std::string_view kEventType = R"("content_block_delta")";
  constexpr std::string_view kTextType = R"("text_delta")";
  constexpr std::string_view kJsonType = R"("input_json_delta")";
  constexpr std::size_t kTypeAt = kHead.find(kEventType);
  constexpr std::size_t kTextTypeAt = kText.find(kTextType);
  constexpr std::size_t kJsonTypeAt = kJson.find(kJsonType);
  if (!data.starts_with(kHead)) return false;
  // The index: 0, or up to 18 digits without a leading zero (what int_value sums).
  const std::size_t digits = kHead.size();
  std::size_t i = digits;
  if (i < data.size() && data[i] == '0') {
    ++i;
  } else {
    while (i < data.size() && i - digits < 18 && data[i] >= '0' && data[i] <= '9') ++i;
  }
  if (i == digits) return false;
  const std::string_view index = data.substr(digits, i - digits);
  const std::string_view rest = data.substr(i);
  const bool text = rest.starts_with(kText);
  if (!text && !rest.starts_with(kJson)) return false;
  const std::size_t at = i + (text ? kText.size() : kJson.size());  // the string's quote
  if (at >= data.size() || data[at] != '"') return false;
  JsonReader r(data.substr(at));
  std::string_view contents;
  if (!r.read_string_raw(contents)) return false;
  const std::size_t end = at + r.offset();
  if (data.substr(end) != "}}") return false;
  std::size_t size = 0;
  const bool ready = canonical_escapes(contents, size);
  if (!ready) {  // other escapes: decoded, to be escaped JsonWriter's way
    JsonReader decode(data.substr(at));
    decode.read_string(contents, scratch);
    size = contents.size();
  }
  f.type = data.substr(kTypeAt, kEventType.size());
  f.index = index;
  f.has_delta = true;
  f.delta = {};
  f.delta.type = text ? data.substr(i + kTextTypeAt, kTextType.size())
                      : data.substr(i + kJsonTypeAt, kJsonType.size());
  (text ? f.delta.text : f.delta.partial_json) = data.substr(at, end - at);
  f.delta.value = contents;
  f.delta.value_size = size;
  f.delta.has_value = true;
  f.delta.value_is_json = ready;
  return true;
}

// The events that end a block and the message, spelled as Anthropic spells them:
//   {"type":"content_block_stop","index":N}   {"type":"message_stop"}
// Their fields without the general reader, as read_canonical_delta does for deltas.
bool read_canonical_stop(std::string_view data, EventFields& f) {
  constexpr std::string_view kTypeKey = R"({"type":)";
  constexpr std::string_view kMessageStop = R"("message_stop")";
  constexpr std::string_view kBlockStop = R"("content_block_stop")";
  constexpr std::string_view kIndexKey = R"(,"index":)";
  if (!data.starts_with(kTypeKey) || !data.ends_with('}')) return false;
  const std::string_view rest = data.substr(kTypeKey.size(), data.size() - kTypeKey.size() - 1);
  if (rest == kMessageStop) {
    f.type = rest;
    return true;
  }
  if (!rest.starts_with(kBlockStop) ||
      rest.substr(kBlockStop.size(), kIndexKey.size()) != kIndexKey)
    return false;
  const std::string_view index = rest.substr(kBlockStop.size() + kIndexKey.size());
  if (index.empty() || index.size() > 18 || (index[0] == '0' && index.size() > 1)) return false;
  for (char c : index)
    if (c < '0' || c > '9') return false;
  f.type = rest.substr(0, kBlockStop.size());
  f.index = index;
  return true;
}

// At the event's value: reads its members, descending into the nested objects this translator
// reads rather than storing them to parse again. False when it is not an object (or on an
// error: see r.ok()).
bool read_event(JsonReader& r, EventFields& f) {
  if (!r.begin_object()) return false;
  std::string_view key;
  while (r.next_key(key)) {
    bool ok = true;
    if (key == "type") {
      ok = r.raw_value(f.type);
    } else if (key == "index") {
      ok = r.raw_value(f.index);
    } else if (key == "delta") {
      f.delta = {};
      f.has_delta = read_fields(r, {{"type", &f.delta.type},
                                    {"text", &f.delta.text},
                                    {"partial_json", &f.delta.partial_json},
                                    {"stop_reason", &f.delta.stop_reason}});
      ok = r.ok();
    } else if (key == "content_block") {
      f.block = {};
      f.has_block = read_fields(r, {{"type", &f.block.type},
                                    {"text", &f.block.text},
                                    {"id", &f.block.id},
                                    {"name", &f.block.name},
                                    {"input", &f.block.input}});
      ok = r.ok();
    } else if (key == "message") {
      f.message = {};
      f.has_message = read_message(r, f.message);
      ok = r.ok();
    } else if (key == "usage") {
      ok = read_usage_update(r, f.usage);
    } else if (key == "error") {
      ok = r.raw_value(f.error);
    } else {
      ok = r.skip();
    }
    if (!ok) return false;
  }
  return r.ok();
}

}  // namespace

std::optional<std::string> read_event_data(std::string_view data, EventFields& f,
                                           std::string& scratch) {
  if (read_canonical_delta(data, f, scratch) || read_canonical_stop(data, f)) return std::nullopt;
  JsonReader r(data);
  const bool object = read_event(r, f);
  if (r.finish() && object) return std::nullopt;
  if (r.ok()) return std::string("an event's data is not a JSON object");
  return std::string(protocol::describe(r.error())) + " at byte " +
         std::to_string(r.error_offset());
}

}  // namespace switchboard::providers::anthropic
