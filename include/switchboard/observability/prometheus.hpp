// Prometheus text exposition format 0.0.4: a writer with correct escaping and number formatting.
#pragma once

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace switchboard::observability {

// The Content-Type of what ExpositionWriter produces.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

using Label = std::pair<std::string_view, std::string_view>;  // name, value

// Appends a sample value: integral values (exact in an int64) without exponent or ".0",
// "+Inf", "-Inf", "NaN", otherwise the fewest digits that round-trip the double, in %g
// layout (0.0005, 1e-05, 1e+19).
void append_prometheus_value(std::string& out, double value);
std::string format_prometheus_value(double value);

// Well-formed UTF-8 (RFC 3629: no overlongs, surrogates or code points above U+10FFFF).
bool is_valid_utf8(std::string_view text);

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool is_valid_metric_name(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with the reserved "__".
bool is_valid_label_name(std::string_view name);

// Accumulates one exposition. Names and label names are written as given (validate them
// where they are defined); HELP text and label values are escaped, and invalid UTF-8 in them
// is replaced with U+FFFD so one odd header value can never make a whole scrape unparseable.
class ExpositionWriter {
 public:
  // "# HELP name help" and "# TYPE name type"; type is counter, gauge, histogram, summary or
  // untyped.
  void family(std::string_view name, std::string_view help, std::string_view type);

  // name{label="value",...} value
  void sample(std::string_view name, std::span<const Label> labels, double value);
  void sample(std::string_view name, std::initializer_list<Label> labels, double value) {
    sample(name, std::span<const Label>(labels.begin(), labels.size()), value);
  }

  const std::string& text() const { return out_; }
  // Returns the text so far and leaves the writer empty.
  std::string take();

 private:
  std::string out_;
};

}  // namespace switchboard::observability
