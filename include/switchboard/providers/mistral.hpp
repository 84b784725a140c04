// Mistral (api.mistral.ai): OpenAI-shaped, translated lightly (tool call ids, field names, finish).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "switchboard/providers/adapter.hpp"

namespace switchboard::providers {

std::unique_ptr<ProviderAdapter> make_mistral_adapter();

// The id Mistral sees for an OpenAI tool call id: unchanged when it already is exactly nine
// [a-zA-Z0-9] (Mistral's own ids round-trip), else nine base62 digits of a hash of it, so the
// assistant call and the tool message that answers it keep matching.
std::string mistral_tool_call_id(std::string_view id);

// Mistral finish_reason -> OpenAI's (model_length -> length); "error" is not a finish reason a
// client can act on, so the translators surface it as an error instead.
std::string_view mistral_finish_reason(std::string_view reason);

// The ids a request rewrote, to give a client back its own ids if Mistral ever echoes one.
// (Mistral answers with ids it made up, which pass through; the adapter's translate calls do
// not see the request, so a caller that holds it applies this.)
class MistralToolCallIds {
 public:
  static MistralToolCallIds from_request(const nlohmann::json& request);
  // The client's id for one Mistral returned; `mistral_id` itself when nothing was rewritten.
  std::string_view original(std::string_view mistral_id) const;
  // Rewrites the tool call ids of a chat.completion or chat.completion.chunk in place.
  void restore(nlohmann::json& completion) const;

 private:
  std::map<std::string, std::string, std::less<>> to_client_;
};

}  // namespace switchboard::providers
