// Pixels to model inputs: x = (v / 255 - mean[c]) / std[c] for a uint8 value v of channel c.
// The per-channel mean and std are computed on the training split (dataset.h,
// compute_normalization) and stored in the model file's `mean` / `std` metadata; absent means 0 and 1.
// Every path that feeds a model (batches, augmented batches, single images for eval and predict) uses
// to_input() below, so the same pixel gives the same float bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace plasmo::data {

struct Normalization {
  float mean[3] = {0.0f, 0.0f, 0.0f};
  float std[3] = {1.0f, 1.0f, 1.0f};

  // "m0,m1,m2" with enough digits to read back the same float (the model-file metadata format).
  static std::string format(const float values[3]);
  // Parses "a,b,c" (the metadata format); throws FormatError naming `what` on anything else, or
  // when a std is not positive.
  static Normalization parse(const std::string& mean, const std::string& std, const std::string& what);
};

// x = v * scale[c] + bias[c], with scale = 1 / (255 std), bias = -mean / std: the one formula.
struct InputTransform {
  float scale[3];
  float bias[3];
  explicit InputTransform(const Normalization& norm) {
    for (int channel = 0; channel < 3; ++channel) {
      scale[channel] = 1.0f / (255.0f * norm.std[channel]);
      bias[channel] = -norm.mean[channel] / norm.std[channel];
    }
  }
  float to_input(int channel, float value) const { return value * scale[channel] + bias[channel]; }
};

// planar uint8 [3][pixels] -> planar float [3][pixels], normalized.
void normalize_planar(const uint8_t* planar, size_t pixels_per_channel, const InputTransform& transform, float* out);

}  // namespace plasmo::data
