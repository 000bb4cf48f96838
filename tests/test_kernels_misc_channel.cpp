// Parity of the per-channel (BatchNorm + activation) kernels of every ISA with the reference (see
// tests/test_kernels_misc.h) on [N, C, HW] with N in {1, 5}, C in {1, 3, 5, 17}, HW in {1, 4, 7, 16, 49, 961}
// (1x1, 2x2, 1x7, 4x4, 7x7, 31x31 planes: below, at and above one vector of every ISA), one plane of
// 64x64 (several summation blocks), and shapes with several chunks of small planes and more images than
// one float-summed image block (N 20, C 70). Every activation (none, ReLU, ReLU6).
//   channel_affine_act, channel_act_affine2: bit-exact (also in place for channel_affine_act).
//   channel_mean_var, channel_act_grad_sums: the reference sums in double, the vector versions in float
//   blocks (engine/kernels/simd/channel.h bounds the error by 2.2e-6 * sum|terms|). Allowed here:
//     mean:        4e-6 * mean|x|
//     var:         4e-6 * var + (mean bound)^2   (the deviations are centred on float block means)
//     sum_g:       4e-6 * sum|g|
//     sum_gxc:     4e-6 * sum|g * xc|
//   The data have a mean of 3 and a spread of 2 (inputs to BatchNorm are not centred), so a one-pass
//   E[x^2] - E[x]^2 variance would fail these bounds.
//   The two range-taking kernels give every channel the same bits whatever [c_begin, c_end) (the layer
//   splits channels across threads) and leave the entries outside the range alone.
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
      for (int HW : {1, 4, 7, 16, 49, 961}) shapes.push_back({N, C, HW});
  shapes.push_back({2, 3, 64 * 64});
  shapes.push_back({20, 70, 1});
  shapes.push_back({20, 70, 4});
  shapes.push_back({17, 33, 2});
  shapes.push_back({20, 9, 16});
  // planes below 256 values go in spans of whole channels (at most 512 floats, 256 channels) per image:
  shapes.push_back({20, 70, 16});     // several spans per image, image blocks of 16 and 4
  shapes.push_back({3, 300, 1});      // spans capped by channels
  shapes.push_back({18, 11, 64});     // 8x8 planes, whole vectors
  shapes.push_back({18, 7, 200});     // planes not a whole number of vectors, 2 per span
  shapes.push_back({2, 5, 1 << 17});  // an output of 1M floats and more: streaming stores
  return shapes;
}

const int kActs[] = {kernels::kActNone, kernels::kActReLU, kernels::kActReLU6};

// Runs check(fast, shape, act) on every fast table, channel shape and activation, captured for a failure's
// message.
template <class Check>
void for_each_isa_shape_act(const Check& check) {
  for (const KernelTable* fast : fast_tables())
    for (const ChannelShape& s : channel_shapes())
      for (int act : kActs) {
        const std::string isa = fast->isa;
        CAPTURE(isa);
        CAPTURE(s.N);
        CAPTURE(s.C);
        CAPTURE(s.HW);
        CAPTURE(act);
        check(*fast, s, act);
      }
}

// sum over channel c of f(value index)
template <class F>
double channel_sum(const ChannelShape& s, int c, F&& f) {
  double total = 0.0;
  for (int n = 0; n < s.N; ++n)
    for (int i = 0; i < s.HW; ++i) total += f((static_cast<size_t>(n) * s.C + c) * s.HW + i);
  return total;
}

// act'(x * scale + shift), as kernels.h defines it (the product and the sum rounded separately).
bool passes(int act, float x, float scale, float shift) {
  const float product = x * scale;
  const float t = product + shift;
  if (act == kernels::kActReLU) return t > 0.0f;
  if (act == kernels::kActReLU6) return t > 0.0f && t < 6.0f;
  return true;
}

// The channel ranges a 3-way split of C gives (the layer's split_items chunks).
std::vector<std::pair<int, int>> three_ranges(int C) { return {{0, C / 3}, {C / 3, 2 * C / 3}, {2 * C / 3, C}}; }

}  // namespace

