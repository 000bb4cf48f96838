// Optimizers and learning-rate schedules.
// - Trajectories on a fixed quadratic match torch.optim 1.13 to 1e-6, in fact bit for bit (numbers below
//   from tools/optim_reference.py, which says how they were made), on every ISA this machine runs.
// - The split of large parameters across threads gives the same bits as one kernel call per tensor.
// - State export/import continues bit-identically; state names follow torch.optim's.
// - Schedules equal torch.optim.lr_scheduler's values and their closed forms; spec parsing and errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "engine/kernels/kernels.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/schedule.h"
#include "engine/tensor.h"
#include "tests/test_helpers.h"

using namespace plasmo;
using plasmo::testing::for_each_isa;

namespace {

// ---- expected trajectories ----------------------------------------------------------------------------
// f(w) = 0.5 * sum_i a_i (w_i - c_i)^2 over w = [fc.weight (3), fc.bias (2)], gradient a_i (w_i - c_i),
// a = [1, 2, 0.5, 4, 0.25], c = [1, -1, 2, 0.5, -2], w0 = [0, 0.5, -1, 2, -0.3]. Row s = w after step s+1.
// The output of `/usr/bin/python3 tools/optim_reference.py` (torch 1.13) follows, pasted unchanged
// (then clang-formatted); the schedule values at its end are used by the Schedule tests.
//
// Hand checks of a few entries, element 0 (a = 1, c = 1, w0 = 0, so g = w - 1):
// - SGD lr 0.1 momentum 0.9: g1 = -1, buf = -1, w1 = 0.1; g2 = -0.9, buf = 0.9*(-1) - 0.9 = -1.8,
//   w2 = 0.1 + 0.18 = 0.28 (sgd_momentum[1][0]).
// - SGD dampening 0.5: buf2 = 0.9*(-1) + 0.5*(-0.9) = -1.35, w2 = 0.1 + 0.135 = 0.235 (sgd_dampening[1][0]).
// - Adam, first step: m/(1-b1) = g, sqrt(v/(1-b2)) = |g|, so w1 = w0 - lr*g/(|g| + eps) = 1e-3*(1 - 1e-8)
//   (adam_default[0][0] = 0.000999999931: that, to float rounding).
// - RMSprop alpha 0.99, first step: sqrt(0.01 g^2) = 0.1|g|, w1 = w0 - 0.01 * g / (0.1|g|) = 0.1
//   (rmsprop_default[0][0]).
//
// torch 1.13.0a0
// sgd_plain: SGD({'lr': 0.1}), lr changes {}
const float sgd_plain[5][5] = {
    {0.100000001f, 0.199999988f, -0.850000024f, 1.39999998f, -0.342500001f},
    {0.189999998f, -0.0400000252f, -0.707500041f, 1.03999996f, -0.383937508f},
    {0.270999998f, -0.232000023f, -0.572125018f, 0.824000001f, -0.424339086f},
    {0.343899995f, -0.38560003f, -0.443518758f, 0.694400012f, -0.463730603f},
    {0.409509987f, -0.508480012f, -0.321342826f, 0.616640031f, -0.502137363f},
};
// sgd_momentum: SGD({'lr': 0.1, 'momentum': 0.9}), lr changes {}
const float sgd_momentum[5][5] = {
    {0.100000001f, 0.199999988f, -0.850000024f, 1.39999998f, -0.342500001f},
    {0.280000001f, -0.310000002f, -0.57250005f, 0.49999997f, -0.422187507f},
    {0.513999999f, -0.907000005f, -0.194125086f, -0.309999973f, -0.533351541f},
    {0.773199975f, -1.46289992f, 0.256118625f, -0.714999974f, -0.670065403f},
    {1.02916002f, -1.87062991f, 0.748531997f, -0.593499959f, -0.826356232f},
};
// sgd_dampening: SGD({'lr': 0.1, 'momentum': 0.9, 'dampening': 0.5}), lr changes {}
const float sgd_dampening[5][5] = {
    {0.100000001f, 0.199999988f, -0.850000024f, 1.39999998f, -0.342500001f},
    {0.234999999f, -0.189999998f, -0.643750012f, 0.680000007f, -0.401468754f},
    {0.394749999f, -0.621999979f, -0.392031282f, -0.00399997039f, -0.474522263f},
    {0.568787456f, -1.04859996f, -0.105683647f, -0.518799961f, -0.559338868f},
    {0.7469818f, -1.4276799f, 0.204671308f, -0.77835995f, -0.653682113f},
};
// sgd_nesterov_wd: SGD({'lr': 0.1, 'momentum': 0.9, 'nesterov': True, 'weight_decay': 0.01}), lr changes {}
const float sgd_nesterov_wd[5][5] = {
    {0.189999998f, -0.0709500387f, -0.713100016f, 0.856200039f, -0.380180001f},
    {0.424539f, -0.667259216f, -0.331690639f, 0.0962412804f, -0.490581095f},
    {0.671426058f, -1.16194606f, 0.110987343f, -0.15204525f, -0.624603629f},
    {0.903368354f, -1.48412418f, 0.58341825f, -0.0249263737f, -0.775848091f},
    {1.09979272f, -1.61749351f, 1.05716717f, 0.253598869f, -0.938256919f},
};
// sgd_momentum_wd: SGD({'lr': 0.05, 'momentum': 0.8, 'weight_decay': 0.1}), lr changes {}
const float sgd_momentum_wd[5][5] = {
    {0.0500000007f, 0.347499996f, -0.920000017f, 1.69000006f, -0.319750011f},
    {0.137250006f, 0.0890124813f, -0.778400004f, 1.19555008f, -0.354954392f},
    {0.249501273f, -0.227123857f, -0.591767967f, 0.654902279f, -0.401906192f},
    {0.375579715f, -0.556184888f, -0.374709308f, 0.188129053f, -0.457434267f},
    {0.505785584f, -0.861034334f, -0.139821082f, -0.123856016f, -0.518851638f},
};
// sgd_lr_change: SGD({'lr': 0.1, 'momentum': 0.9}), lr changes {2: 0.03}
const float sgd_lr_change[5][5] = {
    {0.100000001f, 0.199999988f, -0.850000024f, 1.39999998f, -0.342500001f},
    {0.280000001f, -0.310000002f, -0.57250005f, 0.49999997f, -0.422187507f},
    {0.350199997f, -0.489099979f, -0.458987564f, 0.256999999f, -0.455536723f},
    {0.432873994f, -0.680943966f, -0.319941521f, 0.0674600229f, -0.497134477f},
    {0.524294376f, -0.872746885f, -0.160000965f, -0.0512211584f, -0.545843959f},
};
// adam_default: Adam({'lr': 0.001}), lr changes {}
const float adam_default[5][5] = {
    {0.000999999931f, 0.499000013f, -0.999000013f, 1.99899995f, -0.300999999f},
    {0.00199997379f, 0.498000026f, -0.998000026f, 1.99800003f, -0.301999986f},
    {0.00299990387f, 0.497000068f, -0.997000039f, 1.9970001f, -0.302999943f},
    {0.00399977295f, 0.496000141f, -0.996000111f, 1.99600017f, -0.303999871f},
    {0.00499956403f, 0.495000273f, -0.995000184f, 1.99500036f, -0.304999739f},
};
// adam_wd: Adam({'lr': 0.1, 'betas': (0.8, 0.99), 'eps': 1e-06, 'weight_decay': 0.01}), lr changes {}
const float adam_wd[5][5] = {
    {0.0999999046f, 0.400000036f, -0.900000036f, 1.89999998f, -0.399999768f},
    {0.199295014f, 0.300426811f, -0.800197065f, 1.8004247f, -0.499611974f},
    {0.297308654f, 0.201603115f, -0.700729489f, 1.70159507f, -0.598546982f},
    {0.393378347f, 0.103878975f, -0.601739407f, 1.60385907f, -0.696493387f},
    {0.486755371f, 0.00762977451f, -0.503371358f, 1.50758958f, -0.793120086f},
};
// adam_lr_change: Adam({'lr': 0.1}), lr changes {3: 0.01}
const float adam_lr_change[5][5] = {
    {0.0999999866f, 0.400000006f, -0.899999976f, 1.89999998f, -0.400000006f},
    {0.199587762f, 0.300239056f, -0.800102711f, 1.80023909f, -0.499796212f},
    {0.298413694f, 0.200902864f, -0.700381517f, 1.70090294f, -0.599233508f},
    {0.308178425f, 0.191032469f, -0.690434694f, 1.69103253f, -0.609124243f},
    {0.317873985f, 0.181199178f, -0.68050313f, 1.68119919f, -0.618983805f},
};
// rmsprop_default: RMSprop({'lr': 0.01}), lr changes {}
const float rmsprop_default[5][5] = {
    {0.0999999866f, 0.400000006f, -0.899999976f, 1.89999998f, -0.399999976f},
    {0.167082012f, 0.331585109f, -0.830317438f, 1.83158505f, -0.468718886f},
    {0.220017701f, 0.276851475f, -0.773888588f, 1.77685142f, -0.523860514f},
    {0.264610946f, 0.230196059f, -0.725306332f, 1.730196f, -0.570981443f},
    {0.30353421f, 0.189025402f, -0.682053864f, 1.6890254f, -0.612656832f},
};
// rmsprop_momentum_wd: RMSprop({'lr': 0.01, 'alpha': 0.9, 'eps': 1e-06, 'weight_decay': 0.05, 'momentum': 0.9}), lr
// changes {}
const float rmsprop_momentum_wd[5][5] = {
    {0.0316226743f, 0.468377262f, -0.968377292f, 1.96837723f, -0.331622541f},
    {0.0826541409f, 0.417212099f, -0.917098343f, 1.91720712f, -0.382768154f},
    {0.146901056f, 0.352518201f, -0.852028489f, 1.85249698f, -0.447397739f},
    {0.220289648f, 0.27817136f, -0.776887536f, 1.77811563f, -0.521608055f},
    {0.299828023f, 0.196952f, -0.694298744f, 1.69683623f, -0.602590024f},
};
const double lr_exp_0_9478[12] = {0.01,
                                  0.0094780000000000003,
                                  0.0089832483999999994,
                                  0.0085143228335199991,
                                  0.0080698751816102553,
                                  0.0076486276971301998,
                                  0.0072493693313400035,
                                  0.0068709522522440551,
                                  0.0065122885446769153,
                                  0.0061723470826447798,
                                  0.0058501505649307221,
                                  0.0055447727054413381};
const double lr_step_3_0_5[12] = {0.01,
                                  0.01,
                                  0.01,
                                  0.0050000000000000001,
                                  0.0050000000000000001,
                                  0.0050000000000000001,
                                  0.0025000000000000001,
                                  0.0025000000000000001,
                                  0.0025000000000000001,
                                  0.00125,
                                  0.00125,
                                  0.00125};
const double lr_cosine_10[12] = {0.01,
                                 0.0097552825814757691,
                                 0.009045084971874737,
                                 0.0079389262614623663,
                                 0.0065450849718747374,
                                 0.0050000000000000001,
                                 0.0034549150281252632,
                                 0.0020610737385376348,
                                 0.00095491502812526327,
                                 0.00024471741852423234,
                                 0,
                                 0.00024471741852423234};
const double lr_cosine_8_1e_3[12] = {0.01,
                                     0.0096574578963007918,
                                     0.0086819805153394644,
                                     0.0072220754456429051,
                                     0.0055000000000000005,
                                     0.0037779245543570965,
                                     0.0023180194846605367,
                                     0.0013425421036992098,
                                     0.001,
                                     0.0013425421036992098,
                                     0.0023180194846605376,
                                     0.0037779245543570982};

constexpr int kSteps = 5;
constexpr float kA[5] = {1.0f, 2.0f, 0.5f, 4.0f, 0.25f};
constexpr float kC[5] = {1.0f, -1.0f, 2.0f, 0.5f, -2.0f};
constexpr float kW0[5] = {0.0f, 0.5f, -1.0f, 2.0f, -0.3f};

// The quadratic's two parameters, with gradients computed as a * (w - c) in float (as the script does).
struct Quadratic {
  Tensor weight{Shape{3}}, weight_grad{Shape{3}}, bias{Shape{2}}, bias_grad{Shape{2}};
  Quadratic() {
    for (int i = 0; i < 5; ++i) w(i) = kW0[i];
  }
  float& w(int i) { return i < 3 ? weight[i] : bias[i - 3]; }
  float& g(int i) { return i < 3 ? weight_grad[i] : bias_grad[i - 3]; }
  void compute_gradient() {
    for (int i = 0; i < 5; ++i) g(i) = kA[i] * (w(i) - kC[i]);
  }
  std::vector<Param> params() { return {{"fc.weight", &weight, &weight_grad}, {"fc.bias", &bias, &bias_grad}}; }
};

std::string digits9(float value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", value);
  return text;
}

struct TorchCase {
  const char* name;
  const char* optimizer;
  OptimizerOptions options;
  const float (*expected)[5];
  std::map<int, double> lr_changes;  // step index (0-based) -> lr from that step on
};

// Runs a case with make_optimizer and checks every weight after every step to 1e-6, and bit for bit.
void check_torch_case(const TorchCase& c) {
  CAPTURE(c.name);
  Quadratic q;
  std::unique_ptr<Optimizer> optimizer = make_optimizer(c.optimizer, q.params(), c.options);
  for (int step = 0; step < kSteps; ++step) {
    auto change = c.lr_changes.find(step);
    if (change != c.lr_changes.end()) optimizer->set_lr(change->second);
    q.compute_gradient();
    optimizer->step();
    CHECK(optimizer->step_count() == step + 1);
    for (int i = 0; i < 5; ++i) {
      CAPTURE(step);
      CAPTURE(i);
      CHECK(std::fabs(q.w(i) - c.expected[step][i]) <= 1e-6f);
      // Stronger: the kernels repeat ATen's operations and roundings (kernels.h), so the bits agree.
      CHECK_MESSAGE(q.w(i) == c.expected[step][i],
                    "not bit-identical to torch: " << digits9(q.w(i)) << " vs " << digits9(c.expected[step][i]));
    }
  }
}

OptimizerOptions sgd_options(double lr, double momentum = 0.0, double dampening = 0.0, bool nesterov = false,
                             double weight_decay = 0.0) {
  OptimizerOptions o;
  o.lr = lr;
  o.momentum = momentum;
  o.dampening = dampening;
  o.nesterov = nesterov;
  o.weight_decay = weight_decay;
  return o;
}

std::vector<std::string> state_names(Optimizer& optimizer) {
  std::vector<std::string> names;
  for (const Buffer& entry : optimizer.state()) names.push_back(entry.name);
  return names;
}

// A snapshot of the state as a checkpoint would hold it: name -> floats, plus the step count.
struct SavedState {
  std::map<std::string, std::vector<float>> tensors;
  std::map<std::string, int64_t> scalars;
};

SavedState export_state(Optimizer& optimizer) {
  SavedState saved;
  for (const Buffer& entry : optimizer.state()) {
    if (entry.f32) {
      saved.tensors[entry.name].assign(entry.f32->data(), entry.f32->data() + entry.f32->size());
    } else {
      REQUIRE(entry.i64 != nullptr);
      saved.scalars[entry.name] = *entry.i64;
    }
  }
  return saved;
}

void import_state(Optimizer& optimizer, const SavedState& saved) {
  for (const Buffer& entry : optimizer.state()) {
    if (entry.f32) {
      auto found = saved.tensors.find(entry.name);
      REQUIRE_MESSAGE(found != saved.tensors.end(), "missing " << entry.name);
      REQUIRE(found->second.size() == entry.f32->size());
      for (size_t i = 0; i < found->second.size(); ++i) (*entry.f32)[i] = found->second[i];
    } else {
      auto found = saved.scalars.find(entry.name);
      REQUIRE_MESSAGE(found != saved.scalars.end(), "missing " << entry.name);
      *entry.i64 = found->second;
    }
  }
}

// Runs `steps` steps on q, then checks an optimizer that imports the exported state (over a copy of the
// weights) continues bit-identically to the original, and that a fresh one does not.
void check_round_trip(const char* name, const OptimizerOptions& options) {
  CAPTURE(name);
  Quadratic original;
  std::unique_ptr<Optimizer> first = make_optimizer(name, original.params(), options);
  for (int step = 0; step < 3; ++step) {
    original.compute_gradient();
    first->step();
  }
  const SavedState saved = export_state(*first);
  CHECK(saved.scalars.at("optim.step") == 3);

  Quadratic resumed, fresh_q;
  for (int i = 0; i < 5; ++i) resumed.w(i) = fresh_q.w(i) = original.w(i);
  std::unique_ptr<Optimizer> second = make_optimizer(name, resumed.params(), options);
  std::unique_ptr<Optimizer> fresh = make_optimizer(name, fresh_q.params(), options);
  import_state(*second, saved);
  CHECK(second->step_count() == 3);
  for (int step = 0; step < 3; ++step) {
    original.compute_gradient();
    resumed.compute_gradient();
    fresh_q.compute_gradient();
    first->step();
    second->step();
    fresh->step();
  }
  bool fresh_differs = false;
  for (int i = 0; i < 5; ++i) {
    CHECK(resumed.w(i) == original.w(i));  // bit-identical
    fresh_differs = fresh_differs || fresh_q.w(i) != original.w(i);
  }
  CHECK_MESSAGE(fresh_differs, "a fresh optimizer continued identically: the state is not being used");
  const SavedState after_first = export_state(*first), after_second = export_state(*second);
  CHECK(after_first.tensors == after_second.tensors);
  CHECK(after_first.scalars == after_second.scalars);
}

}  // namespace

