// ReLU, ReLU6, Sigmoid: hand-computed values (including the kinks and saturation), finite-difference
// gradient checks on inputs kept away from the kinks, shape errors, thread-split parity, buffer reuse.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "engine/error.h"
#include "engine/kernels/kernels.h"
#include "engine/layers/activations.h"
#include "engine/threads.h"
#include "tests/gradcheck.h"
#include "tests/test_helpers.h"

using namespace plasmo;
using plasmo::testing::check_layer_gradients;
using plasmo::testing::check_threads_match_reference;
using plasmo::testing::check_values;
using plasmo::testing::from_values;
using plasmo::testing::GradCheckOptions;

namespace {

// ReLU6 inputs away from both kinks (0 and 6) by at least 0.05, a third of them above 6.
void fill_for_relu6(Tensor& x, Rng& rng) {
  for (size_t i = 0; i < x.size(); ++i) {
    switch (rng.below(3)) {
      case 0:
        x[i] = rng.uniform(-2.0f, -0.05f);
        break;
      case 1:
        x[i] = rng.uniform(0.05f, 5.95f);
        break;
      default:
        x[i] = rng.uniform(6.05f, 9.0f);
        break;
    }
  }
}

// Gradient-checks a fresh layer on [batch, 2, H, W] for batch in {1, 3}, H, W in {1, 3, 5, 7, 17},
// and on a dense-layer shape [3, 10].
template <class L, class Fill>
void gradcheck_shapes(Fill fill) {
  std::vector<Shape> shapes{Shape{3, 10}};
  for (int batch : {1, 3})
    for (int H : {1, 3, 5, 7, 17})
      for (int W : {1, 3, 5, 7, 17}) shapes.push_back(Shape{batch, 2, H, W});
  for (const Shape& shape : shapes) {
    CAPTURE(shape.str());
    L layer;
    Tensor x(shape);
    Rng rng(shape.numel() + 17);
    fill(x, rng);
    check_layer_gradients(layer, x);
  }
}

// Bit-equality of a layer against one call of its kernels on a large odd-length tensor (split over workers).
template <class L>
void check_thread_split(void (*forward)(size_t, const float*, float*),
                        void (*backward)(size_t, const float*, const float*, float*), float lo, float hi) {
  const Shape shape{3, 7, 91, 97};  // 185,367 floats: not a multiple of 16
  Tensor x(shape), dy(shape);
  Rng rng(8);
  plasmo::testing::fill_uniform(x, rng, lo, hi);
  plasmo::testing::fill_uniform(dy, rng, -1.0f, 1.0f);
  std::vector<float> y_ref(x.size()), dx_ref(x.size());
  forward(x.size(), x.data(), y_ref.data());
  backward(x.size(), y_ref.data(), dy.data(), dx_ref.data());
  check_threads_match_reference([] { return L(); }, x, dy, y_ref, dx_ref);
}

// Errors and the no-dx path, shared by the three layers.
template <class L>
void check_contract() {
  L layer;
  CHECK_THROWS_AS(layer.backward(Tensor(Shape{2, 3})), UsageError);
  Tensor x(Shape{2, 3, 4, 5});
  CHECK(layer.forward(x, Mode::Train).shape() == x.shape());
  CHECK_THROWS_WITH_AS(layer.backward(Tensor(Shape{2, 60})), doctest::Contains("[2, 3, 4, 5]"), ShapeError);
  const float* dx_data = layer.backward(Tensor(x.shape())).data();
  // A later batch of the same or smaller size reuses the buffers.
  for (int batch : {1, 2}) {
    Tensor xb(Shape{batch, 3, 4, 5});
    layer.forward(xb, Mode::Train);
    CHECK(layer.backward(Tensor(xb.shape())).data() == dx_data);
  }
  layer.set_needs_input_grad(false);
  CHECK(layer.backward(Tensor(Shape{2, 3, 4, 5})).empty());
}

}  // namespace

// ---- ReLU ---------------------------------------------------------------------------------------------

