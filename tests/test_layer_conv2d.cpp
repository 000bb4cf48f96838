// Conv2d: forward values (hand-computed and the direct formula), finite-difference gradients for x,
// weight and bias over many geometries, threading determinism, buffer reuse, shape errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/layers/conv2d.h"
#include "engine/threads.h"
#include "tests/gradcheck.h"
#include "tests/tensor_bits.h"
#include "tests/test_helpers.h"

using namespace plasmo;
using plasmo::testing::check_layer_gradients;
using plasmo::testing::conv_step_on_threads;
using plasmo::testing::ConvStep;
using plasmo::testing::fill_uniform;
using plasmo::testing::same_bits;

namespace {

struct ConvCase {
  int batch, in_channels, out_channels, H, W, kernel, stride, padding, groups;
  bool bias;
  std::string str() const {
    return "N" + std::to_string(batch) + " " + std::to_string(in_channels) + "->" + std::to_string(out_channels) + " " +
           std::to_string(H) + "x" + std::to_string(W) + " k" + std::to_string(kernel) + " s" + std::to_string(stride) +
           " p" + std::to_string(padding) + " g" + std::to_string(groups) + (bias ? " bias" : " no bias");
  }
};

// y by the formula of conv2d.h, in double, with nothing shared with the kernels.
std::vector<double> direct_conv(const Conv2d& conv, const Tensor& x) {
  const Shape out = conv.out_shape(x.shape());
  const int group_in = conv.in_channels() / conv.groups(), group_out = conv.out_channels() / conv.groups();
  std::vector<double> y(out.numel());
  size_t index = 0;
  for (int n = 0; n < out.n(); ++n)
    for (int oc = 0; oc < out.c(); ++oc)
      for (int oh = 0; oh < out.h(); ++oh)
        for (int ow = 0; ow < out.w(); ++ow) {
          double sum = conv.has_bias() ? conv.bias[oc] : 0.0;
          const int group = oc / group_out;
          for (int ci = 0; ci < group_in; ++ci)
            for (int kh = 0; kh < conv.kernel(); ++kh)
              for (int kw = 0; kw < conv.kernel(); ++kw) {
                const int ih = oh * conv.stride() - conv.padding() + kh;
                const int iw = ow * conv.stride() - conv.padding() + kw;
                if (ih < 0 || ih >= x.dim(2) || iw < 0 || iw >= x.dim(3)) continue;
                sum += static_cast<double>(conv.weight.at(oc, ci, kh, kw)) * x.at(n, group * group_in + ci, ih, iw);
              }
          y[index++] = sum;
        }
  return y;
}

void check_conv(const ConvCase& c, uint64_t seed = 7) {
  INFO("Conv2d " << c.str());
  Conv2d conv(c.in_channels, c.out_channels, c.kernel, c.stride, c.padding, c.groups, c.bias);
  Rng rng(seed);
  conv.init_default(rng);
  Tensor x({c.batch, c.in_channels, c.H, c.W});
  fill_uniform(x, rng, -1.0f, 1.0f);
  check_layer_gradients(conv, x, {}, seed);
}

}  // namespace

TEST_CASE("Conv2d forward: hand-computed 2x2 kernel, and 3x3 stride 2 padding 1") {
  Tensor x({1, 1, 3, 3});
  for (int i = 0; i < 9; ++i) x[i] = static_cast<float>(i + 1);  // 1..9 row-major
  {
    Conv2d conv(1, 1, 2, 1, 0, 1, true);
    const float w[4] = {1, 2, 3, 4};
    std::memcpy(conv.weight.data(), w, sizeof w);
    conv.bias[0] = 0.5f;
    const Tensor& y = conv.forward(x, Mode::Eval);
    REQUIRE(y.shape() == Shape({1, 1, 2, 2}));
    // y[0][0] = 1*1 + 2*2 + 3*4 + 4*5 + 0.5, then one step right / down.
    CHECK(y[0] == 37.5f);
    CHECK(y[1] == 47.5f);
    CHECK(y[2] == 67.5f);
    CHECK(y[3] == 77.5f);
  }
  {
    Conv2d conv(1, 1, 3, 2, 1, 1, false);
    conv.weight.fill(1.0f);
    const Tensor& y = conv.forward(x, Mode::Eval);
    REQUIRE(y.shape() == Shape({1, 1, 2, 2}));
    // Windows centred on (0,0), (0,2), (2,0), (2,2); the padding reads 0.
    CHECK(y[0] == 1 + 2 + 4 + 5);
    CHECK(y[1] == 2 + 3 + 5 + 6);
    CHECK(y[2] == 4 + 5 + 7 + 8);
    CHECK(y[3] == 5 + 6 + 8 + 9);
  }
}

