// Prometheus text exposition format 0.0.4: escaping, number formatting and the writer.
#include "switchboard/observability/prometheus.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace switchboard::observability {
namespace {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no overlongs,
// no surrogates, nothing above U+10FFFF), or 0 if it is ill-formed.
std::size_t utf8_sequence_length(std::string_view s) {
  auto byte = [&s](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto continuation = [&](std::size_t i) { return i < s.size() && (byte(i) & 0xC0) == 0x80; };
  unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (lead == 0xE0 && byte(1) < 0xA0) return 0;   // overlong
    if (lead == 0xED && byte(1) >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (lead == 0xF0 && byte(1) < 0x90) return 0;   // overlong
    if (lead == 0xF4 && byte(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// Appends `text` with the escapes of the exposition format: backslash and newline always,
// double quote inside label values only. Invalid UTF-8 becomes U+FFFD, one per bad byte.
void append_escaped(std::string& out, std::string_view text, bool escape_quote) {
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      std::size_t n = utf8_sequence_length(text.substr(i));
      if (n == 0) {
        out.append(kReplacementChar);
        ++i;
      } else {
        out.append(text.substr(i, n));
        i += n;
      }
      continue;
    }
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '"' && escape_quote) {
      out.append("\\\"");
    } else {
      out.push_back(c);
    }
    ++i;
  }
}

bool is_name_char(char c, bool allow_colon, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (c == ':') return allow_colon;
  return !first && c >= '0' && c <= '9';
}

bool is_valid_name(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!is_name_char(name[i], allow_colon, i == 0)) return false;
  }
  return true;
}

}  // namespace

void append_prometheus_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out.append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out.append(value > 0 ? "+Inf" : "-Inf");
    return;
  }
  char buf[32];
  std::to_chars_result result;
  // Every integral double in [-2^63, 2^63) is exactly an int64, printed without exponent.
  constexpr double kTwoTo63 = 9223372036854775808.0;
  if (value == std::trunc(value) && value >= -kTwoTo63 && value < kTwoTo63) {
    result = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(value));
  } else {
    // The fewest digits that round-trip, laid out like %g (and Go's 'g', as client_golang
    // writes): 0.0005 rather than 5e-04, 1e-05 rather than 0.00001.
    result = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::general);
  }
  out.append(buf, result.ptr);
}

std::string format_prometheus_value(double value) {
  std::string out;
  append_prometheus_value(out, value);
  return out;
}

bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = utf8_sequence_length(text.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool is_valid_metric_name(std::string_view name) {
  return is_valid_name(name, true);
}

bool is_valid_label_name(std::string_view name) {
  return is_valid_name(name, false) && !name.starts_with("__");
}

void ExpositionWriter::family(std::string_view name, std::string_view help, std::string_view type) {
  out_.append("# HELP ");
  out_.append(name);
  out_.push_back(' ');
  append_escaped(out_, help, /*escape_quote=*/false);
  out_.append("\n# TYPE ");
  out_.append(name);
  out_.push_back(' ');
  out_.append(type);
  out_.push_back('\n');
}

void ExpositionWriter::sample(std::string_view name, std::span<const Label> labels, double value) {
  out_.append(name);
  if (!labels.empty()) {
    out_.push_back('{');
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_.push_back(',');
      out_.append(labels[i].first);
      out_.append("=\"");
      append_escaped(out_, labels[i].second, /*escape_quote=*/true);
      out_.push_back('"');
    }
    out_.push_back('}');
  }
  out_.push_back(' ');
  append_prometheus_value(out_, value);
  out_.push_back('\n');
}

std::string ExpositionWriter::take() {
  std::string text = std::move(out_);
  out_.clear();
  return text;
}

}  // namespace switchboard::observability
