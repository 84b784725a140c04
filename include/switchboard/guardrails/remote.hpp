// The wire formats of the remote guardrails: the webhook protocol (SPEC section 2) and OpenAI's
// /v1/moderations. Pure: bodies in, verdicts out; the gateway makes the calls.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard::guardrails {

struct RemoteVerdict {
  bool understood = false;  // the answer had the expected shape
  bool flagged = false;  // the guardrail's action applies (webhook allow:false, moderation flagged)
  bool unusable_replacement = false;  // a replacement that cannot be mapped onto the segments
  std::string reason;                 // the classifier's reason or the flagged categories
  std::vector<std::string> texts;     // replacement text per segment; empty = none
};

// {"stage","text","model","tenant","texts"}: `text` is the segments joined by blank lines, `texts`
// the segments themselves so a redacting classifier can answer per segment.
std::string webhook_request(std::string_view stage, std::span<const std::string> segments,
                            std::string_view model, std::string_view tenant);
// {"allow":bool,"reason":str,"text":str?,"texts":[str]?}. `text` replaces a single segment.
RemoteVerdict parse_webhook_response(std::string_view body, std::size_t segments);

// {"model","input":[...]} for POST /v1/moderations.
std::string moderation_request(std::string_view model, std::span<const std::string> segments);
// {"results":[{"flagged":bool,"categories":{name:bool}}]}: flagged when any result is.
RemoteVerdict parse_moderation_response(std::string_view body);

}  // namespace switchboard::guardrails