TEST_CASE("Conv2d forward: groups map output channels to their own input channels") {
  // 2 -> 4 channels, groups 2, 1x1 kernel: y[oc] = w[oc] * x[oc / 2].
  Conv2d conv(2, 4, 1, 1, 0, 2, true);
  const float w[4] = {1, -2, 3, 0.5f}, b[4] = {0, 1, 0, -1};
  std::memcpy(conv.weight.data(), w, sizeof w);
  std::memcpy(conv.bias.data(), b, sizeof b);
  Tensor x({1, 2, 1, 2});
  const float xv[4] = {1, 2, 10, 20};  // channel 0: 1, 2; channel 1: 10, 20
  std::memcpy(x.data(), xv, sizeof xv);
  const Tensor& y = conv.forward(x, Mode::Train);
  const float expected[8] = {1, 2, -1, -3, 30, 60, 4, 9};
  for (int i = 0; i < 8; ++i) CHECK(y[i] == expected[i]);
}

TEST_CASE("Conv2d forward: matches the direct formula on random geometries") {
  const ConvCase cases[] = {
      {2, 3, 4, 7, 5, 3, 1, 1, 1, true},    {3, 4, 6, 9, 9, 3, 2, 1, 2, false}, {1, 6, 6, 8, 7, 3, 2, 1, 6, true},
      {2, 3, 8, 17, 17, 7, 2, 3, 1, false}, {1, 4, 2, 5, 3, 1, 2, 0, 1, true},  {3, 2, 4, 1, 1, 3, 1, 1, 2, true},
  };
  for (const ConvCase& c : cases) {
    INFO("Conv2d " << c.str());
    Conv2d conv(c.in_channels, c.out_channels, c.kernel, c.stride, c.padding, c.groups, c.bias);
    Rng rng(3);
    conv.init_default(rng);
    Tensor x({c.batch, c.in_channels, c.H, c.W});
    fill_uniform(x, rng, -1.0f, 1.0f);
    const Tensor& y = conv.forward(x, Mode::Train);
    const std::vector<double> expected = direct_conv(conv, x);
    REQUIRE(y.size() == expected.size());
    for (size_t i = 0; i < y.size(); ++i) REQUIRE(std::abs(y[i] - expected[i]) <= 1e-5 + 1e-5 * std::abs(expected[i]));
  }
}

TEST_CASE("Conv2d gradient: 3x3 padding 1 on odd planes (H, W in 1, 3, 5, 7, 17)") {
  for (int H : {1, 3, 5, 7, 17})
    for (int W : {1, 5, 17}) check_conv({2, 2, 3, H, W, 3, 1, 1, 1, true});
}

TEST_CASE("Conv2d gradient: stride 2 with padding 0, 1 and 3") {
  for (int padding : {0, 1, 3})
    for (int H : {3, 5, 7, 17}) check_conv({2, 3, 2, H, 7, 3, 2, padding, 1, true});
  check_conv({1, 2, 2, 1, 1, 1, 2, 0, 1, true});  // 1x1 plane, stride 2
  check_conv({3, 2, 3, 4, 6, 3, 2, 1, 1, true});  // even sizes: the last row/column is never read
}

TEST_CASE("Conv2d gradient: groups 2 and depthwise (groups = C)") {
  check_conv({2, 4, 6, 5, 5, 3, 1, 1, 2, true});
  check_conv({3, 4, 4, 7, 3, 3, 2, 1, 2, false});
  check_conv({2, 6, 6, 7, 7, 3, 1, 1, 6, false});  // depthwise
  check_conv({3, 4, 4, 17, 5, 3, 2, 1, 4, true});  // depthwise, stride 2
  check_conv({1, 3, 6, 5, 5, 3, 1, 1, 3, true});   // depthwise with multiplier 2
}

