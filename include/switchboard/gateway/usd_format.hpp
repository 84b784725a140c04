// USD amounts as the gateway prints them in headers: fixed, eight decimals.
#pragma once

#include <string>

namespace switchboard::gateway {

// Exactly std::to_chars(..., std::chars_format::fixed, 8) of `usd` (e.g. "0.00001234"), without
// its general-purpose cost for the ordinary amounts a request costs.
std::string format_usd_fixed8(double usd);

}  // namespace switchboard::gateway
