// Per-image foreground normalization (model file metadata `normalize: foreground`), the one definition
// shared by the data loader (data_loader/normalize.cpp) and the inference core (infer_preprocess.cpp), so
// both give the same bits. Header only; uses <stddef.h> and <math.h> (sqrt) and nothing else.
//
// Input: one image, planar [3][pixels] floats holding pixel values in [0, 255] (uint8 values, or the
// augmented floats of a warp), after resizing to S x S. Overwritten in place with:
//   mask      = r + g + b > 30            (the cell; the black surround is background)
//   m_c       = mean of v_c over the mask
//   s_c       = max(1, sqrt(sum over the mask of (v_c - m_c)^2 / count))   (population std, 0..255 units)
//   output    = (v_c - m_c) / s_c on mask pixels, 0 on background pixels; all 0 when the mask is empty.
// The exact order of operations (every value is a double until the final rounding to float):
//   pass 1: r + g + b summed left to right in double for the mask; count; sum_c += v_c in pixel order;
//           m_c = sum_c / count;
//   pass 2: d = v_c - m_c; dev_c += d * d in pixel order; s_c = sqrt(dev_c / count), raised to 1 if below;
//   pass 3: out = (float)((v_c - m_c) / s_c).
// Callers compile with -ffp-contract=off (no fused multiply-add), so the result is the same on every
// IEEE-754 machine.
#ifndef PLASMO_FOREGROUND_NORM_H
#define PLASMO_FOREGROUND_NORM_H

#include <math.h>
#include <stddef.h>

namespace plasmo_infer {

// r + g + b > 30 (pixel values in 0..255).
inline bool foreground_pixel(float red, float green, float blue) {
  return static_cast<double>(red) + static_cast<double>(green) + static_cast<double>(blue) > 30.0;
}

// The mask's per-channel mean and std (std clamped to >= 1); returns the mask's pixel count (0: empty,
// mean and std untouched).
inline size_t foreground_stats(const float* planar, size_t pixels, double mean[3], double std_dev[3]) {
  const float* red = planar;
  const float* green = planar + pixels;
  const float* blue = planar + 2 * pixels;
  double sum[3] = {0.0, 0.0, 0.0};
  size_t count = 0;
  for (size_t p = 0; p < pixels; ++p) {
    if (!foreground_pixel(red[p], green[p], blue[p])) continue;
    ++count;
    sum[0] += static_cast<double>(red[p]);
    sum[1] += static_cast<double>(green[p]);
    sum[2] += static_cast<double>(blue[p]);
  }
  if (count == 0) return 0;
  const double n = static_cast<double>(count);
  for (int channel = 0; channel < 3; ++channel) mean[channel] = sum[channel] / n;
  double deviation[3] = {0.0, 0.0, 0.0};
  for (size_t p = 0; p < pixels; ++p) {
    if (!foreground_pixel(red[p], green[p], blue[p])) continue;
    for (int channel = 0; channel < 3; ++channel) {
      const double d = static_cast<double>(planar[channel * pixels + p]) - mean[channel];
      deviation[channel] += d * d;
    }
  }
  for (int channel = 0; channel < 3; ++channel) {
    const double s = sqrt(deviation[channel] / n);
    std_dev[channel] = s < 1.0 ? 1.0 : s;
  }
  return count;
}

// In place, as described above.
inline void foreground_normalize(float* planar, size_t pixels) {
  double mean[3] = {0.0, 0.0, 0.0}, std_dev[3] = {1.0, 1.0, 1.0};
  const size_t count = foreground_stats(planar, pixels, mean, std_dev);
  float* red = planar;
  float* green = planar + pixels;
  float* blue = planar + 2 * pixels;
  for (size_t p = 0; p < pixels; ++p) {
    // The mask is read before any channel of pixel p is overwritten.
    const bool inside = count != 0 && foreground_pixel(red[p], green[p], blue[p]);
    for (int channel = 0; channel < 3; ++channel) {
      float& value = planar[channel * pixels + p];
      value = inside ? static_cast<float>((static_cast<double>(value) - mean[channel]) / std_dev[channel]) : 0.0f;
    }
  }
}

}  // namespace plasmo_infer

#endif  // PLASMO_FOREGROUND_NORM_H