// ---- trajectories against torch.optim --------------------------------------------------------------------

TEST_CASE("SGD: plain, momentum, dampening, Nesterov + weight decay, momentum + weight decay, lr change match torch") {
  for_each_isa([](const char*) {
    check_torch_case({"sgd_plain", "sgd", sgd_options(0.1), sgd_plain, {}});
    check_torch_case({"sgd_momentum", "sgd", sgd_options(0.1, 0.9), sgd_momentum, {}});
    check_torch_case({"sgd_dampening", "sgd", sgd_options(0.1, 0.9, 0.5), sgd_dampening, {}});
    check_torch_case({"sgd_nesterov_wd", "sgd", sgd_options(0.1, 0.9, 0.0, true, 0.01), sgd_nesterov_wd, {}});
    check_torch_case({"sgd_momentum_wd", "sgd", sgd_options(0.05, 0.8, 0.0, false, 0.1), sgd_momentum_wd, {}});
    // set_lr between steps: PyTorch's buffer does not hold the lr, so the new rate scales the whole buffer.
    check_torch_case({"sgd_lr_change", "sgd", sgd_options(0.1, 0.9), sgd_lr_change, {{2, 0.03}}});
  });
}

TEST_CASE("Adam: defaults, betas + eps + weight decay, lr change match torch") {
  for_each_isa([](const char*) {
    check_torch_case({"adam_default", "adam", {}, adam_default, {}});
    OptimizerOptions options;
    options.lr = 0.1;
    options.beta1 = 0.8;
    options.beta2 = 0.99;
    options.eps = 1e-6;
    options.weight_decay = 0.01;
    check_torch_case({"adam_wd", "adam", options, adam_wd, {}});
    OptimizerOptions fast;
    fast.lr = 0.1;
    check_torch_case({"adam_lr_change", "adam", fast, adam_lr_change, {{3, 0.01}}});
  });
}

