// Parity of the depthwise 3x3 backward kernels (backward data, backward weight and bias; every fast ISA
// of this machine) with the scalar reference: conv_dw_backward_small.h (stride 2 on small planes),
// conv_dw_backward_rows.h (padding 1 by rows, dx streamed on large layers), the backward of conv_dw_rows.h
// (other paddings) and of conv_dw_small.h (stride 1 on small planes), on odd shapes (channels 1, 3, 5,
// 17; H, W 1, 7, 31; stride 1 and 2; batch 1 and 5) and MobileNetV2's own layers. Tolerance:
// tests/kernel_parity.h. Also: dx is fully overwritten (it starts as NaN), dw and db accumulate (they start
// random), dbias may be null, the scratch stays within conv2d_scratch_floats, and running the same call
// twice gives the same bits.
#include <doctest/doctest.h>

#include <array>
#include <limits>
#include <sstream>
#include <vector>

#include "engine/kernels/kernels.h"
#include "tests/kernel_parity.h"

using namespace plasmo;
using namespace plasmo::testing;

namespace {

std::string describe(const kernels::ConvGeom& g) {
  std::ostringstream s;
  s << "N" << g.batch << " C" << g.in_channels << " " << g.in_h << "x" << g.in_w << " s" << g.stride_h << " p"
    << g.pad_h;
  return s.str();
}

// Backward data and weight of one depthwise 3x3 geometry on every fast table against the reference.
int check_depthwise_backward(const kernels::ConvGeom& g, Rng& rng) {
  const ConvBackwardReference r(g, rng);
  int failures = 0;
  for (const kernels::KernelTable* table : fast_tables()) {
    const std::string what = std::string(table->isa) + " " + describe(g);
    GuardedBuffer scratch(table->conv2d_scratch_floats(g), GuardedBuffer::kGuard);
    std::vector<float> dx(r.x_size, std::numeric_limits<float>::quiet_NaN());
    table->conv2d_backward_data(g, r.dy.data(), r.w.data(), dx.data(), scratch.data());
    failures += compare_parity(what + " backward data", dx, r.dx_ref, r.dx_mag, r.K_data);
    std::vector<float> dx_again(r.x_size, std::numeric_limits<float>::quiet_NaN());
    table->conv2d_backward_data(g, r.dy.data(), r.w.data(), dx_again.data(), scratch.data());
    if (dx_again != dx) {
      FAIL_CHECK(what << " backward data: a second call differs");
      ++failures;
    }

    std::vector<float> dw = r.dw0, db = r.db0;
    table->conv2d_backward_weight(g, r.x.data(), r.dy.data(), dw.data(), db.data(), scratch.data());
    failures += compare_parity(what + " backward weight", dw, r.dw_ref, r.dw_mag, r.K_weight);
    failures += compare_parity(what + " backward bias", db, r.db_ref, r.db_mag, r.K_weight);
    std::vector<float> dw_nobias = r.dw0;
    table->conv2d_backward_weight(g, r.x.data(), r.dy.data(), dw_nobias.data(), nullptr, scratch.data());
    if (dw_nobias != dw) {
      FAIL_CHECK(what << " backward weight without dbias differs from with it");
      ++failures;
    }
    failures += scratch.check_guards(what);
  }
  return failures;
}

}  // namespace

TEST_CASE("Depthwise backward parity: stride 2 on small planes (conv_dw_backward_small.h) and its neighbours") {
  // 1x1 .. 8x8 planes, rows of 1, 2, 4, 8 (whole rows per vector) and others that fall back (6x8, 7x7,
  // 3x5), channel counts below, at and above a vector, batch 1 and 5.
  Rng rng(606);
  int failures = 0;
  for (const auto& hw : {std::pair<int, int>{1, 1},
                         {2, 2},
                         {4, 4},
                         {8, 8},
                         {2, 8},
                         {8, 2},
                         {4, 2},
                         {16, 1},
                         {1, 16},
                         {6, 8},
                         {7, 7},
                         {3, 5},
                         {5, 4}})
    for (int channels : {1, 3, 5, 17, 16})
      for (int batch : {1, 5})
        for (int stride : {1, 2})
          failures += check_depthwise_backward(depthwise_3x3(batch, channels, hw.first, hw.second, stride, 1), rng);
  CHECK(failures == 0);
}

TEST_CASE(
    "Depthwise backward parity: by rows (conv_dw_backward_rows.h at padding 1, else conv_dw_rows.h), odd shapes") {
  Rng rng(607);
  int failures = 0;
  for (int stride : {1, 2})
    for (int pad : {0, 1, 2})
      for (const auto& hw :
           {std::pair<int, int>{1, 7}, {7, 7}, {31, 31}, {16, 16}, {9, 17}, {32, 32}, {12, 31}, {7, 1}})
        for (int channels : {1, 3, 5, 17})
          for (int batch : {1, 5}) {
            if (hw.first + 2 * pad < 3 || hw.second + 2 * pad < 3) continue;
            failures += check_depthwise_backward(depthwise_3x3(batch, channels, hw.first, hw.second, stride, pad), rng);
          }
  CHECK(failures == 0);
}

TEST_CASE("Depthwise backward parity: strides 1 and 2 with dx streamed (large layers)") {
  // conv_dw_backward_rows.h writes dx with streaming stores when a layer's dx per image passes
  // kStreamBytes (whole vectors at aligned addresses; the rest plainly): aligned and unaligned rows,
  // tails, batch 1 and 2.
  Rng rng(609);
  int failures = 0;
  for (const auto& shape : {std::array<int, 3>{64, 32, 32}, {65, 33, 40}, {17, 64, 64}, {5, 127, 130}})
    for (int batch : {1, 2})
      for (int stride : {1, 2})
        failures += check_depthwise_backward(depthwise_3x3(batch, shape[0], shape[1], shape[2], stride, 1), rng);
  CHECK(failures == 0);
}

TEST_CASE("Depthwise backward parity: MobileNetV2@64's depthwise layers (batch 3)") {
  Rng rng(608);
  int failures = 0;
  const int layers[][4] = {{32, 32, 1, 0}, {96, 32, 2, 0}, {144, 16, 1, 0}, {144, 16, 2, 0}, {192, 8, 1, 0},
                           {192, 8, 2, 0}, {384, 4, 1, 0}, {576, 4, 1, 0},  {576, 4, 2, 0},  {960, 2, 1, 0}};
  for (const auto& layer : layers)
    failures += check_depthwise_backward(depthwise_3x3(3, layer[0], layer[1], layer[1], layer[2], 1), rng);
  CHECK(failures == 0);
}
