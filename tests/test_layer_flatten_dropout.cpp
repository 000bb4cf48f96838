// Flatten (views, no copy) and Dropout (inverted, seeded): values, gradient checks (Dropout's mask held
// fixed by resetting its generator before every forward), statistics of the mask, reproducibility.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/error.h"
#include "engine/layers/dropout.h"
#include "engine/layers/flatten.h"
#include "engine/threads.h"
#include "tests/gradcheck.h"
#include "tests/tensor_bits.h"
#include "tests/test_helpers.h"

using namespace plasmo;
using plasmo::testing::check_layer_gradients;
using plasmo::testing::GradCheckOptions;
using plasmo::testing::same_bits;
using plasmo::testing::ThreadCountGuard;

namespace {

Tensor ones(const Shape& shape) {
  Tensor t(shape);
  t.fill(1.0f);
  return t;
}

// The training-mode output of a fresh Dropout(p, seed) on x, copied.
Tensor dropout_once(float p, uint64_t seed, const Tensor& x) {
  Dropout drop(p, seed);
  return drop.forward(x, Mode::Train).clone();
}

}  // namespace

// ---- Flatten ------------------------------------------------------------------------------------------

TEST_CASE("Flatten forward/backward: [N, C, H, W] -> [N, C*H*W] as views of x and dy") {
  Flatten flatten;
  Tensor x(Shape{2, 3, 4, 5});
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  const Tensor& y = flatten.forward(x, Mode::Train);
  CHECK(y.shape() == Shape{2, 60});
  CHECK(y.data() == x.data());  // no copy
  CHECK_FALSE(y.owns_memory());
  CHECK(y[60 + 3 * 5 + 2] == x.at(1, 0, 3, 2));
  Tensor dy(Shape{2, 60});
  const Tensor& dx = flatten.backward(dy);
  CHECK(dx.shape() == Shape{2, 3, 4, 5});
  CHECK(dx.data() == dy.data());
}

TEST_CASE("Flatten gradient: [3, 2, 5, 7], [1, 4, 1, 1], [3, 10]") {
  for (const Shape& shape : {Shape{3, 2, 5, 7}, Shape{1, 4, 1, 1}, Shape{3, 10}}) {
    CAPTURE(shape.str());
    Flatten flatten;
    Tensor x(shape);
    Rng rng(shape.numel());
    plasmo::testing::fill_uniform(x, rng, -1.0f, 1.0f);
    check_layer_gradients(flatten, x);
  }
}

TEST_CASE("Flatten shapes: rank >= 2 required, wrong dy refused, no dx when not needed") {
  Flatten flatten;
  CHECK(flatten.out_shape(Shape{8, 4, 4, 4}) == Shape{8, 64});
  CHECK(flatten.out_shape(Shape{8, 10}) == Shape{8, 10});
  CHECK(flatten.out_shape(Shape{2, 3, 4}) == Shape{2, 12});
  CHECK_THROWS_WITH_AS(flatten.out_shape(Shape{7}), doctest::Contains("[7]"), ShapeError);
  CHECK_THROWS_AS(flatten.backward(Tensor(Shape{2, 4})), UsageError);
  Tensor x(Shape{2, 2, 2, 2});
  flatten.forward(x, Mode::Eval);
  CHECK_THROWS_WITH_AS(flatten.backward(Tensor(Shape{2, 4})), doctest::Contains("[2, 8]"), ShapeError);
  flatten.set_needs_input_grad(false);
  CHECK(flatten.backward(Tensor(Shape{2, 8})).empty());
}

// ---- Dropout ------------------------------------------------------------------------------------------

TEST_CASE("Dropout eval: identity, a view of x, and dx = dy") {
  Dropout drop(0.5f, 3);
  Tensor x(Shape{2, 3, 4, 4});
  Rng rng(1);
  plasmo::testing::fill_uniform(x, rng, -1.0f, 1.0f);
  const uint64_t state = drop.rng().state();
  const Tensor& y = drop.forward(x, Mode::Eval);
  CHECK(y.data() == x.data());
  CHECK(y.shape() == x.shape());
  CHECK(drop.rng().state() == state);  // eval draws nothing
  Tensor dy = x.clone();
  const Tensor& dx = drop.backward(dy);
  CHECK(dx.data() == dy.data());
  CHECK(dx.shape() == x.shape());
}

TEST_CASE("Dropout train: every y is 0 or x / (1 - p), dx uses the same mask") {
  const float p = 0.25f;
  Dropout drop(p, 11);
  Tensor x(Shape{3, 4, 9, 9});
  Rng rng(2);
  plasmo::testing::fill_away_from_zero(x, rng, 0.1f);
  const Tensor& y = drop.forward(x, Mode::Train);
  Tensor dy(x.shape());
  plasmo::testing::fill_away_from_zero(dy, rng, 0.1f);
  const Tensor& dx = drop.backward(dy);
  const float scale = 1.0f / (1.0f - p);
  size_t dropped = 0, wrong = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (y[i] == 0.0f) {
      ++dropped;
      wrong += dx[i] != 0.0f;
    } else {
      wrong += y[i] != x[i] * scale;
      wrong += dx[i] != dy[i] * scale;
    }
  }
  CHECK(wrong == 0);
  CHECK(dropped > 0);
  CHECK(dropped < x.size());
}

