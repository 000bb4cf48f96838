// Losses: finite-difference gradient checks in double precision, values on hand-computed cases,
// extreme logits, shape and label errors, no reallocation of the gradient buffer.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/error.h"
#include "engine/loss.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "tests/test_helpers.h"

using namespace plasmo;
using plasmo::testing::from_values;

namespace {

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  Rng rng(seed);
  Tensor t(shape);
  for (size_t i = 0; i < t.size(); ++i) t[i] = rng.uniform(lo, hi);
  return t;
}

// Central differences of the loss value (double) against the analytic gradient, for every element of
// `input`: numeric = (L(x + h) - L(x - h)) / (x_plus - x_minus), where x_plus/x_minus are the float
// values actually stored (so float rounding of x +- h does not bias the quotient). The loss sums in
// double, so the quotient is accurate to ~h^2 * L''' (about 1e-7 here); the analytic gradient is float.
void check_loss_gradient(Tensor& input, const std::function<double()>& loss, const Tensor& analytic, const char* what) {
  REQUIRE(analytic.shape() == input.shape());
  const double h = 1e-3;
  int failed = 0;
  for (size_t i = 0; i < input.size(); ++i) {
    const float saved = input[i];
    const float x_plus = static_cast<float>(saved + h), x_minus = static_cast<float>(saved - h);
    input[i] = x_plus;
    const double loss_plus = loss();
    input[i] = x_minus;
    const double loss_minus = loss();
    input[i] = saved;
    const double numeric = (loss_plus - loss_minus) / (static_cast<double>(x_plus) - static_cast<double>(x_minus));
    const double allowed = 1e-7 + 1e-5 * std::fabs(numeric);
    if (std::fabs(analytic[i] - numeric) > allowed && ++failed <= 5)
      FAIL_CHECK(what << " " << input.shape().str() << " element " << i << ": analytic " << analytic[i] << " numeric "
                      << numeric);
  }
  CHECK_MESSAGE(failed == 0, what << ": " << failed << " of " << input.size() << " gradient entries off");
}

std::vector<int32_t> random_labels(int N, int classes, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> labels(N);
  for (int n = 0; n < N; ++n) labels[n] = static_cast<int32_t>(rng.below(static_cast<uint32_t>(classes)));
  return labels;
}

}  // namespace

// ---- softmax cross-entropy -----------------------------------------------------------------------------

TEST_CASE("Loss softmax cross-entropy gradient: finite differences, N in {1, 3, 8}, classes in {1, 2, 5}") {
  const int shapes[][2] = {{1, 2}, {3, 2}, {3, 5}, {1, 5}, {8, 2}, {3, 1}};
  uint64_t seed = 10;
  for (const auto& shape : shapes) {
    const int N = shape[0], classes = shape[1];
    CAPTURE(N);
    CAPTURE(classes);
    Tensor logits = random_tensor(Shape{N, classes}, seed++, -4.0f, 4.0f);
    const std::vector<int32_t> labels = random_labels(N, classes, seed++);
    Tensor dlogits;
    const double value = softmax_cross_entropy(logits, labels, dlogits);
    CHECK(value == softmax_cross_entropy(logits, labels));  // the value-only overload agrees exactly
    check_loss_gradient(
        logits, [&] { return softmax_cross_entropy(logits, labels); }, dlogits, "softmax_cross_entropy");
  }
}