TEST_CASE("RMSprop: defaults, alpha + eps + weight decay + momentum match torch") {
  for_each_isa([](const char*) {
    check_torch_case({"rmsprop_default", "rmsprop", {}, rmsprop_default, {}});
    OptimizerOptions options;
    options.lr = 0.01;
    options.alpha = 0.9;
    options.eps = 1e-6;
    options.weight_decay = 0.05;
    options.momentum = 0.9;
    check_torch_case({"rmsprop_momentum_wd", "rmsprop", options, rmsprop_momentum_wd, {}});
  });
}

// ---- threads -------------------------------------------------------------------------------------------------

TEST_CASE("Optimizer step: large parameters split across threads give the bits of one kernel call per tensor") {
  // Sizes straddle the block (16) and the parallel threshold; the largest runs on several workers.
  const int sizes[] = {70001, 13, 40000, 1};
  const char* names[] = {"sgd", "adam", "rmsprop"};
  for (const char* name : names) {
    CAPTURE(name);
    OptimizerOptions options;
    if (std::string(name) != "adam") options.momentum = 0.9;
    if (std::string(name) == "sgd") options.nesterov = true;
    options.weight_decay = 0.01;
    std::vector<Tensor> values, grads, expected, buf_a, buf_b;
    Rng rng(99);
    for (int size : sizes) {
      values.emplace_back(Shape{size});
      grads.emplace_back(Shape{size});
      for (int i = 0; i < size; ++i) values.back()[i] = rng.uniform(-1.0f, 1.0f);
      expected.push_back(values.back().clone());
      buf_a.emplace_back(Shape{size});
      buf_b.emplace_back(Shape{size});
    }
    std::vector<Param> params;
    for (size_t p = 0; p < values.size(); ++p) params.push_back({"p" + std::to_string(p), &values[p], &grads[p]});
    std::unique_ptr<Optimizer> optimizer = make_optimizer(name, params, options);
    const kernels::KernelTable& k = kernels::K();
    for (int64_t t = 1; t <= 2; ++t) {
      for (size_t p = 0; p < values.size(); ++p)
        for (size_t i = 0; i < values[p].size(); ++i) grads[p][i] = rng.uniform(-1.0f, 1.0f);
      optimizer->step();
      // The same step as one kernel call per whole tensor, scalars as engine/optim.cpp rounds them.
      kernels::SGDStep sgd;
      sgd.lr = 0.001f, sgd.momentum = 0.9f, sgd.one_minus_dampening = 1.0f, sgd.weight_decay = 0.01f;
      sgd.nesterov = true, sgd.first = t == 1;
      kernels::AdamStep adam;
      adam.step_size = static_cast<float>(1e-3 / (1.0 - std::pow(0.9, t)));
      adam.bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(0.999, t)));
      adam.one_minus_beta1 = static_cast<float>(1.0 - 0.9), adam.one_minus_beta2 = static_cast<float>(1.0 - 0.999);
      adam.weight_decay = 0.01f;
      kernels::RMSpropStep rmsprop;
      rmsprop.lr = 0.01f, rmsprop.one_minus_alpha = static_cast<float>(1.0 - 0.99), rmsprop.weight_decay = 0.01f;
      rmsprop.momentum = 0.9f;
      for (size_t p = 0; p < values.size(); ++p) {
        const size_t n = expected[p].size();
        if (std::string(name) == "sgd")
          k.sgd_step(n, expected[p].data(), grads[p].data(), buf_a[p].data(), sgd);
        else if (std::string(name) == "adam")
          k.adam_step(n, expected[p].data(), grads[p].data(), buf_a[p].data(), buf_b[p].data(), adam);
        else
          k.rmsprop_step(n, expected[p].data(), grads[p].data(), buf_a[p].data(), buf_b[p].data(), rmsprop);
      }
    }
    for (size_t p = 0; p < values.size(); ++p) {
      size_t mismatches = 0;
      for (size_t i = 0; i < values[p].size(); ++i) mismatches += values[p][i] != expected[p][i];
      CHECK_MESSAGE(mismatches == 0, params[p].name << ": " << mismatches << " elements differ");
    }
  }
}

