// Parity of the optimizer updates of every ISA with the reference: bit-exact, over several steps and
// every option, for every tail length (see tests/test_kernels_misc.h). The vector versions run the
// reference's operations in the reference's order with its fma placement (engine/kernels/simd/optim.h),
// so any difference at all is a bug. (The reference itself is checked against torch.optim in
// tests/test_optim.cpp.)
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/test_kernels_misc.h"

using namespace plasmo;
using namespace plasmo::testing::kernels_misc;
using kernels::KernelTable;

namespace {

const size_t kLengths[] = {1, 3, 7, 15, 16, 17, 31, 33, 1000};
constexpr int kSteps = 3;

// One parameter with its optimizer state, on both sides of the comparison.
struct State {
  Guarded<float> w, g, a, b;  // a, b: the optimizer's state tensors (buf; m, v; sq, buf)
  State(size_t n, Rng& rng, bool zero_state) : w(n), g(n), a(n), b(n) {
    for (size_t i = 0; i < n; ++i) {
      w[i] = rng.normal();
      a[i] = zero_state ? 0.0f : 0.1f * rng.normal();
      b[i] = zero_state ? 0.0f : 0.01f * rng.uniform();  // v and sq are >= 0
    }
  }
  void copy_to(State& other) const {
    for (size_t i = 0; i < w.size(); ++i) {
      other.w[i] = w.data()[i];
      other.a[i] = a.data()[i];
      other.b[i] = b.data()[i];
    }
  }
};

void check_same(const State& got, const State& want, size_t n) {
  CHECK(bit_difference(got.w.data(), want.w.data(), n) == "");
  CHECK(bit_difference(got.a.data(), want.a.data(), n) == "");
  CHECK(bit_difference(got.b.data(), want.b.data(), n) == "");
  CHECK(got.w.guards_intact());
  CHECK(got.a.guards_intact());
  CHECK(got.b.guards_intact());
}

void new_gradient(State& want, State& got, size_t n, Rng& rng) {
  for (size_t i = 0; i < n; ++i) want.g[i] = got.g[i] = 0.5f * rng.normal();
}

}  // namespace

TEST_CASE("Kernel parity: sgd_step is bit-exact on every ISA (momentum, dampening, nesterov, weight decay)") {
  Rng rng(404);
  struct Options {
    float momentum, dampening, weight_decay;
    bool nesterov;
  };
  const Options options[] = {{0.0f, 0.0f, 0.0f, false},  {0.0f, 0.0f, 1e-4f, false}, {0.9f, 0.0f, 0.0f, false},
                             {0.9f, 0.1f, 5e-4f, false}, {0.9f, 0.0f, 5e-4f, true},  {0.5f, 0.0f, 0.0f, true}};
  for (const KernelTable* fast : fast_tables())
    for (size_t n : kLengths)
      for (const Options& o : options) {
        const std::string isa = fast->isa;
        CAPTURE(isa);
        CAPTURE(n);
        CAPTURE(o.momentum);
        CAPTURE(o.dampening);
        CAPTURE(o.weight_decay);
        CAPTURE(o.nesterov);
        State want(n, rng, true), got(n, rng, true);
        want.copy_to(got);
        for (int step = 0; step < kSteps; ++step) {
          CAPTURE(step);
          new_gradient(want, got, n, rng);
          kernels::SGDStep sgd;
          sgd.lr = 0.05f;
          sgd.momentum = o.momentum;
          sgd.one_minus_dampening = static_cast<float>(1.0 - static_cast<double>(o.dampening));
          sgd.weight_decay = o.weight_decay;
          sgd.nesterov = o.nesterov;
          sgd.first = step == 0;
          ref_table().sgd_step(n, want.w.data(), want.g.data(), want.a.data(), sgd);
          fast->sgd_step(n, got.w.data(), got.g.data(), got.a.data(), sgd);
          check_same(got, want, n);
        }
      }
}

// Adam's scalars as engine/optim.cpp makes them: in double, rounded once.
static kernels::AdamStep adam_scalars(double lr, double beta1, double beta2, double eps, float weight_decay,
                                      int64_t t) {
  kernels::AdamStep step;
  step.beta1 = static_cast<float>(beta1);
  step.one_minus_beta1 = static_cast<float>(1.0 - beta1);
  step.beta2 = static_cast<float>(beta2);
  step.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  step.step_size = static_cast<float>(lr / (1.0 - std::pow(beta1, static_cast<double>(t))));
  step.bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, static_cast<double>(t))));
  step.eps = static_cast<float>(eps);
  step.weight_decay = weight_decay;
  return step;
}

TEST_CASE("Kernel parity: adam_step is bit-exact on every ISA (steps 1-3 and 1000-1002, weight decay)") {
  Rng rng(505);
  for (const KernelTable* fast : fast_tables())
    for (size_t n : kLengths)
      for (float weight_decay : {0.0f, 0.01f})
        for (int64_t first_step : {int64_t{1}, int64_t{1000}}) {
          const std::string isa = fast->isa;
          CAPTURE(isa);
          CAPTURE(n);
          CAPTURE(weight_decay);
          State want(n, rng, first_step == 1), got(n, rng, true);
          want.copy_to(got);
          for (int step = 0; step < kSteps; ++step) {
            const int64_t t = first_step + step;
            CAPTURE(t);
            new_gradient(want, got, n, rng);
            const kernels::AdamStep adam = adam_scalars(1e-3, 0.9, 0.999, 1e-8, weight_decay, t);
            ref_table().adam_step(n, want.w.data(), want.g.data(), want.a.data(), want.b.data(), adam);
            fast->adam_step(n, got.w.data(), got.g.data(), got.a.data(), got.b.data(), adam);
            check_same(got, want, n);
          }
        }
}

TEST_CASE("Kernel parity: rmsprop_step is bit-exact on every ISA (momentum, weight decay)") {
  Rng rng(606);
  for (const KernelTable* fast : fast_tables())
    for (size_t n : kLengths)
      for (float momentum : {0.0f, 0.9f})
        for (float weight_decay : {0.0f, 1e-4f}) {
          const std::string isa = fast->isa;
          CAPTURE(isa);
          CAPTURE(n);
          CAPTURE(momentum);
          CAPTURE(weight_decay);
          State want(n, rng, true), got(n, rng, true);
          want.copy_to(got);
          kernels::RMSpropStep rmsprop;
          rmsprop.lr = 1e-2f;
          rmsprop.alpha = 0.99f;
          rmsprop.one_minus_alpha = static_cast<float>(1.0 - 0.99);
          rmsprop.eps = 1e-8f;
          rmsprop.weight_decay = weight_decay;
          rmsprop.momentum = momentum;
          for (int step = 0; step < kSteps; ++step) {
            CAPTURE(step);
            new_gradient(want, got, n, rng);
            ref_table().rmsprop_step(n, want.w.data(), want.g.data(), want.a.data(), want.b.data(), rmsprop);
            fast->rmsprop_step(n, got.w.data(), got.g.data(), got.a.data(), got.b.data(), rmsprop);
            check_same(got, want, n);
          }
        }
}
