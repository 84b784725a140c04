// ${VAR}, ${VAR:-default} and ${file:/path} expansion; errors name the variable or the path,
// never the value.
#include "expand.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace switchboard::config::detail {
namespace {

bool valid_variable_name(std::string_view name) {
  if (name.empty()) return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(name[0])) return false;
  for (char c : name) {
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

// Reads a secret file; one trailing newline ("\n" or "\r\n") is not part of the secret.
bool read_secret_file(const std::string& path, std::string& out, std::string& error) {
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read file " + std::string("\"") + path +
            "\": " + (errno != 0 ? std::strerror(errno) : "cannot open");
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    error = "cannot read file \"" + path + "\"";
    return false;
  }
  out = buffer.str();
  if (!out.empty() && out.back() == '\n') {
    out.pop_back();
    if (!out.empty() && out.back() == '\r') out.pop_back();
  }
  return true;
}

// Resolves the inside of one "${...}" into `out`; false (with `error`) when it cannot.
bool resolve(std::string_view inner, std::string& out, std::string& error) {
  if (inner.substr(0, 5) == "file:") {
    std::string path(inner.substr(5));
    if (path.empty()) {
      error = "\"${file:}\" needs a path, e.g. ${file:/run/secrets/key}";
      return false;
    }
    return read_secret_file(path, out, error);
  }
  std::string_view name = inner;
  std::string_view fallback;
  bool has_default = false;
  if (std::size_t sep = inner.find(":-"); sep != std::string_view::npos) {
    name = inner.substr(0, sep);
    fallback = inner.substr(sep + 2);
    has_default = true;
  }
  if (!valid_variable_name(name)) {
    error = "invalid environment variable reference \"${" + std::string(inner) +
            "}\"; expected ${NAME}, ${NAME:-default} or ${file:/path}";
    return false;
  }
  const std::string key(name);
  const char* value = std::getenv(key.c_str());
  if (value != nullptr && (*value != '\0' || !has_default)) {
    out = value;
    return true;
  }
  if (has_default) {
    out = std::string(fallback);
    return true;
  }
  error = "environment variable \"" + key + "\" is not set";
  return false;
}

}  // namespace

Expansion expand(std::string_view raw) {
  Expansion result;
  std::string& out = result.value;
  std::size_t i = 0;
  while (i < raw.size()) {
    if (raw.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (raw.compare(i, 2, "${") != 0) {
      out += raw[i++];
      continue;
    }
    std::size_t close = raw.find('}', i + 2);
    if (close == std::string_view::npos) {
      result.errors.push_back("unterminated \"${\" (write \"$${\" for a literal \"${\")");
      out.append(raw.substr(i));
      break;
    }
    std::string piece, error;
    if (resolve(raw.substr(i + 2, close - i - 2), piece, error)) {
      out += piece;
    } else {
      result.errors.push_back(std::move(error));
    }
    result.expanded = true;
    i = close + 1;
  }
  return result;
}

}  // namespace switchboard::config::detail
