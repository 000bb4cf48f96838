// BatchNorm2d's train forward deferred to the depthwise convolution that reads its output
// (BatchNorm2d::set_forward_deferral, ConvPrologue::forward_deferred in engine/layers/conv2d.h):
// - the kernel (channel_affine_act_copy, every ISA on this machine): both outputs are the reference
//   channel_affine_act's values bit for bit, odd shapes, unaligned outputs;
// - [BN + act, depthwise 3x3 s1/s2, BN]: with the deferral the convolution's output, the BatchNorm's output,
//   every gradient and the running statistics are bit-identical to the undeferred run, odd shapes, 1 and
//   2 threads, and the deferral was taken (counters);
// - the fallback (a convolution that does not apply the prologue: forced off, or a 5x5 kernel) fills the
//   output whole first, with the same bits;
// - the default thresholds: small outputs are not deferred;
// - a backward after a deferred forward whose consumer never ran is refused (its output was never written);
// - MobileNetV2 (every BatchNorm + ReLU6 -> depthwise pair deferred): logits and every gradient bit for bit,
//   1 and 2 threads.
#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/blocks.h"
#include "engine/error.h"
#include "engine/kernels/kernels.h"
#include "engine/layers/batchnorm2d.h"
#include "engine/layers/conv2d.h"
#include "engine/net.h"
#include "engine/threads.h"
#include "models/model.h"
#include "tests/gradcheck.h"
#include "tests/kernel_parity.h"
#include "tests/tensor_bits.h"

using namespace plasmo;
using plasmo::testing::fill_uniform;
using plasmo::testing::same_bits;
using Act = BatchNorm2d::Activation;

namespace {

const char* act_name(Act act) { return act == Act::ReLU6 ? "ReLU6" : act == Act::ReLU ? "ReLU" : "none"; }

// [BN(C) + act, depthwise kernel x kernel (stride, padding kernel/2, with bias), BN(C)] with the folding
// and links the models use (fold_batchnorms): the second BatchNorm takes the convolution's output by groups.
struct Block {
  std::unique_ptr<Sequential> net;
  BatchNorm2d* bn = nullptr;
  Conv2d* conv = nullptr;
  BatchNorm2d* after = nullptr;
};

Block make_block(int C, Act act, int kernel, int stride, bool defer, uint64_t seed) {
  Block block;
  block.net = std::make_unique<Sequential>();
  block.bn = &block.net->emplace<BatchNorm2d>("0", C, act);
  block.conv = &block.net->emplace<Conv2d>("1", C, C, kernel, stride, kernel / 2, C, true);
  block.after = &block.net->emplace<BatchNorm2d>("2", C, Act::ReLU6);
  Rng rng(seed);
  block.conv->init_default(rng);
  // gamma and beta put part of the values below 0 and (ReLU6) some above 6
  fill_uniform(block.bn->weight, rng, 0.5f, 2.5f);
  fill_uniform(block.bn->bias, rng, -0.5f, 3.0f);
  fill_uniform(block.after->weight, rng, 0.5f, 1.5f);
  fill_uniform(block.after->bias, rng, -0.5f, 0.5f);
  fold_batchnorms(*block.net);
  // Deferred from any size (the defaults start at 4 MB outputs, planes of 256).
  block.bn->set_forward_deferral(defer, 0, 1);
  return block;
}

struct Result {
  Tensor y, bn_out, dx, dgamma, dbeta, dweight, dbias, running_mean, running_var;
};

// Forward and backward layer by layer, so the BatchNorm's output can be read after the convolution's forward.
Result run(Block& block, const Tensor& x, uint64_t seed) {
  for (Tensor* grad : {&block.bn->weight_grad, &block.bn->bias_grad, &block.conv->weight_grad, &block.conv->bias_grad,
                       &block.after->weight_grad, &block.after->bias_grad})
    grad->zero();
  const Tensor& a = block.bn->forward(x, Mode::Train);
  const Tensor& c = block.conv->forward(a, Mode::Train);
  const Tensor& y = block.after->forward(c, Mode::Train);
  Result r;
  r.y = y.clone();
  r.bn_out = a.clone();
  Tensor dy(y.shape());
  Rng rng(seed);
  fill_uniform(dy, rng, -1.0f, 1.0f);
  const Tensor& dc = block.after->backward(dy);
  const Tensor& da = block.conv->backward(dc);
  r.dx = block.bn->backward(da).clone();
  r.dgamma = block.bn->weight_grad.clone();
  r.dbeta = block.bn->bias_grad.clone();
  r.dweight = block.conv->weight_grad.clone();
  r.dbias = block.conv->bias_grad.clone();
  r.running_mean = block.bn->running_mean.clone();
  r.running_var = block.bn->running_var.clone();
  return r;
}

void check_same(const Result& got, const Result& expected) {
  CHECK(same_bits(got.y, expected.y));
  CHECK(same_bits(got.bn_out, expected.bn_out));
  CHECK(same_bits(got.dx, expected.dx));
  CHECK(same_bits(got.dgamma, expected.dgamma));
  CHECK(same_bits(got.dbeta, expected.dbeta));
  CHECK(same_bits(got.dweight, expected.dweight));
  CHECK(same_bits(got.dbias, expected.dbias));
  CHECK(same_bits(got.running_mean, expected.running_mean));
  CHECK(same_bits(got.running_var, expected.running_var));
}

struct Shape4 {
  int N, C, H, W;
};
// Odd shapes (channels 1, 3, 5, 17; H, W 1, 7, 31; batch 1 and 5), and 32x32 / 16x16 planes (the models',
// the second BatchNorm's hand-over by groups) with more channels than one chunk of the convolution.
const Shape4 kShapes[] = {{1, 1, 31, 31}, {5, 3, 31, 31}, {5, 5, 7, 7},    {1, 17, 7, 31},  {5, 17, 1, 7},
                          {5, 3, 1, 1},   {1, 5, 31, 7},  {5, 17, 31, 31}, {2, 24, 32, 32}, {3, 40, 16, 16}};

Tensor random_input(const Shape4& s, uint64_t seed) {
  Tensor x({s.N, s.C, s.H, s.W});
  Rng rng(seed);
  fill_uniform(x, rng, -2.0f, 3.0f);
  return x;
}

}  // namespace

