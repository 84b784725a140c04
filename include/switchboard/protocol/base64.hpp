// OpenAI's encoding_format "base64" for embeddings: little-endian float32, base64-encoded.
#pragma once

#include <string>
#include <vector>

namespace switchboard::protocol {

std::string base64_float32(const std::vector<double>& values);

}  // namespace switchboard::protocol
