// Dense (PyTorch Linear): hand-computed forward, finite-difference gradients, flattening of [N, ...]
// inputs, shape errors, default initialisation.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/layers/dense.h"
#include "tests/gradcheck.h"

using namespace plasmo;
using plasmo::testing::check_layer_gradients;
using plasmo::testing::fill_uniform;

TEST_CASE("Dense forward: hand-computed y = x W^T + b and its backward") {
  Dense dense(3, 2);
  const float w[6] = {1,  2, 3,      // row of output 0
                      -1, 0, 0.5f};  // row of output 1
  std::memcpy(dense.weight.data(), w, sizeof w);
  dense.bias[0] = 0.25f;
  dense.bias[1] = -1.0f;
  Tensor x({2, 3});
  const float xv[6] = {1, 1, 1, 2, -1, 4};
  std::memcpy(x.data(), xv, sizeof xv);
  const Tensor& y = dense.forward(x, Mode::Train);
  REQUIRE(y.shape() == Shape({2, 2}));
  CHECK(y[0] == 6.25f);   // 1 + 2 + 3 + 0.25
  CHECK(y[1] == -1.5f);   // -1 + 0 + 0.5 - 1
  CHECK(y[2] == 12.25f);  // 2 - 2 + 12 + 0.25
  CHECK(y[3] == -1.0f);   // -2 + 0 + 2 - 1

  Tensor dy({2, 2});
  const float dyv[4] = {1, 0, 0, 2};
  std::memcpy(dy.data(), dyv, sizeof dyv);
  const Tensor& dx = dense.backward(dy);
  // dx = dy W: row 0 = W[0], row 1 = 2 W[1].
  const float dx_expected[6] = {1, 2, 3, -2, 0, 1};
  for (int i = 0; i < 6; ++i) CHECK(dx[i] == dx_expected[i]);
  // dW = dy^T x: row 0 = x[0], row 1 = 2 x[1]; db = column sums of dy.
  const float dw_expected[6] = {1, 1, 1, 4, -2, 8};
  for (int i = 0; i < 6; ++i) CHECK(dense.weight_grad[i] == dw_expected[i]);
  CHECK(dense.bias_grad[0] == 1.0f);
  CHECK(dense.bias_grad[1] == 2.0f);
}

TEST_CASE("Dense gradient: batch 1 and 3, bias on and off") {
  for (int batch : {1, 3})
    for (bool bias : {true, false})
      for (int out : {1, 2, 7}) {
        INFO("Dense N" << batch << " 5->" << out << (bias ? " bias" : " no bias"));
        Dense dense(5, out, bias);
        Rng rng(static_cast<uint64_t>(batch * 100 + out));
        dense.init_default(rng);
        Tensor x({batch, 5});
        fill_uniform(x, rng, -1.0f, 1.0f);
        check_layer_gradients(dense, x);
      }
}

TEST_CASE("Dense gradient: a [N, C, H, W] input is flattened, dx keeps the input's shape") {
  Dense dense(2 * 3 * 5, 4);
  Rng rng(9);
  dense.init_default(rng);
  Tensor x({3, 2, 3, 5});
  fill_uniform(x, rng, -1.0f, 1.0f);
  CHECK(dense.out_shape(x.shape()) == Shape({3, 4}));
  check_layer_gradients(dense, x);
  dense.forward(x, Mode::Train);
  Tensor dy({3, 4});
  CHECK(dense.backward(dy).shape() == x.shape());
  CHECK(dense.macs(x.shape()) == 30 * 4);
}

TEST_CASE("Dense gradient: without the input gradient backward returns an empty tensor") {
  Dense dense(4, 3);
  Rng rng(2);
  dense.init_default(rng);
  dense.set_needs_input_grad(false);
  Tensor x({2, 4});
  fill_uniform(x, rng, -1.0f, 1.0f);
  testing::GradCheckOptions options;
  options.check_input = false;
  check_layer_gradients(dense, x, options);
  dense.forward(x, Mode::Train);
  CHECK(dense.backward(Tensor({2, 3})).empty());
}

TEST_CASE("Dense: shape errors name the layer and the shapes") {
  Dense dense(6, 2);
  CHECK_THROWS_AS(dense.out_shape(Shape{2, 5}), ShapeError);
  CHECK_THROWS_AS(dense.out_shape(Shape{6}), ShapeError);
  CHECK(dense.out_shape(Shape{4, 6, 1, 1}) == Shape({4, 2}));
  try {
    dense.forward(Tensor({2, 7}), Mode::Train);
    FAIL("no error");
  } catch (const ShapeError& e) {
    const std::string message = e.what();
    CHECK(message.find("Dense(6->2)") != std::string::npos);
    CHECK(message.find("[2, 7]") != std::string::npos);
  }
  Tensor x({2, 6});
  dense.forward(x, Mode::Train);
  CHECK_THROWS_AS(dense.backward(Tensor({2, 3})), ShapeError);
  CHECK_THROWS_AS(Dense(0, 2), UsageError);
}

TEST_CASE("Dense init_default: U(-1/sqrt(in), 1/sqrt(in)), names weight and bias") {
  Dense dense(16, 8);
  Rng rng(4);
  dense.init_default(rng);
  float max_abs = 0.0f;
  for (size_t i = 0; i < dense.weight.size(); ++i) max_abs = std::max(max_abs, std::abs(dense.weight[i]));
  CHECK(max_abs <= 0.25f);
  CHECK(max_abs > 0.2f);
  for (size_t i = 0; i < dense.bias.size(); ++i) CHECK(std::abs(dense.bias[i]) <= 0.25f);
  std::vector<Param> ps;
  dense.params("fc.", ps);
  REQUIRE(ps.size() == 2);
  CHECK(ps[0].name == "fc.weight");
  CHECK(ps[0].value->shape() == Shape({8, 16}));
  CHECK(ps[1].name == "fc.bias");
  Dense no_bias(3, 2, false);
  ps.clear();
  no_bias.params("", ps);
  CHECK(ps.size() == 1);
}