TEST_CASE("Loss softmax cross-entropy value: hand-computed cases") {
  Tensor dlogits;
  // One row [0, 0], label 0: -log(1/2) = log 2; gradient softmax - onehot = [-1/2, 1/2].
  Tensor two = from_values(Shape{1, 2}, {0.0f, 0.0f});
  CHECK(softmax_cross_entropy(two, {0}, dlogits) == doctest::Approx(std::log(2.0)).epsilon(1e-14));
  CHECK(dlogits[0] == doctest::Approx(-0.5).epsilon(1e-7));
  CHECK(dlogits[1] == doctest::Approx(0.5).epsilon(1e-7));

  // [1, 2, 3], label 2: log(e + e^2 + e^3) - 3 = log(1 + e^-1 + e^-2); grad = e^c / sum - [c == 2].
  Tensor three = from_values(Shape{1, 3}, {1.0f, 2.0f, 3.0f});
  const double sum = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  CHECK(softmax_cross_entropy(three, {2}, dlogits) ==
        doctest::Approx(std::log1p(std::exp(-1.0) + std::exp(-2.0))).epsilon(1e-14));
  CHECK(dlogits[0] == doctest::Approx(std::exp(1.0) / sum).epsilon(1e-6));
  CHECK(dlogits[1] == doctest::Approx(std::exp(2.0) / sum).epsilon(1e-6));
  CHECK(dlogits[2] == doctest::Approx(std::exp(3.0) / sum - 1.0).epsilon(1e-6));

  // Batch of two: the mean of log 2 and log(1 + e^2) (row [2, 0], label 1); gradients divided by N = 2.
  Tensor batch = from_values(Shape{2, 2}, {0.0f, 0.0f, 2.0f, 0.0f});
  CHECK(softmax_cross_entropy(batch, {0, 1}, dlogits) ==
        doctest::Approx((std::log(2.0) + std::log1p(std::exp(2.0))) / 2.0).epsilon(1e-14));
  const double p0 = 1.0 / (1.0 + std::exp(-2.0));  // softmax([2, 0])[0]
  CHECK(dlogits[0] == doctest::Approx(-0.25).epsilon(1e-7));
  CHECK(dlogits[2] == doctest::Approx(p0 / 2.0).epsilon(1e-6));
  CHECK(dlogits[3] == doctest::Approx((1.0 - p0 - 1.0) / 2.0).epsilon(1e-6));

  // One class: softmax is 1, the loss and the gradient are 0.
  Tensor single = from_values(Shape{3, 1}, {5.0f, -2.0f, 0.0f});
  CHECK(softmax_cross_entropy(single, {0, 0, 0}, dlogits) == 0.0);
  for (size_t i = 0; i < 3; ++i) CHECK(dlogits[i] == 0.0f);
}

TEST_CASE("Loss softmax cross-entropy extreme logits: +-100 and +-1e30 give finite loss and gradient") {
  Tensor dlogits;
  Tensor logits = from_values(Shape{1, 2}, {100.0f, -100.0f});
  // Wrong class: log(e^100 + e^-100) + 100 = 200 + log1p(e^-200) = 200 in double.
  CHECK(softmax_cross_entropy(logits, {1}, dlogits) == doctest::Approx(200.0).epsilon(1e-15));
  CHECK(dlogits[0] == doctest::Approx(1.0));
  CHECK(dlogits[1] == doctest::Approx(-1.0));
  // Right class: log1p(e^-200) ~ 1.4e-87.
  const double right = softmax_cross_entropy(logits, {0}, dlogits);
  CHECK(right >= 0.0);
  CHECK(right < 1e-80);
  CHECK(std::isfinite(dlogits[0]));
  CHECK(std::fabs(dlogits[0]) < 1e-30);
  CHECK(std::fabs(dlogits[1]) < 1e-30);

  Tensor huge = from_values(Shape{2, 3}, {1e30f, -1e30f, 0.0f, -1e30f, -1e30f, -1e30f});
  const double value = softmax_cross_entropy(huge, {1, 2}, dlogits);
  CHECK(std::isfinite(value));
  // Row 0: 1e30 - (-1e30) = 2e30; row 1: three equal logits, log 3. Mean: 1e30 + log(3)/2 ~ 1e30.
  CHECK(value == doctest::Approx(1e30).epsilon(1e-6));
  for (size_t i = 0; i < dlogits.size(); ++i) CHECK(std::isfinite(dlogits[i]));
  CHECK(dlogits[3] == doctest::Approx(1.0 / 6.0).epsilon(1e-6));
  CHECK(dlogits[5] == doctest::Approx((1.0 / 3.0 - 1.0) / 2.0).epsilon(1e-6));
}

