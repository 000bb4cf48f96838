// BatchNorm2d's backward sums handed over by the Conv2d that reads its output (BatchNorm2d::link_consumer,
// ConvPrologue in engine/layers/conv2d.h, engine/blocks.h link_batchnorm_consumers):
// - linked == unlinked within a stated tolerance (dx, dgamma, dbeta; the convolution's gradients bit for
//   bit), BatchNorm + ReLU6 / ReLU / none -> 1x1 and depthwise 3x3 stride 1 and 2, odd shapes; planes below
//   kHandOverMinPlane values (no hand-over) bit for bit; small planes (8x8, 8x9, 9x15: per-image sums from
//   one kernel call per group of the consumer's backward) on odd shapes, batches 1, 5 and 64 with groups
//   that do not divide the batch;
// - bit-identical for 1 and 2 threads (large and small planes, groups not dividing the batch), and over a
//   MobileNetV2@32 and @64 training step: every BatchNorm's gradients and dx;
// - channels whose |beta| / |gamma| + |mu| * invstd exceeds kHandOverRatio take the exact pass: their
//   bits are the unlinked ones;
// - the hand-over is used: the BatchNorm's input is poisoned (NaN) after forward, so any read of it by
//   the sums pass (or a skipped hook, which makes the BatchNorm fall back to that pass) shows as NaN;
// - finite differences through the linked pair;
// - linking: nested Sequentials yes, never across a Residual.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/blocks.h"
#include "engine/layers/batchnorm2d.h"
#include "engine/layers/conv2d.h"
#include "engine/net.h"
#include "engine/threads.h"
#include "models/model.h"
#include "tests/gradcheck.h"
#include "tests/tensor_bits.h"

using namespace plasmo;
using plasmo::testing::check_layer_gradients;
using plasmo::testing::fill_uniform;
using plasmo::testing::same_bits;
using Act = BatchNorm2d::Activation;

namespace {

double max_abs(const Tensor& a) {
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(a[i])));
  return worst;
}

// |a - b| <= rtol * max|b| + atol elementwise (the hand-over's error is relative to the sums' scale, not to
// each element: a gradient element can be a small difference of large terms).
bool close(const Tensor& a, const Tensor& b, double rtol, double atol = 1e-7) {
  if (a.shape() != b.shape()) return false;
  const double bound = rtol * max_abs(b) + atol;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::fabs(static_cast<double>(a[i]) - b[i]) <= bound)) return false;
  return true;
}

struct Pair {
  std::unique_ptr<Sequential> net;
  BatchNorm2d* bn = nullptr;
  Conv2d* conv = nullptr;
};

// [BN(C) + act, conv]: conv 1x1 C -> out_channels (with bias) or depthwise 3x3 (stride 1 or 2, padding 1).
Pair make_pair(int C, Act act, bool depthwise, int stride, bool link, uint64_t seed, int out_channels = 7) {
  Pair pair;
  pair.net = std::make_unique<Sequential>();
  pair.bn = &pair.net->emplace<BatchNorm2d>("0", C, act);
  pair.conv = depthwise ? &pair.net->emplace<Conv2d>("1", C, C, 3, stride, 1, C, false)
                        : &pair.net->emplace<Conv2d>("1", C, out_channels, 1, 1, 0, 1, true);
  Rng rng(seed);
  pair.conv->init_default(rng);
  // gamma and beta put part of the values below 0 and (ReLU6) some above 6
  fill_uniform(pair.bn->weight, rng, 0.5f, 2.5f);
  fill_uniform(pair.bn->bias, rng, -0.5f, 3.0f);
  if (link) link_batchnorm_consumers(*pair.net);
  return pair;
}

struct Result {
  Tensor dx, dgamma, dbeta, dweight, dbias;
};

Result run(Pair& pair, const Tensor& x, uint64_t seed) {
  pair.bn->weight_grad.zero();
  pair.bn->bias_grad.zero();
  pair.conv->weight_grad.zero();
  if (pair.conv->has_bias()) pair.conv->bias_grad.zero();
  const Tensor& y = pair.net->forward(x, Mode::Train);
  Tensor dy(y.shape());
  Rng rng(seed);
  fill_uniform(dy, rng, -1.0f, 1.0f);
  Result r;
  r.dx = pair.net->backward(dy).clone();
  r.dgamma = pair.bn->weight_grad.clone();
  r.dbeta = pair.bn->bias_grad.clone();
  r.dweight = pair.conv->weight_grad.clone();
  if (pair.conv->has_bias()) r.dbias = pair.conv->bias_grad.clone();
  return r;
}

