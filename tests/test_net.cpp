// Sequential (engine/net.h): PyTorch-style names, describe() rows, the out_shape chain, a gradient check
// through a chain of pooling / resampling / activation / dropout layers, and the skipped input gradient
// of the first child. A tiny parameterised test layer (ChannelScale) stands in for Conv2d/Dense so these
// tests depend only on the container and the parameter-free layers.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/layers/activations.h"
#include "engine/layers/dropout.h"
#include "engine/layers/flatten.h"
#include "engine/layers/pool2d.h"
#include "engine/layers/upsample.h"
#include "engine/net.h"
#include "tests/gradcheck.h"

using namespace plasmo;

namespace {

// y[n][c][h][w] = weight[c] * x[n][c][h][w] + bias[c]
// dx = dy * weight[c];  dweight[c] += sum_{n,h,w} dy * x;  dbias[c] += sum_{n,h,w} dy
class ChannelScale : public Layer {
 public:
  explicit ChannelScale(int channels)
      : weight(Shape{channels}), weight_grad(Shape{channels}), bias(Shape{channels}), bias_grad(Shape{channels}) {
    weight.fill(1.0f);
  }
  const char* kind() const override { return "ChannelScale"; }
  std::string summary() const override { return "ChannelScale(" + std::to_string(weight.size()) + ")"; }
  Shape out_shape(const Shape& in) const override {
    if (in.rank != 4 || in.c() != static_cast<int>(weight.size()))
      throw ShapeError("ChannelScale: expected [N, " + std::to_string(weight.size()) + ", H, W], got " + in.str());
    return in;
  }
  const Tensor& forward(const Tensor& x, Mode mode) override {
    y_.resize(out_shape(x.shape()));
    x_ = &x;
    const int N = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < HW; ++i) {
          const size_t at = (static_cast<size_t>(n) * C + c) * HW + i;
          y_[at] = weight[c] * x[at] + bias[c];
        }
    return y_;
  }
  const Tensor& backward(const Tensor& dy) override {
    const Tensor& x = *x_;
    const int N = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
    if (needs_input_grad_) dx_.resize(x.shape());
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < HW; ++i) {
          const size_t at = (static_cast<size_t>(n) * C + c) * HW + i;
          weight_grad[c] += dy[at] * x[at];
          bias_grad[c] += dy[at];
          if (needs_input_grad_) dx_[at] = dy[at] * weight[c];
        }
    return needs_input_grad_ ? dx_ : none_;
  }
  void params(const std::string& prefix, std::vector<Param>& out) override {
    out.push_back({prefix + "weight", &weight, &weight_grad});
    out.push_back({prefix + "bias", &bias, &bias_grad});
  }
  int64_t macs(const Shape& in) const override { return static_cast<int64_t>(in.c()) * in.h() * in.w(); }

  Tensor weight, weight_grad, bias, bias_grad;

 private:
  const Tensor* x_ = nullptr;
  Tensor y_, dx_, none_;
};

std::vector<std::string> param_names(Layer& net) {
  std::vector<std::string> names;
  for (const Param& p : collect_params(net)) names.push_back(p.name);
  return names;
}

// A small network with PyTorch-like nesting:
//   enc1 (ChannelScale 3) / pool1 (MaxPool 3x3/2 p1) / layer1.0.{conv1 (ChannelScale 3), relu}
//   / up (Upsample) / gap / flatten / drop
Sequential make_named_net() {
  Sequential net;
  net.emplace<ChannelScale>("enc1", 3);
  net.emplace<MaxPool2d>("pool1", 3, 2, 1);
  auto& layer1 = net.emplace<Sequential>("layer1");
  auto& block = layer1.emplace<Sequential>("0");
  block.emplace<ChannelScale>("conv1", 3);
  block.emplace<ReLU>("relu");
  net.emplace<Upsample2x>("up");
  net.emplace<GlobalAvgPool>("gap");
  net.emplace<Flatten>("flatten");
  net.emplace<Dropout>("drop", 0.5f, 1);
  return net;
}

}  // namespace

TEST_CASE("Sequential naming: child_prefix joins names with dots") {
  CHECK(child_prefix("", "fc") == "fc.");
  CHECK(child_prefix("layer1.", "0") == "layer1.0.");
  CHECK(child_prefix("features.0.", "2") == "features.0.2.");
  CHECK(child_prefix("net.", "") == "net.");
}

