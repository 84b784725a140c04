// Private to the loader: ${VAR}, ${VAR:-default} and ${file:/path} expansion in scalars.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace switchboard::config::detail {

struct Expansion {
  std::string value;
  bool expanded = false;            // a ${...} was replaced: treat the value as a secret
  std::vector<std::string> errors;  // never contain an expanded value
};

// Replaces every ${VAR}, ${VAR:-default} (default when unset or empty) and ${file:/path}
// (the file's content minus one trailing newline). "$${" is a literal "${".
Expansion expand(std::string_view raw);

}  // namespace switchboard::config::detail
