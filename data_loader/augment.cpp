#include "data_loader/augment.h"

#include <cmath>

namespace plasmo::data {

namespace {
constexpr uint64_t kAugmentStream = 0x6175676d656e74ULL;  // "augment"
}

AugmentConfig AugmentConfig::table2(bool vflip) {
  AugmentConfig config;
  config.vflip_probability = vflip ? 0.5f : 0.0f;
  return config;
}

AugmentConfig AugmentConfig::none() {
  AugmentConfig config;
  config.rotation_degrees = config.scale = config.shift = config.shear = 0.0f;
  config.hflip_probability = config.vflip_probability = 0.0f;
  return config;
}

Rng augment_rng(uint64_t seed, uint64_t epoch, uint64_t image_index) {
  const uint64_t stream_seed = Rng::derive(seed, kAugmentStream).next_u64();
  return Rng::derive(stream_seed, epoch, image_index);
}

AffineDraw draw_affine(const AugmentConfig& config, int height, int width, Rng& rng) {
  AffineDraw draw;
  // uniform(-r, r) = -r + 2r u is exactly 0 for r = 0.
  draw.angle_degrees = rng.uniform(-config.rotation_degrees, config.rotation_degrees);
  draw.scale = 1.0f + rng.uniform(-config.scale, config.scale);
  draw.shift_x = rng.uniform(-config.shift, config.shift) * static_cast<float>(width);
  draw.shift_y = rng.uniform(-config.shift, config.shift) * static_cast<float>(height);
  draw.shear = rng.uniform(-config.shear, config.shear);
  draw.hflip = rng.uniform() < config.hflip_probability;
  draw.vflip = rng.uniform() < config.vflip_probability;
  return draw;
}

void warp_affine(const uint8_t* src, int channels, int height, int width, const AffineDraw& draw, float* dst) {
  // A = R * Shear * s * F (see augment.h); inverted in double, used in float.
  const double radians = draw.angle_degrees * (3.14159265358979323846 / 180.0);
  const double cos_a = std::cos(radians), sin_a = std::sin(radians);
  const double flip_x = draw.hflip ? -1.0 : 1.0, flip_y = draw.vflip ? -1.0 : 1.0;
  // R * Shear = [[c, c h - s], [s, s h + c]]; times s * F scales column 0 by s fx, column 1 by s fy.
  const double a00 = cos_a * draw.scale * flip_x, a01 = (cos_a * draw.shear - sin_a) * draw.scale * flip_y;
  const double a10 = sin_a * draw.scale * flip_x, a11 = (sin_a * draw.shear + cos_a) * draw.scale * flip_y;
  const double det = a00 * a11 - a01 * a10;
  const float inv00 = static_cast<float>(a11 / det), inv01 = static_cast<float>(-a01 / det);
  const float inv10 = static_cast<float>(-a10 / det), inv11 = static_cast<float>(a00 / det);
  const float centre_x = 0.5f * width, centre_y = 0.5f * height;
  const size_t plane = static_cast<size_t>(height) * width;

  for (int y = 0; y < height; ++y) {
    const float py = (static_cast<float>(y) + 0.5f - centre_y) - draw.shift_y;
    for (int x = 0; x < width; ++x) {
      const float px = (static_cast<float>(x) + 0.5f - centre_x) - draw.shift_x;
      // Source position in pixel-index coordinates (pixel i's centre is at i).
      const float source_x = (inv00 * px + inv01 * py) + centre_x - 0.5f;
      const float source_y = (inv10 * px + inv11 * py) + centre_y - 0.5f;
      const float floor_x = std::floor(source_x), floor_y = std::floor(source_y);
      const int x0 = static_cast<int>(floor_x), y0 = static_cast<int>(floor_y);
      const float fx = source_x - floor_x, fy = source_y - floor_y;
      const size_t out = static_cast<size_t>(y) * width + x;
      if (x0 < -1 || y0 < -1 || x0 >= width || y0 >= height) {  // all four neighbours outside: black
        for (int channel = 0; channel < channels; ++channel) dst[channel * plane + out] = 0.0f;
        continue;
      }
      // Neighbours outside the source count as black (0).
      const bool in_x0 = x0 >= 0, in_x1 = x0 + 1 < width, in_y0 = y0 >= 0, in_y1 = y0 + 1 < height;
      for (int channel = 0; channel < channels; ++channel) {
        const uint8_t* image = src + channel * plane;
        const float p00 = in_y0 && in_x0 ? image[static_cast<size_t>(y0) * width + x0] : 0.0f;
        const float p01 = in_y0 && in_x1 ? image[static_cast<size_t>(y0) * width + x0 + 1] : 0.0f;
        const float p10 = in_y1 && in_x0 ? image[static_cast<size_t>(y0 + 1) * width + x0] : 0.0f;
        const float p11 = in_y1 && in_x1 ? image[static_cast<size_t>(y0 + 1) * width + x0 + 1] : 0.0f;
        // With fx = fy = 0 this is exactly p00.
        dst[channel * plane + out] = (1.0f - fy) * ((1.0f - fx) * p00 + fx * p01) + fy * ((1.0f - fx) * p10 + fx * p11);
      }
    }
  }
}

}  // namespace plasmo::data