// ---- state -----------------------------------------------------------------------------------------------------

TEST_CASE("Optimizer state: names follow torch.optim, one I64 step count") {
  Quadratic q;
  using Names = std::vector<std::string>;
  CHECK(state_names(*make_optimizer("sgd", q.params(), sgd_options(0.1))) == Names{"optim.step"});
  CHECK(state_names(*make_optimizer("sgd", q.params(), sgd_options(0.1, 0.9))) ==
        Names{"optim.step", "optim.fc.weight.momentum_buffer", "optim.fc.bias.momentum_buffer"});
  CHECK(state_names(*make_optimizer("adam", q.params())) == Names{"optim.step", "optim.fc.weight.exp_avg",
                                                                  "optim.fc.weight.exp_avg_sq", "optim.fc.bias.exp_avg",
                                                                  "optim.fc.bias.exp_avg_sq"});
  CHECK(state_names(*make_optimizer("rmsprop", q.params())) ==
        Names{"optim.step", "optim.fc.weight.square_avg", "optim.fc.bias.square_avg"});
  OptimizerOptions rmsprop_momentum;
  rmsprop_momentum.momentum = 0.5;
  CHECK(state_names(*make_optimizer("rmsprop", q.params(), rmsprop_momentum)) ==
        Names{"optim.step", "optim.fc.weight.square_avg", "optim.fc.bias.square_avg", "optim.fc.weight.momentum_buffer",
              "optim.fc.bias.momentum_buffer"});

  std::unique_ptr<Optimizer> adam = make_optimizer("adam", q.params());
  std::vector<Buffer> state = adam->state();
  CHECK(state[0].i64 != nullptr);
  CHECK(state[0].f32 == nullptr);
  for (size_t i = 1; i < state.size(); ++i) {
    REQUIRE(state[i].f32 != nullptr);
    CHECK(state[i].i64 == nullptr);
    CHECK(state[i].f32->shape() == (i <= 2 ? Shape{3} : Shape{2}));  // the parameter's shape
    for (size_t e = 0; e < state[i].f32->size(); ++e) CHECK((*state[i].f32)[e] == 0.0f);
  }
  // Steps update the state in place: same tensors, same memory.
  const float* exp_avg = state[1].f32->data();
  q.compute_gradient();
  adam->step();
  CHECK(adam->state()[1].f32->data() == exp_avg);
  CHECK((*state[1].f32)[0] != 0.0f);
  CHECK(*state[0].i64 == 1);
}

