// Pieces of the Anthropic adapter shared by its source files (request, response, stream).
#pragma once

#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "switchboard/accounting/usage.hpp"
#include "switchboard/observability/json_writer.hpp"
#include "switchboard/protocol/errors.hpp"
#include "switchboard/protocol/json_reader.hpp"
#include "switchboard/protocol/json_view.hpp"
#include "switchboard/providers/adapter.hpp"

namespace switchboard::providers::anthropic {

// The OpenAI Chat Completions request (read from its text through a JsonDocument: no nlohmann
// tree) -> the Anthropic Messages request body text, appended to `body` (left partly written on
// an error). `model` is the provider's model id. Fields Anthropic cannot honour are 400s naming
// the field.
std::optional<protocol::ApiError> messages_body_from_openai(protocol::JsonValue request,
                                                            bool stream, std::string_view model,
                                                            std::string& body);

// ---- Writing the request body (anthropic_request.cpp, anthropic_request_messages.cpp)

// A 400 invalid_request naming the request field `param`.
protocol::ApiError bad(std::string message, std::string param);
// A 400 for a field Anthropic has no equivalent for, saying why.
protocol::ApiError unsupported(const std::string& field, std::string_view why);
// object[key] is present and not null.
bool is_set(protocol::JsonValue object, std::string_view key);
// "param[index]"
std::string at(const std::string& param, std::size_t index);
// nlohmann's object.value("type", fallback), which the DOM builder used: the member's string,
// `fallback` when absent. Any other member type made nlohmann throw, and the builder answered
// that exception's 400 ("malformed request: ... type must be string, but is number"): kept.
std::optional<protocol::ApiError> type_member(protocol::JsonValue object, std::string_view fallback,
                                              std::string_view& type);

// The request body's writer: what JsonWriter writes, byte for byte, with its small calls inline
// and keys and string values given as literals appended without a check (the adapter's own
// names, which need no escaping). Keys from the client go through key_escaped.
class BodyWriter {
 public:
  explicit BodyWriter(std::string& out) : out_(out) {}

  BodyWriter& begin_object() { return open('{'); }
  BodyWriter& end_object() { return close('}'); }
  BodyWriter& begin_array() { return open('['); }
  BodyWriter& end_array() { return close(']'); }
  template <std::size_t N>
  BodyWriter& key(const char (&name)[N]) {
    char buf[N + 3];  // [,]"name":
    std::size_t n = 0;
    if (need_comma_) buf[n++] = ',';
    buf[n++] = '"';
    for (std::size_t i = 0; i + 1 < N; ++i) buf[n++] = name[i];
    buf[n++] = '"';
    buf[n++] = ':';
    out_.append(buf, n);
    need_comma_ = false;
    return *this;
  }
  // An object opened with members given as one literal that ends after a key
  // (R"("type":"text","text":)"): that key's value comes next.
  template <std::size_t N>
  BodyWriter& begin_object_with(const char (&members)[N]) {
    char buf[N + 1];  // [,]{members
    std::size_t n = 0;
    if (need_comma_) buf[n++] = ',';
    buf[n++] = '{';
    std::memcpy(buf + n, members, N - 1);
    out_.append(buf, n + N - 1);
    need_comma_ = false;
    return *this;
  }
  BodyWriter& key_escaped(std::string_view name);
  BodyWriter& string(std::string_view value);
  // A string literal of the adapter's ("text", "tool_use"): plain ASCII, appended as it is.
  template <std::size_t N>
  BodyWriter& string(const char (&literal)[N]) {
    char buf[N + 2];  // [,]"literal"  (the closing quote replaces the terminator)
    std::size_t n = 0;
    if (need_comma_) buf[n++] = ',';
    buf[n++] = '"';
    for (std::size_t i = 0; i + 1 < N; ++i) buf[n++] = literal[i];
    buf[n++] = '"';
    out_.append(buf, n);
    need_comma_ = true;
    return *this;
  }
  BodyWriter& integer(std::int64_t value);
  BodyWriter& number(double value);  // as JsonWriter::number (nlohmann's shortest form)
  BodyWriter& boolean(bool value) { return raw(value ? std::string_view("true") : "false"); }
  BodyWriter& null() { return raw("null"); }
  // A JSON text (valid, compact) as the next value.
  BodyWriter& raw(std::string_view json_text) {
    if (need_comma_) out_.push_back(',');
    out_.append(json_text);
    need_comma_ = true;
    return *this;
  }