struct Shape4 {
  int N, C, H, W;
};
// Odd shapes: planes below kStatsPlane (1x1, 7x7, 7x31: no hand-over) and at or above it (31x31, 17x17,
// 16x16 the boundary).
const Shape4 kShapes[] = {{1, 1, 31, 31}, {5, 3, 31, 31}, {1, 5, 17, 17}, {5, 17, 16, 16}, {5, 17, 7, 7},
                          {1, 3, 1, 1},   {5, 5, 7, 31},  {5, 1, 1, 1},   {1, 17, 31, 31}};

const char* act_name(Act act) { return act == Act::ReLU6 ? "ReLU6" : act == Act::ReLU ? "ReLU" : "none"; }

// Linked against unlinked on one shape (x and dy drawn from seed): the convolution's own gradients keep
// their bits; the BatchNorm's dgamma, dbeta and dx are within the hand-over's tolerance where it hands
// over (planes of kHandOverMinPlane and more), bit-identical elsewhere. Returns whether it handed over.
bool check_linked_as_unlinked(const Shape4& s, Act act, bool depthwise, int stride, int out_channels, uint64_t seed) {
  INFO(act_name(act) << (depthwise ? " depthwise s" : " 1x1 s") << stride << " N" << s.N << " C" << s.C << " " << s.H
                     << "x" << s.W << " out " << out_channels);
  Tensor x({s.N, s.C, s.H, s.W});
  Rng rng(seed);
  fill_uniform(x, rng, -2.0f, 3.0f);
  Pair plain = make_pair(s.C, act, depthwise, stride, false, seed, out_channels);
  Pair linked = make_pair(s.C, act, depthwise, stride, true, seed, out_channels);
  REQUIRE(linked.bn->consumer() == linked.conv);
  const Result expected = run(plain, x, seed + 1);
  const Result got = run(linked, x, seed + 1);
  const bool handed = s.H * s.W >= BatchNorm2d::kHandOverMinPlane;
  CHECK(linked.bn->handed_over_backwards() == (handed ? 1 : 0));
  CHECK(linked.bn->last_exact_channels() == (handed ? 0 : s.C));
  // The convolution's own gradients never change.
  CHECK(same_bits(got.dweight, expected.dweight));
  CHECK(same_bits(got.dbias, expected.dbias));
  if (handed) {
    // sum g * xc's error ~2^-25 * (2 |xhat| + ratio) of its scale (batchnorm2d.cpp), here ratio <= 6.
    CHECK(close(got.dgamma, expected.dgamma, 2e-5));
    CHECK(close(got.dbeta, expected.dbeta, 2e-5));
    CHECK(close(got.dx, expected.dx, 2e-5));
  } else {
    CHECK(same_bits(got.dgamma, expected.dgamma));
    CHECK(same_bits(got.dbeta, expected.dbeta));
    CHECK(same_bits(got.dx, expected.dx));
  }
  return handed;
}

// The same with inputs drawn from a seed made of the shape.
bool check_linked_as_unlinked(const Shape4& s, Act act, bool depthwise, int stride, int out_channels) {
  const uint64_t seed = static_cast<uint64_t>(s.N * 1000 + s.C * 100 + s.H * 10 + s.W);
  return check_linked_as_unlinked(s, act, depthwise, stride, out_channels, seed);
}

}  // namespace

TEST_CASE("BatchNorm hand-over: linked as unlinked (1x1, depthwise s1/s2; ReLU6, ReLU, none; odd shapes)") {
  struct ConvCase {
    bool depthwise;
    int stride;
  };
  const ConvCase convs[] = {{false, 1}, {true, 1}, {true, 2}};
  int handed_cases = 0;
  for (Act act : {Act::ReLU6, Act::ReLU, Act::None})
    for (const ConvCase& cc : convs)
      for (const Shape4& s : kShapes) {
        if (s.N * s.H * s.W < 2) continue;  // training BatchNorm needs 2 values per channel
        const uint64_t seed = static_cast<uint64_t>(s.N * 1000 + s.C * 100 + s.H);
        handed_cases += check_linked_as_unlinked(s, act, cc.depthwise, cc.stride, 7, seed);
      }
  CHECK(handed_cases == 3 * 3 * 6);
}