TEST_CASE("Dropout train: the kept fraction is near 1 - p and the mean of x is kept") {
  const Tensor x = ones(Shape{4, 8, 80, 80});  // 204,800 draws: std of the kept fraction < 0.0012
  for (float p : {0.1f, 0.5f, 0.8f}) {
    CAPTURE(p);
    Tensor y = dropout_once(p, 42, x);
    size_t kept = 0;
    double sum = 0.0;
    for (size_t i = 0; i < y.size(); ++i) {
      kept += y[i] != 0.0f;
      sum += y[i];
    }
    const double fraction = static_cast<double>(kept) / static_cast<double>(y.size());
    CHECK(std::abs(fraction - (1.0 - p)) < 0.008);
    CHECK(std::abs(sum / static_cast<double>(y.size()) - 1.0) < 0.008 / (1.0 - p));
  }
  // The generators of different blocks differ: block 0's mask is not repeated in block 1.
  Tensor y = dropout_once(0.5f, 42, x);
  size_t same = 0;
  for (int64_t i = 0; i < Dropout::kMaskBlock; ++i) same += (y[i] == 0.0f) == (y[i + Dropout::kMaskBlock] == 0.0f);
  CHECK(same < static_cast<size_t>(Dropout::kMaskBlock * 0.6));
}

TEST_CASE("Dropout train: p = 0 keeps everything, p = 1 drops everything") {
  const Tensor x = ones(Shape{2, 100});
  Tensor kept = dropout_once(0.0f, 5, x);
  Tensor dropped = dropout_once(1.0f, 5, x);
  for (size_t i = 0; i < x.size(); ++i) {
    REQUIRE(kept[i] == 1.0f);
    REQUIRE(dropped[i] == 0.0f);
  }
}

TEST_CASE("Dropout reproducibility: same seed same mask, new mask per forward, state restores a mask") {
  const Tensor x = ones(Shape{2, 3, 17, 17});
  CHECK(same_bits(dropout_once(0.5f, 7, x), dropout_once(0.5f, 7, x)));
  CHECK_FALSE(same_bits(dropout_once(0.5f, 7, x), dropout_once(0.5f, 8, x)));

  Dropout drop(0.5f, 7);
  const uint64_t saved = drop.rng().state();  // what a checkpoint stores
  Tensor first = drop.forward(x, Mode::Train).clone();
  Tensor second = drop.forward(x, Mode::Train).clone();
  CHECK_FALSE(same_bits(first, second));
  drop.rng().set_state(saved);
  CHECK(same_bits(drop.forward(x, Mode::Train), first));
  CHECK(same_bits(drop.forward(x, Mode::Train), second));
}

TEST_CASE("Dropout threads: the mask does not depend on the thread count") {
  const Tensor x = ones(Shape{3, 16, 64, 64});  // 196,608 floats: 48 mask blocks, split over workers
  Tensor reference;
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    ThreadCountGuard guard(threads);
    Dropout drop(0.3f, 99);
    const Tensor& y = drop.forward(x, Mode::Train);
    const Tensor& dx = drop.backward(x);
    CHECK(same_bits(y, dx));  // dy = 1, so dx = mask = y
    if (reference.empty())
      reference = y.clone();
    else
      CHECK(same_bits(y, reference));
  }
}

TEST_CASE("Dropout gradient: mask held fixed, p = 0.5, shapes [3, 2, 5, 7], [1, 3, 17, 17], [3, 40]") {
  for (const Shape& shape : {Shape{3, 2, 5, 7}, Shape{1, 3, 17, 17}, Shape{3, 40}}) {
    CAPTURE(shape.str());
    Dropout drop(0.5f, 21);
    Tensor x(shape);
    Rng rng(shape.numel());
    plasmo::testing::fill_uniform(x, rng, -1.0f, 1.0f);
    const uint64_t state = drop.rng().state();
    GradCheckOptions options;
    options.max_checks_per_tensor = 256;
    options.before_forward = [&] { drop.rng().set_state(state); };  // the same mask for every forward
    check_layer_gradients(drop, x, options);
    // The check is not vacuous: the mask dropped some inputs and kept others.
    drop.rng().set_state(state);
    const Tensor& y = drop.forward(x, Mode::Train);
    size_t zeros = 0;
    for (size_t i = 0; i < y.size(); ++i) zeros += y[i] == 0.0f;
    CHECK(zeros > 0);
    CHECK(zeros < y.size());
  }
}

TEST_CASE("Dropout gradient: eval mode is the identity") {
  Dropout drop(0.5f, 21);
  Tensor x(Shape{3, 2, 5, 7});
  Rng rng(6);
  plasmo::testing::fill_uniform(x, rng, -1.0f, 1.0f);
  GradCheckOptions options;
  options.mode = Mode::Eval;
  check_layer_gradients(drop, x, options);
}

TEST_CASE("Dropout contract: p outside [0, 1], wrong dy, backward before forward, buffers, no dx") {
  CHECK_THROWS_AS(Dropout(-0.1f), UsageError);
  CHECK_THROWS_AS(Dropout(1.5f), UsageError);
  CHECK(Dropout(0.5f).summary() == "Dropout(p=0.5)");
  Dropout drop(0.5f, 1);
  CHECK_THROWS_AS(drop.backward(Tensor(Shape{2, 3})), UsageError);
  Tensor x = ones(Shape{3, 8});
  const float* y_data = drop.forward(x, Mode::Train).data();
  CHECK_THROWS_WITH_AS(drop.backward(Tensor(Shape{3, 9})), doctest::Contains("[3, 8]"), ShapeError);
  const float* dx_data = drop.backward(Tensor(Shape{3, 8})).data();
  // Eval forwards in between (validation) do not release the training buffers.
  for (int batch : {3, 1, 3}) {
    Tensor xb = ones(Shape{batch, 8});
    drop.forward(xb, Mode::Eval);
    CHECK(drop.forward(xb, Mode::Train).data() == y_data);
    CHECK(drop.backward(Tensor(Shape{batch, 8})).data() == dx_data);
  }
  drop.set_needs_input_grad(false);
  drop.forward(x, Mode::Train);
  CHECK(drop.backward(Tensor(Shape{3, 8})).empty());
}
