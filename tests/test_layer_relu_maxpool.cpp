// A ReLU absorbed by the MaxPool2d after it (engine/layers/pool2d.h MaxPool2d::absorb, absorb_relus): the
// pair computes relu(max) on the pooled values and must give, bit for bit, what the two separate layers give
// (forward, input gradient, parameter gradients around them), pass finite-difference checks, fall back to the
// plain layers' math when fed other tensors, and leave the autoencoder's results unchanged (its trunk
// absorbs enc1_relu and enc2_relu).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/layers/activations.h"
#include "engine/layers/conv2d.h"
#include "engine/layers/dense.h"
#include "engine/layers/flatten.h"
#include "engine/layers/pool2d.h"
#include "engine/layers/residual.h"
#include "engine/loss.h"
#include "engine/net.h"
#include "engine/threads.h"
#include "models/model.h"
#include "tests/gradcheck.h"
#include "tests/tensor_bits.h"
#include "tests/test_helpers.h"

using namespace plasmo;
using plasmo::testing::same_bits;
using plasmo::testing::ThreadCountGuard;

namespace {

// [ReLU, MaxPool2d(kernel, stride, padding)], absorbed or not; the ReLU returns its input gradient.
std::unique_ptr<Sequential> relu_pool(int kernel, int stride, int padding, bool absorbed) {
  auto net = std::make_unique<Sequential>();
  net->set_needs_input_grad(true);
  net->emplace<ReLU>("relu");
  net->emplace<MaxPool2d>("pool", kernel, stride, padding);
  if (absorbed) absorb_relus(*net);
  return net;
}

// Values from {-1, -0, 0, 1, 2}: ties in most windows, and windows whose max is -0, 0 or negative.
void fill_tied(Tensor& x, Rng& rng) {
  const float choices[] = {-1.0f, -0.0f, 0.0f, 1.0f, 2.0f};
  for (size_t i = 0; i < x.size(); ++i) x[i] = choices[rng.below(5)];
}

void fill_normal(Tensor& x, Rng& rng) {
  for (size_t i = 0; i < x.size(); ++i) x[i] = rng.normal();
}

struct Window {
  int kernel, stride, padding;
};

}  // namespace