TEST_CASE("BatchNorm hand-over: small planes, linked as unlinked (odd shapes, batches 1, 5, 64)") {
  const int sizes[] = {1, 2, 3, 4, 7, 8, 9, 15};  // 8x8 .. 15x15 handed over (kHandOverMinPlane = 64)
  int cases = 0;
  for (int N : {1, 5})
    for (int C : {1, 3, 5, 17})
      for (int H : sizes)
        for (int W : sizes) {
          if (N * H * W < 2) continue;
          const Act act = (H + W + C) % 3 == 0 ? Act::ReLU6 : (H + W + C) % 3 == 1 ? Act::ReLU : Act::None;
          check_linked_as_unlinked({N, C, H, W}, act, false, 1, 7);
          check_linked_as_unlinked({N, C, H, W}, act, true, 1 + (H + W) % 2, 0);
          cases += 2;
        }
  // Batch 64 with the consumer's backward in groups that do not divide it (8x8: 192 channels -> 7 or 10
  // images per group), every activation; 4x4 and 3x7 (exact pass) alongside.
  for (Act act : {Act::ReLU6, Act::ReLU, Act::None}) {
    check_linked_as_unlinked({64, 192, 8, 8}, act, true, 1, 0);
    check_linked_as_unlinked({64, 192, 8, 8}, act, false, 1, 64);
    check_linked_as_unlinked({64, 576, 4, 4}, act, false, 1, 96);
    check_linked_as_unlinked({64, 17, 3, 7}, act, true, 2, 0);
    cases += 4;
  }
  CHECK(cases == 2 * 2 * 4 * 64 - 2 * 4 + 12);
}

TEST_CASE("BatchNorm hand-over: bit-identical for 1 and 2 threads") {
  // 31x31 (per image, depthwise fused per plane) and the small planes (per group of images; 64 x 192 at
  // 8x8: groups of 7 or 10 images, which split differently under 1 and 2 threads).
  const Shape4 shapes[] = {{5, 17, 31, 31}, {5, 17, 8, 9}, {64, 192, 8, 8}};
  for (const Shape4& s : shapes)
    for (bool depthwise : {false, true}) {
      INFO(std::string(depthwise ? "depthwise" : "1x1") << " N" << s.N << " C" << s.C << " " << s.H << "x" << s.W);
      std::vector<Result> results;
      for (int threads : {1, 2}) {
        set_thread_count(threads);
        Tensor x({s.N, s.C, s.H, s.W});
        Rng rng(9);
        fill_uniform(x, rng, -2.0f, 3.0f);
        Pair linked = make_pair(s.C, Act::ReLU6, depthwise, 1, true, 9);
        results.push_back(run(linked, x, 10));
        CHECK(linked.bn->handed_over_backwards() == 1);
      }
      set_thread_count(0);
      CHECK(same_bits(results[0].dx, results[1].dx));
      CHECK(same_bits(results[0].dgamma, results[1].dgamma));
      CHECK(same_bits(results[0].dbeta, results[1].dbeta));
      // (the convolution's weight gradient is bit-identical per thread count only: its partials are summed
      // per worker, conv2d.h)
    }
}

TEST_CASE("BatchNorm hand-over: a MobileNetV2 step's BatchNorm gradients bit-identical for 1 and 2 threads") {
  // At 32x32 the stages run at 16x16 (exact pass), 8x8 (hand-over, per group), 4x4, 2x2 and 1x1 (exact).
  // At 64x64 (below) 16x16 (hand-over, per image) and 8x8.
  // The convolutions' weight gradients are per thread count only (their partials are summed per worker).
  struct StepGrads {
    std::vector<Tensor> bn_grads;
    Tensor dx;
  };
  std::vector<StepGrads> results;
  for (int size : {32, 64})
    for (int threads : {1, 2}) {
      set_thread_count(threads);
      std::unique_ptr<Model> model = make_model("mobilenetv2", 1.0, size, 61);
      model->set_needs_input_grad(true);
      Tensor x(model->input_shape(6));
      Rng rng(62);
      fill_uniform(x, rng, -2.0f, 2.0f);
      const Tensor& logits = model->forward(x, Mode::Train);
      Tensor dlogits(logits.shape());
      fill_uniform(dlogits, rng, -1.0f, 1.0f);
      StepGrads r;
      r.dx = model->backward(dlogits).clone();
      for (const Param& p : model->params())
        if (p.grad->rank() == 1 && p.name.rfind("features.", 0) == 0) r.bn_grads.push_back(p.grad->clone());
      results.push_back(std::move(r));
    }
  set_thread_count(0);
  for (size_t run = 0; run < results.size(); run += 2) {
    INFO("input " << (run == 0 ? 32 : 64));
    REQUIRE(results[run].bn_grads.size() == results[run + 1].bn_grads.size());
    CHECK(results[run].bn_grads.size() == 2 * 52);
    CHECK(same_bits(results[run].dx, results[run + 1].dx));
    for (size_t i = 0; i < results[run].bn_grads.size(); ++i) {
      INFO("BatchNorm gradient " << i);
      CHECK(same_bits(results[run].bn_grads[i], results[run + 1].bn_grads[i]));
    }
  }
}

