// Residual and the torchvision-named blocks: forward values, finite-difference gradients of whole
// blocks (every parameter and the input), parameter / buffer names against torchvision 0.14's
// state_dict keys (written here once from torchvision, so the test needs no Python), describe rows.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/blocks.h"
#include "engine/error.h"
#include "engine/layers/batchnorm2d.h"
#include "engine/layers/conv2d.h"
#include "engine/layers/residual.h"
#include "tests/gradcheck.h"

using namespace plasmo;
using plasmo::testing::check_layer_gradients;
using plasmo::testing::fill_uniform;

namespace {

std::vector<std::string> param_names(Layer& layer, const std::string& prefix = "") {
  std::vector<Param> ps;
  layer.params(prefix, ps);
  std::vector<std::string> names;
  for (const Param& p : ps) names.push_back(p.name);
  return names;
}

std::vector<std::string> buffer_names(Layer& layer, const std::string& prefix = "") {
  std::vector<Buffer> bs;
  layer.buffers(prefix, bs);
  std::vector<std::string> names;
  for (const Buffer& b : bs) names.push_back(b.name);
  return names;
}

// Random (not identity) BatchNorm affine parameters and running statistics, so eval mode and the
// gradients of gamma/beta are exercised away from the defaults.
void randomise_batchnorms(Layer& root, Rng& rng) {
  for_each_leaf(root, [&](Layer& layer) {
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&layer)) {
      fill_uniform(bn->weight, rng, 0.5f, 1.5f);
      fill_uniform(bn->bias, rng, -0.5f, 0.5f);
      fill_uniform(bn->running_mean, rng, -0.5f, 0.5f);
      fill_uniform(bn->running_var, rng, 0.5f, 2.0f);
    }
  });
}

void check_block(Layer& block, const Shape& in, Mode mode, uint64_t seed) {
  Rng rng(seed);
  init_default(block, rng);
  randomise_batchnorms(block, rng);
  Tensor x(in);
  fill_uniform(x, rng, -1.0f, 1.0f);
  testing::GradCheckOptions options;
  options.mode = mode;
  options.max_checks_per_tensor = 48;
  // A weight step moves a whole channel after BatchNorm: start small, retry smaller at ReLU / ReLU6 kinks.
  options.eps = 1e-3;
  options.kink_retries = 2;
  check_layer_gradients(block, x, options, seed);
}

}  // namespace

TEST_CASE("Residual forward: hand-computed y = relu(body(x) + shortcut(x))") {
  auto body = std::make_unique<Sequential>();
  body->emplace<Conv2d>("conv", 1, 1, 1, 1, 0, 1, false).weight[0] = 2.0f;  // body(x) = 2x
  Residual identity(std::move(body), nullptr, true);
  Tensor x({1, 1, 1, 4});
  const float xv[4] = {1, -1, 0.5f, -2};
  std::memcpy(x.data(), xv, sizeof xv);
  const Tensor& y = identity.forward(x, Mode::Train);  // relu(3x)
  const float expected[4] = {3, 0, 1.5f, 0};
  for (int i = 0; i < 4; ++i) CHECK(y[i] == expected[i]);
  Tensor dy({1, 1, 1, 4});
  dy.fill(1.0f);
  const Tensor& dx = identity.backward(dy);  // 3 where y > 0
  const float dx_expected[4] = {3, 0, 3, 0};
  for (int i = 0; i < 4; ++i) CHECK(dx[i] == dx_expected[i]);

  auto body2 = std::make_unique<Sequential>();
  body2->emplace<Conv2d>("0", 1, 1, 1, 1, 0, 1, false).weight[0] = 2.0f;
  auto shortcut = std::make_unique<Sequential>();
  shortcut->emplace<Conv2d>("0", 1, 1, 1, 1, 0, 1, true).weight[0] = -3.0f;
  static_cast<Conv2d&>(shortcut->at(0)).bias[0] = 0.25f;
  Residual projected(std::move(body2), std::move(shortcut), false);  // 2x - 3x + 0.25
  const Tensor& y2 = projected.forward(x, Mode::Train);
  for (int i = 0; i < 4; ++i) CHECK(y2[i] == -xv[i] + 0.25f);
}

