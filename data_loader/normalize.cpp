#include "data_loader/normalize.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "engine/error.h"
#include "engine/infer/foreground_norm.h"

namespace plasmo::data {

std::string Normalization::format(const float values[3]) {
  char text[96];
  std::snprintf(text, sizeof(text), "%.9g,%.9g,%.9g", values[0], values[1], values[2]);
  return text;
}

namespace {
void parse_triplet(const std::string& text, float out[3], const std::string& what, const char* key) {
  const char* cursor = text.c_str();
  for (int channel = 0; channel < 3; ++channel) {
    char* end = nullptr;
    const double value = std::strtod(cursor, &end);
    const char expected = channel < 2 ? ',' : '\0';
    if (end == cursor || *end != expected || !std::isfinite(value))
      throw FormatError(what + ": metadata '" + key + "' should be three numbers 'a,b,c', found '" + text + "'");
    out[channel] = static_cast<float>(value);
    cursor = end + (channel < 2 ? 1 : 0);
  }
}
}  // namespace

Normalization Normalization::parse(const std::string& mean, const std::string& std, const std::string& what) {
  Normalization norm;
  if (!mean.empty()) parse_triplet(mean, norm.mean, what, "mean");
  if (!std.empty()) parse_triplet(std, norm.std, what, "std");
  for (int channel = 0; channel < 3; ++channel)
    if (!(norm.std[channel] > 0.0f)) throw FormatError(what + ": metadata 'std' must be positive, found '" + std + "'");
  return norm;
}

void InputTransform::apply(float* planar, size_t pixels_per_channel) const {
  if (foreground) {
    plasmo_infer::foreground_normalize(planar, pixels_per_channel);
    return;
  }
  for (int channel = 0; channel < 3; ++channel) {
    float* values = planar + channel * pixels_per_channel;
    for (size_t p = 0; p < pixels_per_channel; ++p) values[p] = to_input(channel, values[p]);
  }
}

void normalize_planar(const uint8_t* planar, size_t pixels_per_channel, const InputTransform& transform, float* out) {
  for (size_t i = 0; i < 3 * pixels_per_channel; ++i) out[i] = static_cast<float>(planar[i]);
  transform.apply(out, pixels_per_channel);
}

}  // namespace plasmo::data