TEST_CASE("BatchNorm hand-over: channels with tiny |gamma| or large |mu| / std take the exact pass, bit for bit") {
  const int C = 17;
  for (Act act : {Act::ReLU6, Act::None}) {
    INFO(act_name(act));
    Tensor x({5, C, 17, 17});
    Rng rng(21);
    fill_uniform(x, rng, -2.0f, 3.0f);
    // channel 4: mean ~ 500 for a std ~ 1.4 (|mu| * invstd ~ 350)
    const size_t plane = 17 * 17;
    for (int n = 0; n < 5; ++n)
      for (size_t i = 0; i < plane; ++i) x[(static_cast<size_t>(n) * C + 4) * plane + i] += 500.0f;
    Pair plain = make_pair(C, act, true, 1, false, 21);
    Pair linked = make_pair(C, act, true, 1, true, 21);
    for (Pair* pair : {&plain, &linked}) {
      pair->bn->weight[2] = 1e-3f;  // |beta| / |gamma| >= 500
      pair->bn->bias[2] = 0.5f;
      pair->bn->weight[9] = -2e-3f;
      pair->bn->bias[9] = 1.0f;
      pair->bn->weight[11] = 0.0f;  // scale 0: the division is impossible
      pair->bn->bias[4] = 0.25f;
    }
    const Result expected = run(plain, x, 22);
    const Result got = run(linked, x, 22);
    CHECK(linked.bn->handed_over_backwards() == 1);
    CHECK(linked.bn->last_exact_channels() == 4);
    for (int c : {2, 4, 9, 11}) {
      INFO("channel " << c);
      CHECK(std::memcmp(std::as_const(got.dgamma).data() + c, std::as_const(expected.dgamma).data() + c,
                        sizeof(float)) == 0);
      CHECK(std::memcmp(std::as_const(got.dbeta).data() + c, std::as_const(expected.dbeta).data() + c, sizeof(float)) ==
            0);
    }
    CHECK(close(got.dgamma, expected.dgamma, 2e-5));
    CHECK(close(got.dx, expected.dx, 2e-5));
  }
}

TEST_CASE("BatchNorm hand-over is used: the sums never read the BatchNorm's input") {
  // With the BatchNorm's dx not needed, its backward reads x only in the exact sums pass: x poisoned with
  // NaN after forward leaves the gradients finite and unchanged only if the consumer handed every image over.
  for (int H : {31, 8})
    for (bool depthwise : {false, true}) {
      INFO(std::string(depthwise ? "depthwise" : "1x1") << " " << H << "x" << H);
      std::vector<Result> results;
      for (bool poison : {false, true}) {
        Tensor x({5, 17, H, H});
        Rng rng(31);
        fill_uniform(x, rng, -2.0f, 3.0f);
        Pair linked = make_pair(17, Act::ReLU6, depthwise, 2, true, 31);
        linked.bn->set_needs_input_grad(false);
        const Tensor& y = linked.conv->forward(linked.bn->forward(x, Mode::Train), Mode::Train);
        if (poison) x.fill(std::numeric_limits<float>::quiet_NaN());
        Tensor dy(y.shape());
        Rng dy_rng(32);
        fill_uniform(dy, dy_rng, -1.0f, 1.0f);
        linked.bn->backward(linked.conv->backward(dy));
        CHECK(linked.bn->handed_over_backwards() == 1);
        Result r;
        r.dgamma = linked.bn->weight_grad.clone();
        r.dbeta = linked.bn->bias_grad.clone();
        results.push_back(std::move(r));
      }
      CHECK(std::isfinite(max_abs(results[1].dgamma)));
      CHECK(same_bits(results[0].dgamma, results[1].dgamma));
      CHECK(same_bits(results[0].dbeta, results[1].dbeta));
    }
}

