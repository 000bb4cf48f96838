// Pixels to model inputs, one of two ways (the model file's `normalize` metadata):
//   dataset (default): x = (v / 255 - mean[c]) / std[c] for a uint8 value v of channel c. The per-channel
//     mean and std are computed on the training split (dataset.h, compute_normalization) and stored in
//     the model file's `mean` / `std` metadata; absent means 0 and 1.
//   foreground: per image, x = (v - m[c]) / max(s[c], 1) over the cell's pixels (r + g + b > 30), with the
//     image's own mean m and std s in 0..255 units, 0 on the background (engine/infer/foreground_norm.h,
//     the same code the inference core runs).
// Every path that feeds a model (batches, augmented batches, single images for eval and predict) uses
// InputTransform::apply below, so the same pixel gives the same float bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace plasmo::data {

struct Normalization {
  float mean[3] = {0.0f, 0.0f, 0.0f};
  float std[3] = {1.0f, 1.0f, 1.0f};
  bool foreground = false;  // per-image foreground normalization; mean and std are then unused

  // "m0,m1,m2" with enough digits to read back the same float (the model-file metadata format).
  static std::string format(const float values[3]);
  // Parses "a,b,c" (the metadata format); throws FormatError naming `what` on anything else, or
  // when a std is not positive.
  static Normalization parse(const std::string& mean, const std::string& std, const std::string& what);
};

// dataset: x = v * scale[c] + bias[c], with scale = 1 / (255 std), bias = -mean / std: the one formula.
// foreground: plasmo_infer::foreground_normalize.
struct InputTransform {
  float scale[3];
  float bias[3];
  bool foreground;
  explicit InputTransform(const Normalization& norm) : foreground(norm.foreground) {
    for (int channel = 0; channel < 3; ++channel) {
      scale[channel] = 1.0f / (255.0f * norm.std[channel]);
      bias[channel] = -norm.mean[channel] / norm.std[channel];
    }
  }
  // Dataset normalization of one value (not valid in foreground mode, which needs the whole image).
  float to_input(int channel, float value) const { return value * scale[channel] + bias[channel]; }
  // One image in place: planar [3][pixels] pixel values in [0, 255] (uint8 values or augmented floats)
  // -> model inputs.
  void apply(float* planar, size_t pixels_per_channel) const;
};

// planar uint8 [3][pixels] -> planar float [3][pixels], normalized (InputTransform::apply).
void normalize_planar(const uint8_t* planar, size_t pixels_per_channel, const InputTransform& transform, float* out);

}  // namespace plasmo::data
