// Conv2d's packed weights (engine/layers/conv2d.cpp, packed_weights): the layer packs W once for the
// kernel table's forward and reuses the panels while W is unchanged, keyed by Tensor::version. Every way
// of changing W (element writes, data(), fill, copy_from, an optimizer step, assigning a new tensor) must
// show in the next forward, on every ISA, at the batch sizes whose forward paths use each packed layout;
// and Tensor::version must move exactly on non-const access.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "engine/kernels/kernels.h"
#include "engine/layers/conv2d.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "tests/gradcheck.h"
#include "tests/test_helpers.h"

using namespace plasmo;
using plasmo::testing::fill_uniform;
using plasmo::testing::for_each_isa;

namespace {

// y of a fresh layer (nothing cached) with conv's weights and bias: what conv.forward must give.
std::vector<float> fresh_forward(const Conv2d& conv, const Tensor& x) {
  Conv2d fresh(conv.in_channels(), conv.out_channels(), conv.kernel(), conv.stride(), conv.padding(), conv.groups(),
               conv.has_bias());
  fresh.weight.copy_from(conv.weight);
  if (conv.has_bias()) fresh.bias.copy_from(conv.bias);
  const Tensor& y = fresh.forward(x, Mode::Eval);
  return std::vector<float>(y.data(), y.data() + y.size());
}

bool same_bits(const Tensor& y, const std::vector<float>& expected) {
  return y.size() == expected.size() && std::memcmp(y.data(), expected.data(), expected.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("Tensor::version moves on every non-const access, never on a const one") {
  Tensor t({2, 3});
  const uint64_t v0 = t.version();
  const Tensor& ct = t;
  (void)ct.data();
  (void)ct[1];
  (void)ct.at(0, 0, 0, 0);
  // cppcheck-suppress knownConditionTrueFalse ; what the test proves: const access leaves it alone
  CHECK(t.version() == v0);
  t[1] = 2.0f;
  const uint64_t v1 = t.version();
  CHECK(v1 != v0);
  (void)t.data();
  const uint64_t v2 = t.version();
  CHECK(v2 != v1);
  t.fill(1.0f);
  const uint64_t v3 = t.version();
  CHECK(v3 != v2);
  Tensor other({2, 3});
  t.copy_from(other);
  const uint64_t v4 = t.version();
  CHECK(v4 != v3);
  t.reshape(Shape{3, 2});
  CHECK(t.version() != v4);
  // Assigning another tensor takes a version past both, so neither's cached version matches.
  Tensor fresh({2, 3});
  for (int i = 0; i < 100; ++i) fresh[0] = 1.0f;
  const uint64_t before = t.version(), fresh_version = fresh.version();
  t = std::move(fresh);
  CHECK(t.version() > before);
  CHECK(t.version() > fresh_version);
}

TEST_CASE("Conv2d packed weights: every change of W shows in the next forward, every ISA and layout") {
  // Batch 1 at 4x4 and 2x2 (the few-column path), batch 5 at 4x4 (gathered), batch 3 at 16x16 (packed
  // rows: in place, 3x3 and 1x1) and a 7x7/2 stem-like conv: every packed layout of every table.
  struct Case {
    int batch, in_c, out_c, size, kernel, stride, padding;
  };
  const Case cases[] = {{1, 12, 40, 4, 3, 1, 1},  {1, 8, 17, 2, 3, 1, 1},   {5, 12, 40, 4, 3, 1, 1},
                        {3, 16, 24, 16, 3, 1, 1}, {3, 16, 24, 16, 1, 1, 0}, {2, 3, 20, 19, 7, 2, 3}};
  for_each_isa([&](const char*) {
    for (const Case& c : cases) {
      CAPTURE(c.batch);
      CAPTURE(c.size);
      CAPTURE(c.kernel);
      Rng rng(11);
      Conv2d conv(c.in_c, c.out_c, c.kernel, c.stride, c.padding, 1, true);
      conv.init_default(rng);
      Tensor x({c.batch, c.in_c, c.size, c.size});
      fill_uniform(x, rng, -1.0f, 1.0f);
      CHECK(same_bits(conv.forward(x, Mode::Eval), fresh_forward(conv, x)));
      // Unchanged W: the cached panels again.
      CHECK(same_bits(conv.forward(x, Mode::Eval), fresh_forward(conv, x)));

      conv.weight[3] += 0.5f;  // one element
      CHECK(same_bits(conv.forward(x, Mode::Eval), fresh_forward(conv, x)));

      conv.weight.data()[conv.weight.size() - 1] = -2.0f;  // through data()
      CHECK(same_bits(conv.forward(x, Mode::Eval), fresh_forward(conv, x)));

      Tensor replacement(conv.weight.shape());
      fill_uniform(replacement, rng, -0.3f, 0.3f);
      conv.weight.copy_from(replacement);
      CHECK(same_bits(conv.forward(x, Mode::Train), fresh_forward(conv, x)));

      Tensor assigned(conv.weight.shape());
      fill_uniform(assigned, rng, -0.3f, 0.3f);
      conv.weight = std::move(assigned);
      CHECK(same_bits(conv.forward(x, Mode::Eval), fresh_forward(conv, x)));

      // An optimizer step (gradients from a backward pass).
      std::vector<Param> params;
      conv.params("", params);
      SGD sgd(params, SGDOptions{0.1, 0.9});
      for (int step = 0; step < 2; ++step) {
        conv.weight_grad.zero();
        conv.bias_grad.zero();
        const Tensor& y = conv.forward(x, Mode::Train);
        Tensor dy(y.shape());
        fill_uniform(dy, rng, -1.0f, 1.0f);
        conv.backward(dy);
        sgd.step();
        CHECK(same_bits(conv.forward(x, Mode::Eval), fresh_forward(conv, x)));
      }

      conv.weight.fill(0.25f);
      CHECK(same_bits(conv.forward(x, Mode::Eval), fresh_forward(conv, x)));
    }
  });
}

TEST_CASE("Conv2d packed weights: batch sizes and ISAs alternate on one layer") {
  // One layer meets batch 1 (few-column path), batch 8 (gathered) and the other tables in turn: each
  // forward equals a fresh layer's on the table in use.
  Rng rng(5);
  Conv2d conv(24, 48, 3, 1, 1, 1, false);
  conv.init_default(rng);
  Tensor one({1, 24, 4, 4}), eight({8, 24, 4, 4});
  fill_uniform(one, rng, -1.0f, 1.0f);
  fill_uniform(eight, rng, -1.0f, 1.0f);
  for (int round = 0; round < 2; ++round)
    for_each_isa([&](const char*) {
      CHECK(same_bits(conv.forward(one, Mode::Eval), fresh_forward(conv, one)));
      CHECK(same_bits(conv.forward(eight, Mode::Eval), fresh_forward(conv, eight)));
      CHECK(same_bits(conv.forward(one, Mode::Eval), fresh_forward(conv, one)));
    });
}