TEST_CASE("Residual gradient: identity shortcut with ReLU after, and a conv shortcut without") {
  Rng rng(12);
  {
    auto body = std::make_unique<Sequential>();
    body->emplace<Conv2d>("conv", 3, 3, 3, 1, 1, 1, true).init_default(rng);
    Residual block(std::move(body), nullptr, true);
    Tensor x({2, 3, 5, 5});
    testing::fill_away_from_zero(x, rng, 0.1f);
    testing::GradCheckOptions options;
    options.kink_retries = 2;  // the ReLU after the add
    check_layer_gradients(block, x, options);
  }
  {
    auto body = std::make_unique<Sequential>();
    body->emplace<Conv2d>("0", 2, 4, 3, 2, 1, 1, true).init_default(rng);
    auto shortcut = std::make_unique<Sequential>();
    shortcut->emplace<Conv2d>("0", 2, 4, 1, 2, 0, 1, false).init_default(rng);
    Residual block(std::move(body), std::move(shortcut), false, "body", "proj");
    Tensor x({3, 2, 7, 5});
    fill_uniform(x, rng, -1.0f, 1.0f);
    check_layer_gradients(block, x);
    CHECK(param_names(block, "b.") == std::vector<std::string>{"b.body.0.weight", "b.body.0.bias", "b.proj.0.weight"});
  }
}

TEST_CASE("Residual: body and shortcut shapes must match; without dx the body still learns") {
  auto body = std::make_unique<Sequential>();
  body->emplace<Conv2d>("0", 2, 4, 3, 1, 1, 1, false);
  Residual bad(std::move(body), nullptr, true);
  CHECK_THROWS_AS(bad.out_shape(Shape{1, 2, 5, 5}), ShapeError);
  CHECK_THROWS_AS(bad.forward(Tensor({1, 2, 5, 5}), Mode::Train), ShapeError);

  auto block = make_basic_block(2, 4, 2);
  Rng rng(3);
  init_default(*block, rng);
  block->set_needs_input_grad(false);
  Tensor x({2, 2, 5, 5});
  fill_uniform(x, rng, -1.0f, 1.0f);
  block->forward(x, Mode::Train);
  Tensor dy(block->out_shape(x.shape()));
  dy.fill(1.0f);
  CHECK(block->backward(dy).empty());
  testing::GradCheckOptions options;
  options.check_input = false;
  options.max_checks_per_tensor = 24;
  options.kink_retries = 2;
  check_layer_gradients(*block, x, options);
}

TEST_CASE("BasicBlock gradient: identity shortcut, train and eval mode") {
  auto block = make_basic_block(4, 4, 1);
  CHECK(block->shortcut() == nullptr);
  check_block(*block, Shape{2, 4, 5, 5}, Mode::Train, 31);
  auto eval_block = make_basic_block(3, 3, 1);
  check_block(*eval_block, Shape{3, 3, 3, 3}, Mode::Eval, 32);
}

TEST_CASE("BasicBlock gradient: downsample shortcut (stride 2, and widening at stride 1)") {
  auto strided = make_basic_block(3, 6, 2);
  REQUIRE(strided->shortcut() != nullptr);
  CHECK(strided->out_shape(Shape{2, 3, 7, 7}) == Shape({2, 6, 4, 4}));
  check_block(*strided, Shape{2, 3, 7, 7}, Mode::Train, 41);
  auto widening = make_basic_block(2, 4, 1);
  REQUIRE(widening->shortcut() != nullptr);
  check_block(*widening, Shape{1, 2, 5, 3}, Mode::Train, 42);
  check_block(*strided, Shape{3, 3, 5, 5}, Mode::Eval, 43);
}

