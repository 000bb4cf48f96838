// Training-time augmentation, the seed report's Table 2: one random affine warp per image per epoch,
//   rotation      angle ~ U(-20, 20) degrees
//   scale         s ~ U(1 - 0.05, 1 + 0.05)
//   shift         t_x ~ U(-0.05, 0.05) * width, t_y ~ U(-0.05, 0.05) * height
//   shear         h ~ U(-0.05, 0.05)
//   flips         horizontal with p = 0.5; vertical with p = 0.5 only when asked (cells have no up/down)
// about the image centre, with bilinear sampling and black fill outside the source.
//
// Geometry (coordinates relative to the image centre, pixel (x, y) at (x + 0.5 - W/2, y + 0.5 - H/2)):
//   output point p = A q + t, A = R(angle) * [[1, h], [0, 1]] * s * F, F = diag(+-1, +-1) for the flips,
//   so each output pixel samples the source at q = A^-1 (p - t).
// With all ranges and probabilities 0, A = I and t = 0 exactly, every sample lands on a source pixel
// centre, and the warp is the identity bit for bit.
//
// Determinism: the draws of image i in epoch e depend only on (seed, e, i) (Rng::derive), never on
// the batch, the shuffle or the thread, so a resumed run sees the same images.
#pragma once
#include <cstdint>

#include "engine/rng.h"

namespace plasmo::data {

struct AugmentConfig {
  float rotation_degrees = 20.0f;  // angle ~ U(-r, r)
  float scale = 0.05f;             // s ~ U(1 - scale, 1 + scale)
  float shift = 0.05f;             // fraction of width / height
  float shear = 0.05f;             // h ~ U(-shear, shear)
  float hflip_probability = 0.5f;
  float vflip_probability = 0.0f;

  static AugmentConfig table2(bool vflip = false);  // the defaults above, vflip p = 0.5 when asked
  static AugmentConfig none();                      // all zero: the identity
};

// One image's draw.
struct AffineDraw {
  float angle_degrees = 0.0f, scale = 1.0f, shift_x = 0.0f, shift_y = 0.0f, shear = 0.0f;  // shifts in pixels
  bool hflip = false, vflip = false;
};

// Draws in a fixed order (angle, scale, shift x, shift y, shear, hflip, vflip), always seven values,
// so switching one part off does not change the others.
AffineDraw draw_affine(const AugmentConfig& config, int height, int width, Rng& rng);
// The generator of image `image_index` in `epoch`: Rng::derive over a stream keyed by the seed.
Rng augment_rng(uint64_t seed, uint64_t epoch, uint64_t image_index);

// Warps planar uint8 [channels][height][width] into planar float [channels][height][width] (values in
// [0, 255], not yet normalized).
void warp_affine(const uint8_t* src, int channels, int height, int width, const AffineDraw& draw, float* dst);

}  // namespace plasmo::data
