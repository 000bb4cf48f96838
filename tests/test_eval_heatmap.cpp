// Heatmap maths on plain tensors: Grad-CAM on a hand-made activation and gradient, the mean-activation
// fallback, bilinear upsampling (align_corners=False) against hand values, the colour map, the blend.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "engine/error.h"
#include "engine/tensor.h"
#include "eval/colormap.h"
#include "eval/heatmap.h"
#include "tests/test_helpers.h"

using namespace plasmo;
using namespace plasmo::eval;
using plasmo::testing::check_values;
using plasmo::testing::from_values;

TEST_CASE("Eval Grad-CAM: hand-made activation and gradient, two channels 2x2") {
  // A0 = [1 0; 0 2], A1 = [0 3; 1 0]; G0 = 0.5 everywhere (alpha0 = 0.5), G1 = [-1 -1; 1 -1] (alpha1 = -0.5).
  // cam = 0.5 A0 - 0.5 A1 = [0.5 -1.5; -0.5 1] -> ReLU [0.5 0; 0 1] -> / max = [0.5 0; 0 1].
  // Image 1 of the batch holds it; image 0 is different, to check the batch index is honoured.
  const Tensor features = from_values(Shape{2, 2, 2, 2}, {9, 9, 9, 9, 9, 9, 9, 9,  // image 0
                                                          1, 0, 0, 2, 0, 3, 1, 0});
  const Tensor gradient = from_values(Shape{2, 2, 2, 2}, {1, 1, 1, 1, 1, 1, 1, 1,  // image 0
                                                          0.5f, 0.5f, 0.5f, 0.5f, -1, -1, 1, -1});
  const HeatMap heat = grad_cam(features, gradient, 1);
  CHECK(heat.method == CamMethod::GradCam);
  CHECK(heat.height == 2);
  CHECK(heat.width == 2);
  check_values(heat.values, {0.5f, 0.0f, 0.0f, 1.0f});
  // Image 0: alpha = 1 for both channels, cam = 18 everywhere -> 1 everywhere.
  check_values(grad_cam(features, gradient, 0).values, {1, 1, 1, 1});
}

TEST_CASE("Eval Grad-CAM: no positive evidence falls back to the mean activation map") {
  // Same A; G = -1 everywhere: cam = -(A0 + A1) <= 0 everywhere -> fallback.
  // mean = (A0 + A1) / 2 = [0.5 1.5; 0.5 1] -> (mean - 0.5) / (1.5 - 0.5) = [0 1; 0 0.5].
  const Tensor features = from_values(Shape{1, 2, 2, 2}, {1, 0, 0, 2, 0, 3, 1, 0});
  Tensor gradient(Shape{1, 2, 2, 2});
  gradient.fill(-1.0f);
  const HeatMap heat = grad_cam(features, gradient, 0);
  CHECK(heat.method == CamMethod::MeanActivation);
  check_values(heat.values, {0.0f, 1.0f, 0.0f, 0.5f});
  const HeatMap direct = mean_activation_map(features, 0);
  check_values(direct.values, heat.values);
  // A zero gradient gives no evidence either; a flat activation map gives all zeros.
  Tensor zero(Shape{1, 2, 2, 2});
  CHECK(grad_cam(features, zero, 0).method == CamMethod::MeanActivation);
  Tensor flat(Shape{1, 3, 2, 2});
  flat.fill(4.0f);
  check_values(mean_activation_map(flat, 0).values, {0, 0, 0, 0});
  // NaN in the gradient: fallback rather than a NaN heat map.
  Tensor broken = gradient.clone();
  broken[0] = NAN;
  CHECK(grad_cam(features, broken, 0).method == CamMethod::MeanActivation);
}

TEST_CASE("Eval Grad-CAM: shape errors name both shapes") {
  const Tensor features(Shape{1, 2, 3, 3});
  const Tensor gradient(Shape{1, 2, 3, 2});
  CHECK_THROWS_AS(grad_cam(features, gradient, 0), ShapeError);
  try {
    grad_cam(features, gradient, 0);
  } catch (const ShapeError& e) {
    CHECK(std::string(e.what()).find("[1, 2, 3, 2]") != std::string::npos);
    CHECK(std::string(e.what()).find("[1, 2, 3, 3]") != std::string::npos);
  }
  CHECK_THROWS_AS(grad_cam(features, features, 1), ShapeError);  // image outside the batch
  CHECK_THROWS_AS(mean_activation_map(Tensor(Shape{2, 3}), 0), ShapeError);
}