TEST_CASE("InvertedResidual gradient: expand 1 and 6, stride 1 and 2, with and without the residual") {
  struct Case {
    int in, out, stride, expand;
    Shape shape;
  };
  const Case cases[] = {
      {4, 2, 1, 1, Shape{2, 4, 5, 5}},  // expand 1, no residual (MobileNetV2's features.1)
      {3, 3, 1, 1, Shape{2, 3, 5, 5}},  // expand 1 with residual
      {2, 3, 2, 6, Shape{2, 2, 7, 7}},  // expand 6, stride 2
      {2, 2, 1, 6, Shape{3, 2, 5, 3}},  // expand 6 with residual
      {3, 3, 2, 1, Shape{1, 3, 5, 5}},  // expand 1, stride 2
  };
  for (const Case& c : cases) {
    INFO("InvertedResidual " << c.in << "->" << c.out << " s" << c.stride << " t" << c.expand << " " << c.shape.str());
    auto block = make_inverted_residual(c.in, c.out, c.stride, c.expand);
    const bool residual = dynamic_cast<Residual*>(block.get()) != nullptr;
    CHECK(residual == (c.stride == 1 && c.in == c.out));
    check_block(*block, c.shape, Mode::Train, static_cast<uint64_t>(50 + c.expand + c.stride));
  }
  auto block = make_inverted_residual(2, 2, 1, 6);
  check_block(*block, Shape{2, 2, 5, 5}, Mode::Eval, 61);
}

// Keys of torchvision 0.14: [k for k, _ in m.named_parameters()] and [k for k, _ in m.named_buffers()] for
// BasicBlock(64, 64, 1), BasicBlock(64, 128, 2, downsample) and InvertedResidual(inp, oup, stride, t).
TEST_CASE("BasicBlock names: torchvision's state_dict keys") {
  auto plain = make_basic_block(64, 64, 1);
  CHECK(param_names(*plain) ==
        std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias"});
  CHECK(buffer_names(*plain) == std::vector<std::string>{"bn1.running_mean", "bn1.running_var",
                                                         "bn1.num_batches_tracked", "bn2.running_mean",
                                                         "bn2.running_var", "bn2.num_batches_tracked"});
  auto down = make_basic_block(64, 128, 2);
  CHECK(param_names(*down) == std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight",
                                                       "bn2.weight", "bn2.bias", "downsample.0.weight",
                                                       "downsample.1.weight", "downsample.1.bias"});
  CHECK(buffer_names(*down) ==
        std::vector<std::string>{"bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked", "bn2.running_mean",
                                 "bn2.running_var", "bn2.num_batches_tracked", "downsample.1.running_mean",
                                 "downsample.1.running_var", "downsample.1.num_batches_tracked"});
  // Inside a model: "layer2.0." + the same keys; shapes as torchvision's.
  std::vector<Param> ps;
  down->params("layer2.0.", ps);
  CHECK(ps.front().name == "layer2.0.conv1.weight");
  CHECK(ps.front().value->shape() == Shape({128, 64, 3, 3}));
  CHECK(ps[6].name == "layer2.0.downsample.0.weight");
  CHECK(ps[6].value->shape() == Shape({128, 64, 1, 1}));
}

