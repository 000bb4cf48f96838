// Upsample2x (nearest): hand-computed values, finite-difference gradient checks over odd shapes, shape
// errors, thread-split parity and buffer reuse.
#include <doctest/doctest.h>

#include <vector>

#include "engine/error.h"
#include "engine/kernels/kernels.h"
#include "engine/layers/upsample.h"
#include "engine/threads.h"
#include "tests/gradcheck.h"
#include "tests/test_helpers.h"

using namespace plasmo;
using plasmo::testing::check_threads_match_reference;
using plasmo::testing::check_values;
using plasmo::testing::from_values;

TEST_CASE("Upsample forward/backward: each input fills a 2x2 block, dx sums the block") {
  Upsample2x up;
  Tensor x = from_values(Shape{1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor& y = up.forward(x, Mode::Train);
  CHECK(y.shape() == Shape{1, 1, 4, 4});
  check_values(y, {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, 0);  // copies and sums of 4 integers: exact
  std::vector<float> ramp(16);
  for (int i = 0; i < 16; ++i) ramp[i] = static_cast<float>(i + 1);
  Tensor dy = from_values(Shape{1, 1, 4, 4}, ramp);
  // dx[0][0] = 1 + 2 + 5 + 6, dx[0][1] = 3 + 4 + 7 + 8, ...
  check_values(up.backward(dy), {14, 22, 46, 54}, 0);
}

TEST_CASE("Upsample forward: planes of a batch stay apart, odd sizes") {
  Upsample2x up;
  Tensor x = from_values(Shape{2, 1, 1, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor& y = up.forward(x, Mode::Eval);
  CHECK(y.shape() == Shape{2, 1, 2, 6});
  check_values(y, {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6}, 0);
}

TEST_CASE("Upsample gradient: H, W in {1,3,5,7,17}, batch 1 and 3") {
  int checked = 0;
  for (int batch : {1, 3})
    for (int H : {1, 3, 5, 7, 17})
      for (int W : {1, 3, 5, 7, 17}) {
        Upsample2x up;
        Tensor x(Shape{batch, 2, H, W});
        CAPTURE(x.shape().str());
        Rng rng(H * 100 + W * 10 + batch);
        plasmo::testing::fill_uniform(x, rng, -1.0f, 1.0f);
        plasmo::testing::GradCheckOptions options;
        options.max_checks_per_tensor = 256;
        plasmo::testing::check_layer_gradients(up, x, options);
        ++checked;
      }
  CHECK(checked == 50);
}

TEST_CASE("Upsample shapes: [N, C, H, W] -> [N, C, 2H, 2W], errors name the shapes") {
  Upsample2x up;
  CHECK(up.out_shape(Shape{3, 4, 5, 7}) == Shape{3, 4, 10, 14});
  CHECK(up.summary() == "Upsample(nearest, x2)");
  CHECK_THROWS_WITH_AS(up.out_shape(Shape{3, 4, 5}), doctest::Contains("[3, 4, 5]"), ShapeError);
  CHECK_THROWS_AS(up.backward(Tensor(Shape{1, 1, 2, 2})), UsageError);
  Tensor x(Shape{1, 2, 3, 3});
  up.forward(x, Mode::Train);
  CHECK_THROWS_WITH_AS(up.backward(Tensor(Shape{1, 2, 3, 3})), doctest::Contains("[1, 2, 6, 6]"), ShapeError);
  up.set_needs_input_grad(false);
  CHECK(up.backward(Tensor(Shape{1, 2, 6, 6})).empty());
}

TEST_CASE("Upsample threads: a split over planes equals one kernel call over all planes") {
  const Shape in{4, 16, 32, 32};  // 262144 output floats: split over the workers
  Tensor x(in), dy(Shape{4, 16, 64, 64});
  Rng rng(4);
  plasmo::testing::fill_uniform(x, rng, -1.0f, 1.0f);
  plasmo::testing::fill_uniform(dy, rng, -1.0f, 1.0f);
  const kernels::KernelTable& table = kernels::K();  // the table the layer uses
  std::vector<float> y_ref(dy.size()), dx_ref(x.size());
  table.upsample2x_forward(64, 32, 32, x.data(), y_ref.data());
  table.upsample2x_backward(64, 32, 32, dy.data(), dx_ref.data());
  check_threads_match_reference([] { return Upsample2x(); }, x, dy, y_ref, dx_ref);
}

TEST_CASE("Upsample buffers: reused for later batches of the same or smaller size") {
  Upsample2x up;
  Tensor x(Shape{3, 2, 5, 5}), dy(Shape{3, 2, 10, 10});
  const float* y_data = up.forward(x, Mode::Train).data();
  const float* dx_data = up.backward(dy).data();
  for (int batch : {3, 1, 3}) {
    Tensor xb(Shape{batch, 2, 5, 5}), dyb(Shape{batch, 2, 10, 10});
    CHECK(up.forward(xb, Mode::Train).data() == y_data);
    CHECK(up.backward(dyb).data() == dx_data);
  }
}