TEST_CASE("Eval heatmap upsampling: bilinear 2x2 -> 4x4, align_corners=False, hand values") {
  // Source positions per output index: (o + 0.5) / 2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (-> 1).
  // Row 0 of [0 1; 2 3]: 0, 0.25, 0.75, 1; each later row adds 2 * (row weight): 0, 0.5, 1.5, 2.
  const std::vector<float> in = {0, 1, 2, 3};
  std::vector<float> out(16);
  upsample_bilinear(in.data(), 2, 2, out.data(), 4, 4);
  check_values(out, {0, 0.25f, 0.75f, 1, 0.5f, 0.75f, 1.25f, 1.5f, 1.5f, 1.75f, 2.25f, 2.5f, 2, 2.25f, 2.75f, 3});
  // Same size: the identity; 1x1: a constant.
  std::vector<float> same(4);
  upsample_bilinear(in.data(), 2, 2, same.data(), 2, 2);
  check_values(same, in);
  const float one = 0.25f;
  std::vector<float> constant(6);
  upsample_bilinear(&one, 1, 1, constant.data(), 2, 3);
  check_values(constant, std::vector<float>(6, 0.25f));
  CHECK_THROWS_AS(upsample_bilinear(in.data(), 0, 2, out.data(), 4, 4), ShapeError);
}

TEST_CASE("Eval colour map: dark to light, lightness rising monotonically") {
  const Rgb low = inferno(0.0f), high = inferno(1.0f);
  CHECK(low.r == 0x00);
  CHECK(low.g == 0x00);
  CHECK(low.b == 0x04);
  CHECK(high.r == 0xfc);
  CHECK(high.g == 0xff);
  CHECK(high.b == 0xa4);
  // Relative luminance (Rec. 709 weights on the sRGB values) never falls along the map.
  double previous = -1;
  for (int i = 0; i <= 255; ++i) {
    const Rgb c = inferno(i / 255.0f);
    const double luminance = 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
    CAPTURE(i);
    CHECK(luminance >= previous - 0.5);  // allow the rounding of one 8-bit step
    previous = luminance;
  }
  const Rgb nan = inferno(NAN), below = inferno(-3.0f), above = inferno(7.0f);
  CHECK(nan.b == low.b);
  CHECK(below.b == low.b);
  CHECK(above.b == high.b);
}

TEST_CASE("Eval heatmap blend: alpha mix of pixel and colour, hand values") {
  // Pixel (200, 100, 50); heat 0 -> (0, 0, 4), heat 1 -> (252, 255, 164); alpha 0.5.
  const uint8_t rgb[6] = {200, 100, 50, 200, 100, 50};
  const float heat[2] = {0.0f, 1.0f};
  uint8_t out[6];
  blend_heat(rgb, 1, 2, heat, 0.5f, out);
  CHECK(out[0] == 100);
  CHECK(out[1] == 50);
  CHECK(out[2] == 27);
  CHECK(out[3] == 226);
  CHECK(out[4] == 178);  // 177.5 rounds away from zero
  CHECK(out[5] == 107);
  // alpha 0 leaves the image as it was.
  blend_heat(rgb, 1, 2, heat, 0.0f, out);
  for (int i = 0; i < 6; ++i) CHECK(out[i] == rgb[i]);
}

TEST_CASE("Eval render_heatmap: heat map upsampled to the image and blended") {
  HeatMap heat;
  heat.height = 1, heat.width = 2, heat.values = {0.0f, 1.0f};
  std::vector<uint8_t> image(3 * 4 * 3, 0);  // 3 x 4 black image
  const std::vector<uint8_t> out = render_heatmap(image.data(), 3, 4, heat, 1.0f);
  REQUIRE(out.size() == image.size());
  // alpha 1: pure colour; left column heat 0, right column heat 1 (clamped edges).
  CHECK(out[0 * 3 + 0] == 0x00);
  CHECK(out[0 * 3 + 2] == 0x04);
  CHECK(out[3 * 3 + 0] == 0xfc);
  CHECK(out[3 * 3 + 1] == 0xff);
  HeatMap broken = heat;
  broken.values.pop_back();
  CHECK_THROWS_AS(render_heatmap(image.data(), 3, 4, broken), ShapeError);
}
