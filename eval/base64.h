// Base64 (RFC 4648, standard alphabet, '=' padding, no line breaks) for data: URIs in the HTML report.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace plasmo::eval {

std::string base64_encode(const uint8_t* bytes, size_t size);
inline std::string base64_encode(const std::vector<uint8_t>& bytes) {
  return base64_encode(bytes.data(), bytes.size());
}

}  // namespace plasmo::eval
