// BatchNorm2d: forward in train and eval mode against hand-computed values and values PyTorch 1.13
// gave for the same input (written here once), running statistics and num_batches_tracked, finite-
// difference gradients in train mode (through the batch statistics) and eval mode.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/layers/batchnorm2d.h"
#include "tests/gradcheck.h"

using namespace plasmo;
using plasmo::testing::check_layer_gradients;
using plasmo::testing::fill_uniform;

namespace {

Tensor make(const Shape& shape, std::initializer_list<float> values) {
  Tensor t(shape);
  REQUIRE(values.size() == t.size());
  size_t i = 0;
  for (float v : values) t[i++] = v;
  return t;
}

void check_close(const Tensor& got, const std::vector<double>& expected, double tolerance, const char* what) {
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO(what << "[" << i << "]: got " << got[i] << " expected " << expected[i]);
    CHECK(std::abs(got[i] - expected[i]) <= tolerance * (1.0 + std::abs(expected[i])));
  }
}

// The 2x2x2x2 case PyTorch ran (see the test below).
Tensor torch_case_x() { return make({2, 2, 2, 2}, {1, 2, 3, 6, 0, -1, 4, 2, -2, 0, 1, 1, 3, 3, -1, 5}); }
Tensor torch_case_dy() {
  return make({2, 2, 2, 2}, {0.5f, -1, 2, 0.25f, 1, 0, -0.5f, 3, 0, 1.5f, -2, 1, 0.75f, -1.25f, 2, 0.5f});
}
void set_torch_case_affine(BatchNorm2d& bn) {
  bn.weight[0] = 2.0f;
  bn.weight[1] = -0.5f;
  bn.bias[0] = 0.5f;
  bn.bias[1] = 1.0f;
}

}  // namespace

TEST_CASE("BatchNorm2d forward: train mode, hand-computed statistics and running averages") {
  // One channel, m = N*H*W = 4 values: 1, 2 (image 0) and 3, 6 (image 1).
  BatchNorm2d bn(1);
  bn.weight[0] = 2.0f;
  bn.bias[0] = 0.5f;
  Tensor x = make({2, 1, 1, 2}, {1, 2, 3, 6});
  const Tensor& y = bn.forward(x, Mode::Train);
  // mean 3, biased var (4 + 1 + 0 + 9) / 4 = 3.5, y = 2 (x - 3) / sqrt(3.5 + 1e-5) + 0.5
  const double invstd = 1.0 / std::sqrt(3.5 + 1e-5);
  check_close(y, {2 * -2 * invstd + 0.5, 2 * -1 * invstd + 0.5, 0.5, 2 * 3 * invstd + 0.5}, 1e-6, "y");
  // running_mean = 0.9 * 0 + 0.1 * 3; running_var = 0.9 * 1 + 0.1 * 14/3 (unbiased: sum of squares / (m - 1))
  CHECK(bn.running_mean[0] == doctest::Approx(0.3).epsilon(1e-7));
  CHECK(bn.running_var[0] == doctest::Approx(0.9 + 0.1 * 14.0 / 3.0).epsilon(1e-7));
  CHECK(bn.num_batches_tracked == 1);

  // A second batch: mean 1, biased var 1 (values 0, 2, 0, 2), unbiased 4/3.
  Tensor x2 = make({2, 1, 1, 2}, {0, 2, 0, 2});
  bn.forward(x2, Mode::Train);
  CHECK(bn.running_mean[0] == doctest::Approx(0.9 * 0.3 + 0.1 * 1.0).epsilon(1e-7));
  CHECK(bn.running_var[0] == doctest::Approx(0.9 * (0.9 + 0.1 * 14.0 / 3.0) + 0.1 * 4.0 / 3.0).epsilon(1e-7));
  CHECK(bn.num_batches_tracked == 2);

  // Eval mode uses the running statistics and leaves them alone.
  const float rm = bn.running_mean[0], rv = bn.running_var[0];
  const Tensor& ye = bn.forward(x, Mode::Eval);
  const double einv = 1.0 / std::sqrt(static_cast<double>(rv) + 1e-5);
  check_close(
      ye, {2 * (1 - rm) * einv + 0.5, 2 * (2 - rm) * einv + 0.5, 2 * (3 - rm) * einv + 0.5, 2 * (6 - rm) * einv + 0.5},
      1e-6, "eval y");
  CHECK(bn.running_mean[0] == rm);
  CHECK(bn.running_var[0] == rv);
  CHECK(bn.num_batches_tracked == 2);
}

