// Small helpers on the project's HTTP types.
#include "switchboard/server/http.hpp"

namespace switchboard::server {

std::string_view find_header(const HttpHeaders& headers, std::string_view lower_name) {
  for (const auto& h : headers) {
    if (h.name == lower_name) return h.value;
  }
  return {};
}

std::string_view HttpRequest::path() const {
  std::string_view t = target;
  auto q = t.find('?');
  return q == std::string_view::npos ? t : t.substr(0, q);
}

std::string_view HttpRequest::query() const {
  std::string_view t = target;
  auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

}  // namespace switchboard::server