TEST_CASE("Conv2d gradient: bias off, batch 1 and 3") {
  for (int batch : {1, 3})
    for (bool bias : {false, true}) check_conv({batch, 3, 4, 5, 5, 3, 1, 1, 1, bias});
}

TEST_CASE("Conv2d gradient: 1x1 kernels and a 7x7 stride 2 padding 3 stem") {
  check_conv({3, 5, 4, 7, 7, 1, 1, 0, 1, false});
  check_conv({2, 4, 6, 5, 3, 1, 2, 0, 1, true});  // ResNet's downsample shape
  check_conv({2, 3, 4, 17, 17, 7, 2, 3, 1, false});
  check_conv({1, 3, 2, 7, 5, 7, 2, 3, 1, true});
}

TEST_CASE("Conv2d gradient: a batch split across 2 and 3 threads (partial weight gradients)") {
  for (int threads : {2, 3}) {
    set_thread_count(threads);
    check_conv({3, 4, 8, 17, 17, 3, 1, 1, 1, true});  // 3 * 8 * 17*17 * 36 = 249696 MACs
    check_conv({5, 6, 6, 9, 9, 3, 2, 1, 6, true});    // depthwise: 5 * 6 * 25 * 9 = 6750 MACs, one thread
  }
  set_thread_count(0);
}

TEST_CASE("Conv2d gradient: without the input gradient only the parameters are updated") {
  Conv2d conv(3, 4, 3, 2, 1, 1, true);
  Rng rng(11);
  conv.init_default(rng);
  conv.set_needs_input_grad(false);
  Tensor x({2, 3, 7, 7});
  fill_uniform(x, rng, -1.0f, 1.0f);
  testing::GradCheckOptions options;
  options.check_input = false;
  check_layer_gradients(conv, x, options);
  conv.forward(x, Mode::Train);
  Tensor dy(conv.out_shape(x.shape()));
  CHECK(conv.backward(dy).empty());
}

TEST_CASE("Conv2d threads: forward and dx bit-identical for 1, 2 and 3 threads; weight grads repeatable") {
  // 5 * 6 * 16*16 * 18 = 138240 MACs: above the size that stays on one thread.
  Conv2d conv(4, 6, 3, 1, 1, 2, true);
  Rng rng(5);
  conv.init_default(rng);
  Tensor x({5, 4, 16, 16});
  fill_uniform(x, rng, -1.0f, 1.0f);
  Tensor dy(conv.out_shape(x.shape()));
  fill_uniform(dy, rng, -1.0f, 1.0f);

  auto run = [&](int threads) { return conv_step_on_threads(conv, x, dy, threads); };
  const ConvStep one = run(1);
  for (int threads : {2, 3}) {
    CAPTURE(threads);
    const ConvStep first = run(threads), second = run(threads);
    CHECK(same_bits(one.y, first.y));
    CHECK(same_bits(one.dx, first.dx));
    CHECK(same_bits(first.dweight, second.dweight));
    CHECK(same_bits(first.dbias, second.dbias));
    // Different thread counts sum the batch in a different order: equal up to rounding.
    for (size_t i = 0; i < one.dweight.size(); ++i)
      REQUIRE(std::abs(first.dweight[i] - one.dweight[i]) <= 1e-5f * (1.0f + std::abs(one.dweight[i])));
    for (size_t i = 0; i < one.dbias.size(); ++i)
      REQUIRE(std::abs(first.dbias[i] - one.dbias[i]) <= 1e-5f * (1.0f + std::abs(one.dbias[i])));
  }
  set_thread_count(0);
}

