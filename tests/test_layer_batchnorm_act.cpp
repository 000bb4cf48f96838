// BatchNorm2d with a fused activation (ReLU, ReLU6) and eval-mode folding into the preceding Conv2d
// (engine/layers/batchnorm2d.h, engine/blocks.h fold_batchnorms):
// - fused = BatchNorm2d then the activation layer, bit for bit (forward, dx, dgamma, dbeta; train and eval);
// - finite-difference gradients of the fused layer, train and eval, planes from 1x1 to 17x17;
// - results do not depend on the thread count;
// - folded eval forward matches the unfolded one (within float rounding of the folded weights), the
//   backward after a folded forward equals the unfolded eval backward bit for bit, and the fold follows
//   every change of the parameters (params() hand-outs, train forwards, load_state, gradient checks).
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/blocks.h"
#include "engine/io/state.h"
#include "engine/layers/activations.h"
#include "engine/layers/batchnorm2d.h"
#include "engine/layers/conv2d.h"
#include "engine/net.h"
#include "engine/param_version.h"
#include "engine/threads.h"
#include "tests/gradcheck.h"
#include "tests/tensor_bits.h"
#include "tests/test_helpers.h"

using namespace plasmo;
using plasmo::testing::check_layer_gradients;
using plasmo::testing::fill_uniform;
using plasmo::testing::for_each_isa;
using plasmo::testing::same_bits;
using Act = BatchNorm2d::Activation;

namespace {

double max_abs_difference(const Tensor& a, const Tensor& b) {
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
  return worst;
}

void randomise(BatchNorm2d& bn, Rng& rng) {
  fill_uniform(bn.weight, rng, 0.5f, 2.0f);
  fill_uniform(bn.bias, rng, -1.0f, 3.0f);
  fill_uniform(bn.running_mean, rng, -1.0f, 1.0f);
  fill_uniform(bn.running_var, rng, 0.5f, 2.0f);
}

std::unique_ptr<Layer> activation_layer(Act act) {
  if (act == Act::ReLU) return std::make_unique<ReLU>();
  return std::make_unique<ReLU6>();
}

}  // namespace

TEST_CASE("BatchNorm2d + ReLU / ReLU6: the same bits as BatchNorm2d followed by the activation layer") {
  const Shape shapes[] = {Shape{3, 5, 1, 1}, Shape{4, 3, 2, 2}, Shape{2, 4, 4, 4}, Shape{2, 3, 7, 9},
                          Shape{2, 2, 32, 33}};
  for (Act act : {Act::ReLU, Act::ReLU6})
    for (const Shape& shape : shapes)
      for (Mode mode : {Mode::Train, Mode::Eval}) {
        CAPTURE(shape.str());
        CAPTURE(static_cast<int>(act));
        CAPTURE(mode == Mode::Train);
        Rng rng(shape.numel() + static_cast<int>(act));
        BatchNorm2d fused(shape.c(), act), plain(shape.c());
        randomise(fused, rng);
        plain.weight.copy_from(fused.weight);
        plain.bias.copy_from(fused.bias);
        plain.running_mean.copy_from(fused.running_mean);
        plain.running_var.copy_from(fused.running_var);
        auto activation = activation_layer(act);
        Tensor x(shape), dy(shape);
        fill_uniform(x, rng, -2.0f, 4.0f);
        fill_uniform(dy, rng, -1.0f, 1.0f);
        const Tensor& y_fused = fused.forward(x, mode);
        const Tensor& y_plain = activation->forward(plain.forward(x, mode), mode);
        CHECK(same_bits(y_fused, y_plain));
        const Tensor& dx_fused = fused.backward(dy);
        const Tensor& dx_plain = plain.backward(activation->backward(dy));
        CHECK(same_bits(dx_fused, dx_plain));
        CHECK(same_bits(fused.weight_grad, plain.weight_grad));
        CHECK(same_bits(fused.bias_grad, plain.bias_grad));
        CHECK(same_bits(fused.running_mean, plain.running_mean));
        CHECK(same_bits(fused.running_var, plain.running_var));
      }
  CHECK(BatchNorm2d(8, Act::ReLU6).summary() == "BatchNorm2d(8) + ReLU6");
  CHECK(BatchNorm2d(8, Act::ReLU).summary() == "BatchNorm2d(8) + ReLU");
}

