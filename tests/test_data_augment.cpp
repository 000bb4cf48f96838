#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "data_loader/augment.h"
#include "engine/rng.h"

using namespace plasmo;
using namespace plasmo::data;

namespace {
constexpr int kSize = 16;
std::vector<uint8_t> random_planar(uint64_t seed, int size = kSize) {
  Rng rng(seed);
  std::vector<uint8_t> image(3 * static_cast<size_t>(size) * size);
  for (uint8_t& v : image) v = static_cast<uint8_t>(rng.below(256));
  return image;
}
std::vector<float> warp(const std::vector<uint8_t>& src, const AffineDraw& draw, int size = kSize) {
  std::vector<float> out(src.size());
  warp_affine(src.data(), 3, size, size, draw, out.data());
  return out;
}
}  // namespace

TEST_CASE("augment: zero parameters give the identity, pixel for pixel") {
  const AugmentConfig none = AugmentConfig::none();
  for (uint64_t index = 0; index < 50; ++index) {
    const std::vector<uint8_t> src = random_planar(index);
    Rng rng = augment_rng(7, 3, index);
    const AffineDraw draw = draw_affine(none, kSize, kSize, rng);
    CHECK(draw.angle_degrees == 0.0f);
    CHECK(draw.scale == 1.0f);
    CHECK(draw.shift_x == 0.0f);
    CHECK_FALSE(draw.hflip);
    CHECK_FALSE(draw.vflip);
    const std::vector<float> out = warp(src, draw);
    for (size_t i = 0; i < src.size(); ++i) REQUIRE(out[i] == static_cast<float>(src[i]));
  }
  // Odd sizes and non-square too.
  const std::vector<uint8_t> odd = random_planar(99, 15);
  const std::vector<float> out = warp(odd, AffineDraw(), 15);
  for (size_t i = 0; i < odd.size(); ++i) REQUIRE(out[i] == static_cast<float>(odd[i]));
}

TEST_CASE("augment: flips mirror exactly, a whole-pixel shift moves pixels and fills black") {
  const std::vector<uint8_t> src = random_planar(1);
  AffineDraw flip;
  flip.hflip = true;
  std::vector<float> out = warp(src, flip);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < kSize; ++y)
      for (int x = 0; x < kSize; ++x)
        REQUIRE(out[(c * kSize + y) * kSize + x] == src[(c * kSize + y) * kSize + (kSize - 1 - x)]);
  flip.hflip = false;
  flip.vflip = true;
  out = warp(src, flip);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < kSize; ++y)
      for (int x = 0; x < kSize; ++x)
        REQUIRE(out[(c * kSize + y) * kSize + x] == src[(c * kSize + (kSize - 1 - y)) * kSize + x]);
  AffineDraw shift;
  shift.shift_x = 2.0f;   // content moves 2 px right
  shift.shift_y = -1.0f;  // and 1 px up
  out = warp(src, shift);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < kSize; ++y)
      for (int x = 0; x < kSize; ++x) {
        const int sx = x - 2, sy = y + 1;
        const float expected = sx >= 0 && sy < kSize ? src[(c * kSize + sy) * kSize + sx] : 0.0f;
        REQUIRE(out[(c * kSize + y) * kSize + x] == expected);
      }
}

TEST_CASE("augment: a 90 degree rotation about the centre maps pixel centres onto pixel centres") {
  const std::vector<uint8_t> src = random_planar(2);
  AffineDraw rotate;
  rotate.angle_degrees = 90.0f;
  const std::vector<float> out = warp(src, rotate);
  // Output point p = R q with R = [[0, -1], [1, 0]] (y down): source q = (p_y, -p_x), i.e. with
  // centred coordinates source pixel (x_s, y_s) = (y, S - 1 - x).
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < kSize; ++y)
      for (int x = 0; x < kSize; ++x)
        REQUIRE(out[(c * kSize + y) * kSize + x] ==
                doctest::Approx(src[(c * kSize + (kSize - 1 - x)) * kSize + y]).epsilon(1e-4));
}

TEST_CASE("augment: scale 2 samples between pixels (bilinear), values stay within the source range") {
  std::vector<uint8_t> src(3 * kSize * kSize);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < kSize; ++y)
      for (int x = 0; x < kSize; ++x) src[(c * kSize + y) * kSize + x] = static_cast<uint8_t>(x * 10);
  AffineDraw zoom;
  zoom.scale = 2.0f;
  const std::vector<float> out = warp(src, zoom);
  // Output x samples source x_s = (x + 0.5 - 8) / 2 + 7.5: a ramp of slope 5 per output pixel.
  for (int x = 1; x < kSize; ++x) CHECK(out[8 * kSize + x] - out[8 * kSize + x - 1] == doctest::Approx(5.0f));
  CHECK(out[8 * kSize + 0] == doctest::Approx(10.0f * 3.75f));
}

TEST_CASE("augment: draws stay in the Table 2 ranges and are deterministic per (seed, epoch, image)") {
  const AugmentConfig table2 = AugmentConfig::table2();
  int hflips = 0, vflips = 0;
  for (uint64_t index = 0; index < 2000; ++index) {
    Rng rng = augment_rng(11, 4, index);
    const AffineDraw draw = draw_affine(table2, 64, 64, rng);
    REQUIRE(std::fabs(draw.angle_degrees) <= 20.0f);
    REQUIRE(std::fabs(draw.scale - 1.0f) <= 0.05f + 1e-6f);
    REQUIRE(std::fabs(draw.shift_x) <= 0.05f * 64 + 1e-4f);
    REQUIRE(std::fabs(draw.shift_y) <= 0.05f * 64 + 1e-4f);
    REQUIRE(std::fabs(draw.shear) <= 0.05f);
    hflips += draw.hflip;
    vflips += draw.vflip;
  }
  CHECK(hflips > 900);
  CHECK(hflips < 1100);
  CHECK(vflips == 0);  // vertical flips only when asked
  const AugmentConfig with_vflip = AugmentConfig::table2(true);
  vflips = 0;
  for (uint64_t index = 0; index < 2000; ++index) {
    Rng rng = augment_rng(11, 4, index);
    const AffineDraw draw = draw_affine(with_vflip, 64, 64, rng);
    Rng again = augment_rng(11, 4, index);
    const AffineDraw plain = draw_affine(table2, 64, 64, again);
    REQUIRE(draw.angle_degrees == plain.angle_degrees);  // switching vflip on changes nothing else
    REQUIRE(draw.hflip == plain.hflip);
    vflips += draw.vflip;
  }
  CHECK(vflips > 900);
  CHECK(vflips < 1100);

  const std::vector<uint8_t> src = random_planar(3);
  Rng a = augment_rng(5, 2, 17), b = augment_rng(5, 2, 17), other_epoch = augment_rng(5, 3, 17),
      other_seed = augment_rng(6, 2, 17);
  const std::vector<float> first = warp(src, draw_affine(table2, kSize, kSize, a));
  CHECK(first == warp(src, draw_affine(table2, kSize, kSize, b)));
  CHECK(first != warp(src, draw_affine(table2, kSize, kSize, other_epoch)));
  CHECK(first != warp(src, draw_affine(table2, kSize, kSize, other_seed)));
}