TEST_CASE("Kernel parity: channel_mean_var within the stated bound of the reference on every ISA, any channel range") {
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
      ref_table().channel_mean_var(s.N, s.C, s.HW, 0, s.C, x.data(), mean_want.data(), var_want.data());
      fast->channel_mean_var(s.N, s.C, s.HW, 0, s.C, x.data(), mean_got.data(), var_got.data());
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

      // by ranges: the same bits, one range at a time, nothing written outside it
      for (const KernelTable* table : {&ref_table(), fast}) {
        Guarded<float> mean_whole(s.C), var_whole(s.C);
        table->channel_mean_var(s.N, s.C, s.HW, 0, s.C, x.data(), mean_whole.data(), var_whole.data());
        Guarded<float> mean_split(s.C, 99.0f), var_split(s.C, 99.0f);
        for (const auto& range : three_ranges(s.C)) {
          table->channel_mean_var(s.N, s.C, s.HW, range.first, range.second, x.data(), mean_split.data(),
                                  var_split.data());
          for (int c = range.second; c < s.C; ++c) CHECK(mean_split[c] == 99.0f);
        }
        CHECK(bit_difference(mean_split.data(), mean_whole.data(), s.C) == "");
        CHECK(bit_difference(var_split.data(), var_whole.data(), s.C) == "");
        CHECK(mean_split.guards_intact());
      }
    }
}

TEST_CASE("Kernel parity: channel_mean_var keeps the variance of a channel whose mean is 1000 standard deviations") {
  // One read of x must not mean E[x^2] - E[x]^2: that would lose every digit here.
  for (const KernelTable* table : {&ref_table(), kernels::table_for(kernels::K().isa)})
    for (int HW : {1, 4, 16, 256}) {
      CAPTURE(table->isa);
      CAPTURE(HW);
      const int N = 33, C = 2;
      Rng rng(11);
      std::vector<float> x = normal_values(static_cast<size_t>(N) * C * HW, rng, 0.01f, 10.0f);
      Guarded<float> mean(C), var(C), mean_ref(C), var_ref(C);
      table->channel_mean_var(N, C, HW, 0, C, x.data(), mean.data(), var.data());
      ref_table().channel_mean_var(N, C, HW, 0, C, x.data(), mean_ref.data(), var_ref.data());
      for (int c = 0; c < C; ++c) CHECK(std::fabs(var[c] - var_ref[c]) <= 1e-4 * var_ref[c]);
    }
}

TEST_CASE("Kernel parity: channel_act_grad_sums within the stated bound of the reference on every ISA and activation") {
  Rng rng(808);
  for_each_isa_shape_act([&](const KernelTable& fast, const ChannelShape& s, int act) {
    const size_t count = static_cast<size_t>(s.N) * s.C * s.HW;
    const std::vector<float> x = normal_values(count, rng, 2.0f, 3.0f), dy = normal_values(count, rng, 0.1f, 0.02f);
    const std::vector<float> scale = normal_values(s.C, rng, 1.5f), shift = normal_values(s.C, rng, 3.0f, 2.0f);
    const std::vector<float> mean = normal_values(s.C, rng, 0.5f, 3.0f);
    Guarded<float> g_want(s.C), gxc_want(s.C), g_got(s.C), gxc_got(s.C);
    ref_table().channel_act_grad_sums(s.N, s.C, s.HW, 0, s.C, dy.data(), x.data(), scale.data(), shift.data(),
                                      mean.data(), act, g_want.data(), gxc_want.data());
    fast.channel_act_grad_sums(s.N, s.C, s.HW, 0, s.C, dy.data(), x.data(), scale.data(), shift.data(), mean.data(),
                               act, g_got.data(), gxc_got.data());
    std::vector<double> g_bound(s.C), gxc_bound(s.C);
    for (int c = 0; c < s.C; ++c) {
      auto g = [&](size_t i) { return passes(act, x[i], scale[c], shift[c]) ? dy[i] : 0.0f; };
      g_bound[c] = 4e-6 * channel_sum(s, c, [&](size_t i) { return std::fabs(g(i)); }) + 1e-30;
      gxc_bound[c] =
          4e-6 * channel_sum(s, c, [&](size_t i) { return std::fabs(double(g(i)) * (x[i] - mean[c])); }) + 1e-30;
    }
    CHECK(bound_difference(g_got.data(), g_want.data(), s.C, [&](size_t c) { return g_bound[c]; }) == "");
    CHECK(bound_difference(gxc_got.data(), gxc_want.data(), s.C, [&](size_t c) { return gxc_bound[c]; }) == "");
    CHECK(g_got.guards_intact());
    CHECK(gxc_got.guards_intact());

    for (const KernelTable* table : {&ref_table(), &fast}) {
      Guarded<float> g_whole(s.C), gxc_whole(s.C), g_split(s.C, 99.0f), gxc_split(s.C, 99.0f);
      table->channel_act_grad_sums(s.N, s.C, s.HW, 0, s.C, dy.data(), x.data(), scale.data(), shift.data(), mean.data(),
                                   act, g_whole.data(), gxc_whole.data());
      for (const auto& range : three_ranges(s.C)) {
        table->channel_act_grad_sums(s.N, s.C, s.HW, range.first, range.second, dy.data(), x.data(), scale.data(),
                                     shift.data(), mean.data(), act, g_split.data(), gxc_split.data());
        for (int c = range.second; c < s.C; ++c) CHECK(gxc_split[c] == 99.0f);
      }
      CHECK(bit_difference(g_split.data(), g_whole.data(), s.C) == "");
      CHECK(bit_difference(gxc_split.data(), gxc_whole.data(), s.C) == "");
    }
  });
}