TEST_CASE("BatchNorm2d forward and backward: PyTorch 1.13 values, train then eval") {
  // Obtained once with torch.nn.BatchNorm2d(2), weight [2, -0.5], bias [0.5, 1], on this x and dy:
  // y = bn(x); y.backward(dy); then bn.eval() and the same again.
  BatchNorm2d bn(2);
  set_torch_case_affine(bn);
  Tensor x = torch_case_x(), dy = torch_case_dy();
  const Tensor& y = bn.forward(x, Mode::Train);
  check_close(y,
              {0.04116898775100708, 0.9588309526443481, 1.876492977142334, 4.629478931427002, 1.4366663694381714,
               1.6695551872253418, 0.5051113367080688, 0.9708888530731201, -2.7118167877197266, -0.876492977142334,
               0.04116898775100708, 0.04116898775100708, 0.7380000948905945, 0.7380000948905945, 1.6695551872253418,
               0.2722225785255432},
              1e-6, "train y");
  const Tensor& dx = bn.backward(dy);
  check_close(dx,
              {0.22035956382751465, -1.1953753232955933, 1.5183684825897217, -0.2052661031484604, 0.013815253041684628,
               0.2928869426250458, 0.1784166693687439, -0.5443281531333923, -0.12074528634548187, 1.177263617515564,
               -2.0737953186035156, 0.6791905760765076, -0.06651134788990021, 0.39926615357398987, -0.1728905737400055,
               -0.10065501183271408},
              1e-6, "train dx");
  check_close(bn.weight_grad, {0.7456003427505493, -3.4059979915618896}, 1e-6, "train dweight");
  check_close(bn.bias_grad, {2.25, 5.5}, 1e-6, "train dbias");
  check_close(bn.running_mean, {0.15000000596046448, 0.1875}, 1e-7, "running_mean");
  check_close(bn.running_var, {1.4428571462631226, 1.4267857074737549}, 1e-7, "running_var");
  CHECK(bn.num_batches_tracked == 1);

  bn.weight_grad.zero();
  bn.bias_grad.zero();
  const Tensor& ye = bn.forward(x, Mode::Eval);
  check_close(ye,
              {1.9152584075927734, 3.580268144607544, 5.2452778816223145, 10.240307807922363, 1.0784857273101807,
               1.4970760345458984, -0.5958752632141113, 0.24130523204803467, -3.0797712802886963, 0.250248521566391,
               1.9152584075927734, 1.9152584075927734, -0.17728501558303833, -0.17728501558303833, 1.4970760345458984,
               -1.014465570449829},
              1e-6, "eval y");
  const Tensor& dxe = bn.backward(dy);
  check_close(dxe,
              {0.83250492811203, -1.66500985622406, 3.33001971244812, 0.416252464056015, -0.418590247631073, 0.0,
               0.2092951238155365, -1.2557706832885742, 0.0, 2.4975147247314453, -3.33001971244812, 1.66500985622406,
               -0.31394267082214355, 0.5232378244400024, -0.837180495262146, -0.2092951238155365},
              1e-6, "eval dx");
  check_close(bn.weight_grad, {3.881553888320923, 1.6481990814208984}, 1e-6, "eval dweight");
  check_close(bn.bias_grad, {2.25, 5.5}, 1e-6, "eval dbias");
  CHECK(bn.num_batches_tracked == 1);
}

TEST_CASE("BatchNorm2d gradient: train mode through the batch statistics, many shapes") {
  struct Case {
    int N, C, H, W;
  };
  const Case cases[] = {{1, 3, 5, 5}, {3, 2, 1, 1}, {3, 4, 7, 3}, {1, 2, 17, 17},
                        {2, 3, 3, 3}, {3, 1, 1, 5}, {1, 2, 1, 3}, {2, 2, 5, 7}};
  for (const Case& c : cases) {
    INFO("BatchNorm2d N" << c.N << " C" << c.C << " " << c.H << "x" << c.W);
    BatchNorm2d bn(c.C);
    Rng rng(static_cast<uint64_t>(c.N * 1000 + c.C * 100 + c.H * 10 + c.W));
    fill_uniform(bn.weight, rng, 0.5f, 2.0f);
    fill_uniform(bn.bias, rng, -1.0f, 1.0f);
    Tensor x({c.N, c.C, c.H, c.W});
    fill_uniform(x, rng, -2.0f, 3.0f);
    testing::GradCheckOptions options;
    options.mode = Mode::Train;
    check_layer_gradients(bn, x, options);
  }
}

TEST_CASE("BatchNorm2d gradient: eval mode with running statistics") {
  for (int N : {1, 3}) {
    BatchNorm2d bn(3);
    Rng rng(static_cast<uint64_t>(N));
    fill_uniform(bn.weight, rng, -2.0f, 2.0f);
    fill_uniform(bn.bias, rng, -1.0f, 1.0f);
    fill_uniform(bn.running_mean, rng, -1.0f, 1.0f);
    fill_uniform(bn.running_var, rng, 0.5f, 2.0f);
    Tensor x({N, 3, 5, 4});
    fill_uniform(x, rng, -2.0f, 2.0f);
    testing::GradCheckOptions options;
    options.mode = Mode::Eval;
    check_layer_gradients(bn, x, options);
    CHECK(bn.num_batches_tracked == 0);
  }
}

