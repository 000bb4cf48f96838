// Parity of the small-plane depthwise 3x3 backward (conv_dw_small.h stride 1, conv_dw_backward_small.h
// stride 2: taps permuted from the planes' vectors, planes prefetched ahead, dx streamed when aligned)
// with the scalar reference on every fast ISA of this machine: channels 1, 3, 5, 17 and MobileNetV2's,
// H and W in 1, 2, 3, 4, 7, 8 (and rows of 16), strides 1 and 2, batch 1, 5 and 20 (the prefetch walk
// crossing from one channel to the next), dx at an address aligned to 64 bytes (streaming stores) and one
// float past it (plain stores): the same bits either way. Tolerance: tests/kernel_parity.h. Also the
// layer: Conv2d's backward of MobileNetV2's small depthwise layers gives the same dx bits on 1 and 2
// threads and the same weight-gradient bits on repeated runs with the same thread count.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <sstream>
#include <vector>

#include "engine/kernels/kernels.h"
#include "engine/layers/conv2d.h"
#include "engine/threads.h"
#include "tests/gradcheck.h"
#include "tests/kernel_parity.h"
#include "tests/tensor_bits.h"
#include "tests/test_helpers.h"

using namespace plasmo;
using namespace plasmo::testing;

namespace {

std::string describe(const kernels::ConvGeom& g) {
  std::ostringstream s;
  s << "N" << g.batch << " C" << g.in_channels << " " << g.in_h << "x" << g.in_w << " s" << g.stride_h;
  return s.str();
}

// A buffer of `floats` at a 64-byte boundary plus `shift` floats.
struct Placed {
  std::vector<float> storage;
  float* data;
  Placed(size_t floats, int shift) : storage(floats + 32, std::numeric_limits<float>::quiet_NaN()) {
    const uintptr_t at = reinterpret_cast<uintptr_t>(storage.data());
    data = storage.data() + ((64 - at % 64) % 64) / sizeof(float) + shift;
  }
};

int check_small_backward(const kernels::ConvGeom& g, Rng& rng) {
  const ConvBackwardReference r(g, rng);
  int failures = 0;
  for (const kernels::KernelTable* table : fast_tables()) {
    const std::string what = std::string(table->isa) + " " + describe(g);
    std::vector<float> scratch(table->conv2d_scratch_floats(g) + 1);
    std::vector<float> dx_bits[2];
    for (int shift : {0, 1}) {
      Placed dx(r.x_size, shift);
      table->conv2d_backward_data(g, r.dy.data(), r.w.data(), dx.data, scratch.data());
      dx_bits[shift].assign(dx.data, dx.data + r.x_size);
      failures += compare_parity(what + " backward data (dx shifted by " + std::to_string(shift) + ")", dx_bits[shift],
                                 r.dx_ref, r.dx_mag, r.K_data);
    }
    if (dx_bits[0] != dx_bits[1]) {
      FAIL_CHECK(what << " backward data: aligned and unaligned dx differ");
      ++failures;
    }
    std::vector<float> dw = r.dw0, db = r.db0;
    table->conv2d_backward_weight(g, r.x.data(), r.dy.data(), dw.data(), db.data(), scratch.data());
    failures += compare_parity(what + " backward weight", dw, r.dw_ref, r.dw_mag, r.K_weight);
    failures += compare_parity(what + " backward bias", db, r.db_ref, r.db_mag, r.K_weight);
    std::vector<float> dw_again = r.dw0, db_again = r.db0;
    table->conv2d_backward_weight(g, r.x.data(), r.dy.data(), dw_again.data(), db_again.data(), scratch.data());
    if (dw_again != dw || db_again != db) {
      FAIL_CHECK(what << " backward weight: a second call differs");
      ++failures;
    }
  }
  return failures;
}

}  // namespace

TEST_CASE("Depthwise small-plane backward parity: odd shapes, strides 1 and 2, aligned and unaligned dx") {
  Rng rng(612);
  int failures = 0, geometries = 0;
  const int sides[] = {1, 2, 3, 4, 7, 8};
  for (int h : sides)
    for (int w : sides)
      for (int channels : {1, 3, 5, 17})
        for (int batch : {1, 5})
          for (int stride : {1, 2}) {
            failures += check_small_backward(depthwise_3x3(batch, channels, h, w, stride), rng);
            ++geometries;
          }
  // Rows of 16 and 1 (whole rows per vector), 2x8 / 8x2, and a batch whose prefetch walk crosses channels.
  for (const auto& hw : {std::pair<int, int>{1, 16}, {16, 1}, {2, 16}, {2, 8}, {8, 2}, {4, 8}, {8, 4}})
    for (int channels : {3, 16, 17})
      for (int stride : {1, 2}) {
        failures += check_small_backward(depthwise_3x3(5, channels, hw.first, hw.second, stride), rng);
        ++geometries;
      }
  for (int side : {2, 4, 8})
    for (int stride : {1, 2}) {
      failures += check_small_backward(depthwise_3x3(20, 20, side, side, stride), rng);
      ++geometries;
    }
  CHECK(geometries == 6 * 6 * 4 * 2 * 2 + 7 * 3 * 2 + 3 * 2);
  CHECK(failures == 0);
}

TEST_CASE("Depthwise small-plane backward parity: MobileNetV2@64's 8x8, 4x4 and 2x2 layers (batch 1 and 5)") {
  Rng rng(613);
  int failures = 0;
  const int layers[][3] = {{192, 8, 1}, {192, 8, 2}, {384, 4, 1}, {576, 4, 1}, {576, 4, 2}, {960, 2, 1}};
  for (const auto& layer : layers)
    for (int batch : {1, 5})
      failures += check_small_backward(depthwise_3x3(batch, layer[0], layer[1], layer[1], layer[2]), rng);
  CHECK(failures == 0);
}

TEST_CASE("Depthwise small-plane backward: Conv2d dx bit-identical on 1 and 2 threads, weight grads repeatable") {
  const int layers[][3] = {{192, 8, 1}, {192, 8, 2}, {384, 4, 1}, {576, 4, 2}, {960, 2, 1}};
  for (const auto& layer : layers) {
    const int channels = layer[0], side = layer[1], stride = layer[2];
    CAPTURE(channels);
    CAPTURE(side);
    CAPTURE(stride);
    Conv2d conv(channels, channels, 3, stride, 1, channels, false);
    Rng rng(614);
    conv.init_default(rng);
    Tensor x({9, channels, side, side});
    fill_uniform(x, rng, -1.0f, 1.0f);
    Tensor dy(conv.out_shape(x.shape()));
    fill_uniform(dy, rng, -1.0f, 1.0f);
    auto run = [&](int threads) { return conv_step_on_threads(conv, x, dy, threads); };
    const ConvStep one = run(1), one_again = run(1), two = run(2), two_again = run(2);
    CHECK(same_bits(one.dx, two.dx));
    CHECK(same_bits(one.dweight, one_again.dweight));
    CHECK(same_bits(two.dweight, two_again.dweight));
    for (size_t i = 0; i < one.dweight.size(); ++i)
      REQUIRE(std::abs(two.dweight[i] - one.dweight[i]) <= 1e-5f * (1.0f + std::abs(one.dweight[i])));
  }
  set_thread_count(0);
}
