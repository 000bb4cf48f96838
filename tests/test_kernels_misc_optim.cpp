// Parity of the optimizer updates of every ISA with the reference: bit-exact, over several steps and
// every option, for every tail length (see tests/test_kernels_misc.h). The vector versions run the
// reference's operations in the reference's order (engine/kernels/simd/optim.h), so any difference at
// all is a bug.
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
          ref_table().sgd_step(n, want.w.data(), want.g.data(), want.a.data(), 0.05f, o.momentum, o.dampening,
                               o.weight_decay, o.nesterov, step == 0);
          fast->sgd_step(n, got.w.data(), got.g.data(), got.a.data(), 0.05f, o.momentum, o.dampening, o.weight_decay,
                         o.nesterov, step == 0);
          check_same(got, want, n);
        }
      }
}

TEST_CASE("Kernel parity: adam_step is bit-exact on every ISA (steps 1-3 and 1000, weight decay)") {
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
            ref_table().adam_step(n, want.w.data(), want.g.data(), want.a.data(), want.b.data(), 1e-3f, 0.9f, 0.999f,
                                  1e-8f, weight_decay, t);
            fast->adam_step(n, got.w.data(), got.g.data(), got.a.data(), got.b.data(), 1e-3f, 0.9f, 0.999f, 1e-8f,
                            weight_decay, t);
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
          for (int step = 0; step < kSteps; ++step) {
            CAPTURE(step);
            new_gradient(want, got, n, rng);
            ref_table().rmsprop_step(n, want.w.data(), want.g.data(), want.a.data(), want.b.data(), 1e-2f, 0.99f, 1e-8f,
                                     weight_decay, momentum);
            fast->rmsprop_step(n, got.w.data(), got.g.data(), got.a.data(), got.b.data(), 1e-2f, 0.99f, 1e-8f,
                               weight_decay, momentum);
            check_same(got, want, n);
          }
        }
}