TEST_CASE("InvertedResidual names: torchvision's state_dict keys for expand 1 and 6") {
  const std::vector<std::string> expand1_params = {"conv.0.0.weight", "conv.0.1.weight", "conv.0.1.bias",
                                                   "conv.1.weight",   "conv.2.weight",   "conv.2.bias"};
  const std::vector<std::string> expand1_buffers = {"conv.0.1.running_mean",        "conv.0.1.running_var",
                                                    "conv.0.1.num_batches_tracked", "conv.2.running_mean",
                                                    "conv.2.running_var",           "conv.2.num_batches_tracked"};
  const std::vector<std::string> expand6_params = {"conv.0.0.weight", "conv.0.1.weight", "conv.0.1.bias",
                                                   "conv.1.0.weight", "conv.1.1.weight", "conv.1.1.bias",
                                                   "conv.2.weight",   "conv.3.weight",   "conv.3.bias"};
  const std::vector<std::string> expand6_buffers = {
      "conv.0.1.running_mean", "conv.0.1.running_var", "conv.0.1.num_batches_tracked",
      "conv.1.1.running_mean", "conv.1.1.running_var", "conv.1.1.num_batches_tracked",
      "conv.3.running_mean",   "conv.3.running_var",   "conv.3.num_batches_tracked"};
  for (auto [in, out, stride] : {std::tuple{32, 16, 1}, std::tuple{16, 16, 1}}) {
    auto block = make_inverted_residual(in, out, stride, 1);
    CHECK(param_names(*block) == expand1_params);
    CHECK(buffer_names(*block) == expand1_buffers);
  }
  for (auto [in, out, stride] : {std::tuple{16, 24, 2}, std::tuple{24, 24, 1}}) {
    auto block = make_inverted_residual(in, out, stride, 6);
    CHECK(param_names(*block) == expand6_params);
    CHECK(buffer_names(*block) == expand6_buffers);
  }
  // Shapes of features.2 of MobileNetV2 (InvertedResidual(16, 24, 2, 6)).
  auto block = make_inverted_residual(16, 24, 2, 6);
  std::vector<Param> ps;
  block->params("features.2.", ps);
  REQUIRE(ps.size() == 9);
  CHECK(ps[0].name == "features.2.conv.0.0.weight");
  CHECK(ps[0].value->shape() == Shape({96, 16, 1, 1}));
  CHECK(ps[3].value->shape() == Shape({96, 1, 3, 3}));  // depthwise
  CHECK(ps[6].value->shape() == Shape({24, 96, 1, 1}));
  CHECK(block->out_shape(Shape{2, 16, 32, 32}) == Shape({2, 24, 16, 16}));
  CHECK_THROWS_AS(make_inverted_residual(16, 24, 3, 6), UsageError);
}

TEST_CASE("BasicBlock describe: leaf rows named as torchvision's modules, MACs add up") {
  auto block = make_basic_block(8, 16, 2);
  std::vector<LayerInfo> rows;
  block->describe("layer2.0", Shape{1, 8, 16, 16}, rows);
  std::vector<std::string> names;
  for (const LayerInfo& row : rows) names.push_back(row.name);
  // bn1 carries the block's first ReLU (fused: torchvision's "relu" module has no parameters)
  CHECK(names == std::vector<std::string>{"layer2.0.conv1", "layer2.0.bn1", "layer2.0.conv2", "layer2.0.bn2",
                                          "layer2.0.downsample.0", "layer2.0.downsample.1"});
  CHECK(rows[0].summary == "Conv2d(8->16, k3 s2 p1, no bias)");
  CHECK(rows[1].summary == "BatchNorm2d(16) + ReLU");
  CHECK(rows[3].summary == "BatchNorm2d(16)");
  CHECK(rows[0].out_shape == Shape({1, 16, 8, 8}));
  const int64_t expected_macs = 16 * 64 * 8 * 9 + 16 * 64 * 16 * 9 + 16 * 64 * 8;
  CHECK(block->macs(Shape{1, 8, 16, 16}) == expected_macs);
  auto ir = make_inverted_residual(4, 4, 1, 6);
  rows.clear();
  ir->describe("features.3", Shape{1, 4, 8, 8}, rows);
  CHECK(rows.front().name == "features.3.conv.0.0");
  REQUIRE(rows.size() == 6);  // conv.0.0, conv.0.1 (BN + ReLU6), conv.1.0, conv.1.1 (BN + ReLU6), conv.2, conv.3
  CHECK(rows[1].name == "features.3.conv.0.1");
  CHECK(rows[1].summary == "BatchNorm2d(24) + ReLU6");
  CHECK(rows.back().name == "features.3.conv.3");
}