TEST_CASE("Sequential naming: collect_params gives PyTorch names in order") {
  Sequential net = make_named_net();
  const std::vector<std::string> expected{"enc1.weight", "enc1.bias", "layer1.0.conv1.weight", "layer1.0.conv1.bias"};
  CHECK(param_names(net) == expected);
  CHECK(collect_buffers(net).empty());
  // The names point at the layers' own tensors.
  auto* enc1 = dynamic_cast<ChannelScale*>(net.find("enc1"));
  REQUIRE(enc1 != nullptr);
  CHECK(collect_params(net)[0].value == &enc1->weight);
  CHECK(collect_params(net)[1].grad == &enc1->bias_grad);
  CHECK(net.find("layer1.0") == nullptr);  // find() looks at direct children only
  CHECK(net.find("layer1") != nullptr);
  CHECK(net.size() == 7);
  CHECK(net.name_at(1) == "pool1");
  CHECK(std::string(net.at(1).kind()) == "MaxPool2d");
  CHECK_THROWS_AS(net.emplace<ReLU>("pool1"), UsageError);  // two children with one name
}

TEST_CASE("Sequential describe: one row per leaf with full name, summary, out shape, params") {
  Sequential net = make_named_net();
  std::vector<LayerInfo> rows;
  net.describe("", Shape{8, 3, 9, 9}, rows);
  struct Row {
    const char* name;
    const char* summary;
    Shape out;
    int64_t params;
  };
  const Row expected[] = {
      {"enc1", "ChannelScale(3)", Shape{1, 3, 9, 9}, 6},
      {"pool1", "MaxPool2d(k3 s2 p1)", Shape{1, 3, 5, 5}, 0},
      {"layer1.0.conv1", "ChannelScale(3)", Shape{1, 3, 5, 5}, 6},
      {"layer1.0.relu", "ReLU", Shape{1, 3, 5, 5}, 0},
      {"up", "Upsample(nearest, x2)", Shape{1, 3, 10, 10}, 0},
      {"gap", "GlobalAvgPool", Shape{1, 3, 1, 1}, 0},
      {"flatten", "Flatten", Shape{1, 3}, 0},
      {"drop", "Dropout(p=0.5)", Shape{1, 3}, 0},
  };
  REQUIRE(rows.size() == sizeof expected / sizeof expected[0]);
  for (size_t i = 0; i < rows.size(); ++i) {
    CAPTURE(i);
    CHECK(rows[i].name == expected[i].name);
    CHECK(rows[i].summary == expected[i].summary);
    CHECK(rows[i].out_shape.str() == expected[i].out.str());
    CHECK(rows[i].params == expected[i].params);
  }
  CHECK(rows[0].macs == 3 * 9 * 9);  // ChannelScale counts one MAC per element
  CHECK(rows[2].macs == 3 * 5 * 5);
  CHECK(net.macs(Shape{8, 3, 9, 9}) == 3 * 9 * 9 + 3 * 5 * 5);
  // Under a parent name the rows are prefixed.
  rows.clear();
  net.describe("model", Shape{1, 3, 9, 9}, rows);
  CHECK(rows[2].name == "model.layer1.0.conv1");
}

TEST_CASE("Sequential out_shape: the chain of children's out_shape, equal to forward's shapes") {
  Sequential net;
  net.emplace<MaxPool2d>("pool", 3, 2, 1);  // 17 -> 9
  net.emplace<Upsample2x>("up");            // 9 -> 18
  net.emplace<AvgPool2d>("avg", 2, 2);      // 18 -> 9
  net.emplace<ReLU6>("act");
  net.emplace<GlobalAvgPool>("gap");  // -> 1x1
  net.emplace<Flatten>("flatten");    // -> [N, C]
  const Shape in{2, 3, 17, 17};
  CHECK(net.out_shape(in) == Shape{2, 3});
  Tensor x(in);
  Rng rng(1);
  plasmo::testing::fill_distinct(x, rng, 0.01f);
  CHECK(net.forward(x, Mode::Eval).shape() == Shape{2, 3});
  // A child that cannot take its input shape stops the chain with a ShapeError naming the shape.
  Sequential bad;
  bad.emplace<Flatten>("flatten");
  bad.emplace<MaxPool2d>("pool", 2, 2);
  CHECK_THROWS_WITH_AS(bad.out_shape(in), doctest::Contains("[2, 867]"), ShapeError);
  // An empty Sequential is the identity.
  Sequential empty;
  CHECK(empty.out_shape(in) == in);
  CHECK(&empty.forward(x, Mode::Train) == &x);
}

