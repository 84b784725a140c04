// Webhook and OpenAI-moderation request bodies and verdict parsing.
#include "switchboard/guardrails/remote.hpp"

#include <nlohmann/json.hpp>

namespace switchboard::guardrails {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxReason = 200;

json string_array(std::span<const std::string> items) {
  json out = json::array();
  for (const auto& s : items) out.push_back(s);
  return out;
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

std::string webhook_request(std::string_view stage, std::span<const std::string> segments,
                            std::string_view model, std::string_view tenant) {
  std::string joined;
  for (const auto& s : segments) {
    if (!joined.empty()) joined += "\n\n";
    joined += s;
  }
  json body = {{"stage", stage},
               {"text", std::move(joined)},
               {"texts", string_array(segments)},
               {"model", model},
               {"tenant", tenant}};
  return dump(body);
}

RemoteVerdict parse_webhook_response(std::string_view body, std::size_t segments) {
  RemoteVerdict v;
  auto j = json::parse(body, nullptr, false);
  if (!j.is_object()) return v;
  auto allow = j.find("allow");
  if (allow == j.end() || !allow->is_boolean()) return v;
  v.understood = true;
  v.flagged = !allow->get<bool>();
  if (auto r = j.find("reason"); r != j.end() && r->is_string()) {
    v.reason = r->get<std::string>().substr(0, kMaxReason);
  }
  auto texts = j.find("texts");
  auto text = j.find("text");
  if (texts != j.end() && texts->is_array()) {
    bool ok = texts->size() == segments;
    for (const auto& t : *texts) ok = ok && t.is_string();
    if (ok) {
      for (const auto& t : *texts) v.texts.push_back(t.get<std::string>());
    } else {
      v.unusable_replacement = true;
    }
  } else if (text != j.end() && text->is_string()) {
    if (segments == 1) {
      v.texts.push_back(text->get<std::string>());
    } else {
      v.unusable_replacement = true;
    }
  }
  return v;
}

std::string moderation_request(std::string_view model, std::span<const std::string> segments) {
  json body = {{"model", model}, {"input", string_array(segments)}};
  return dump(body);
}

RemoteVerdict parse_moderation_response(std::string_view body) {
  RemoteVerdict v;
  auto j = json::parse(body, nullptr, false);
  if (!j.is_object()) return v;
  auto results = j.find("results");
  if (results == j.end() || !results->is_array()) return v;
  v.understood = true;
  for (const auto& r : *results) {
    if (!r.is_object() || !r.value("flagged", false)) continue;
    v.flagged = true;
    auto categories = r.find("categories");
    if (categories == r.end() || !categories->is_object()) continue;
    for (const auto& [name, on] : categories->items()) {
      if (!on.is_boolean() || !on.get<bool>()) continue;
      if (v.reason.find(name) != std::string::npos) continue;
      if (v.reason.size() + name.size() + 1 > kMaxReason) break;
      if (!v.reason.empty()) v.reason += ',';
      v.reason += name;
    }
  }
  return v;
}

}  // namespace switchboard::guardrails