TEST_CASE("Optimizer state: export then import into a new optimizer continues bit-identically") {
  check_round_trip("sgd", sgd_options(0.1, 0.9, 0.0, true, 0.01));
  check_round_trip("sgd", sgd_options(0.1, 0.9, 0.3));
  OptimizerOptions adam;
  adam.lr = 0.05;
  adam.weight_decay = 0.01;
  check_round_trip("adam", adam);
  OptimizerOptions rmsprop;
  rmsprop.momentum = 0.9;
  check_round_trip("rmsprop", rmsprop);
}

// ---- factory, options, errors -------------------------------------------------------------------------------

TEST_CASE("Optimizer factory: PyTorch defaults, summaries, kinds") {
  Quadratic q;
  std::unique_ptr<Optimizer> sgd = make_optimizer("sgd", q.params());
  CHECK(std::string(sgd->kind()) == "sgd");
  CHECK(sgd->lr() == 1e-3);
  CHECK(sgd->summary() == "SGD(lr=0.001, momentum=0, dampening=0, weight_decay=0, nesterov=false)");
  std::unique_ptr<Optimizer> adam = make_optimizer("adam", q.params());
  CHECK(std::string(adam->kind()) == "adam");
  CHECK(adam->summary() == "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0)");
  std::unique_ptr<Optimizer> rmsprop = make_optimizer("rmsprop", q.params());
  CHECK(std::string(rmsprop->kind()) == "rmsprop");
  CHECK(rmsprop->summary() == "RMSprop(lr=0.01, alpha=0.99, eps=1e-08, weight_decay=0, momentum=0)");
  rmsprop->set_lr(0.5);
  CHECK(rmsprop->lr() == 0.5);
  CHECK(sgd->params().size() == 2);
  CHECK(sgd->params()[1].name == "fc.bias");

  // zero_grad clears every gradient; step reads gradients and leaves them alone.
  q.compute_gradient();
  const float g0 = q.g(0);
  sgd->step();
  CHECK(q.g(0) == g0);
  sgd->zero_grad();
  for (int i = 0; i < 5; ++i) CHECK(q.g(i) == 0.0f);
}