// PyTorch parity: the same blocks in float64 with torchvision 0.14 (parameters, x and r set by formulas),
// L = sum(y * r) backpropagated; per tensor two summaries, sum(t[i] * cos(0.7 i)) and sum(|t[i]|), of y,
// dx, every parameter gradient and every running statistic after one train step. The script, run once
// with /usr/bin/python3 (its output pasted below):
//   k-th parameter p (named_parameters order), i = 0..numel-1:
//     BN weight 1 + 0.3 sin(0.37 i + 1.1 k), BN bias 0.2 sin(0.37 i + 1.1 k), conv weight 0.4 sin(0.37 i + 1.1 k)
//   x[i] = sin(0.23 i + 0.5), r[i] = cos(0.41 i);  m.train(); y = m(x); (y * r).sum().backward()
namespace {

struct Summary {
  const char* name;
  double cos_sum, abs_sum;
};

void fill_formula(Tensor& t, double scale_sin, double base, double freq, double phase) {
  for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(base + scale_sin * std::sin(freq * i + phase));
}

void check_summary(const char* name, const Tensor& t, const std::vector<Summary>& expected) {
  for (const Summary& s : expected) {
    if (std::string(s.name) != name) continue;
    double cos_sum = 0, abs_sum = 0;
    for (size_t i = 0; i < t.size(); ++i) {
      cos_sum += t[i] * std::cos(0.7 * static_cast<double>(i));
      abs_sum += std::abs(t[i]);
    }
    INFO(name << ": cos sum " << cos_sum << " (torch " << s.cos_sum << "), abs sum " << abs_sum << " (torch "
              << s.abs_sum << ")");
    CHECK(std::abs(cos_sum - s.cos_sum) <= 2e-6 * s.abs_sum + 1e-6);
    CHECK(std::abs(abs_sum - s.abs_sum) <= 2e-6 * s.abs_sum + 1e-6);
    return;
  }
  FAIL_CHECK("no PyTorch summary for " << name);
}

void check_parity(Layer& block, const Shape& in, const std::vector<Summary>& expected) {
  std::vector<Param> params = collect_params(block);
  for (size_t k = 0; k < params.size(); ++k) {
    Tensor& p = *params[k].value;
    const bool is_bn = p.rank() == 1;
    const bool is_weight = params[k].name.size() >= 6 && params[k].name.rfind("weight") == params[k].name.size() - 6;
    const double phase = 1.1 * static_cast<double>(k);
    if (is_bn && is_weight)
      fill_formula(p, 0.3, 1.0, 0.37, phase);
    else if (is_bn)
      fill_formula(p, 0.2, 0.0, 0.37, phase);
    else
      fill_formula(p, 0.4, 0.0, 0.37, phase);
    params[k].grad->zero();
  }
  Tensor x(in);
  fill_formula(x, 1.0, 0.0, 0.23, 0.5);
  const Tensor& y = block.forward(x, Mode::Train);
  Tensor r(y.shape());
  for (size_t i = 0; i < r.size(); ++i) r[i] = static_cast<float>(std::cos(0.41 * static_cast<double>(i)));
  check_summary("y", y, expected);
  check_summary("dx", block.backward(r), expected);
  for (const Param& p : params) check_summary(p.name.c_str(), *p.grad, expected);
  for (const Buffer& b : collect_buffers(block))
    if (b.f32)
      check_summary(b.name.c_str(), *b.f32, expected);
    else
      CHECK(*b.i64 == 1);
}

}  // namespace