TEST_CASE("BatchNorm hand-over: a stale or foreign gradient falls back to the exact pass") {
  Tensor x({2, 3, 16, 16});
  Rng rng(41);
  fill_uniform(x, rng, -2.0f, 3.0f);
  Pair linked = make_pair(3, Act::ReLU6, true, 1, true, 41);
  Pair plain = make_pair(3, Act::ReLU6, true, 1, false, 41);
  for (Pair* pair : {&linked, &plain}) {
    const Tensor& y = pair->conv->forward(pair->bn->forward(x, Mode::Train), Mode::Train);
    Tensor dz(y.shape());
    dz.fill(0.5f);
    pair->conv->backward(dz);
  }
  // dy is not the consumer's dx: the exact pass, the unlinked bits.
  Tensor dy(x.shape());
  fill_uniform(dy, rng, -1.0f, 1.0f);
  const Tensor dx_linked = linked.bn->backward(dy).clone();
  const Tensor dx_plain = plain.bn->backward(dy).clone();
  CHECK(linked.bn->handed_over_backwards() == 0);
  CHECK(same_bits(dx_linked, dx_plain));
  CHECK(same_bits(linked.bn->weight_grad, plain.bn->weight_grad));
  // A new forward voids the consumer's hand-over of the previous one.
  const Tensor& y = linked.conv->forward(linked.bn->forward(x, Mode::Train), Mode::Train);
  Tensor dz(y.shape());
  dz.fill(0.25f);
  const Tensor& dy2 = linked.conv->backward(dz);
  linked.bn->forward(x, Mode::Train);
  linked.bn->backward(dy2);
  CHECK(linked.bn->handed_over_backwards() == 0);
  // Eval-mode gradients: no hand-over.
  linked.conv->forward(linked.bn->forward(x, Mode::Eval), Mode::Eval);
  linked.bn->backward(linked.conv->backward(dz));
  CHECK(linked.bn->handed_over_backwards() == 0);
}

TEST_CASE("BatchNorm hand-over gradient: the linked pair (finite differences)") {
  for (Act act : {Act::ReLU6, Act::ReLU, Act::None})
    for (bool depthwise : {false, true}) {
      INFO(act_name(act) << (depthwise ? " depthwise" : " 1x1"));
      Tensor x({2, 3, 16, 17});
      Rng rng(51);
      fill_uniform(x, rng, -2.0f, 3.0f);
      Pair linked = make_pair(3, act, depthwise, depthwise ? 2 : 1, true, 51);
      testing::GradCheckOptions options;
      options.kink_retries = 3;
      check_layer_gradients(*linked.net, x, options);
      CHECK(linked.bn->handed_over_backwards() > 0);
    }
}

TEST_CASE("BatchNorm hand-over linking: nested Sequentials, never across a Residual") {
  // MobileNetV2's features.0 (stem) then an InvertedResidual with expand_ratio 1, not residual (32 -> 16),
  // then a residual one (16 -> 16): the stem's BN feeds the first block's depthwise conv; the first block's
  // last BN feeds a Residual (its input also goes to the shortcut): not linked.
  Sequential net;
  net.add("0", conv_bn_relu6(3, 32, 3, 2));
  net.add("1", make_inverted_residual(32, 16, 1, 1));
  net.add("2", make_inverted_residual(16, 16, 1, 6));
  fold_batchnorms(net);
  auto& stem = dynamic_cast<Sequential&>(net.at(0));
  auto& first = dynamic_cast<Sequential&>(dynamic_cast<Sequential&>(net.at(1)).at(0));  // "1.conv"
  auto& stem_bn = dynamic_cast<BatchNorm2d&>(stem.at(1));
  auto& first_dw = dynamic_cast<Conv2d&>(dynamic_cast<Sequential&>(first.at(0)).at(0));
  auto& first_dw_bn = dynamic_cast<BatchNorm2d&>(dynamic_cast<Sequential&>(first.at(0)).at(1));
  auto& first_project = dynamic_cast<Conv2d&>(first.at(1));
  auto& first_last_bn = dynamic_cast<BatchNorm2d&>(first.at(2));
  CHECK(stem_bn.consumer() == &first_dw);
  CHECK(first_dw_bn.consumer() == &first_project);
  CHECK(first_last_bn.consumer() == nullptr);
  auto& residual = dynamic_cast<Residual&>(net.at(2));
  auto& expand_bn = dynamic_cast<BatchNorm2d&>(dynamic_cast<Sequential&>(residual.body().at(0)).at(1));
  auto& dw = dynamic_cast<Conv2d&>(dynamic_cast<Sequential&>(residual.body().at(1)).at(0));
  CHECK(expand_bn.consumer() == &dw);
  // ResNet's BasicBlock: bn1 (+ ReLU) feeds conv2.
  auto block = make_basic_block(8, 8, 1);
  fold_batchnorms(*block);
  CHECK(dynamic_cast<BatchNorm2d&>(block->body().at(1)).consumer() == &dynamic_cast<Conv2d&>(block->body().at(2)));
  CHECK(dynamic_cast<BatchNorm2d&>(block->body().at(3)).consumer() == nullptr);
}