TEST_CASE("BatchNorm forward deferral: channel_affine_act_copy is channel_affine_act, bit for bit (every ISA)") {
  const kernels::KernelTable* ref = kernels::table_for("ref");
  REQUIRE(ref != nullptr);
  std::vector<const kernels::KernelTable*> tables = plasmo::testing::fast_tables();
  tables.push_back(ref);
  int cases = 0;
  for (const kernels::KernelTable* kt : tables)
    for (int N : {1, 5})
      for (int C : {1, 3, 5, 17})
        for (int H : {1, 7, 31})
          for (int W : {1, 7, 31})
            for (int act : {kernels::kActNone, kernels::kActReLU, kernels::kActReLU6})
              for (int skew : {0, 1}) {  // outputs aligned to 64 bytes, or not (no streaming stores there)
                INFO(kt->isa << " N" << N << " C" << C << " " << H << "x" << W << " act " << act << " skew " << skew);
                const size_t count = static_cast<size_t>(N) * C * H * W;
                Rng rng(static_cast<uint64_t>(count * 7 + act));
                const std::vector<float> x = plasmo::testing::random_vector(count, rng, -4.0f, 9.0f);
                const std::vector<float> scale =
                    plasmo::testing::random_vector(static_cast<size_t>(C), rng, -2.0f, 2.0f);
                const std::vector<float> shift =
                    plasmo::testing::random_vector(static_cast<size_t>(C), rng, -1.0f, 4.0f);
                std::vector<float> expected(count);
                ref->channel_affine_act(N, C, H * W, x.data(), scale.data(), shift.data(), act, expected.data());
                Tensor y_buffer({static_cast<int>(count) + 16}), copy_buffer({static_cast<int>(count) + 16});
                y_buffer.fill(-7.0f);
                copy_buffer.fill(-7.0f);
                float* y = y_buffer.data() + skew;
                float* copy = copy_buffer.data() + skew;
                kt->channel_affine_act_copy(N, C, H * W, x.data(), scale.data(), shift.data(), act, y, copy, true);
                CHECK(std::memcmp(y, expected.data(), sizeof(float) * count) == 0);
                CHECK(std::memcmp(copy, expected.data(), sizeof(float) * count) == 0);
                // nothing written outside
                CHECK(y_buffer[count + skew] == -7.0f);
                CHECK(copy_buffer[count + skew] == -7.0f);
                if (skew == 1) {
                  CHECK(y_buffer[0] == -7.0f);
                  CHECK(copy_buffer[0] == -7.0f);
                }
                ++cases;
              }
  CHECK(cases == static_cast<int>(tables.size()) * 2 * 4 * 3 * 3 * 3 * 2);
}