TEST_CASE("Conv2d: buffers are reused after the first batch of a size") {
  set_thread_count(2);
  Conv2d conv(3, 8, 3, 1, 1, 1, true);  // 221184 MACs per batch: split across the workers
  Tensor x({4, 3, 16, 16}), dy({4, 8, 16, 16});
  const float* y_first = conv.forward(x, Mode::Train).data();
  const float* dx_first = conv.backward(dy).data();
  for (int step = 0; step < 3; ++step) {
    CHECK(conv.forward(x, Mode::Train).data() == y_first);
    CHECK(conv.backward(dy).data() == dx_first);
  }
  // A smaller batch fits in the same memory.
  Tensor x_small({2, 3, 16, 16}), dy_small({2, 8, 16, 16});
  CHECK(conv.forward(x_small, Mode::Train).data() == y_first);
  CHECK(conv.backward(dy_small).data() == dx_first);
  set_thread_count(0);
}

TEST_CASE("Conv2d: shapes, summary, MACs and refused inputs") {
  Conv2d stem(3, 64, 7, 2, 3, 1, false);
  CHECK(stem.out_shape(Shape{2, 3, 64, 64}) == Shape({2, 64, 32, 32}));
  CHECK(stem.summary() == "Conv2d(3->64, k7 s2 p3, no bias)");
  CHECK(stem.macs(Shape{1, 3, 64, 64}) == int64_t{64} * 32 * 32 * 3 * 7 * 7);
  Conv2d depthwise(8, 8, 3, 1, 1, 8, false);
  CHECK(depthwise.summary() == "Conv2d(8->8, k3 s1 p1, depthwise, no bias)");
  CHECK(depthwise.weight.shape() == Shape({8, 1, 3, 3}));
  CHECK(depthwise.macs(Shape{1, 8, 5, 5}) == 8 * 5 * 5 * 9);

  CHECK_THROWS_AS(stem.out_shape(Shape{2, 4, 64, 64}), ShapeError);  // wrong channel count
  CHECK_THROWS_AS(stem.out_shape(Shape{2, 3, 64}), ShapeError);      // not 4-D
  Conv2d no_pad(1, 1, 3, 1, 0, 1, true);
  CHECK_THROWS_AS(no_pad.out_shape(Shape{1, 1, 2, 5}), ShapeError);  // plane smaller than the kernel
  Tensor x({1, 3, 8, 8});
  CHECK_THROWS_AS(stem.forward(Tensor({1, 2, 8, 8}), Mode::Train), ShapeError);
  stem.forward(x, Mode::Train);
  CHECK_THROWS_AS(stem.backward(Tensor({1, 64, 3, 3})), ShapeError);  // dy of the wrong shape
  try {
    stem.out_shape(Shape{2, 4, 64, 64});
  } catch (const ShapeError& e) {
    const std::string message = e.what();
    CHECK(message.find("[2, 4, 64, 64]") != std::string::npos);
    CHECK(message.find("[N, 3, H, W]") != std::string::npos);
  }
  CHECK_THROWS_AS(Conv2d(3, 4, 3, 1, 1, 2), UsageError);  // groups must divide both channel counts
  CHECK_THROWS_AS(Conv2d(4, 4, 0), UsageError);
}

TEST_CASE("Conv2d init_default: PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)), same seed same weights") {
  Conv2d conv(4, 8, 3, 1, 1, 2, true);  // fan_in = 4/2 * 3 * 3 = 18
  Rng rng(1);
  conv.init_default(rng);
  const float bound = 1.0f / std::sqrt(18.0f);
  float max_abs = 0.0f;
  for (size_t i = 0; i < conv.weight.size(); ++i) max_abs = std::max(max_abs, std::abs(conv.weight[i]));
  for (size_t i = 0; i < conv.bias.size(); ++i) CHECK(std::abs(conv.bias[i]) <= bound);
  CHECK(max_abs <= bound);
  CHECK(max_abs > 0.8f * bound);  // 144 draws fill the range
  Conv2d again(4, 8, 3, 1, 1, 2, true);
  Rng rng2(1);
  again.init_default(rng2);
  CHECK(std::memcmp(conv.weight.data(), again.weight.data(), conv.weight.size() * sizeof(float)) == 0);
  std::vector<Param> ps;
  conv.params("layer1.0.conv1.", ps);
  REQUIRE(ps.size() == 2);
  CHECK(ps[0].name == "layer1.0.conv1.weight");
  CHECK(ps[1].name == "layer1.0.conv1.bias");
}
