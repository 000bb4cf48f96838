// MaxPool2d, AvgPool2d, GlobalAvgPool: hand-computed forward/backward values (checked against
// PyTorch's F.max_pool2d / F.avg_pool2d when written), finite-difference gradient checks over odd
// shapes, shape errors, thread-split parity and buffer reuse.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/kernels/kernels.h"
#include "engine/layers/pool2d.h"
#include "engine/threads.h"
#include "tests/gradcheck.h"
#include "tests/test_helpers.h"

using namespace plasmo;
using plasmo::testing::check_layer_gradients;
using plasmo::testing::check_values;
using plasmo::testing::from_values;
using plasmo::testing::GradCheckOptions;
using plasmo::testing::ThreadCountGuard;

namespace {

const int kSizes[] = {1, 3, 5, 7, 17};

// Gradient-checks `make_layer()` on every [batch, 2, H, W] with batch in {1, 3} and H, W in kSizes.
// Shapes whose padded plane is smaller than the window must be refused with a ShapeError instead.
// Returns how many shapes were checked.
template <class MakeLayer, class Fill>
int gradcheck_grid(MakeLayer make_layer, int kernel, int padding, Fill fill) {
  int checked = 0;
  for (int batch : {1, 3})
    for (int H : kSizes)
      for (int W : kSizes) {
        auto layer = make_layer();
        const Shape in{batch, 2, H, W};
        CAPTURE(in.str());
        if (H + 2 * padding < kernel || W + 2 * padding < kernel) {
          CHECK_THROWS_AS(layer.out_shape(in), ShapeError);
          continue;
        }
        Tensor x(in);
        Rng rng(1000 + batch * 100 + H * 10 + W);
        fill(x, rng);
        GradCheckOptions options;
        options.max_checks_per_tensor = 256;
        check_layer_gradients(layer, x, options);
        ++checked;
      }
  return checked;
}

// MaxPool needs inputs at least 2*eps apart so no +-eps nudge changes which input wins a window.
void fill_for_max(Tensor& x, Rng& rng) { plasmo::testing::fill_distinct(x, rng, 0.05f); }
void fill_for_avg(Tensor& x, Rng& rng) { plasmo::testing::fill_uniform(x, rng, -1.0f, 1.0f); }

}  // namespace

// ---- MaxPool2d ----------------------------------------------------------------------------------------

TEST_CASE("MaxPool2d forward/backward: k2 s2 on a 4x4 ramp picks each window's bottom-right") {
  MaxPool2d pool(2, 2);
  std::vector<float> ramp(16);
  for (int i = 0; i < 16; ++i) ramp[i] = static_cast<float>(i + 1);
  Tensor x = from_values(Shape{1, 1, 4, 4}, ramp);
  const Tensor& y = pool.forward(x, Mode::Train);
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  check_values(y, {6, 8, 14, 16});
  Tensor dy = from_values(Shape{1, 1, 2, 2}, {1, 2, 3, 4});
  check_values(pool.backward(dy), {0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4});
}

TEST_CASE("MaxPool2d forward/backward: k3 s2 p1 (ResNet stem) overlapping windows add their dy") {
  MaxPool2d pool(3, 2, 1);
  Tensor x = from_values(Shape{1, 1, 3, 3}, {1, 9, 2, 3, 4, 8, 7, 5, 6});
  check_values(pool.forward(x, Mode::Train), {9, 9, 7, 8});
  // 9 wins two windows, so it receives 1 + 2.
  Tensor dy = from_values(Shape{1, 1, 2, 2}, {1, 2, 3, 4});
  check_values(pool.backward(dy), {0, 3, 0, 0, 0, 4, 3, 0, 0});
}

TEST_CASE("MaxPool2d forward: padding never wins, even over negative inputs") {
  MaxPool2d pool(3, 2, 1);
  Tensor x = from_values(Shape{1, 1, 3, 3}, {-1, -2, -3, -4, -5, -6, -7, -8, -9});
  check_values(pool.forward(x, Mode::Eval), {-1, -2, -4, -5});
}

TEST_CASE("MaxPool2d forward/backward: on ties the first max in row-major order wins (as PyTorch)") {
  MaxPool2d pool(2, 2);
  Tensor x = from_values(Shape{1, 1, 2, 4}, {5, 5, 1, 7, 5, 5, 7, 7});
  check_values(pool.forward(x, Mode::Train), {5, 7});
  Tensor dy = from_values(Shape{1, 1, 1, 2}, {1, 2});
  check_values(pool.backward(dy), {1, 0, 0, 2, 0, 0, 0, 0});
}