TEST_CASE("BatchNorm forward deferral: deferred as undeferred, bit for bit (depthwise s1/s2; ReLU6, ReLU, none)") {
  for (int threads : {1, 2}) {
    set_thread_count(threads);
    for (Act act : {Act::ReLU6, Act::ReLU, Act::None})
      for (int stride : {1, 2})
        for (const Shape4& s : kShapes) {
          INFO(threads << " threads, " << act_name(act) << " s" << stride << " N" << s.N << " C" << s.C << " " << s.H
                       << "x" << s.W);
          if (s.N * s.H * s.W < 2) continue;  // training BatchNorm needs 2 values per channel
          const uint64_t seed = static_cast<uint64_t>(s.N * 1000 + s.C * 100 + s.H * 10 + s.W);
          const Tensor x = random_input(s, seed);
          Block plain = make_block(s.C, act, 3, stride, false, seed);
          Block deferred = make_block(s.C, act, 3, stride, true, seed);
          REQUIRE(deferred.bn->consumer() == deferred.conv);
          // Two steps: the second reuses every buffer (and the running statistics moved).
          for (int step = 0; step < 2; ++step) {
            const Result expected = run(plain, x, seed + step);
            const Result got = run(deferred, x, seed + step);
            check_same(got, expected);
            CHECK(deferred.conv->applied_prologue_last_forward());
            CHECK(!plain.conv->applied_prologue_last_forward());
          }
          CHECK(deferred.bn->applied_forwards() == 2);
          CHECK(deferred.bn->materialized_forwards() == 0);
          CHECK(plain.bn->applied_forwards() == 0);
        }
  }
  set_thread_count(0);
}

TEST_CASE("BatchNorm forward deferral: bit-identical for 1 and 2 threads") {
  const Shape4 s{5, 17, 31, 31};
  for (int stride : {1, 2}) {
    INFO("stride " << stride);
    std::vector<Result> results;
    for (int threads : {1, 2}) {
      set_thread_count(threads);
      const Tensor x = random_input(s, 31);
      Block deferred = make_block(s.C, Act::ReLU6, 3, stride, true, 31);
      results.push_back(run(deferred, x, 32));
      CHECK(deferred.bn->applied_forwards() == 1);
    }
    set_thread_count(0);
    CHECK(same_bits(results[0].y, results[1].y));
    CHECK(same_bits(results[0].bn_out, results[1].bn_out));
    CHECK(same_bits(results[0].dx, results[1].dx));
    CHECK(same_bits(results[0].dgamma, results[1].dgamma));
    CHECK(same_bits(results[0].dbeta, results[1].dbeta));
    // (the convolution's weight gradient is bit-identical per thread count only: its partials are summed
    // per worker, conv2d.h)
  }
}

TEST_CASE("BatchNorm forward deferral: a convolution that does not apply it has the output filled first") {
  const Shape4 s{5, 17, 31, 31};
  const Tensor x = random_input(s, 41);
  SUBCASE("3x3 with the prologue forced off") {
    Block plain = make_block(s.C, Act::ReLU6, 3, 1, false, 41);
    Block fallback = make_block(s.C, Act::ReLU6, 3, 1, true, 41);
    fallback.conv->set_apply_prologue(false);
    check_same(run(fallback, x, 42), run(plain, x, 42));
    CHECK(!fallback.conv->applied_prologue_last_forward());
    CHECK(fallback.bn->applied_forwards() == 0);
    CHECK(fallback.bn->materialized_forwards() == 1);
  }
  SUBCASE("5x5 depthwise (not a geometry the prologue takes)") {
    for (int stride : {1, 2}) {
      Block plain = make_block(s.C, Act::ReLU, 5, stride, false, 43);
      Block fallback = make_block(s.C, Act::ReLU, 5, stride, true, 43);
      check_same(run(fallback, x, 44), run(plain, x, 44));
      CHECK(!fallback.conv->applied_prologue_last_forward());
      CHECK(fallback.bn->applied_forwards() == 0);
      CHECK(fallback.bn->materialized_forwards() == 1);
    }
  }
}

