// Parity of the per-channel (BatchNorm) kernels of every ISA with the reference (see
// tests/test_kernels_misc.h) on [N, C, HW] with N in {1, 5}, C in {1, 3, 5, 17}, HW in {1, 7, 49, 961}
// (1x1, 1x7, 7x7, 31x31 planes) and one plane of 64x64 (several summation blocks).
//   channel_affine, channel_affine2: bit-exact.
//   channel_mean_var, channel_grad_sums: the reference sums in double, the vector versions in float
//   blocks (engine/kernels/simd/channel.h bounds the error by 2.2e-6 * sum|terms|). Allowed here:
//     mean:        4e-6 * mean|x|
//     var:         4e-6 * var + (mean bound)^2   (the second pass is centred on the computed mean m';
//                  mean((x - m')^2) = var + (m' - mean)^2 exactly)
//     sum_dy:      4e-6 * sum|dy|
//     sum_dy_x:    4e-6 * sum|dy * x|
//   The data have a mean of 3 and a spread of 2 (inputs to BatchNorm are not centred), so a one-pass
//   variance would fail these bounds.
#include <cmath>
#include <string>
#include <vector>

#include "tests/test_kernels_misc.h"

using namespace plasmo;
using namespace plasmo::testing::kernels_misc;
using kernels::KernelTable;

namespace {

struct ChannelShape {
  int N, C, HW;
};

std::vector<ChannelShape> channel_shapes() {
  std::vector<ChannelShape> shapes;
  for (int N : {1, 5})
    for (int C : {1, 3, 5, 17})
      for (int HW : {1, 7, 49, 961}) shapes.push_back({N, C, HW});
  shapes.push_back({2, 3, 64 * 64});
  return shapes;
}

// sum over channel c of f(value index)
template <class F>
double channel_sum(const ChannelShape& s, int c, F&& f) {
  double total = 0.0;
  for (int n = 0; n < s.N; ++n)
    for (int i = 0; i < s.HW; ++i) total += f((static_cast<size_t>(n) * s.C + c) * s.HW + i);
  return total;
}

}  // namespace

TEST_CASE("Kernel parity: channel_mean_var within the stated bound of the reference on every ISA") {
  Rng rng(707);
  for (const KernelTable* fast : fast_tables())
    for (const ChannelShape& s : channel_shapes()) {
      const std::string isa = fast->isa;
      CAPTURE(isa);
      CAPTURE(s.N);
      CAPTURE(s.C);
      CAPTURE(s.HW);
      const size_t count = static_cast<size_t>(s.N) * s.C * s.HW;
      const std::vector<float> x = normal_values(count, rng, 2.0f, 3.0f);
      Guarded<float> mean_want(s.C), var_want(s.C), mean_got(s.C), var_got(s.C);
      ref_table().channel_mean_var(s.N, s.C, s.HW, x.data(), mean_want.data(), var_want.data());
      fast->channel_mean_var(s.N, s.C, s.HW, x.data(), mean_got.data(), var_got.data());
      const double values = static_cast<double>(s.N) * s.HW;
      std::vector<double> mean_bound(s.C), var_bound(s.C);
      for (int c = 0; c < s.C; ++c) {
        mean_bound[c] = 4e-6 * channel_sum(s, c, [&](size_t i) { return std::fabs(x[i]); }) / values;
        var_bound[c] = 4e-6 * var_want[c] + mean_bound[c] * mean_bound[c] + 1e-30;
      }
      CHECK(bound_difference(mean_got.data(), mean_want.data(), s.C, [&](size_t c) { return mean_bound[c]; }) == "");
      CHECK(bound_difference(var_got.data(), var_want.data(), s.C, [&](size_t c) { return var_bound[c]; }) == "");
      CHECK(mean_got.guards_intact());
      CHECK(var_got.guards_intact());
    }
}

TEST_CASE("Kernel parity: channel_grad_sums within the stated bound of the reference on every ISA") {
  Rng rng(808);
  for (const KernelTable* fast : fast_tables())
    for (const ChannelShape& s : channel_shapes()) {
      const std::string isa = fast->isa;
      CAPTURE(isa);
      CAPTURE(s.N);
      CAPTURE(s.C);
      CAPTURE(s.HW);
      const size_t count = static_cast<size_t>(s.N) * s.C * s.HW;
      const std::vector<float> x = normal_values(count, rng, 2.0f, 3.0f), dy = normal_values(count, rng, 0.1f, 0.02f);
      Guarded<float> dy_want(s.C), dyx_want(s.C), dy_got(s.C), dyx_got(s.C);
      ref_table().channel_grad_sums(s.N, s.C, s.HW, dy.data(), x.data(), dy_want.data(), dyx_want.data());
      fast->channel_grad_sums(s.N, s.C, s.HW, dy.data(), x.data(), dy_got.data(), dyx_got.data());
      std::vector<double> dy_bound(s.C), dyx_bound(s.C);
      for (int c = 0; c < s.C; ++c) {
        dy_bound[c] = 4e-6 * channel_sum(s, c, [&](size_t i) { return std::fabs(dy[i]); });
        dyx_bound[c] = 4e-6 * channel_sum(s, c, [&](size_t i) { return std::fabs(double(dy[i]) * x[i]); });
      }
      CHECK(bound_difference(dy_got.data(), dy_want.data(), s.C, [&](size_t c) { return dy_bound[c]; }) == "");
      CHECK(bound_difference(dyx_got.data(), dyx_want.data(), s.C, [&](size_t c) { return dyx_bound[c]; }) == "");
      CHECK(dy_got.guards_intact());
      CHECK(dyx_got.guards_intact());
    }
}

TEST_CASE("Kernel parity: channel_affine and channel_affine2 are bit-exact on every ISA") {
  Rng rng(909);
  for (const KernelTable* fast : fast_tables())
    for (const ChannelShape& s : channel_shapes()) {
      const std::string isa = fast->isa;
      CAPTURE(isa);
      CAPTURE(s.N);
      CAPTURE(s.C);
      CAPTURE(s.HW);
      const size_t count = static_cast<size_t>(s.N) * s.C * s.HW;
      const std::vector<float> x = normal_values(count, rng, 2.0f, 3.0f), dy = normal_values(count, rng);
      const std::vector<float> a = normal_values(s.C, rng), b = normal_values(s.C, rng), k = normal_values(s.C, rng);
      Guarded<float> want(count), got(count);
      ref_table().channel_affine(s.N, s.C, s.HW, x.data(), a.data(), b.data(), want.data());
      fast->channel_affine(s.N, s.C, s.HW, x.data(), a.data(), b.data(), got.data());
      CHECK(bit_difference(got.data(), want.data(), count) == "");
      CHECK(got.guards_intact());
      Guarded<float> want2(count), got2(count);
      ref_table().channel_affine2(s.N, s.C, s.HW, dy.data(), x.data(), a.data(), b.data(), k.data(), want2.data());
      fast->channel_affine2(s.N, s.C, s.HW, dy.data(), x.data(), a.data(), b.data(), k.data(), got2.data());
      CHECK(bit_difference(got2.data(), want2.data(), count) == "");
      CHECK(got2.guards_intact());
    }
}