TEST_CASE("MaxPool2d forward: planes of a batch are pooled independently") {
  MaxPool2d pool(2, 2);
  Tensor x(Shape{2, 3, 2, 2});
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7) % 12);  // 0,7,2,9 | 4,11,6,1 | ...
  const Tensor& y = pool.forward(x, Mode::Train);
  REQUIRE(y.shape() == Shape{2, 3, 1, 1});
  for (int plane = 0; plane < 6; ++plane) {
    float best = x[plane * 4];
    for (int i = 1; i < 4; ++i) best = std::max(best, x[plane * 4 + i]);
    CHECK(y[plane] == best);
  }
}

TEST_CASE("MaxPool2d gradient: k2 s2 p0 over H, W in {1,3,5,7,17}, batch 1 and 3") {
  CHECK(gradcheck_grid([] { return MaxPool2d(2, 2, 0); }, 2, 0, fill_for_max) == 2 * 16);
}

TEST_CASE("MaxPool2d gradient: k3 s2 p1 (ResNet stem) over H, W in {1,3,5,7,17}, batch 1 and 3") {
  CHECK(gradcheck_grid([] { return MaxPool2d(3, 2, 1); }, 3, 1, fill_for_max) == 2 * 25);
}

TEST_CASE("MaxPool2d gradient: k3 s1 p1 and k2 s1 p0 over H, W in {1,3,5,7,17}, batch 1 and 3") {
  CHECK(gradcheck_grid([] { return MaxPool2d(3, 1, 1); }, 3, 1, fill_for_max) == 2 * 25);
  CHECK(gradcheck_grid([] { return MaxPool2d(2, 1, 0); }, 2, 0, fill_for_max) == 2 * 16);
}

TEST_CASE("MaxPool2d gradient: k3 s2 p0 drops the last row and column of even planes") {
  CHECK(gradcheck_grid([] { return MaxPool2d(3, 2, 0); }, 3, 0, fill_for_max) == 2 * 16);
}

