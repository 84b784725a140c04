// Parsing of /admin/spend's query: strict, so a typo never silently reports the wrong window.
#include "switchboard/accounting/spend_query.hpp"

#include <charconv>
#include <ctime>

namespace switchboard::accounting {

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

std::optional<WallClock::time_point> from_utc(int y, int mo, int d, int h, int mi, int s) {
  // The system clock's nanoseconds reach 2262: keep well inside.
  if (y < 1970 || y > 2200) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  std::time_t t = timegm(&tm);
  std::tm back{};
  gmtime_r(&t, &back);
  if (back.tm_mday != d) return std::nullopt;  // 31 November and friends
  return WallClock::from_time_t(t);
}

WallClock::time_point start_of(WallClock::time_point now, bool month) {
  std::time_t t = WallClock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return *from_utc(tm.tm_year + 1900, tm.tm_mon + 1, month ? 1 : tm.tm_mday, 0, 0, 0);
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc{} && p == s.data() + i + 3) {
        out += static_cast<char>(v);
        i += 2;
      } else {
        out += s[i];
      }
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::optional<WallClock::time_point> parse_since(std::string_view s, WallClock::time_point now) {
  if (s == "today") return start_of(now, false);
  if (s == "month") return start_of(now, true);
  if (s.empty()) return std::nullopt;
  // A look-back: a number and a unit.
  char unit = s.back();
  if (unit == 'm' || unit == 'h' || unit == 'd') {
    long long n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size() - 1, n);
    if (ec == std::errc{} && p == s.data() + s.size() - 1 && n >= 0 && n <= 100000) {
      auto minutes = n * (unit == 'm' ? 1 : unit == 'h' ? 60 : 1440);
      return now - std::chrono::minutes(minutes);
    }
    return std::nullopt;
  }
  // Unix seconds.
  if (s.find_first_not_of("0123456789") == std::string_view::npos) {
    long long secs = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), secs);
    if (ec != std::errc{} || secs > 7258118400) return std::nullopt;  // 2200-01-01
    return WallClock::time_point(std::chrono::seconds(secs));
  }
  // YYYY-MM-DD[THH:MM[:SS][.fff](Z|+HH:MM|-HH:MM)]
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d)) {
    return std::nullopt;
  }
  if (s.size() == 10) return from_utc(y, mo, d, 0, 0, 0);
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
  if (!digits(s, 11, 2, h) || s.size() < 16 || s[13] != ':' || !digits(s, 14, 2, mi)) {
    return std::nullopt;
  }
  std::size_t i = 16;
  if (i < s.size() && s[i] == ':') {
    if (!digits(s, i + 1, 2, sec)) return std::nullopt;
    i += 3;
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    }
  }
  auto base = from_utc(y, mo, d, h, mi, sec);
  if (!base) return std::nullopt;
  if (i == s.size()) return std::nullopt;  // a zone is required: no guessing local time
  if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == s.size()) return base;
  if ((s[i] == '+' || s[i] == '-') && i + 6 == s.size() && s[i + 3] == ':') {
    int oh, om;
    if (!digits(s, i + 1, 2, oh) || !digits(s, i + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    auto offset = std::chrono::minutes(oh * 60 + om);
    return s[i] == '+' ? *base - offset : *base + offset;
  }
  return std::nullopt;
}

std::optional<std::string> parse_spend_query(std::string_view query, WallClock::time_point now,
                                             SpendQuery& out) {
  out.since = start_of(now, true);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto name = pair.substr(0, eq);
    auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (name == "group_by") {
      auto g = parse_spend_group(value);
      if (!g) return "group_by must be one of tenant, workflow, model, user, provider";
      out.group = *g;
    } else if (name == "since") {
      auto t = parse_since(value, now);
      if (!t) {
        return "since must be a date (2026-11-01), an RFC 3339 time with a zone, Unix seconds, "
               "a look-back (90m, 24h, 7d), 'today' or 'month'";
      }
      out.since = *t;
    } else if (name == "tenant") {
      out.tenant = value;
    } else {
      return "unknown parameter '" + std::string(name) + "'; known: group_by, since, tenant";
    }
  }
  return std::nullopt;
}

std::string format_utc(WallClock::time_point t) {
  std::time_t tt = WallClock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace switchboard::accounting