 private:
  BodyWriter& open(char c) {
    if (need_comma_) out_.push_back(',');
    out_.push_back(c);
    need_comma_ = false;
    return *this;
  }
  BodyWriter& close(char c) {
    out_.push_back(c);
    need_comma_ = true;
    return *this;
  }

  std::string& out_;
  bool need_comma_ = false;
};

// Where blocks go: a writer when writing, null when only validating and counting. Every converter
// runs twice: first to validate the whole request (same checks and errors, same order, as ever),
// then to write, so a 400 never leaves half a body behind and the logic exists once.
struct Out {
  BodyWriter& w;
};

// Appends a JSON text as the next value.
inline void write_raw(Out& out, std::string_view json_text) {
  out.w.raw(json_text);
}
// A string value as the client wrote it (escapes and all: it is valid JSON).
inline void write_string(Out& out, protocol::JsonValue s) {
  write_raw(out, s.raw());
}
// A value of the request, as the client wrote it (strings and numbers byte for byte, member
// order kept) except that a repeated key is written once, with its last value (as nlohmann
// reads it).
void write_value(Out& out, protocol::JsonValue value);

// Validates `messages` (the request's), then writes Anthropic's "messages" and, when there are
// system or developer messages, "system" members.
std::optional<protocol::ApiError> write_messages(protocol::JsonValue messages, Out& out);

// Anthropic stop_reason -> OpenAI finish_reason (provider-formats.md 0.1). `json_tool` is true
// when the tool_use was the emulated JSON mode, which reads as a normal stop.
std::string_view finish_reason(std::string_view stop_reason, bool json_tool);

// Anthropic `usage` -> accounting::Usage: input counts uncached, cache-read and cache-write
// tokens (provider-formats.md 0.2).
accounting::Usage usage_from_anthropic(const nlohmann::json& usage);

// accounting::Usage -> an OpenAI `usage` object. prompt_tokens_details.cached_tokens carries the
// cache reads; `cache_read_input_tokens` and `cache_creation_input_tokens` are added beside the
// OpenAI fields (as LiteLLM does) so the cache-write split survives a round trip.
nlohmann::ordered_json openai_usage(const accounting::Usage& usage);

// Anthropic error.type (and the HTTP status, 0 inside a stream) -> the gateway's error code.
protocol::ErrorCode error_code(std::string_view error_type, int status);

// Anthropic's token counts as a `usage` object states them.
struct UsageCounts {
  std::int64_t input = 0, output = 0, cache_read = 0, cache_write = 0;
  accounting::Usage usage() const;  // as usage_from_anthropic reads them (known)
};

// At a value: overwrites the counts a `usage` object carries and keeps the others (message_delta's
// cumulative counts replace message_start's). False, the value skipped, when it is no object.
// `given`, when set, gets a bit per count overwritten (UsageCounts field order: input first).
bool read_usage(protocol::JsonReader& r, UsageCounts& counts, unsigned* given = nullptr);

// openai_usage() as compact JSON text (as JsonWriter writes it), same keys in the same order,
// appended to `out`.
void append_openai_usage(std::string& out, const accounting::Usage& usage);

// An integer as JSON text.
void append_int(std::string& out, std::int64_t value);

// A raw JSON value (validated) that is a string, written as JsonWriter::string writes its decoded
// contents: spans without escapes go out as they are (the reader checked their UTF-8 and that no
// control character is in them), others are decoded and escaped again. A value that is no string
// is written as "".
void append_string_span(std::string& out, std::string_view json_value, std::string& scratch);

// A member to pick out of an object: its name and where its raw value goes.
struct Field {
  std::string_view name;
  std::string_view* value;
};

// At a value: when it is an object, stores the raw value of each member named in `fields` (the
// last duplicate wins) and passes over the others. False when it is not an object (skipped) or
// on a syntax error (see r.ok()).
bool read_fields(protocol::JsonReader& r, std::initializer_list<Field> fields);
// The same on a raw span already validated (a value read_fields stored).
bool read_fields(std::string_view json_value, std::initializer_list<Field> fields);

// Is the raw value the string `text`?
bool is_string(std::string_view json_value, std::string_view text);

// A raw value that is an integer, or `fallback`.
std::int64_t int_value(std::string_view json_value, std::int64_t fallback);

// A validated JSON string's contents as written (escapes still escaped): true when every escape
// in it is the one JsonWriter itself writes for that character (\" \\ \b \f \n \r \t, and
// \u00xx in lower case for other control characters), so the contents are exactly what
// JsonWriter writes for the decoded string and can be copied. `decoded_size` gets the decoded
// length.
bool canonical_escapes(std::string_view contents, std::size_t& decoded_size);

// Appends `text` as JSON string contents, escaped as JsonWriter escapes them. `verbatim`: the text
// is a validated string's raw contents without escapes (string_value's view into the JSON), which
// escaping leaves as they are, so it is copied.
void append_contents(std::string& out, std::string_view text, bool verbatim);

// A tool_use `input` (a raw value; empty when absent) as OpenAI's `arguments` text: minified in
// the model's own key order, the empty object when absent.
void append_arguments(std::string& out, std::string_view input);

// The string a validated JSON value (a raw span) holds: a view into it, or decoded into `scratch`
// when escaped; empty when the value is not a string.
std::string_view string_value(std::string_view json_value, std::string& scratch);

// translate_chat without a DOM: an Anthropic message body -> the OpenAI chat.completion text,
// appended to `out`.
std::optional<protocol::ApiError> write_chat_completion(std::string_view body,
                                                        const ResponseContext& context,
                                                        std::string& out, accounting::Usage& usage);

std::unique_ptr<StreamTranslator> make_stream_translator(const ResponseContext& context);

// ---- Reading the stream's events (anthropic_stream_event.cpp)

// A `usage` object's counts, read where it stands: those given as integers (bits of `given`,
// input first) replace the stream's, the others are kept. `object` is false when there was none.
struct UsageUpdate {
  bool object = false;
  unsigned given = 0;
  UsageCounts counts;
};

// The members of an event this translator reads, as raw spans of its data: the top level's and
// those of its nested `message`, `content_block` and `delta` objects (the last duplicate wins);
// usage objects as their counts.
struct EventFields {
  std::string_view type, index, error;
  UsageUpdate usage;
  struct Message {
    std::string_view id, model;
    UsageUpdate usage;
  } message;
  bool has_message = false;
  struct ContentBlock {
    std::string_view type, text, id, name, input;
  } block;
  bool has_block = false;
  struct Delta {
    std::string_view type, text, partial_json, stop_reason;
    // read_canonical_delta's reading of text / partial_json (it validated the string anyway), so
    // the string is not read a second time: `value` is JSON string contents ready to copy when
    // `value_is_json` (no escapes, or only those JsonWriter writes), else the decoded text;
    // `value_size` is the decoded size either way.
    std::string_view value;
    std::size_t value_size = 0;
    bool has_value = false, value_is_json = false;
  } delta;
  bool has_delta = false;
};

// One event's data into `f` (reset by the caller). nullopt when read; otherwise what is wrong
// with it ("an event's data is not a JSON object", "<problem> at byte N"). `scratch` may receive
// a delta's decoded string (f.delta.value then views it).
std::optional<std::string> read_event_data(std::string_view data, EventFields& f,
                                           std::string& scratch);

// nlohmann dump that never throws on invalid UTF-8 from a client or a provider.
template <typename Json>
std::string dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace switchboard::providers::anthropic