TEST_CASE("ReLU forward/backward: y = max(x, 0), dx = dy where x > 0 (0 at the kink, as PyTorch)") {
  ReLU relu;
  Tensor x = from_values(Shape{1, 6}, {-2, -0.5f, 0, 0.25f, 3, 1e30f});
  check_values(relu.forward(x, Mode::Train), {0, 0, 0, 0.25f, 3, 1e30f});
  Tensor dy = from_values(Shape{1, 6}, {1, 2, 3, 4, 5, 6});
  check_values(relu.backward(dy), {0, 0, 0, 4, 5, 6});
}

TEST_CASE("ReLU gradient: H, W in {1,3,5,7,17}, batch 1 and 3, and [3, 10]; inputs away from 0") {
  gradcheck_shapes<ReLU>([](Tensor& x, Rng& rng) { plasmo::testing::fill_away_from_zero(x, rng, 0.05f); });
}

TEST_CASE("ReLU threads and contract: split equals one kernel call, errors, buffers, no dx") {
  const kernels::KernelTable& table = kernels::K();  // the table the layer uses
  check_thread_split<ReLU>(table.relu_forward, table.relu_backward, -1.0f, 1.0f);
  check_contract<ReLU>();
}

// ---- ReLU6 --------------------------------------------------------------------------------------------

TEST_CASE("ReLU6 forward/backward: y = min(max(x, 0), 6), dx = dy where 0 < x < 6") {
  ReLU6 relu6;
  Tensor x = from_values(Shape{1, 7}, {-1, 0, 0.5f, 5.9f, 6, 7, 100});
  check_values(relu6.forward(x, Mode::Train), {0, 0, 0.5f, 5.9f, 6, 6, 6});
  Tensor dy = from_values(Shape{1, 7}, {1, 2, 3, 4, 5, 6, 7});
  check_values(relu6.backward(dy), {0, 0, 3, 4, 0, 0, 0});
}

TEST_CASE("ReLU6 gradient: H, W in {1,3,5,7,17}, batch 1 and 3, and [3, 10]; inputs below 0, in (0, 6), above 6") {
  gradcheck_shapes<ReLU6>(fill_for_relu6);
}

TEST_CASE("ReLU6 threads and contract: split equals one kernel call, errors, buffers, no dx") {
  const kernels::KernelTable& table = kernels::K();  // the table the layer uses
  check_thread_split<ReLU6>(table.relu6_forward, table.relu6_backward, -3.0f, 9.0f);
  check_contract<ReLU6>();
}

// ---- Sigmoid ------------------------------------------------------------------------------------------

TEST_CASE("Sigmoid forward/backward: values, saturation without overflow, dx = dy * y * (1 - y)") {
  Sigmoid sigmoid;
  Tensor x = from_values(Shape{1, 5}, {0, 2, -2, 100, -100});
  const Tensor& y = sigmoid.forward(x, Mode::Train);
  const float s2 = static_cast<float>(1.0 / (1.0 + std::exp(-2.0)));  // 0.880797
  check_values(y, {0.5f, s2, 1.0f - s2, 1.0f, 0.0f});
  CHECK(y[4] >= 0.0f);
  CHECK(std::isfinite(y[3]));
  CHECK(std::isfinite(y[4]));
  Tensor dy = from_values(Shape{1, 5}, {4, 1, 1, 1, 1});
  const Tensor& dx = sigmoid.backward(dy);
  check_values(dx, {1.0f, s2 * (1 - s2), s2 * (1 - s2), 0.0f, 0.0f});
}

TEST_CASE("Sigmoid gradient: H, W in {1,3,5,7,17}, batch 1 and 3, and [3, 10]") {
  gradcheck_shapes<Sigmoid>([](Tensor& x, Rng& rng) { plasmo::testing::fill_uniform(x, rng, -6.0f, 6.0f); });
}

TEST_CASE("Sigmoid threads and contract: split equals one kernel call, errors, buffers, no dx") {
  const kernels::KernelTable& table = kernels::K();  // the table the layer uses
  check_thread_split<Sigmoid>(table.sigmoid_forward, table.sigmoid_backward, -8.0f, 8.0f);
  check_contract<Sigmoid>();
}
