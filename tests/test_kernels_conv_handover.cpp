// conv2d_backward_sums (engine/kernels/kernels.h): the convolution's backward data and weight with the
// BatchNorm hand-over sums taken with them (the depthwise row kernels per plane through L1,
// conv_dw_backward_rows.h ConvDepthwiseBackwardSums; every other geometry after the whole dx).
// - On every table (ref included): dx is conv2d_backward_data's, dweight and dbias accumulate
//   conv2d_backward_weight's, and the sums are the same table's channel_act_grad_sums per image over that
//   dx, all bit for bit (so the BatchNorm's hand-over keeps its bits: tests/test_layer_batchnorm_handover.cpp
//   holds unchanged); dx is fully overwritten (it starts as NaN), the sums only at their [batch, C]
//   entries, the scratch stays within conv2d_scratch_floats.
// - Against the reference: dx, dweight and dbias within tests/kernel_parity.h's tolerance, the sums within
//   test_kernels_misc_channel.cpp's bound (4e-6 * sum|terms|) of the reference sums over the same dx.
// Shapes: odd ones (channels 1, 3, 5, 17; H, W 1, 7, 31 and the kHandOverPlane boundary; stride 1 and 2;
// batch 1 and 5) and MobileNetV2's 32x32 and 16x16 depthwise layers, whose dx is streamed; the fallback
// geometries (planes below kHandOverPlane, padding 0, 1x1, dense 3x3), whose small planes (8x8, 4x4, 2x2,
// 3x7, 1x1; batches 1, 5, 64) take a group's per-image sums in one call (simd/handover_sums.h: its planes
// path for whole vectors, its spans path otherwise). Every activation.
// Layer level: a BatchNorm + ReLU6 -> depthwise pair at those MobileNetV2 shapes, on every ISA, linked
// (the fused hand-over) as unlinked within the hand-over's stated tolerance, bit-identical for 1 and 2
// threads.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/blocks.h"
#include "engine/kernels/kernels.h"
#include "engine/layers/batchnorm2d.h"
#include "engine/layers/conv2d.h"
#include "engine/net.h"
#include "engine/threads.h"
#include "tests/gradcheck.h"
#include "tests/kernel_parity.h"
#include "tests/tensor_bits.h"
#include "tests/test_helpers.h"

using namespace plasmo;
using namespace plasmo::testing;

namespace {

// The guards after the sums, as after the scratch.
constexpr float kGuard = GuardedBuffer::kGuard;
constexpr size_t kGuardFloats = GuardedBuffer::kGuardFloats;

std::string describe(const kernels::ConvGeom& g, int act) {
  std::ostringstream s;
  s << "N" << g.batch << " C" << g.in_channels << "->" << g.out_channels << " " << g.in_h << "x" << g.in_w << " k"
    << g.kernel_h << " s" << g.stride_h << " p" << g.pad_h << " groups " << g.groups << " act " << act;
  return s.str();
}

bool same_bits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, sizeof(float) * n) == 0; }