TEST_CASE("BasicBlock parity: forward, gradients and running statistics match torchvision in float64") {
  auto block = make_basic_block(3, 6, 2);
  check_parity(*block, Shape{2, 3, 7, 7},
               {
                   {"y", -28.067310301, 138.468669045},
                   {"dx", 0.592813181332, 297.808653847},
                   {"conv1.weight", 42.396691014, 445.570050808},
                   {"bn1.weight", -2.06479635112, 11.0603404841},
                   {"bn1.bias", 0.165481437356, 5.9978432798},
                   {"conv2.weight", 16.9840888529, 356.784486876},
                   {"bn2.weight", -26.2664352881, 33.4515412291},
                   {"bn2.bias", -9.7264655144, 12.7732642584},
                   {"downsample.0.weight", -15.5849435368, 70.8181369338},
                   {"downsample.1.weight", -0.328412604764, 1.82285066539},
                   {"downsample.1.bias", -9.7264655144, 12.7732642584},
                   {"bn1.running_mean", 0.000268648995057, 0.00814837704269},
                   {"bn1.running_var", -0.399266109136, 5.7057415418},
                   {"bn2.running_mean", -0.125158256806, 0.224719302084},
                   {"bn2.running_var", -0.471924225252, 6.46516027285},
                   {"downsample.1.running_mean", -0.000541120501006, 0.00169477232125},
                   {"downsample.1.running_var", -0.403853759195, 5.45441707247},
               });
}

TEST_CASE("InvertedResidual parity: forward, gradients and running statistics match torchvision in float64") {
  auto residual = make_inverted_residual(4, 4, 1, 6);
  check_parity(*residual, Shape{2, 4, 5, 5},
               {
                   {"y", 2.05936604969, 235.691689652},
                   {"dx", 37.562034927, 208.031783399},
                   {"conv.0.0.weight", 80.3646964755, 575.395756291},
                   {"conv.0.1.weight", 1.95422248281, 5.96580696824},
                   {"conv.0.1.bias", 10.1772434087, 45.3027386612},
                   {"conv.1.0.weight", 25.0353079321, 409.323421332},
                   {"conv.1.1.weight", -35.3712279019, 138.732777169},
                   {"conv.1.1.bias", -9.37670907494, 103.278576478},
                   {"conv.2.weight", 29.6600912645, 554.314803514},
                   {"conv.3.weight", 28.7532486752, 55.0096606659},
                   {"conv.3.bias", 0.0648598345365, 1.92582027683},
                   {"conv.0.1.running_mean", 0.00109163555436, 0.0792346592128},
                   {"conv.0.1.running_var", -0.44980993557, 22.6100289132},
                   {"conv.1.1.running_mean", -0.0515537575913, 1.44215749496},
                   {"conv.1.1.running_var", -0.376069284218, 23.2697850517},
                   {"conv.3.running_mean", 0.0451134842583, 0.318716320736},
                   {"conv.3.running_var", 1.39022613066, 3.84883173881},
               });
  auto plain = make_inverted_residual(4, 6, 2, 1);
  check_parity(*plain, Shape{3, 4, 5, 5},
               {
                   {"y", 7.99205817012, 107.617834525},
                   {"dx", -0.395005084969, 34.092269901},
                   {"conv.0.0.weight", -1.00897750261, 30.8644287966},
                   {"conv.0.1.weight", 3.64678704798, 9.71360742455},
                   {"conv.0.1.bias", 2.06101768465, 11.5593584389},
                   {"conv.1.weight", -10.0415400205, 512.826101909},
                   {"conv.2.weight", 10.4965489864, 28.2456538372},
                   {"conv.2.bias", 0.580617192186, 17.0274778233},
                   {"conv.0.1.running_mean", -6.87045833333e-05, 0.000472620820517},
                   {"conv.0.1.running_var", 1.39570161698, 3.90220311915},
                   {"conv.2.running_mean", -0.0380142423652, 0.358940014669},
                   {"conv.2.running_var", -0.407378502695, 5.42725158828},
               });
}