TEST_CASE("Optimizer factory: unknown names, foreign options and bad values throw UsageError") {
  Quadratic q;
  CHECK_THROWS_AS(make_optimizer("adamw", q.params()), UsageError);
  CHECK_THROWS_AS(make_optimizer("SGD", q.params()), UsageError);
  CHECK_THROWS_AS(make_optimizer("", q.params()), UsageError);

  OptimizerOptions momentum;
  momentum.momentum = 0.9;
  CHECK_THROWS_AS(make_optimizer("adam", q.params(), momentum), UsageError);
  OptimizerOptions beta;
  beta.beta1 = 0.5;
  CHECK_THROWS_AS(make_optimizer("sgd", q.params(), beta), UsageError);
  CHECK_THROWS_AS(make_optimizer("rmsprop", q.params(), beta), UsageError);
  OptimizerOptions alpha;
  alpha.alpha = 0.9;
  CHECK_THROWS_AS(make_optimizer("sgd", q.params(), alpha), UsageError);
  CHECK_THROWS_AS(make_optimizer("adam", q.params(), alpha), UsageError);

  CHECK_THROWS_AS(make_optimizer("sgd", q.params(), sgd_options(-0.1)), UsageError);
  CHECK_THROWS_AS(make_optimizer("sgd", q.params(), sgd_options(std::nan(""))), UsageError);
  CHECK_THROWS_AS(make_optimizer("sgd", q.params(), sgd_options(0.1, -0.9)), UsageError);
  CHECK_THROWS_AS(make_optimizer("sgd", q.params(), sgd_options(0.1, 0.0, 0.0, true)),
                  UsageError);  // Nesterov, no momentum
  CHECK_THROWS_AS(make_optimizer("sgd", q.params(), sgd_options(0.1, 0.9, 0.1, true)), UsageError);  // and dampening
  CHECK_THROWS_AS(make_optimizer("sgd", q.params(), sgd_options(0.1, 0.0, 0.0, false, -1.0)), UsageError);
  OptimizerOptions bad_beta;
  bad_beta.beta2 = 1.0;
  CHECK_THROWS_AS(make_optimizer("adam", q.params(), bad_beta), UsageError);
  OptimizerOptions bad_eps;
  bad_eps.eps = -1e-8;
  CHECK_THROWS_AS(make_optimizer("rmsprop", q.params(), bad_eps), UsageError);

  std::unique_ptr<Optimizer> sgd = make_optimizer("sgd", q.params());
  CHECK_THROWS_AS(sgd->set_lr(-1.0), UsageError);
  CHECK_THROWS_AS(sgd->set_lr(INFINITY), UsageError);
  CHECK(sgd->lr() == 1e-3);
}