TEST_CASE("BatchNorm forward deferral: default thresholds (outputs of 4 MB, planes of 256 values)") {
  struct Case {
    Shape4 shape;
    bool deferred;
  };
  const Case cases[] = {{{4, 1024, 16, 16}, true},   // 1M values, planes of 256
                        {{4, 1023, 16, 16}, false},  // just below 1M values
                        {{1024, 64, 4, 4}, false}};  // 1M values, planes of 16
  for (const Case& c : cases) {
    const Shape4& s = c.shape;
    INFO("N" << s.N << " C" << s.C << " " << s.H << "x" << s.W);
    const Tensor x = random_input(s, 51);
    Block block = make_block(s.C, Act::ReLU6, 3, 1, true, 51);
    block.bn->set_forward_deferral(true);  // the defaults
    const Tensor& a = block.bn->forward(x, Mode::Train);
    block.conv->forward(a, Mode::Train);
    CHECK(block.bn->applied_forwards() == (c.deferred ? 1 : 0));
    CHECK(block.conv->applied_prologue_last_forward() == c.deferred);
  }
}

TEST_CASE("BatchNorm forward deferral: MobileNetV2 train step, logits and every gradient bit for bit") {
  for (int threads : {1, 2}) {
    INFO(threads << " threads");
    set_thread_count(threads);
    std::vector<Tensor> logits, grads;
    int64_t deferred_pairs = 0;
    for (bool defer : {false, true}) {
      std::unique_ptr<Model> model = make_model("mobilenetv2", 0.5, 32, 61);
      for_each_leaf(model->trunk(), [&](Layer& layer) {
        if (auto* bn = dynamic_cast<BatchNorm2d*>(&layer)) bn->set_forward_deferral(defer, 0, 1);
      });
      Tensor x(model->input_shape(3));
      Rng rng(62);
      fill_uniform(x, rng, -1.0f, 1.0f);
      for (Param& p : model->params()) p.grad->zero();
      logits.push_back(model->forward(x, Mode::Train).clone());
      Tensor dlogits(logits.back().shape());
      fill_uniform(dlogits, rng, -1.0f, 1.0f);
      model->backward(dlogits);
      for (Param& p : model->params()) grads.push_back(p.grad->clone());
      for_each_leaf(model->trunk(), [&](Layer& layer) {
        if (auto* bn = dynamic_cast<BatchNorm2d*>(&layer)) deferred_pairs += bn->applied_forwards();
      });
    }
    CHECK(deferred_pairs == 17);  // features.0.1 and each block's depthwise input (16 blocks)
    CHECK(same_bits(logits[0], logits[1]));
    REQUIRE(grads.size() % 2 == 0);
    const size_t count = grads.size() / 2;
    int different = 0;
    for (size_t i = 0; i < count; ++i) different += !same_bits(grads[i], grads[count + i]);
    CHECK(different == 0);
  }
  set_thread_count(0);
}

TEST_CASE("BatchNorm2d forward deferral: a backward whose deferred output the convolution never wrote is refused") {
  Block block = make_block(3, Act::ReLU6, 3, 1, true, 41);
  Tensor x(Shape{2, 3, 5, 7});
  Rng rng(42);
  fill_uniform(x, rng, -1.0f, 1.0f);
  const Tensor& a = block.bn->forward(x, Mode::Train);  // deferred: left for block.conv to write
  Tensor dy(a.shape());
  fill_uniform(dy, rng, -1.0f, 1.0f);
  try {
    block.bn->backward(dy);
    FAIL("the backward ran on an output nobody wrote");
  } catch (const UsageError& error) {
    CHECK(std::string(error.what()).find("did not run") != std::string::npos);
  }
  // Once the convolution has run on it, the same backward goes through.
  block.conv->forward(a, Mode::Train);
  CHECK_NOTHROW(block.bn->backward(dy));
}