TEST_CASE("BatchNorm2d + ReLU / ReLU6 gradient: train and eval, planes 1x1 to 17x17") {
  struct Case {
    int N, C, H, W;
  };
  const Case cases[] = {{3, 2, 1, 1}, {2, 3, 2, 2}, {1, 3, 5, 5}, {2, 2, 4, 4}, {3, 4, 7, 3}, {1, 2, 17, 17}};
  for (Act act : {Act::ReLU, Act::ReLU6})
    for (Mode mode : {Mode::Train, Mode::Eval})
      for (const Case& c : cases) {
        INFO("BatchNorm2d + act " << static_cast<int>(act) << " N" << c.N << " C" << c.C << " " << c.H << "x" << c.W
                                  << (mode == Mode::Train ? " train" : " eval"));
        BatchNorm2d bn(c.C, act);
        Rng rng(static_cast<uint64_t>(c.N * 1000 + c.C * 100 + c.H * 10 + c.W));
        randomise(bn, rng);
        // gamma and beta put roughly a third of the values below 0 and (ReLU6) some above 6
        fill_uniform(bn.weight, rng, 1.0f, 3.0f);
        fill_uniform(bn.bias, rng, 0.5f, 3.5f);
        Tensor x({c.N, c.C, c.H, c.W});
        fill_uniform(x, rng, -2.0f, 3.0f);
        testing::GradCheckOptions options;
        options.mode = mode;
        options.kink_retries = 3;
        check_layer_gradients(bn, x, options);
      }
}

TEST_CASE("BatchNorm2d + ReLU6: bit-identical for 1 and 2 threads (channels and images split)") {
  Rng rng(77);
  Tensor x({8, 24, 16, 16}), dy({8, 24, 16, 16});
  fill_uniform(x, rng, -2.0f, 4.0f);
  fill_uniform(dy, rng, -1.0f, 1.0f);
  std::vector<Tensor> results;
  for (int threads : {1, 2}) {
    set_thread_count(threads);
    BatchNorm2d bn(24, Act::ReLU6);
    Rng init(5);
    randomise(bn, init);
    results.push_back(bn.forward(x, Mode::Train).clone());
    results.push_back(bn.backward(dy).clone());
    results.push_back(bn.weight_grad.clone());
    results.push_back(bn.running_var.clone());
  }
  set_thread_count(0);
  for (size_t i = 0; i < 4; ++i) CHECK(same_bits(results[i], results[i + 4]));
}

namespace {

// [conv, BN + act] as a model builds it; `fold` links them for eval mode.
std::unique_ptr<Sequential> conv_bn(int in, int out, int kernel, int stride, int groups, bool conv_bias, Act act,
                                    bool fold, uint64_t seed) {
  auto net = std::make_unique<Sequential>();
  Conv2d& conv = net->emplace<Conv2d>("0", in, out, kernel, stride, kernel / 2, groups, conv_bias);
  BatchNorm2d& bn = net->emplace<BatchNorm2d>("1", out, act);
  Rng rng(seed);
  conv.init_default(rng);
  randomise(bn, rng);
  if (fold) fold_batchnorms(*net);
  return net;
}

struct FoldCase {
  int in, out, kernel, stride, groups;
  bool conv_bias;
  Act act;
};
const FoldCase kFoldCases[] = {
    {3, 8, 3, 2, 1, false, Act::ReLU6},  // MobileNetV2's stem
    {8, 8, 3, 1, 8, false, Act::ReLU6},  // depthwise
    {8, 12, 1, 1, 1, false, Act::None},  // projection (no activation)
    {5, 6, 3, 1, 1, true, Act::ReLU},    // a convolution with its own bias
};

}  // namespace