// One geometry and activation on every table. Returns the number of failed comparisons.
int check_geometry(const kernels::ConvGeom& g, int act, Rng& rng) {
  const kernels::KernelTable& ref = *kernels::table_for("ref");
  const int C = g.in_channels, HW = g.in_h * g.in_w;
  // x as a BatchNorm + activation output: part of it below 0 and above 6 under scale and shift.
  const ConvBackwardReference r(g, rng, -2.0f, 7.0f);
  const std::vector<float>& x = r.x;
  const size_t x_size = r.x_size, sums_size = static_cast<size_t>(g.batch) * C;
  const std::vector<float> scale = random_vector(C, rng, 0.5f, 1.5f), shift = random_vector(C, rng, -1.0f, 1.0f);
  const std::vector<float> mean = random_vector(C, rng, 0.0f, 3.0f);

  std::vector<const kernels::KernelTable*> tables = fast_tables();
  tables.insert(tables.begin(), &ref);
  int failures = 0;
  for (const kernels::KernelTable* table : tables) {
    const std::string what = std::string(table->isa) + " " + describe(g, act);
    INFO(what);
    GuardedBuffer scratch(table->conv2d_scratch_floats(g), GuardedBuffer::kGuard);
    // What the hand-over computed before the fused entry: backward data, then the sums per image.
    std::vector<float> dx_want(x_size), g_want(sums_size), gxc_want(sums_size), dw_want = r.dw0, db_want = r.db0;
    table->conv2d_backward_data(g, r.dy.data(), r.w.data(), dx_want.data(), scratch.data());
    table->conv2d_backward_weight(g, x.data(), r.dy.data(), dw_want.data(), db_want.data(), scratch.data());
    for (int n = 0; n < g.batch; ++n)
      table->channel_act_grad_sums(1, C, HW, 0, C, dx_want.data() + n * C * HW, x.data() + n * C * HW, scale.data(),
                                   shift.data(), mean.data(), act, g_want.data() + n * C, gxc_want.data() + n * C);

    scratch.refill();
    std::vector<float> dx(x_size, std::numeric_limits<float>::quiet_NaN());
    std::vector<float> sum_g(sums_size + kGuardFloats, kGuard), sum_gxc(sums_size + kGuardFloats, kGuard);
    kernels::HandOverSums sums;
    sums.x = x.data();
    sums.scale = scale.data();
    sums.shift = shift.data();
    sums.mean = mean.data();
    sums.act = act;
    sums.sum_g = sum_g.data();
    sums.sum_gxc = sum_gxc.data();
    std::vector<float> dw = r.dw0, db = r.db0;
    table->conv2d_backward_sums(g, r.dy.data(), r.w.data(), dx.data(), dw.data(), db.data(), scratch.data(), sums);

    bool ok = same_bits(dx.data(), dx_want.data(), x_size);
    ok = same_bits(dw.data(), dw_want.data(), r.w_size) && ok;
    ok = same_bits(db.data(), db_want.data(), r.db0.size()) && ok;
    ok = same_bits(sum_g.data(), g_want.data(), sums_size) && ok;
    ok = same_bits(sum_gxc.data(), gxc_want.data(), sums_size) && ok;
    ok = ok && scratch.intact();
    for (size_t i = 0; i < kGuardFloats; ++i)
      ok = ok && sum_g[sums_size + i] == kGuard && sum_gxc[sums_size + i] == kGuard;
    if (!ok) {
      FAIL_CHECK(what << ": not the bits of backward data + per-image sums + backward weight (or a guard overwritten)");
      ++failures;
    }
    failures += compare_parity(what + " dx", dx, r.dx_ref, r.dx_mag, r.K_data);
    failures += compare_parity(what + " dweight", dw, r.dw_ref, r.dw_mag, r.K_weight);
    failures += compare_parity(what + " dbias", db, r.db_ref, r.db_mag, r.K_weight);

    // The sums against the reference's over the same dx (test_kernels_misc_channel.cpp's bound).
    std::vector<float> g_ref(sums_size), gxc_ref(sums_size);
    for (int n = 0; n < g.batch; ++n)
      ref.channel_act_grad_sums(1, C, HW, 0, C, dx.data() + n * C * HW, x.data() + n * C * HW, scale.data(),
                                shift.data(), mean.data(), act, g_ref.data() + n * C, gxc_ref.data() + n * C);
    for (int n = 0; n < g.batch; ++n)
      for (int c = 0; c < C; ++c) {
        double abs_g = 0.0, abs_gxc = 0.0;
        for (int i = 0; i < HW; ++i) {
          const size_t at = (static_cast<size_t>(n) * C + c) * HW + i;
          const float t = x[at] * scale[c] + shift[c];
          const bool pass = act == kernels::kActNone || (t > 0.0f && (act == kernels::kActReLU || t < 6.0f));
          const double gi = pass ? dx[at] : 0.0;
          abs_g += std::fabs(gi);
          abs_gxc += std::fabs(gi * (x[at] - mean[c]));
        }
        const size_t at = static_cast<size_t>(n) * C + c;
        if (!(std::fabs(static_cast<double>(sum_g[at]) - g_ref[at]) <= 4e-6 * abs_g + 1e-30) ||
            !(std::fabs(static_cast<double>(sum_gxc[at]) - gxc_ref[at]) <= 4e-6 * abs_gxc + 1e-30)) {
          if (failures < 3)
            FAIL_CHECK(what << ": sums of image " << n << " channel " << c << ": " << sum_g[at] << ", " << sum_gxc[at]
                            << " against the reference's " << g_ref[at] << ", " << gxc_ref[at]);
          ++failures;
        }
      }
  }
  return failures;
}

}  // namespace