TEST_CASE("BatchNorm2d gradient: a large channel mean does not cost precision") {
  // Values around 1000 with spread 1: a backward built on sum(dy * x) - mu * sum(dy), or on
  // xhat = x * invstd - mu * invstd, would lose about three digits to cancellation.
  BatchNorm2d bn(2);
  Rng rng(21);
  Tensor x({2, 2, 6, 6});
  fill_uniform(x, rng, 999.0f, 1001.0f);
  testing::GradCheckOptions options;
  options.check_input = false;  // eps 1e-2 on values near 1000 is at float resolution; gamma/beta only
  check_layer_gradients(bn, x, options);
  Tensor dy(x.shape());
  fill_uniform(dy, rng, -1.0f, 1.0f);
  bn.weight_grad.zero();
  bn.forward(x, Mode::Train);
  bn.backward(dy);
  // dgamma = sum dy * xhat computed in double from the same float inputs.
  for (int c = 0; c < 2; ++c) {
    double sum = 0, sq = 0;
    for (int n = 0; n < 2; ++n)
      for (int i = 0; i < 36; ++i) sum += x[(n * 2 + c) * 36 + i];
    const double mean = sum / 72;
    for (int n = 0; n < 2; ++n)
      for (int i = 0; i < 36; ++i) sq += (x[(n * 2 + c) * 36 + i] - mean) * (x[(n * 2 + c) * 36 + i] - mean);
    const double invstd = 1.0 / std::sqrt(sq / 72 + 1e-5);
    double dgamma = 0;
    for (int n = 0; n < 2; ++n)
      for (int i = 0; i < 36; ++i) dgamma += dy[(n * 2 + c) * 36 + i] * (x[(n * 2 + c) * 36 + i] - mean) * invstd;
    CHECK(bn.weight_grad[c] == doctest::Approx(dgamma).epsilon(1e-4));
  }
}

TEST_CASE("BatchNorm2d: one value per channel cannot train; names; shape errors") {
  BatchNorm2d bn(4);
  CHECK_THROWS_AS(bn.forward(Tensor({1, 4, 1, 1}), Mode::Train), ShapeError);
  CHECK_NOTHROW(bn.forward(Tensor({1, 4, 1, 1}), Mode::Eval));
  CHECK_THROWS_AS(bn.forward(Tensor({2, 3, 4, 4}), Mode::Train), ShapeError);
  CHECK_THROWS_AS(bn.out_shape(Shape{2, 4}), ShapeError);
  Tensor x({2, 4, 3, 3});
  bn.forward(x, Mode::Train);
  CHECK_THROWS_AS(bn.backward(Tensor({2, 4, 3, 2})), ShapeError);

  std::vector<Param> ps;
  bn.params("bn1.", ps);
  REQUIRE(ps.size() == 2);
  CHECK(ps[0].name == "bn1.weight");
  CHECK(ps[1].name == "bn1.bias");
  std::vector<Buffer> bs;
  bn.buffers("bn1.", bs);
  REQUIRE(bs.size() == 3);
  CHECK(bs[0].name == "bn1.running_mean");
  CHECK(bs[0].f32 == &bn.running_mean);
  CHECK(bs[1].name == "bn1.running_var");
  CHECK(bs[2].name == "bn1.num_batches_tracked");
  CHECK(bs[2].i64 == &bn.num_batches_tracked);
  CHECK(bs[2].f32 == nullptr);

  // init_default: gamma 1, beta 0, running_mean 0, running_var 1, count 0.
  Rng rng(3);
  fill_uniform(bn.weight, rng, -1.0f, 1.0f);
  fill_uniform(bn.running_var, rng, 2.0f, 3.0f);
  bn.num_batches_tracked = 7;
  bn.init_default(rng);
  for (int c = 0; c < 4; ++c) {
    CHECK(bn.weight[c] == 1.0f);
    CHECK(bn.bias[c] == 0.0f);
    CHECK(bn.running_mean[c] == 0.0f);
    CHECK(bn.running_var[c] == 1.0f);
  }
  CHECK(bn.num_batches_tracked == 0);
  CHECK(bn.summary() == "BatchNorm2d(4)");
}

TEST_CASE("BatchNorm2d: buffers reused after the first batch, dx skipped when not needed") {
  BatchNorm2d bn(3);
  Tensor x({4, 3, 5, 5}), dy({4, 3, 5, 5});
  Rng rng(8);
  fill_uniform(x, rng, -1.0f, 1.0f);
  const float* y_first = bn.forward(x, Mode::Train).data();
  const float* dx_first = bn.backward(dy).data();
  for (int step = 0; step < 2; ++step) {
    CHECK(bn.forward(x, Mode::Train).data() == y_first);
    CHECK(bn.backward(dy).data() == dx_first);
    CHECK(bn.forward(x, Mode::Eval).data() == y_first);
    CHECK(bn.backward(dy).data() == dx_first);
  }
  bn.set_needs_input_grad(false);
  bn.forward(x, Mode::Train);
  CHECK(bn.backward(dy).empty());
  testing::GradCheckOptions options;
  options.check_input = false;
  check_layer_gradients(bn, x, options);
}