TEST_CASE(
    "Sequential gradient: ChannelScale, MaxPool, ReLU, Upsample, ReLU6, AvgPool, Sigmoid, Dropout, GAP, Flatten") {
  for (int batch : {1, 3}) {
    CAPTURE(batch);
    Sequential net;
    auto& scale1 = net.emplace<ChannelScale>("scale1", 2);
    net.emplace<MaxPool2d>("pool", 3, 2, 1);
    net.emplace<ReLU>("relu");
    net.emplace<Upsample2x>("up");
    auto& scale2 = net.emplace<ChannelScale>("scale2", 2);
    net.emplace<ReLU6>("relu6");
    net.emplace<AvgPool2d>("avg", 2, 2, 0);
    net.emplace<Sigmoid>("sigmoid");
    auto& drop = net.emplace<Dropout>("drop", 0.3f, 5);
    net.emplace<GlobalAvgPool>("gap");
    net.emplace<Flatten>("flatten");

    // Inputs (k + 1/2) * 0.05: distinct by 0.05 for MaxPool, at least 0.025 from ReLU's kink. scale1 keeps
    // signs (weight near 1, bias 0) so no +-0.01 nudge of x, weight or bias crosses a kink; scale2 lifts the
    // ReLU zeros to its bias, inside (0, 6) for ReLU6 (the inputs stay below 3, far from 6).
    Tensor x(Shape{batch, 2, 7, 5});
    Rng rng(77);
    plasmo::testing::fill_distinct(x, rng, 0.05f);
    for (size_t i = 0; i < x.size(); ++i) x[i] += 0.025f;
    scale1.weight[0] = 1.0f, scale1.weight[1] = 0.9f;
    scale2.weight[0] = 1.0f, scale2.weight[1] = 1.1f;
    scale2.bias[0] = 0.5f, scale2.bias[1] = 0.4f;

    plasmo::testing::GradCheckOptions options;
    const uint64_t state = drop.rng().state();
    options.before_forward = [&] { drop.rng().set_state(state); };
    options.max_checks_per_tensor = 256;
    const auto report = plasmo::testing::check_layer_gradients(net, x, options);
    CHECK(report.checked == static_cast<int>(x.size()) + 4 * 2);  // every input and every parameter
  }
}

TEST_CASE("Sequential needs_input_grad: false on the first child returns no dx, later grads unchanged") {
  Tensor x(Shape{2, 2, 6, 6});
  Rng rng(3);
  plasmo::testing::fill_distinct(x, rng, 0.05f);
  auto build = [](Sequential& net) {
    net.emplace<MaxPool2d>("pool", 2, 2);
    net.emplace<ChannelScale>("scale", 2);
    net.emplace<Sigmoid>("act");
  };
  Sequential full, skipping;
  build(full);
  build(skipping);
  skipping.set_needs_input_grad(false);
  CHECK_FALSE(skipping.at(0).needs_input_grad());
  CHECK(skipping.at(1).needs_input_grad());  // only the first child skips dx
  CHECK(skipping.at(2).needs_input_grad());

  Tensor dy(Shape{2, 2, 3, 3});
  plasmo::testing::fill_uniform(dy, rng, -1.0f, 1.0f);
  full.forward(x, Mode::Train);
  CHECK(full.backward(dy).shape() == x.shape());
  skipping.forward(x, Mode::Train);
  CHECK(skipping.backward(dy).empty());
  // The parameters behind the first child still get the same gradients.
  auto* a = dynamic_cast<ChannelScale*>(full.find("scale"));
  auto* b = dynamic_cast<ChannelScale*>(skipping.find("scale"));
  for (int c = 0; c < 2; ++c) {
    CHECK(a->weight_grad[c] == b->weight_grad[c]);
    CHECK(a->bias_grad[c] == b->bias_grad[c]);
  }

  // Set before any child is added: the first child added inherits it.
  Sequential early;
  early.set_needs_input_grad(false);
  early.emplace<Upsample2x>("up");
  early.emplace<ReLU>("relu");
  CHECK_FALSE(early.at(0).needs_input_grad());
  CHECK(early.at(1).needs_input_grad());
  early.forward(x, Mode::Train);
  CHECK(early.backward(Tensor(Shape{2, 2, 12, 12})).empty());

  // A first child with parameters still accumulates them while returning no dx.
  Sequential param_first;
  auto& scale = param_first.emplace<ChannelScale>("scale", 2);
  param_first.emplace<ReLU>("relu");
  param_first.set_needs_input_grad(false);
  param_first.forward(x, Mode::Train);
  Tensor ones(x.shape());
  ones.fill(1.0f);
  CHECK(param_first.backward(ones).empty());
  CHECK(scale.bias_grad[0] != 0.0f);
}

TEST_CASE("Sequential zero_grads: clears every parameter gradient") {
  Sequential net = make_named_net();
  for (Param& p : collect_params(net)) p.grad->fill(3.0f);
  zero_grads(net);
  for (Param& p : collect_params(net))
    for (size_t i = 0; i < p.grad->size(); ++i) REQUIRE((*p.grad)[i] == 0.0f);
}
