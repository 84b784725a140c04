// The parameters of GET /admin/spend: which grouping, from when; parsed strictly.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "switchboard/accounting/ledger.hpp"

namespace switchboard::accounting {

// `since` as an absolute UTC time ("2026-11-01", "2026-11-01T10:00:00Z", RFC 3339 with an
// offset, or Unix seconds), a look-back ("90m", "24h", "7d") or a calendar start ("today",
// "month"). nullopt when it is none of these.
std::optional<WallClock::time_point> parse_since(std::string_view since, WallClock::time_point now);

struct SpendQuery {
  SpendGroup group = SpendGroup::tenant;
  WallClock::time_point since{};
  std::string tenant;  // filter; empty = all
};

// Parses "group_by=...&since=...&tenant=..." (percent-decoded). Returns an error message when a
// parameter is unknown or invalid; the default since is the start of the current month (UTC).
std::optional<std::string> parse_spend_query(std::string_view query, WallClock::time_point now,
                                             SpendQuery& out);

// "2026-11-24T10:00:00Z".
std::string format_utc(WallClock::time_point t);

}  // namespace switchboard::accounting