TEST_CASE("Optimizer params: empty, duplicate, unallocated or mismatched parameters are refused") {
  Quadratic q;
  CHECK_THROWS_AS(make_optimizer("sgd", {}), UsageError);
  std::vector<Param> duplicate = q.params();
  duplicate.push_back(duplicate[0]);
  CHECK_THROWS_AS(make_optimizer("sgd", duplicate), UsageError);
  std::vector<Param> same_tensor = q.params();
  same_tensor[1].value = same_tensor[0].value;
  same_tensor[1].grad = same_tensor[0].grad;
  CHECK_THROWS_AS(make_optimizer("sgd", same_tensor), UsageError);
  Tensor short_grad(Shape{2});
  std::vector<Param> mismatched = {{"fc.weight", &q.weight, &short_grad}};
  CHECK_THROWS_AS(make_optimizer("adam", mismatched), ShapeError);
  Tensor unallocated, unallocated_grad;
  std::vector<Param> empty_value = {{"fc.weight", &unallocated, &unallocated_grad}};
  CHECK_THROWS_AS(make_optimizer("sgd", empty_value), ShapeError);
  std::vector<Param> null_grad = {{"fc.weight", &q.weight, nullptr}};
  CHECK_THROWS_AS(make_optimizer("sgd", null_grad), UsageError);

  // A parameter resized after construction is caught by step(), which then changes nothing.
  std::unique_ptr<Optimizer> sgd = make_optimizer("sgd", q.params(), sgd_options(0.1, 0.9));
  q.compute_gradient();
  q.bias_grad.resize(Shape{1});
  const float w0 = q.w(0);
  CHECK_THROWS_AS(sgd->step(), ShapeError);
  CHECK(q.w(0) == w0);
  CHECK(sgd->step_count() == 0);
}

// ---- schedules -------------------------------------------------------------------------------------------

TEST_CASE("Schedule exponential: lr 1e-2 * 0.9478^epoch, equal to torch's ExponentialLR") {
  const Schedule schedule = parse_schedule("exp:0.9478", 1e-2, 30);
  CHECK(schedule.kind() == Schedule::Kind::Exponential);
  for (int epoch = 0; epoch < 12; ++epoch) {
    CAPTURE(epoch);
    CHECK(schedule.lr_at(epoch) == doctest::Approx(1e-2 * std::pow(0.9478, epoch)).epsilon(1e-15));
    CHECK(schedule.lr_at(epoch) == doctest::Approx(lr_exp_0_9478[epoch]).epsilon(1e-13));  // torch's recursive product
  }
  CHECK(schedule.lr_at(29) == doctest::Approx(0.01 * 0.21124).epsilon(1e-4));  // 0.9478^29 = 0.21124...
  CHECK(parse_schedule("exponential:0.5", 1.0, 1).lr_at(3) == 0.125);
}