TEST_CASE("BatchNorm folding: eval forward as unfolded, the backward bit for bit the unfolded one") {
  for (const FoldCase& c : kFoldCases)
    for (int H : {1, 5, 16, 40}) {
      CAPTURE(c.in);
      CAPTURE(c.groups);
      CAPTURE(H);
      auto folded = conv_bn(c.in, c.out, c.kernel, c.stride, c.groups, c.conv_bias, c.act, true, 11);
      auto plain = conv_bn(c.in, c.out, c.kernel, c.stride, c.groups, c.conv_bias, c.act, false, 11);
      auto* bn = dynamic_cast<BatchNorm2d*>(&folded->at(1));
      REQUIRE(bn->folded_into() == &folded->at(0));
      Rng rng(H);
      Tensor x({3, c.in, H, H + 1});
      fill_uniform(x, rng, -1.0f, 1.0f);
      const Tensor& y_plain = plain->forward(x, Mode::Eval);
      const Tensor& y_folded = folded->forward(x, Mode::Eval);
      CHECK(dynamic_cast<Conv2d&>(folded->at(0)).folded_last_forward());
      CHECK(&y_folded == &dynamic_cast<Conv2d&>(folded->at(0)).output());  // the BatchNorm passed it on
      double scale = 1e-3;
      for (size_t i = 0; i < y_plain.size(); ++i) scale = std::max(scale, std::fabs(static_cast<double>(y_plain[i])));
      CHECK(max_abs_difference(y_folded, y_plain) <= 2e-6 * scale);
      // train mode is not folded
      CHECK(same_bits(folded->forward(x, Mode::Train), plain->forward(x, Mode::Train)));

      // backward (the BatchNorm's dx produced a group of images at a time inside the convolution's
      // backward): the unfolded layers' results bit for bit, train and eval
      Tensor dy(y_plain.shape());
      fill_uniform(dy, rng, -1.0f, 1.0f);
      for (Mode mode : {Mode::Eval, Mode::Train}) {
        CAPTURE(mode == Mode::Train);
        zero_grads(*folded);
        zero_grads(*plain);
        plain->forward(x, mode);
        const Tensor dx_plain = plain->backward(dy).clone();
        folded->forward(x, mode);
        const Tensor& dx_folded = folded->backward(dy);
        CHECK(same_bits(dx_folded, dx_plain));
        const std::vector<Param> pf = collect_params(*folded), pp = collect_params(*plain);
        REQUIRE(pf.size() == pp.size());
        for (size_t i = 0; i < pf.size(); ++i) {
          INFO(pf[i].name);
          CHECK(same_bits(*pf[i].grad, *pp[i].grad));
        }
      }
    }
}

TEST_CASE("BatchNorm folding gradient: eval mode through the folded convolution (finite differences)") {
  for (const FoldCase& c : kFoldCases) {
    CAPTURE(c.in);
    CAPTURE(c.groups);
    auto net = conv_bn(c.in, c.out, c.kernel, c.stride, c.groups, c.conv_bias, c.act, true, 3);
    Rng rng(9);
    Tensor x({2, c.in, 6, 5});
    fill_uniform(x, rng, -1.0f, 1.0f);
    testing::GradCheckOptions options;
    options.mode = Mode::Eval;
    options.kink_retries = 3;
    check_layer_gradients(*net, x, options);
  }
}

TEST_CASE("BatchNorm folding: the folded weights follow the parameters (version)") {
  auto folded = conv_bn(4, 6, 3, 1, 1, false, Act::ReLU6, true, 21);
  auto plain = conv_bn(4, 6, 3, 1, 1, false, Act::ReLU6, false, 21);
  Rng rng(4);
  Tensor x({2, 4, 5, 5});
  fill_uniform(x, rng, -1.0f, 1.0f);
  auto agree = [&] {
    const Tensor& a = folded->forward(x, Mode::Eval);
    const Tensor& b = plain->forward(x, Mode::Eval);
    return max_abs_difference(a, b) <= 1e-5;
  };
  CHECK(agree());
  // writes through freshly handed-out parameters (an optimizer, a loader)
  auto scale_all = [](Layer& net, float factor) {
    for (const Param& p : collect_params(net))
      for (size_t i = 0; i < p.value->size(); ++i) (*p.value)[i] *= factor;
    for (const Buffer& b : collect_buffers(net))
      if (b.f32)
        for (size_t i = 0; i < b.f32->size(); ++i) (*b.f32)[i] *= factor;
  };
  scale_all(*folded, 1.5f);
  scale_all(*plain, 1.5f);
  CHECK(agree());
  // a train forward moves the running statistics
  folded->forward(x, Mode::Train);
  plain->forward(x, Mode::Train);
  CHECK(agree());
  // writes through pointers kept across forwards, then parameters_changed()
  std::vector<Param> kept_f = collect_params(*folded), kept_p = collect_params(*plain);
  CHECK(agree());
  (*kept_f[0].value)[0] += 1.0f;
  (*kept_p[0].value)[0] += 1.0f;
  parameters_changed();
  CHECK(agree());
  // load_state
  const std::string path = "/tmp/plasmo-test-fold-" + std::to_string(::getpid()) + ".safetensors";
  auto source = conv_bn(4, 6, 3, 1, 1, false, Act::ReLU6, false, 99);
  save_state(path, collect_params(*source), collect_buffers(*source));
  std::vector<Param> params_f = collect_params(*folded), params_p = collect_params(*plain);
  std::vector<Buffer> buffers_f = collect_buffers(*folded), buffers_p = collect_buffers(*plain);
  CHECK(agree());
  load_state(path, params_f, buffers_f);
  load_state(path, params_p, buffers_p);
  std::remove(path.c_str());
  CHECK(agree());
}