TEST_CASE("Kernel parity: channel_affine_act and channel_act_affine2 are bit-exact on every ISA and activation") {
  Rng rng(909);
  for_each_isa_shape_act([&](const KernelTable& fast, const ChannelShape& s, int act) {
    const size_t count = static_cast<size_t>(s.N) * s.C * s.HW;
    const std::vector<float> x = normal_values(count, rng, 2.0f, 3.0f), dy = normal_values(count, rng);
    const std::vector<float> scale = normal_values(s.C, rng, 1.5f), shift = normal_values(s.C, rng, 3.0f, 2.0f);
    const std::vector<float> mean = normal_values(s.C, rng, 0.5f, 3.0f);
    const std::vector<float> a = normal_values(s.C, rng), b = normal_values(s.C, rng), k = normal_values(s.C, rng);
    Guarded<float> want(count), got(count);
    ref_table().channel_affine_act(s.N, s.C, s.HW, x.data(), scale.data(), shift.data(), act, want.data());
    fast.channel_affine_act(s.N, s.C, s.HW, x.data(), scale.data(), shift.data(), act, got.data());
    CHECK(bit_difference(got.data(), want.data(), count) == "");
    CHECK(got.guards_intact());
    // in place
    std::vector<float> in_place = x;
    fast.channel_affine_act(s.N, s.C, s.HW, in_place.data(), scale.data(), shift.data(), act, in_place.data());
    CHECK(bit_difference(in_place.data(), want.data(), count) == "");

    Guarded<float> want2(count), got2(count);
    ref_table().channel_act_affine2(s.N, s.C, s.HW, dy.data(), x.data(), scale.data(), shift.data(), mean.data(), act,
                                    a.data(), b.data(), k.data(), want2.data());
    fast.channel_act_affine2(s.N, s.C, s.HW, dy.data(), x.data(), scale.data(), shift.data(), mean.data(), act,
                             a.data(), b.data(), k.data(), got2.data());
    CHECK(bit_difference(got2.data(), want2.data(), count) == "");
    CHECK(got2.guards_intact());
  });
}

TEST_CASE(
    "Kernel reference: the activations of the channel kernels match relu_forward / relu6_forward and their masks") {
  // act(x * scale + shift) must equal the separate kernels applied to the affine map, at the kinks too.
  const int N = 1, C = 1, HW = 9;
  const std::vector<float> x = {-1.0f, -0.0f, 0.0f, 1e-30f, 3.0f, 6.0f, 7.0f, NAN, 5.999999f};
  const float scale = 1.0f, shift = 0.0f, mean = 0.0f, one = 1.0f, zero = 0.0f;
  std::vector<float> relu(HW), relu6(HW), fused(HW), dy(HW, 1.0f), dx(HW), dx_fused(HW);
  for (const KernelTable* table : {&ref_table(), kernels::table_for(kernels::K().isa)}) {
    CAPTURE(table->isa);
    table->relu_forward(HW, x.data(), relu.data());
    table->channel_affine_act(N, C, HW, x.data(), &scale, &shift, kernels::kActReLU, fused.data());
    CHECK(bit_difference(fused.data(), relu.data(), HW) == "");
    table->relu6_forward(HW, x.data(), relu6.data());
    table->channel_affine_act(N, C, HW, x.data(), &scale, &shift, kernels::kActReLU6, fused.data());
    CHECK(bit_difference(fused.data(), relu6.data(), HW) == "");
    // dx = g * 1 + xc * 0 + 0 = the masked dy (where xc * 0 is 0: x finite)
    table->relu6_backward(HW, relu6.data(), dy.data(), dx.data());
    table->channel_act_affine2(N, C, HW, dy.data(), x.data(), &scale, &shift, &mean, kernels::kActReLU6, &one, &zero,
                               &zero, dx_fused.data());
    for (int i = 0; i < HW; ++i)
      if (!std::isnan(x[i])) CHECK(dx_fused[i] == dx[i]);
  }
}