TEST_CASE("MaxPool2d shapes: out = (in + 2p - k)/s + 1, errors name the shapes") {
  CHECK(MaxPool2d(3, 2, 1).out_shape(Shape{2, 64, 32, 32}) == Shape{2, 64, 16, 16});
  CHECK(MaxPool2d(2, 2).out_shape(Shape{1, 3, 7, 5}) == Shape{1, 3, 3, 2});
  CHECK(MaxPool2d(3, 2, 1).summary() == "MaxPool2d(k3 s2 p1)");
  CHECK_THROWS_WITH_AS(MaxPool2d(3, 2).out_shape(Shape{1, 1, 2, 2}), doctest::Contains("[1, 1, 2, 2]"), ShapeError);
  CHECK_THROWS_WITH_AS(MaxPool2d(3, 2).out_shape(Shape{1, 1, 5, 2}), doctest::Contains("larger than the padded"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(MaxPool2d(2, 2).out_shape(Shape{4, 8}), doctest::Contains("[4, 8]"), ShapeError);
  Tensor x3(Shape{2, 4, 4});
  MaxPool2d pool(2, 2);
  CHECK_THROWS_WITH_AS(pool.forward(x3, Mode::Train), doctest::Contains("4-D"), ShapeError);
  CHECK_THROWS_AS(MaxPool2d(3, 2, 2), UsageError);  // padding > kernel/2: a window could be all padding
  CHECK_THROWS_AS(MaxPool2d(0, 1), UsageError);
  CHECK_THROWS_AS(MaxPool2d(2, 0), UsageError);
}

TEST_CASE("MaxPool2d backward: wrong dy shape, backward before forward, no dx when not needed") {
  MaxPool2d pool(2, 2);
  CHECK_THROWS_AS(pool.backward(Tensor(Shape{1, 1, 2, 2})), UsageError);
  Tensor x(Shape{1, 2, 4, 4});
  Rng rng(3);
  plasmo::testing::fill_distinct(x, rng, 0.1f);
  pool.forward(x, Mode::Train);
  CHECK_THROWS_WITH_AS(pool.backward(Tensor(Shape{1, 2, 4, 4})), doctest::Contains("[1, 2, 2, 2]"), ShapeError);
  pool.set_needs_input_grad(false);
  CHECK(pool.backward(Tensor(Shape{1, 2, 2, 2})).empty());
}

// ---- AvgPool2d ----------------------------------------------------------------------------------------

TEST_CASE("AvgPool2d forward/backward: k2 s2 on a 4x4 ramp") {
  AvgPool2d pool(2, 2);
  std::vector<float> ramp(16);
  for (int i = 0; i < 16; ++i) ramp[i] = static_cast<float>(i + 1);
  Tensor x = from_values(Shape{1, 1, 4, 4}, ramp);
  check_values(pool.forward(x, Mode::Train), {3.5f, 5.5f, 11.5f, 13.5f});
  Tensor dy = from_values(Shape{1, 1, 2, 2}, {4, 8, 12, 16});
  check_values(pool.backward(dy), {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
}

TEST_CASE("AvgPool2d forward/backward: k3 s2 p1 counts padding in the divisor (count_include_pad)") {
  AvgPool2d pool(3, 2, 1);
  Tensor x = from_values(Shape{1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  // Each window covers 4 real inputs and 5 zeros of padding; the divisor stays 9.
  check_values(pool.forward(x, Mode::Train), {12.0f / 9, 16.0f / 9, 24.0f / 9, 28.0f / 9});
  Tensor dy = from_values(Shape{1, 1, 2, 2}, {9, 18, 27, 36});
  check_values(pool.backward(dy), {1, 3, 2, 4, 10, 6, 3, 7, 4});
  AvgPool2d same(3, 1, 1);
  Tensor small = from_values(Shape{1, 1, 2, 2}, {1, 2, 3, 4});
  check_values(same.forward(small, Mode::Eval), {10.0f / 9, 10.0f / 9, 10.0f / 9, 10.0f / 9});
}

TEST_CASE("AvgPool2d gradient: k2 s2 p0 and k3 s2 p1 over H, W in {1,3,5,7,17}, batch 1 and 3") {
  CHECK(gradcheck_grid([] { return AvgPool2d(2, 2, 0); }, 2, 0, fill_for_avg) == 2 * 16);
  CHECK(gradcheck_grid([] { return AvgPool2d(3, 2, 1); }, 3, 1, fill_for_avg) == 2 * 25);
}

TEST_CASE("AvgPool2d gradient: k3 s1 p1 and k3 s2 p0 over H, W in {1,3,5,7,17}, batch 1 and 3") {
  CHECK(gradcheck_grid([] { return AvgPool2d(3, 1, 1); }, 3, 1, fill_for_avg) == 2 * 25);
  CHECK(gradcheck_grid([] { return AvgPool2d(3, 2, 0); }, 3, 0, fill_for_avg) == 2 * 16);
}

TEST_CASE("AvgPool2d shapes: errors name the shapes, no dx when not needed") {
  CHECK(AvgPool2d(2, 2).out_shape(Shape{3, 4, 17, 17}) == Shape{3, 4, 8, 8});
  CHECK(AvgPool2d(2, 2).summary() == "AvgPool2d(k2 s2 p0)");
  CHECK_THROWS_WITH_AS(AvgPool2d(5, 1, 1).out_shape(Shape{1, 2, 2, 3}), doctest::Contains("[1, 2, 2, 3]"), ShapeError);
  CHECK_THROWS_WITH_AS(AvgPool2d(2, 2).out_shape(Shape{6}), doctest::Contains("[6]"), ShapeError);
  CHECK_THROWS_AS(AvgPool2d(2, 2, 2), UsageError);
  AvgPool2d pool(2, 2);
  Tensor x(Shape{1, 1, 2, 2});
  pool.forward(x, Mode::Train);
  CHECK_THROWS_AS(pool.backward(Tensor(Shape{1, 1, 2, 2})), ShapeError);
  pool.set_needs_input_grad(false);
  CHECK(pool.backward(Tensor(Shape{1, 1, 1, 1})).empty());
}

// ---- GlobalAvgPool ------------------------------------------------------------------------------------

TEST_CASE("GlobalAvgPool forward/backward: mean per plane, dy spread evenly") {
  GlobalAvgPool gap;
  Tensor x = from_values(Shape{2, 1, 2, 2}, {1, 2, 3, 4, -4, 0, 0, 8});
  const Tensor& y = gap.forward(x, Mode::Train);
  CHECK(y.shape() == Shape{2, 1, 1, 1});
  check_values(y, {2.5f, 1.0f});
  Tensor dy = from_values(Shape{2, 1, 1, 1}, {2, -8});
  check_values(gap.backward(dy), {0.5f, 0.5f, 0.5f, 0.5f, -2, -2, -2, -2});
}

TEST_CASE("GlobalAvgPool gradient: H, W in {1,3,5,7,17}, batch 1 and 3") {
  int checked = 0;
  for (int batch : {1, 3})
    for (int H : kSizes)
      for (int W : kSizes) {
        GlobalAvgPool gap;
        Tensor x(Shape{batch, 3, H, W});
        CAPTURE(x.shape().str());
        Rng rng(H * 31 + W);
        plasmo::testing::fill_uniform(x, rng, -1.0f, 1.0f);
        check_layer_gradients(gap, x);
        ++checked;
      }
  CHECK(checked == 50);
}

TEST_CASE("GlobalAvgPool shapes: [N, C, H, W] -> [N, C, 1, 1], other ranks refused") {
  GlobalAvgPool gap;
  CHECK(gap.out_shape(Shape{3, 512, 2, 2}) == Shape{3, 512, 1, 1});
  CHECK_THROWS_WITH_AS(gap.out_shape(Shape{3, 512}), doctest::Contains("[3, 512]"), ShapeError);
  CHECK_THROWS_AS(gap.out_shape(Shape{3, 5, 0, 4}), ShapeError);
  CHECK_THROWS_AS(gap.backward(Tensor(Shape{1, 1, 1, 1})), UsageError);
  Tensor x(Shape{1, 2, 3, 3});
  gap.forward(x, Mode::Train);
  CHECK_THROWS_WITH_AS(gap.backward(Tensor(Shape{1, 2, 3, 3})), doctest::Contains("[1, 2, 1, 1]"), ShapeError);
  gap.set_needs_input_grad(false);
  CHECK(gap.backward(Tensor(Shape{1, 2, 1, 1})).empty());
}

// ---- threads and buffers ------------------------------------------------------------------------------

TEST_CASE("MaxPool2d/AvgPool2d/GlobalAvgPool threads: a split over planes equals one kernel call over all planes") {
  // Large enough (4*16*48*48 = 147456 floats, over kMinFloatsToSplit) that the layers split the planes.
  const Shape in{4, 16, 48, 48};
  Tensor x(in), dy_pool(Shape{4, 16, 24, 24}), dy_gap(Shape{4, 16, 1, 1});
  Rng rng(9);
  plasmo::testing::fill_distinct(x, rng, 0.01f);
  plasmo::testing::fill_uniform(dy_pool, rng, -1.0f, 1.0f);
  plasmo::testing::fill_uniform(dy_gap, rng, -1.0f, 1.0f);

  const kernels::KernelTable& table = kernels::K();  // the table the layer uses
  const kernels::PoolGeom g = kernels::make_pool_geom(4 * 16, 48, 48, 3, 2, 1);
  const size_t out_count = static_cast<size_t>(g.planes) * g.out_h * g.out_w;
  std::vector<float> max_y(out_count), avg_y(out_count), max_dx(x.size()), avg_dx(x.size()), gap_y(64),
      gap_dx(x.size());
  std::vector<int32_t> argmax(out_count);
  table.maxpool2d_forward(g, x.data(), max_y.data(), argmax.data());
  table.maxpool2d_backward(g, dy_pool.data(), argmax.data(), max_dx.data());
  table.avgpool2d_forward(g, x.data(), avg_y.data());
  table.avgpool2d_backward(g, dy_pool.data(), avg_dx.data());
  table.global_avgpool_forward(64, 48 * 48, x.data(), gap_y.data());
  table.global_avgpool_backward(64, 48 * 48, dy_gap.data(), gap_dx.data());

  auto same = [](const Tensor& got, const std::vector<float>& expected) {
    REQUIRE(got.size() == expected.size());
    size_t mismatches = 0;
    for (size_t i = 0; i < expected.size(); ++i) mismatches += got[i] != expected[i];
    CHECK(mismatches == 0);
  };
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    ThreadCountGuard guard(threads);
    MaxPool2d max_pool(3, 2, 1);
    AvgPool2d avg_pool(3, 2, 1);
    GlobalAvgPool gap;
    same(max_pool.forward(x, Mode::Train), max_y);
    same(max_pool.backward(dy_pool), max_dx);
    same(avg_pool.forward(x, Mode::Train), avg_y);
    same(avg_pool.backward(dy_pool), avg_dx);
    same(gap.forward(x, Mode::Train), gap_y);
    same(gap.backward(dy_gap), gap_dx);
  }
}

TEST_CASE("MaxPool2d/AvgPool2d/GlobalAvgPool buffers: reused for later batches of the same or smaller size") {
  MaxPool2d max_pool(3, 2, 1);
  AvgPool2d avg_pool(2, 2);
  GlobalAvgPool gap;
  Layer* layers[] = {&max_pool, &avg_pool, &gap};
  for (Layer* layer : layers) {
    CAPTURE(layer->summary());
    Tensor x(Shape{3, 2, 8, 8});
    Rng rng(5);
    plasmo::testing::fill_distinct(x, rng, 0.1f);
    Tensor dy(layer->out_shape(x.shape()));
    const float* y_data = layer->forward(x, Mode::Train).data();
    const float* dx_data = layer->backward(dy).data();
    for (int batch : {3, 1, 3}) {
      Tensor xb(Shape{batch, 2, 8, 8});
      Tensor dyb(layer->out_shape(xb.shape()));
      CHECK(layer->forward(xb, Mode::Train).data() == y_data);
      CHECK(layer->backward(dyb).data() == dx_data);
    }
  }
}