TEST_CASE("ReLU + MaxPool2d absorbed: forward and input gradient bit-identical to the separate layers") {
  const Window windows[] = {{2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {2, 1, 0}, {3, 2, 0}};
  Rng rng(77);
  int compared = 0;
  for (int threads : {1, 2}) {
    ThreadCountGuard guard(threads);
    for (const Window& w : windows)
      for (int batch : {1, 5})
        for (int channels : {1, 3, 17})
          for (int H : {1, 7, 32})
            for (int W : {1, 7, 31, 32})
              for (bool ties : {true, false}) {
                if (H + 2 * w.padding < w.kernel || W + 2 * w.padding < w.kernel) continue;
                const Shape in{batch, channels, H, W};
                CAPTURE(threads);
                CAPTURE(in.str());
                CAPTURE(w.kernel);
                CAPTURE(w.stride);
                CAPTURE(w.padding);
                CAPTURE(ties);
                auto fused = relu_pool(w.kernel, w.stride, w.padding, true);
                auto plain = relu_pool(w.kernel, w.stride, w.padding, false);
                REQUIRE(dynamic_cast<ReLU&>(fused->at(0)).absorbed_by() == &fused->at(1));
                REQUIRE(dynamic_cast<ReLU&>(plain->at(0)).absorbed_by() == nullptr);
                Tensor x(in);
                ties ? fill_tied(x, rng) : fill_normal(x, rng);
                // Twice: the second step reuses every buffer.
                for (int step = 0; step < 2; ++step) {
                  const Tensor& y_fused = fused->forward(x, step == 0 ? Mode::Train : Mode::Eval);
                  const Tensor& y_plain = plain->forward(x, step == 0 ? Mode::Train : Mode::Eval);
                  CHECK(same_bits(y_fused, y_plain));
                  CHECK(dynamic_cast<MaxPool2d&>(fused->at(1)).relu_folded());
                  Tensor dy(y_plain.shape());
                  fill_normal(dy, rng);
                  CHECK(same_bits(fused->backward(dy), plain->backward(dy)));
                }
                ++compared;
              }
  }
  CHECK(compared > 500);
}

TEST_CASE("ReLU + MaxPool2d absorbed: gradient check (k2 s2 p0 and k3 s2 p1, odd shapes, batch 1 and 3)") {
  for (const Window& w : {Window{2, 2, 0}, Window{3, 2, 1}})
    for (int batch : {1, 3})
      for (int H : {2, 3, 7})
        for (int W : {2, 5, 17}) {
          const Shape in{batch, 3, H, W};
          CAPTURE(in.str());
          CAPTURE(w.kernel);
          auto net = relu_pool(w.kernel, w.stride, w.padding, true);
          Tensor x(in);
          Rng rng(500 + batch * 100 + H * 10 + W);
          // Distinct values 0.05 apart, pushed 0.02 away from 0: no +-eps nudge (1e-2) crosses ReLU's kink or
          // changes a window's winner. About half are negative: windows with max < 0 get no gradient.
          plasmo::testing::fill_distinct(x, rng, 0.05f);
          for (size_t i = 0; i < x.size(); ++i) x[i] += x[i] >= 0.0f ? 0.02f : -0.02f;
          plasmo::testing::GradCheckOptions options;
          options.max_checks_per_tensor = 256;
          const auto report = plasmo::testing::check_layer_gradients(*net, x, options);
          CHECK(report.failed == 0);
          CHECK(report.checked > 0);
        }
}

TEST_CASE("ReLU + MaxPool2d absorbed: other tensors get the plain layers' math; pairing rules") {
  auto net = relu_pool(2, 2, 0, true);
  auto& relu = dynamic_cast<ReLU&>(net->at(0));
  auto& pool = dynamic_cast<MaxPool2d&>(net->at(1));
  CHECK(pool.absorbed() == &relu);
  CHECK_THROWS_AS(relu.backward(Tensor(Shape{1, 1, 2, 2})), UsageError);  // backward before forward

  Tensor x(Shape{1, 1, 2, 4});
  const float values[] = {-3, -1, 2, -5, -2, -4, 1, 0};
  for (size_t i = 0; i < 8; ++i) x[i] = values[i];
  // Pooled without the ReLU's pass-through: plain max (a negative max stays), gradient to its argmax.
  const Tensor& y_plain = pool.forward(x, Mode::Train);
  CHECK_FALSE(pool.relu_folded());
  CHECK(y_plain[0] == -1.0f);
  CHECK(y_plain[1] == 2.0f);
  Tensor dy(Shape{1, 1, 1, 2});
  dy[0] = 10.0f;
  dy[1] = 20.0f;
  const Tensor& dx_plain = pool.backward(dy);
  CHECK(dx_plain[1] == 10.0f);
  CHECK(dx_plain[2] == 20.0f);

  // Through the pair: relu(max); the window with max -1 gives 0 and no gradient.
  const Tensor& passed = relu.forward(x, Mode::Train);
  CHECK(&passed == &x);  // the ReLU makes no pass of its own
  const Tensor& y = pool.forward(passed, Mode::Train);
  CHECK(pool.relu_folded());
  CHECK(y[0] == 0.0f);
  CHECK(y[1] == 2.0f);
  const Tensor& dx = relu.backward(pool.backward(dy));
  CHECK(&dx == &pool.input_grad());  // passed back untouched
  for (size_t i = 0; i < 8; ++i) CHECK(dx[i] == (i == 2 ? 20.0f : 0.0f));

  // A dy that is not the pool's dx: dx = dy * [x > 0].
  Tensor other(Shape{1, 1, 2, 4});
  other.fill(3.0f);
  const Tensor& dx_other = relu.backward(other);
  for (size_t i = 0; i < 8; ++i) CHECK(dx_other[i] == (values[i] > 0 ? 3.0f : 0.0f));
  CHECK_THROWS_AS(relu.backward(Tensor(Shape{1, 1, 2, 3})), ShapeError);

  // One ReLU, one pool.
  MaxPool2d second(2, 2);
  CHECK_THROWS_AS(second.absorb(relu), UsageError);
}

TEST_CASE("absorb_relus: pairs each ReLU directly followed by a MaxPool2d, in nested Sequentials and residuals") {
  Sequential net;
  auto& relu_a = net.emplace<ReLU>("relu_a");
  auto& pool_a = net.emplace<MaxPool2d>("pool_a", 2, 2);
  auto& relu_b = net.emplace<ReLU>("relu_b");  // followed by an AvgPool2d: stays a layer
  net.emplace<AvgPool2d>("avg", 2, 2);
  auto& pool_b = net.emplace<MaxPool2d>("pool_b", 2, 2);  // after a non-ReLU: nothing to absorb
  auto inner = std::make_unique<Sequential>();
  auto& relu_c = inner->emplace<ReLU>("relu_c");
  auto& pool_c = inner->emplace<MaxPool2d>("pool_c", 3, 1, 1);
  net.add("inner", std::move(inner));
  auto body = std::make_unique<Sequential>();
  auto& relu_d = body->emplace<ReLU>("relu_d");
  auto& pool_d = body->emplace<MaxPool2d>("pool_d", 3, 1, 1);
  net.emplace<Residual>("block", std::move(body), nullptr, false);
  auto& relu_e = net.emplace<ReLU>("relu_e");  // last: nothing after it

  absorb_relus(net);
  CHECK(pool_a.absorbed() == &relu_a);
  CHECK(relu_a.absorbed_by() == &pool_a);
  CHECK(relu_b.absorbed_by() == nullptr);
  CHECK(pool_b.absorbed() == nullptr);
  CHECK(pool_c.absorbed() == &relu_c);
  CHECK(pool_d.absorbed() == &relu_d);
  CHECK(relu_e.absorbed_by() == nullptr);
  absorb_relus(net);  // idempotent
  CHECK(pool_a.absorbed() == &relu_a);

  // The whole net still computes what the unfused layers compute.
  Rng rng(9);
  Tensor x(Shape{2, 3, 16, 16});
  fill_tied(x, rng);
  const Tensor& y = net.forward(x, Mode::Train);
  CHECK(y.shape() == Shape{2, 3, 2, 2});  // 16 -> pool_a 8 -> avg 4 -> pool_b 2
  Tensor t(x.shape()), expected_pool(Shape{2, 3, 8, 8});
  for (size_t i = 0; i < x.size(); ++i) t[i] = x[i] > 0.0f ? x[i] : 0.0f;
  for (int plane = 0; plane < 6; ++plane)
    for (int oh = 0; oh < 8; ++oh)
      for (int ow = 0; ow < 8; ++ow) {
        float best = -1e30f;
        for (int kh = 0; kh < 2; ++kh)
          for (int kw = 0; kw < 2; ++kw) best = std::max(best, t[(plane * 16 + 2 * oh + kh) * 16 + 2 * ow + kw]);
        expected_pool[(plane * 8 + oh) * 8 + ow] = best;
      }
  CHECK(same_bits(pool_a.forward(relu_a.forward(x, Mode::Train), Mode::Train), expected_pool));
}

// The autoencoder's trunk absorbs enc1_relu and enc2_relu (models/autoencoder.cpp); enc3_relu's output is
// the trunk's (the Grad-CAM features). An unfused copy of trunk and head with the same weights must give
// the same logits, features and parameter gradients, bit for bit (1 and 2 threads).
TEST_CASE("ReLU + MaxPool2d absorbed: the autoencoder equals its unfused copy bit for bit (1 and 2 threads)") {
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    ThreadCountGuard guard(threads);
    std::unique_ptr<Model> model = make_model("autoencoder", 1.0, 32, 5);
    Sequential& trunk = model->trunk();
    CHECK(dynamic_cast<ReLU&>(*trunk.find("enc1_relu")).absorbed_by() == trunk.find("pool1"));
    CHECK(dynamic_cast<ReLU&>(*trunk.find("enc2_relu")).absorbed_by() == trunk.find("pool2"));
    CHECK(dynamic_cast<ReLU&>(*trunk.find("enc3_relu")).absorbed_by() == nullptr);

    // The unfused copy: same layers, weights copied, no absorb_relus.
    auto copy_of = [](Sequential& source) {
      auto copy = std::make_unique<Sequential>();
      for (size_t i = 0; i < source.size(); ++i) {
        Layer& layer = source.at(i);
        const std::string& name = source.name_at(i);
        if (auto* conv = dynamic_cast<Conv2d*>(&layer)) {
          auto& c = copy->emplace<Conv2d>(name, conv->in_channels(), conv->out_channels(), conv->kernel(),
                                          conv->stride(), conv->padding(), conv->groups(), conv->has_bias());
          c.weight.copy_from(conv->weight);
          c.bias.copy_from(conv->bias);
        } else if (auto* dense = dynamic_cast<Dense*>(&layer)) {
          auto& d = copy->emplace<Dense>(name, dense->in_features(), dense->out_features());
          d.weight.copy_from(dense->weight);
          d.bias.copy_from(dense->bias);
        } else if (auto* pool = dynamic_cast<MaxPool2d*>(&layer)) {
          copy->emplace<MaxPool2d>(name, pool->kernel(), pool->stride(), pool->padding());
        } else if (dynamic_cast<ReLU*>(&layer)) {
          copy->emplace<ReLU>(name);
        } else if (dynamic_cast<Flatten*>(&layer)) {
          copy->emplace<Flatten>(name);
        } else {
          FAIL("unexpected layer " << layer.kind());
        }
      }
      return copy;
    };
    auto plain_trunk = copy_of(trunk);
    auto plain_head = copy_of(model->head());
    for (size_t i = 0; i < plain_trunk->size(); ++i)
      if (auto* relu = dynamic_cast<ReLU*>(&plain_trunk->at(i))) CHECK(relu->absorbed_by() == nullptr);
    model->set_needs_input_grad(true);  // compare dL/dx as well
    plain_trunk->set_needs_input_grad(true);

    Rng rng(31);
    Tensor x(Shape{5, 3, 32, 32});
    fill_normal(x, rng);
    const std::vector<int32_t> labels = {0, 1, 1, 0, 1};
    Tensor dlogits, plain_dlogits;
    for (Mode mode : {Mode::Train, Mode::Eval}) {
      CAPTURE(mode == Mode::Train);
      model->zero_grads();
      zero_grads(*plain_trunk);
      zero_grads(*plain_head);
      const Tensor& logits = model->forward(x, mode);
      const Tensor& plain_features = plain_trunk->forward(x, mode);
      const Tensor& plain_logits = plain_head->forward(plain_features, mode);
      CHECK(same_bits(model->features(), plain_features));
      CHECK(same_bits(logits, plain_logits));
      softmax_cross_entropy(logits, labels, dlogits);
      softmax_cross_entropy(plain_logits, labels, plain_dlogits);
      const Tensor& dx = model->backward(dlogits);
      const Tensor& plain_dx = plain_trunk->backward(plain_head->backward(plain_dlogits));
      CHECK(same_bits(dx, plain_dx));
      const std::vector<Param> fused_params = collect_params(trunk), plain_params = collect_params(*plain_trunk);
      REQUIRE(fused_params.size() == plain_params.size());
      for (size_t i = 0; i < fused_params.size(); ++i) {
        CAPTURE(fused_params[i].name);
        CHECK(fused_params[i].name == plain_params[i].name);
        CHECK(same_bits(*fused_params[i].grad, *plain_params[i].grad));
      }
    }
  }
}