TEST_CASE("BatchNorm folding with packed weights: the eval forward follows every change, every layout and ISA") {
  // The folded eval forward reads the folded weights through Conv2d's packed cache (keyed on the folded
  // tensor and its version). After each change, the folded net must give the bits of a fresh folded net
  // with the same parameters (nothing cached): batch 1 at 4x4 (few-column path, W^T slivers), batch 5 at
  // 4x4 (gathered), batch 3 at 16x16 (packed rows), pointwise at 4x4 (batch 2: the pointwise path where
  // it applies, which reads W unpacked; batch 1: few-column).
  struct Case {
    int batch, in, out, size, kernel;
  };
  const Case cases[] = {{1, 12, 40, 4, 3}, {5, 12, 40, 4, 3}, {3, 16, 24, 16, 3}, {2, 24, 48, 4, 1}, {1, 64, 96, 4, 1}};
  for_each_isa([&](const char*) {
    for (const Case& c : cases) {
      CAPTURE(c.batch);
      CAPTURE(c.size);
      CAPTURE(c.kernel);
      auto net = conv_bn(c.in, c.out, c.kernel, 1, 1, false, Act::ReLU6, true, 5);
      Rng rng(8);
      Tensor x({c.batch, c.in, c.size, c.size});
      fill_uniform(x, rng, -1.0f, 1.0f);
      // A fresh folded net with net's parameters and buffers: what net's eval forward must give.
      auto matches_fresh = [&] {
        // net's forward first: collect_params below moves the parameter version.
        const Tensor got = net->forward(x, Mode::Eval).clone();
        auto fresh = conv_bn(c.in, c.out, c.kernel, 1, 1, false, Act::ReLU6, true, 77);
        const std::vector<Param> from = collect_params(*net), to = collect_params(*fresh);
        for (size_t i = 0; i < from.size(); ++i) to[i].value->copy_from(*from[i].value);
        const std::vector<Buffer> from_b = collect_buffers(*net), to_b = collect_buffers(*fresh);
        for (size_t i = 0; i < from_b.size(); ++i)
          if (from_b[i].f32) to_b[i].f32->copy_from(*from_b[i].f32);
        const bool same = same_bits(got, fresh->forward(x, Mode::Eval));
        // Building `fresh` moved the parameter version: fold net again at the current one, so the next
        // change below is seen only through the versions it moves itself.
        net->forward(x, Mode::Eval);
        return same;
      };
      CHECK(matches_fresh());
      CHECK(matches_fresh());  // unchanged: the cached panels again
      // The convolution's weight written in place (Tensor::version moves, the parameter version does not).
      auto& conv = dynamic_cast<Conv2d&>(net->at(0));
      conv.weight[3] += 0.5f;
      CHECK(matches_fresh());
      // The BatchNorm's statistics through kept pointers, then parameters_changed().
      float* running_var = nullptr;
      for (const Buffer& b : collect_buffers(*net))
        if (b.name.size() >= 11 && b.name.compare(b.name.size() - 11, 11, "running_var") == 0)
          running_var = b.f32->data();
      REQUIRE(running_var != nullptr);
      running_var[0] *= 3.0f;
      parameters_changed();
      CHECK(matches_fresh());
      // A train forward moves the running statistics.
      net->forward(x, Mode::Train);
      CHECK(matches_fresh());
    }
  });
}