TEST_CASE("Loss softmax cross-entropy errors: shapes, label count, labels out of range") {
  Tensor dlogits;
  Tensor flat = from_values(Shape{4}, {0, 0, 0, 0});
  CHECK_THROWS_AS(softmax_cross_entropy(flat, {0, 0, 0, 0}, dlogits), ShapeError);
  Tensor image = Tensor(Shape{2, 2, 1, 1});
  CHECK_THROWS_AS(softmax_cross_entropy(image, {0, 1}, dlogits), ShapeError);
  Tensor logits = from_values(Shape{2, 3}, {0, 1, 2, 3, 4, 5});
  CHECK_THROWS_AS(softmax_cross_entropy(logits, {0}, dlogits), ShapeError);
  CHECK_THROWS_AS(softmax_cross_entropy(logits, {0, 1, 2}, dlogits), ShapeError);
  CHECK_THROWS_AS(softmax_cross_entropy(logits, {0, 3}, dlogits), UsageError);
  CHECK_THROWS_AS(softmax_cross_entropy(logits, {-1, 0}, dlogits), UsageError);
  CHECK_THROWS_AS(softmax_cross_entropy(Tensor(), std::vector<int32_t>{}, dlogits), ShapeError);
  CHECK_NOTHROW(softmax_cross_entropy(logits, {2, 0}, dlogits));
  try {
    softmax_cross_entropy(logits, {0, 7}, dlogits);
    FAIL("no error for label 7");
  } catch (const UsageError& error) {
    const std::string message = error.what();
    CHECK(message.find("label 7") != std::string::npos);
    CHECK(message.find("[2, 3]") != std::string::npos);
  }
}

TEST_CASE("Loss softmax cross-entropy buffer: dlogits is allocated once, reused for equal or smaller batches") {
  Tensor dlogits;
  Tensor big = random_tensor(Shape{8, 2}, 3, -1.0f, 1.0f);
  softmax_cross_entropy(big, random_labels(8, 2, 4), dlogits);
  const float* buffer = dlogits.data();
  softmax_cross_entropy(big, random_labels(8, 2, 5), dlogits);
  CHECK(dlogits.data() == buffer);
  Tensor small = random_tensor(Shape{3, 2}, 6, -1.0f, 1.0f);
  softmax_cross_entropy(small, random_labels(3, 2, 7), dlogits);
  CHECK(dlogits.data() == buffer);
  CHECK(dlogits.shape() == Shape{3, 2});
}

TEST_CASE("Loss softmax cross-entropy two classes: equals BCE with logit z1 - z0") {
  // softmax([z0, z1])[1] = sigmoid(z1 - z0), so CE(label y) = BCE(z1 - z0, y) and dCE/dz1 = -dCE/dz0 = dBCE/dx.
  Tensor logits = from_values(Shape{3, 2}, {0.5f, -1.0f, 2.0f, 3.0f, -0.25f, 0.75f});
  const std::vector<int32_t> labels = {1, 0, 1};
  Tensor differences(Shape{3}), targets(Shape{3});
  for (int n = 0; n < 3; ++n) {
    differences[n] = logits[2 * n + 1] - logits[2 * n];  // exact in float for these values
    targets[n] = static_cast<float>(labels[n]);
  }
  Tensor dlogits, dx;
  const double ce = softmax_cross_entropy(logits, labels, dlogits);
  const double bce = binary_cross_entropy_with_logits(differences, targets, dx);
  CHECK(ce == doctest::Approx(bce).epsilon(1e-14));
  for (int n = 0; n < 3; ++n) {
    CHECK(dlogits[2 * n + 1] == doctest::Approx(dx[n]).epsilon(1e-6));
    CHECK(dlogits[2 * n] == doctest::Approx(-dx[n]).epsilon(1e-6));
  }
}

// ---- binary cross-entropy with logits ------------------------------------------------------------------

TEST_CASE("Loss BCE with logits gradient: finite differences, shapes [1], [3], [3, 1], [8], soft targets") {
  const Shape shapes[] = {Shape{1}, Shape{3}, Shape{3, 1}, Shape{8}, Shape{1, 1}};
  uint64_t seed = 40;
  for (const Shape& shape : shapes) {
    CAPTURE(shape.str());
    Tensor logits = random_tensor(shape, seed++, -6.0f, 6.0f);
    Tensor targets = random_tensor(shape, seed++, 0.0f, 1.0f);
    if (targets.size() > 1) targets[0] = 1.0f;  // hard labels too
    if (targets.size() > 2) targets[1] = 0.0f;
    Tensor dlogits;
    const double value = binary_cross_entropy_with_logits(logits, targets, dlogits);
    CHECK(value == binary_cross_entropy_with_logits(logits, targets));
    CHECK(dlogits.shape() == logits.shape());
    check_loss_gradient(
        logits, [&] { return binary_cross_entropy_with_logits(logits, targets); }, dlogits,
        "binary_cross_entropy_with_logits");
  }
}