TEST_CASE("Kernel parity: conv2d_backward_sums, depthwise 3x3 padding 1 on odd shapes (fused and fallback)") {
  Rng rng(4242);
  int cases = 0;
  for (int stride : {1, 2})
    for (int N : {1, 5})
      for (int C : {1, 3, 5, 17})
        for (const auto& hw :
             std::vector<std::pair<int, int>>{{31, 31}, {16, 16}, {17, 17}, {15, 17}, {7, 31}, {7, 7}, {1, 1}, {31, 7}})
          for (int act : {kernels::kActNone, kernels::kActReLU, kernels::kActReLU6}) {
            if (C == 17 && N == 5 && act != kernels::kActReLU6) continue;  // the largest case: one activation
            CHECK(check_geometry(depthwise_3x3(N, C, hw.first, hw.second, stride, 1), act, rng) == 0);
            ++cases;
          }
  CHECK(cases > 100);
}

TEST_CASE("Kernel parity: conv2d_backward_sums on MobileNetV2's 32x32 and 16x16 depthwise layers (dx streamed)") {
  Rng rng(4343);
  // features.1 dw32@32, features.2 dw96 s2@32, features.3 dw144@16, features.4 dw144 s2@16: dx per image
  // >= 128 KB (ConvDepthwiseStride2Backward::kStreamBytes), so backward data streams it.
  CHECK(check_geometry(depthwise_3x3(2, 32, 32, 32, 1, 1), kernels::kActReLU6, rng) == 0);
  CHECK(check_geometry(depthwise_3x3(2, 96, 32, 32, 2, 1), kernels::kActReLU6, rng) == 0);
  CHECK(check_geometry(depthwise_3x3(3, 144, 16, 16, 1, 1), kernels::kActReLU6, rng) == 0);
  CHECK(check_geometry(depthwise_3x3(1, 144, 16, 16, 2, 1), kernels::kActReLU, rng) == 0);
}

TEST_CASE("Kernel parity: conv2d_backward_sums falls back on other geometries") {
  Rng rng(4444);
  for (int act : {kernels::kActNone, kernels::kActReLU6}) {
    CHECK(check_geometry(depthwise_3x3(2, 5, 31, 31, 1, 0), act, rng) == 0);  // padding 0
    CHECK(check_geometry(depthwise_3x3(2, 5, 31, 31, 2, 2), act, rng) == 0);  // padding 2
    // 1x1, 5 -> 7 (MobileNetV2's project / expand) and a dense 3x3, 3 -> 4
    CHECK(check_geometry(kernels::make_conv_geom(3, 5, 17, 17, 7, 1, 1, 0, 1), act, rng) == 0);
    CHECK(check_geometry(kernels::make_conv_geom(2, 3, 16, 17, 4, 3, 1, 1, 1), act, rng) == 0);
    CHECK(check_geometry(kernels::make_conv_geom(2, 3, 16, 17, 4, 3, 2, 1, 1), act, rng) == 0);
  }
  // Small planes (the per-image sums of a group of images in one call, simd/handover_sums.h): 1x1 and
  // depthwise at 8x8, 4x4, 2x2, 3x7, 1x1; batches 1, 5 and 64.
  for (int act : {kernels::kActNone, kernels::kActReLU, kernels::kActReLU6})
    for (int N : {1, 5})
      for (int C : {1, 3, 5, 17})
        for (const auto& hw : std::vector<std::pair<int, int>>{{8, 8}, {4, 4}, {2, 2}, {3, 7}, {1, 1}}) {
          CHECK(check_geometry(kernels::make_conv_geom(N, C, hw.first, hw.second, 7, 1, 1, 0, 1), act, rng) == 0);
          CHECK(check_geometry(depthwise_3x3(N, C, hw.first, hw.second, 1, 1), act, rng) == 0);
        }
  CHECK(check_geometry(kernels::make_conv_geom(64, 192, 8, 8, 32, 1, 1, 0, 1), kernels::kActReLU6, rng) == 0);
  CHECK(check_geometry(kernels::make_conv_geom(64, 576, 4, 4, 96, 1, 1, 0, 1), kernels::kActReLU6, rng) == 0);
  CHECK(check_geometry(depthwise_3x3(64, 960, 2, 2, 1, 1), kernels::kActReLU6, rng) == 0);
}