TEST_CASE("Schedule step: base_lr * gamma^floor(epoch / step_size), equal to torch's StepLR") {
  const Schedule schedule = parse_schedule("step:3:0.5", 1e-2, 30);
  CHECK(schedule.kind() == Schedule::Kind::Step);
  for (int epoch = 0; epoch < 12; ++epoch) {
    CAPTURE(epoch);
    CHECK(schedule.lr_at(epoch) == doctest::Approx(lr_step_3_0_5[epoch]).epsilon(1e-15));
  }
  const Schedule ten = parse_schedule("step:10:0.5", 0.1, 30);
  CHECK(ten.lr_at(9) == 0.1);
  CHECK(ten.lr_at(10) == 0.05);
  CHECK(ten.lr_at(25) == 0.025);
  CHECK(parse_schedule("step:2", 1.0, 30).lr_at(4) == doctest::Approx(0.01));  // gamma defaults to 0.1
}

TEST_CASE("Schedule cosine: eta_min + (base - eta_min)(1 + cos(pi e / T_max))/2, equal to torch's CosineAnnealingLR") {
  const Schedule schedule = parse_schedule("cosine", 1e-2, 10);  // T_max = total epochs
  const Schedule with_min = parse_schedule("cosine:8:0.001", 1e-2, 30);
  CHECK(schedule.kind() == Schedule::Kind::Cosine);
  for (int epoch = 0; epoch < 12; ++epoch) {
    CAPTURE(epoch);
    CHECK(schedule.lr_at(epoch) == doctest::Approx(lr_cosine_10[epoch]).epsilon(1e-14).scale(1e-2));
    CHECK(with_min.lr_at(epoch) == doctest::Approx(lr_cosine_8_1e_3[epoch]).epsilon(1e-14).scale(1e-2));
  }
  CHECK(schedule.lr_at(0) == 1e-2);
  CHECK(schedule.lr_at(5) == doctest::Approx(0.5e-2).epsilon(1e-15));  // halfway: cos(pi/2) = 0
  CHECK(std::fabs(schedule.lr_at(10)) < 1e-18);                        // T_max: eta_min
  CHECK(with_min.lr_at(8) == doctest::Approx(1e-3).epsilon(1e-15));
}

TEST_CASE("Schedule constant: base lr at every epoch; specs round-trip") {
  const Schedule schedule = parse_schedule("constant", 0.003, 5);
  CHECK(schedule.kind() == Schedule::Kind::Constant);
  for (int epoch : {0, 1, 7, 1000}) CHECK(schedule.lr_at(epoch) == 0.003);
  CHECK(schedule.spec() == "constant");
  CHECK(parse_schedule("step:10:0.5", 1.0, 5).spec() == "step:10:0.5");
  CHECK(parse_schedule("exp:0.9478", 1.0, 5).spec() == "exp:0.9478");
  CHECK(parse_schedule("cosine", 1.0, 30).spec() == "cosine:30:0");
  CHECK(parse_schedule("cosine:12:0.0001", 1.0, 30).spec() == "cosine:12:0.0001");
  CHECK(Schedule::exponential(0.1, 0.9).base_lr() == 0.1);
}

TEST_CASE("Schedule spec errors: unknown names, missing or bad numbers throw UsageError") {
  const char* bad[] = {"",          "linear",    "exp",      "exp:",          "exp:abc",     "exp:0.9:1",
                       "exp:-0.5",  "exp:0",     "step",     "step:0",        "step:1.5",    "step:-2:0.5",
                       "step:10:x", "step:10:0", "cosine:0", "cosine:5:-1",   "cosine:a",    "constant:1",
                       "Constant",  "exp:nan",   "exp:inf",  "step:10:0.5:1", "cosine:1:2:3"};
  for (const char* spec : bad) {
    CAPTURE(spec);
    CHECK_THROWS_AS(parse_schedule(spec, 0.1, 10), UsageError);
  }
  CHECK_THROWS_AS(parse_schedule("cosine", 0.1, 0), UsageError);  // T_max from a run of 0 epochs
  CHECK_THROWS_AS(parse_schedule("constant", -0.1, 10), UsageError);
  CHECK_THROWS_AS(parse_schedule("constant", 0.1, 10).lr_at(-1), UsageError);
  try {
    parse_schedule("exp:fast", 0.1, 10);
    FAIL("no error");
  } catch (const UsageError& error) {
    const std::string message = error.what();
    CHECK(message.find("exp:fast") != std::string::npos);
    CHECK(message.find("step:STEP_SIZE") != std::string::npos);  // states the syntax
  }
}
