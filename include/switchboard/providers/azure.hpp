// Azure OpenAI: OpenAI's wire format at a deployment's URL, with `api-key` auth.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "switchboard/providers/adapter.hpp"

namespace switchboard::providers {

std::unique_ptr<ProviderAdapter> make_azure_adapter();

// The request target for `operation` ("chat/completions", "embeddings"):
// {base}/openai/deployments/{deployment}/{operation}?api-version={version}, or with
// api_version "v1" the version-less {base}/openai/v1/{operation} (the deployment goes in `model`).
std::string azure_target(const ProviderTarget& target, std::string_view operation);

}  // namespace switchboard::providers