TEST_CASE("Loss BCE with logits value: hand-computed cases against -[y log s + (1-y) log(1-s)]") {
  Tensor logits = from_values(Shape{3}, {0.0f, 2.0f, -3.0f});
  Tensor targets = from_values(Shape{3}, {1.0f, 0.0f, 0.25f});
  double expected = 0.0;
  std::vector<double> expected_grad;
  for (int n = 0; n < 3; ++n) {
    const double x = logits[n], y = targets[n], s = 1.0 / (1.0 + std::exp(-x));
    expected += -(y * std::log(s) + (1.0 - y) * std::log(1.0 - s)) / 3.0;
    expected_grad.push_back((s - y) / 3.0);
  }
  // The terms by hand: log 2, log(1 + e^2), 0.75 + log(1 + e^-3).
  CHECK(expected ==
        doctest::Approx((std::log(2.0) + std::log1p(std::exp(2.0)) + 0.75 + std::log1p(std::exp(-3.0))) / 3.0)
            .epsilon(1e-12));
  Tensor dlogits;
  CHECK(binary_cross_entropy_with_logits(logits, targets, dlogits) == doctest::Approx(expected).epsilon(1e-12));
  for (int n = 0; n < 3; ++n) CHECK(dlogits[n] == doctest::Approx(expected_grad[n]).epsilon(1e-6));
}

TEST_CASE("Loss BCE with logits extreme logits: +-100 and +-1e30 give finite loss and gradient") {
  Tensor logits = from_values(Shape{4, 1}, {100.0f, -100.0f, 100.0f, -1e30f});
  Tensor targets = from_values(Shape{4, 1}, {0.0f, 1.0f, 1.0f, 0.0f});
  Tensor dlogits;
  // Terms: 100 (+log1p(e^-100)), 100, ~3.7e-44, ~0. Mean 50.
  const double value = binary_cross_entropy_with_logits(logits, targets, dlogits);
  CHECK(value == doctest::Approx(50.0).epsilon(1e-14));
  CHECK(dlogits[0] == doctest::Approx(0.25));   // (sigmoid(100) - 0) / 4
  CHECK(dlogits[1] == doctest::Approx(-0.25));  // (sigmoid(-100) - 1) / 4
  CHECK(std::fabs(dlogits[2]) < 1e-30);
  CHECK(std::fabs(dlogits[3]) < 1e-30);
  Tensor huge = from_values(Shape{2}, {1e30f, -1e30f});
  Tensor wrong = from_values(Shape{2}, {0.0f, 1.0f});
  CHECK(binary_cross_entropy_with_logits(huge, wrong, dlogits) == doctest::Approx(1e30).epsilon(1e-6));
  CHECK(std::isfinite(dlogits[0]));
  CHECK(std::isfinite(dlogits[1]));
}

TEST_CASE("Loss BCE with logits errors: shapes and targets outside [0, 1]") {
  Tensor dlogits;
  Tensor two_columns(Shape{3, 2});
  Tensor targets3 = from_values(Shape{3}, {0, 1, 0});
  CHECK_THROWS_AS(binary_cross_entropy_with_logits(two_columns, targets3, dlogits), ShapeError);
  Tensor logits3 = from_values(Shape{3}, {0, 1, 2});
  Tensor targets2 = from_values(Shape{2}, {0, 1});
  CHECK_THROWS_AS(binary_cross_entropy_with_logits(logits3, targets2, dlogits), ShapeError);
  Tensor targets_wide(Shape{1, 3});
  CHECK_THROWS_AS(binary_cross_entropy_with_logits(logits3, targets_wide, dlogits), ShapeError);
  Tensor bad = from_values(Shape{3}, {0.0f, 1.5f, 0.0f});
  CHECK_THROWS_AS(binary_cross_entropy_with_logits(logits3, bad, dlogits), UsageError);
  Tensor nan_target = from_values(Shape{3}, {0.0f, std::nanf(""), 0.0f});
  CHECK_THROWS_AS(binary_cross_entropy_with_logits(logits3, nan_target, dlogits), UsageError);
  Tensor column = from_values(Shape{3, 1}, {0, 1, 0});
  CHECK_NOTHROW(binary_cross_entropy_with_logits(logits3, column, dlogits));  // [N] logits, [N, 1] targets
  CHECK(dlogits.shape() == Shape{3});
}