TEST_CASE("BatchNorm statistics handed over by the convolution (train, planes >= 256): as a pass of its own") {
  // Train forward of [conv, BN] linked by fold_batchnorms: for output planes of at least kStatsPlane values
  // the convolution computes y a group of images at a time and the BatchNorm takes each image's
  // statistics then. The result must be the unlinked pair's bit for bit (the same per-image kernel and
  // merge), whatever the thread count, and the batch statistics those of a double-precision reference.
  struct Case {
    int in, out, kernel, stride, groups, batch, H;
  };
  const Case cases[] = {
      {3, 8, 3, 2, 1, 5, 33},   // stem-like, 17x17 output
      {8, 8, 3, 1, 8, 7, 16},   // depthwise, 16x16 = kStatsPlane exactly
      {5, 17, 1, 1, 1, 1, 31},  // pointwise, one image
      {4, 3, 1, 1, 1, 40, 16},  // several groups of images per worker
      // Output images of 256 KB and more: groups of one image (Conv2d::forward_groups caps 1x1 stride-1
      // and depthwise groups at 256 KB), where the BatchNorm's own group size would take all three.
      {4, 72, 1, 1, 1, 3, 32},
      {64, 64, 3, 1, 64, 3, 32},
  };
  for (const Case& c : cases) {
    CAPTURE(c.out);
    CAPTURE(c.H);
    std::vector<Tensor> results;
    for (int threads : {1, 2}) {
      set_thread_count(threads);
      auto linked = conv_bn(c.in, c.out, c.kernel, c.stride, c.groups, false, Act::ReLU6, true, 4);
      auto plain = conv_bn(c.in, c.out, c.kernel, c.stride, c.groups, false, Act::ReLU6, false, 4);
      Rng rng(c.H);
      Tensor x({c.batch, c.in, c.H, c.H});
      fill_uniform(x, rng, -1.0f, 2.0f);
      const Tensor y_linked = linked->forward(x, Mode::Train).clone();
      const Tensor& y_plain = plain->forward(x, Mode::Train);
      CHECK(same_bits(y_linked, y_plain));
      auto& bn = dynamic_cast<BatchNorm2d&>(linked->at(1));
      auto& bn_plain = dynamic_cast<BatchNorm2d&>(plain->at(1));
      CHECK(same_bits(bn.running_mean, bn_plain.running_mean));
      CHECK(same_bits(bn.running_var, bn_plain.running_var));
      const Tensor& conv_out = dynamic_cast<Conv2d&>(linked->at(0)).output();
      const int HW = conv_out.shape().h() * conv_out.shape().w();
      REQUIRE(HW >= BatchNorm2d::kStatsPlane);
      // The batch statistics, through the running averages' update (from a fresh pair's, same seed):
      // running = 0.1 * batch (variance unbiased) + 0.9 * running, against a double reference.
      auto fresh = conv_bn(c.in, c.out, c.kernel, c.stride, c.groups, false, Act::ReLU6, false, 4);
      auto& bn_fresh = dynamic_cast<BatchNorm2d&>(fresh->at(1));
      for (int ch = 0; ch < c.out; ++ch) {
        double sum = 0.0, sq = 0.0;
        const double m = static_cast<double>(c.batch) * HW;
        for (int n = 0; n < c.batch; ++n)
          for (int i = 0; i < HW; ++i) sum += conv_out[(static_cast<size_t>(n) * c.out + ch) * HW + i];
        const double mean = sum / m;
        for (int n = 0; n < c.batch; ++n)
          for (int i = 0; i < HW; ++i) {
            const double d = conv_out[(static_cast<size_t>(n) * c.out + ch) * HW + i] - mean;
            sq += d * d;
          }
        const double var = sq / m;
        const double want_mean = 0.1 * mean + 0.9 * bn_fresh.running_mean[ch];
        const double want_var = 0.1 * var * m / (m - 1) + 0.9 * bn_fresh.running_var[ch];
        CHECK(bn.running_mean[ch] == doctest::Approx(want_mean).epsilon(1e-5).scale(1.0));
        CHECK(bn.running_var[ch] == doctest::Approx(want_var).epsilon(1e-5));
      }
      Tensor dy(y_linked.shape());
      fill_uniform(dy, rng, -1.0f, 1.0f);
      zero_grads(*linked);
      results.push_back(y_linked.clone());
      results.push_back(linked->backward(dy).clone());
      results.push_back(bn.weight_grad.clone());
    }
    set_thread_count(0);
    for (size_t i = 0; i < 3; ++i) CHECK(same_bits(results[i], results[i + 3]));
  }
}

TEST_CASE("BatchNorm statistics handed over by the convolution: train gradient (finite differences)") {
  for (int groups : {1, 6}) {
    CAPTURE(groups);
    // no activation: the hand-over concerns the statistics, and 16x17 planes of ReLU6 would put more
    // values next to a kink than the checker's retries allow
    auto net = conv_bn(6, 6, groups == 1 ? 1 : 3, 1, groups, false, Act::None, true, 8);
    Rng rng(12);
    Tensor x({3, 6, 16, 17});
    fill_uniform(x, rng, -1.0f, 1.0f);
    check_layer_gradients(*net, x, testing::GradCheckOptions{});
  }
}