namespace {

struct PairGrads {
  Tensor dx, dgamma, dbeta, dweight;
  int64_t handed = 0;
};

// BatchNorm2d(C) + ReLU6 -> depthwise 3x3 (stride, padding 1), linked or not; one train step's gradients.
PairGrads run_pair(int N, int C, int H, int stride, bool link, uint64_t seed) {
  Sequential net;
  auto& bn = net.emplace<BatchNorm2d>("0", C, BatchNorm2d::Activation::ReLU6);
  auto& conv = net.emplace<Conv2d>("1", C, C, 3, stride, 1, C, false);
  Rng rng(seed);
  conv.init_default(rng);
  fill_uniform(bn.weight, rng, 0.5f, 2.5f);
  fill_uniform(bn.bias, rng, -0.5f, 3.0f);
  if (link) link_batchnorm_consumers(net);
  Tensor x({N, C, H, H});
  fill_uniform(x, rng, -2.0f, 3.0f);
  const Tensor& y = net.forward(x, Mode::Train);
  Tensor dy(y.shape());
  fill_uniform(dy, rng, -1.0f, 1.0f);
  PairGrads r;
  r.dx = net.backward(dy).clone();
  r.dgamma = bn.weight_grad.clone();
  r.dbeta = bn.bias_grad.clone();
  r.dweight = conv.weight_grad.clone();
  r.handed = bn.handed_over_backwards();
  return r;
}

// |a - b| <= rtol * max|b| (the hand-over's error is relative to the sums' scale).
bool close(const Tensor& a, const Tensor& b, double rtol) {
  double scale = 0.0;
  for (size_t i = 0; i < b.size(); ++i) scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::fabs(static_cast<double>(a[i]) - b[i]) <= rtol * scale + 1e-7)) return false;
  return true;
}

}  // namespace

TEST_CASE("BatchNorm hand-over through conv2d_backward_sums: MobileNetV2's depthwise shapes, every ISA") {
  struct Case {
    int N, C, H, stride;
  };
  // dx per image >= 128 KB: streamed by backward data; the fused path takes the sums per plane.
  const Case cases[] = {{2, 32, 32, 1}, {2, 96, 32, 2}, {2, 144, 16, 1}, {2, 144, 16, 2}};
  for_each_isa([&](const char* isa) {
    for (const Case& c : cases) {
      INFO(isa << " N" << c.N << " C" << c.C << " " << c.H << "x" << c.H << " s" << c.stride);
      const uint64_t seed = static_cast<uint64_t>(c.C * 10 + c.stride);
      const PairGrads plain = run_pair(c.N, c.C, c.H, c.stride, false, seed);
      const PairGrads linked = run_pair(c.N, c.C, c.H, c.stride, true, seed);
      CHECK(linked.handed == 1);
      CHECK(same_bits(linked.dweight, plain.dweight));
      // test_layer_batchnorm_handover.cpp's tolerance for the hand-over (sum g * xc from A, not x).
      CHECK(close(linked.dgamma, plain.dgamma, 2e-5));
      CHECK(close(linked.dbeta, plain.dbeta, 2e-5));
      CHECK(close(linked.dx, plain.dx, 2e-5));
    }
  });
}

TEST_CASE("BatchNorm hand-over through conv2d_backward_sums: bit-identical for 1 and 2 threads") {
  for (int stride : {1, 2}) {
    INFO("stride " << stride);
    std::vector<PairGrads> results;
    for (int threads : {1, 2}) {
      set_thread_count(threads);
      results.push_back(run_pair(5, 32, 32, stride, true, 77));
      CHECK(results.back().handed == 1);
    }
    set_thread_count(0);
    CHECK(same_bits(results[0].dx, results[1].dx));
    CHECK(same_bits(results[0].dgamma, results[1].dgamma));
    CHECK(same_bits(results[0].dbeta, results[1].dbeta));
  }
}