// ---- MSE -----------------------------------------------------------------------------------------------------

TEST_CASE("Loss MSE gradient: finite differences, shapes [1], [3, 4], [1, 3, 2, 2], [3, 2, 5, 5]") {
  const Shape shapes[] = {Shape{1}, Shape{3, 4}, Shape{1, 3, 2, 2}, Shape{3, 2, 5, 5}};
  uint64_t seed = 70;
  for (const Shape& shape : shapes) {
    CAPTURE(shape.str());
    Tensor prediction = random_tensor(shape, seed++, -2.0f, 2.0f);
    Tensor target = random_tensor(shape, seed++, 0.0f, 1.0f);
    Tensor dprediction;
    const double value = mse_loss(prediction, target, dprediction);
    CHECK(value == mse_loss(prediction, target));
    check_loss_gradient(
        prediction, [&] { return mse_loss(prediction, target); }, dprediction, "mse_loss");
  }
}

TEST_CASE("Loss MSE value: hand-computed case, mean over every element") {
  // diffs [1, 0, -2, 3]: (1 + 0 + 4 + 9) / 4 = 3.5; gradient 2 * diff / 4 = [0.5, 0, -1, 1.5].
  Tensor prediction = from_values(Shape{2, 2}, {1, 2, 3, 4});
  Tensor target = from_values(Shape{2, 2}, {0, 2, 5, 1});
  Tensor dprediction;
  CHECK(mse_loss(prediction, target, dprediction) == 3.5);
  CHECK(dprediction[0] == 0.5f);
  CHECK(dprediction[1] == 0.0f);
  CHECK(dprediction[2] == -1.0f);
  CHECK(dprediction[3] == 1.5f);
  CHECK(dprediction.shape() == prediction.shape());
}

TEST_CASE("Loss MSE errors: shapes must be equal, no broadcasting") {
  Tensor dprediction;
  Tensor a(Shape{2, 3}), b(Shape{3, 2}), c(Shape{6}), d(Shape{2, 3});
  CHECK_THROWS_AS(mse_loss(a, b, dprediction), ShapeError);
  CHECK_THROWS_AS(mse_loss(a, c, dprediction), ShapeError);
  CHECK_THROWS_AS(mse_loss(Tensor(), Tensor(), dprediction), ShapeError);
  CHECK_NOTHROW(mse_loss(a, d, dprediction));
  CHECK(mse_loss(a, d) == 0.0);
}

// ---- probabilities ---------------------------------------------------------------------------------------

TEST_CASE("Loss softmax probabilities: rows sum to 1, class 1 probability, extreme logits") {
  Tensor logits = from_values(Shape{3, 2}, {0.0f, static_cast<float>(std::log(3.0)), 1000.0f, 0.0f, -5.0f, -5.0f});
  Tensor probabilities, positive;
  softmax_probabilities(logits, probabilities);
  CHECK(probabilities.shape() == Shape{3, 2});
  CHECK(probabilities[1] == doctest::Approx(0.75).epsilon(1e-6));  // e^ln3 / (1 + e^ln3)
  CHECK(probabilities[2] == 1.0f);
  CHECK(probabilities[3] == 0.0f);
  CHECK(probabilities[4] == 0.5f);
  for (int n = 0; n < 3; ++n) CHECK(probabilities[2 * n] + probabilities[2 * n + 1] == doctest::Approx(1.0));
  class_probability(logits, 1, positive);
  CHECK(positive.shape() == Shape{3});
  for (int n = 0; n < 3; ++n) CHECK(positive[n] == probabilities[2 * n + 1]);
  CHECK_THROWS_AS(class_probability(logits, 2, positive), UsageError);
  Tensor flat(Shape{4});
  CHECK_THROWS_AS(softmax_probabilities(flat, probabilities), ShapeError);
}
