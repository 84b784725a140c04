// Duration ("250ms", "1.5s", "1m30s") and size ("512KiB", "100MB", "2048") parsing.
#include <charconv>
#include <cmath>
#include <string_view>

#include "switchboard/config/loader.hpp"

namespace switchboard::config {
namespace {

// Reads an unsigned decimal number ("12", "1.5") from the front of `text`.
bool take_number(std::string_view& text, double& out) {
  std::size_t end = 0;
  bool digits = false, dot = false;
  while (end < text.size()) {
    char c = text[end];
    if (c >= '0' && c <= '9') {
      digits = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
    ++end;
  }
  if (!digits || text[end - 1] == '.' || text[0] == '.') return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, out);
  if (ec != std::errc() || ptr != text.data() + end) return false;
  text.remove_prefix(end);
  return true;
}

std::string_view take_letters(std::string_view& text) {
  std::size_t end = 0;
  while (end < text.size() &&
         ((text[end] >= 'a' && text[end] <= 'z') || (text[end] >= 'A' && text[end] <= 'Z'))) {
    ++end;
  }
  std::string_view unit = text.substr(0, end);
  text.remove_prefix(end);
  return unit;
}

void skip_spaces(std::string_view& text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
}

constexpr double kMaxMilliseconds = 1e15;  // ~31,000 years; anything above is a typo
constexpr double kMaxBytes = 1.8e19;       // just under 2^64

}  // namespace

bool parse_duration(const std::string& input, Duration& out) {
  std::string_view text = input;
  if (text == "0") {  // zero needs no unit: it means the same in all of them
    out = Duration(0);
    return true;
  }
  if (text.empty()) return false;
  double total_ms = 0;
  while (!text.empty()) {
    double number = 0;
    if (!take_number(text, number)) return false;
    std::string_view unit = take_letters(text);
    double scale = 0;
    if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60 * 1000;
    } else if (unit == "h") {
      scale = 60 * 60 * 1000;
    } else {
      return false;
    }
    total_ms += number * scale;
  }
  if (!(total_ms <= kMaxMilliseconds)) return false;
  out = Duration(static_cast<Duration::rep>(std::llround(total_ms)));
  return true;
}

bool parse_size(const std::string& input, std::uint64_t& out) {
  std::string_view text = input;
  double number = 0;
  if (!take_number(text, number)) return false;
  skip_spaces(text);
  std::string_view unit = take_letters(text);
  if (!text.empty()) return false;
  double scale = 0;
  if (unit.empty() || unit == "B") {
    scale = 1;
  } else if (unit == "KB" || unit == "kB") {
    scale = 1e3;
  } else if (unit == "MB") {
    scale = 1e6;
  } else if (unit == "GB") {
    scale = 1e9;
  } else if (unit == "TB") {
    scale = 1e12;
  } else if (unit == "KiB") {
    scale = 1024.0;
  } else if (unit == "MiB") {
    scale = 1024.0 * 1024;
  } else if (unit == "GiB") {
    scale = 1024.0 * 1024 * 1024;
  } else if (unit == "TiB") {
    scale = 1024.0 * 1024 * 1024 * 1024;
  } else {
    return false;
  }
  double bytes = number * scale;
  if (!(bytes < kMaxBytes) || bytes != std::floor(bytes)) return false;
  out = static_cast<std::uint64_t>(bytes);
  return true;
}

}  // namespace switchboard::config
