#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "data_loader/resize.h"
#include "tests/test_data_util.h"

using namespace plasmo::data;

namespace {
std::vector<uint8_t> resize(const Image& image, int out_height, int out_width) {
  Resizer resizer;
  std::vector<uint8_t> planar(3 * static_cast<size_t>(out_height) * out_width);
  resizer.resize_to_planar(image.rgb.data(), image.height, image.width, out_height, out_width, planar.data());
  return planar;
}
Image constant_image(int height, int width, uint8_t r, uint8_t g, uint8_t b) {
  Image image;
  image.height = height;
  image.width = width;
  for (int p = 0; p < height * width; ++p) image.rgb.insert(image.rgb.end(), {r, g, b});
  return image;
}
Image checkerboard(int height, int width) {  // 1-px checkerboard, black and white
  Image image;
  image.height = height;
  image.width = width;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const uint8_t v = (x + y) % 2 ? 255 : 0;
      image.rgb.insert(image.rgb.end(), {v, v, v});
    }
  return image;
}
}  // namespace

TEST_CASE("resize: a constant image stays constant, down, up and mixed") {
  const int sizes[][2] = {{130, 130}, {80, 77}, {31, 40}, {32, 32}, {33, 31}, {1, 1}, {200, 17}, {64, 64}};
  for (const auto& size : sizes) {
    const Image image = constant_image(size[0], size[1], 213, 0, 255);
    for (int out : {1, 7, 32, 64}) {
      const std::vector<uint8_t> planar = resize(image, out, out);
      const size_t plane = static_cast<size_t>(out) * out;
      for (size_t p = 0; p < plane; ++p) {
        REQUIRE(planar[p] == 213);
        REQUIRE(planar[plane + p] == 0);
        REQUIRE(planar[2 * plane + p] == 255);
      }
    }
  }
}

TEST_CASE("resize: same size is the identity, bit for bit (deinterleaved)") {
  const Image image = plasmo::testing::test_image(32, 32, 5);
  const std::vector<uint8_t> planar = resize(image, 32, 32);
  for (int p = 0; p < 32 * 32; ++p)
    for (int c = 0; c < 3; ++c) REQUIRE(planar[c * 1024 + p] == image.rgb[p * 3 + c]);
}

TEST_CASE("resize: integer downscale is the exact block mean") {
  // 4 x 4 -> 2 x 2: each output is the mean of its 2 x 2 block (rounded).
  Image image;
  image.height = image.width = 4;
  const uint8_t values[16] = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 251};
  for (uint8_t v : values) image.rgb.insert(image.rgb.end(), {v, v, v});
  const std::vector<uint8_t> planar = resize(image, 2, 2);
  CHECK(planar[0] == 25);   // (0 + 10 + 40 + 50) / 4
  CHECK(planar[1] == 45);   // (20 + 30 + 60 + 70) / 4
  CHECK(planar[2] == 105);  // (80 + 90 + 120 + 130) / 4
  CHECK(planar[3] == 150);  // (100 + 110 + 140 + 251) / 4 = 150.25
}

TEST_CASE("resize: a fine checkerboard averages to grey when downscaled (no aliasing)") {
  // Point sampling or plain bilinear would pick single source pixels: 0 or 255, a moire pattern.
  // Area averaging must give ~127.5 everywhere, at integer and at awkward ratios.
  const int cases[][3] = {{128, 128, 32}, {130, 130, 32}, {80, 77, 32}, {131, 97, 64}, {100, 100, 33}};
  for (const auto& c : cases) {
    const std::vector<uint8_t> planar = resize(checkerboard(c[0], c[1]), c[2], c[2]);
    int low = 255, high = 0;
    for (uint8_t v : planar) {
      low = std::min<int>(low, v);
      high = std::max<int>(high, v);
    }
    // A window of (in/out)^2 source pixels holds half white, give or take one pixel's worth, so the
    // mean is 127.5 +- 255 / (2 * window) (+-1 for rounding); aliasing would give 0 and 255.
    const double window = (static_cast<double>(c[0]) / c[2]) * (static_cast<double>(c[1]) / c[2]);
    const double tolerance = 255.0 / (2.0 * window) + 1.0;
    INFO(c[0] << "x" << c[1] << " -> " << c[2] << ": range [" << low << ", " << high << "], tolerance " << tolerance);
    CHECK(low >= 127.5 - tolerance);
    CHECK(high <= 127.5 + tolerance);
  }
  const std::vector<uint8_t> exact = resize(checkerboard(128, 128), 32, 32);
  for (uint8_t v : exact) REQUIRE((v == 127 || v == 128));
}

TEST_CASE("resize: upscale is bilinear between pixel centres, clamped at the borders") {
  // 1 x 2 (values 0, 200) -> 1 x 4: source x = (o + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25.
  Image image;
  image.height = 1;
  image.width = 2;
  image.rgb = {0, 0, 0, 200, 200, 200};
  const std::vector<uint8_t> planar = resize(image, 1, 4);
  CHECK(planar[0] == 0);    // clamped
  CHECK(planar[1] == 50);   // 0.75 * 0 + 0.25 * 200
  CHECK(planar[2] == 150);  // 0.25 * 0 + 0.75 * 200
  CHECK(planar[3] == 200);  // clamped
}

TEST_CASE("resize: one Resizer reused across sizes gives the same result as a fresh one") {
  Resizer shared;
  const int sizes[][2] = {{80, 77}, {31, 40}, {130, 90}, {80, 77}};
  for (const auto& size : sizes) {
    const Image image = plasmo::testing::test_image(size[1], size[0], size[0]);
    std::vector<uint8_t> reused(3 * 32 * 32);
    shared.resize_to_planar(image.rgb.data(), image.height, image.width, 32, 32, reused.data());
    CHECK(reused == resize(image, 32, 32));
  }
}
