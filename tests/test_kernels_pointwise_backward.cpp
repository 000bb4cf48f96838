// The weight gradient of expand 1x1 convolutions on small planes (conv_pw_weight.h,
// ConvPointwiseWeightBcast: x transposed per block of pixels, dy broadcast in place): parity with the
// scalar reference for every fast ISA on odd and model shapes, several pixel blocks, repeatability, and
// at layer level the thread-count contract and a finite-difference gradient check.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
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

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

kernels::ConvGeom pointwise(int batch, int in_channels, int H, int W, int out_channels) {
  return kernels::make_conv_geom(batch, in_channels, H, W, out_channels, 1, 1, 0, 1);
}

std::string describe(const kernels::ConvGeom& g) {
  std::ostringstream name;
  name << "N" << g.batch << " " << g.in_channels << "->" << g.out_channels << " " << g.in_h << "x" << g.in_w;
  return name.str();
}

// dW (and db) of one 1x1 stride-1 geometry against the reference, every fast ISA, accumulating onto a
// random dW; the call repeated gives the same bits. Returns the number of failures.
int check_weight_gradient(int batch, int in_channels, int H, int W, int out_channels, Rng& rng) {
  const kernels::ConvGeom g = pointwise(batch, in_channels, H, W, out_channels);
  const ConvBackwardReference r(g, rng);
  int failures = 0;
  for (const kernels::KernelTable* table : fast_tables()) {
    const std::string what = std::string(table->isa) + " " + describe(g);
    GuardedBuffer scratch(table->conv2d_scratch_floats(g), kNaN);
    std::vector<float> dw = r.dw0, db = r.db0;
    table->conv2d_backward_weight(g, r.x.data(), r.dy.data(), dw.data(), db.data(), scratch.data());
    failures += compare_parity(what + " backward weight", dw, r.dw_ref, r.dw_mag, r.K_weight);
    failures += compare_parity(what + " backward bias", db, r.db_ref, r.db_mag, r.K_weight);
    std::vector<float> again = r.dw0;
    table->conv2d_backward_weight(g, r.x.data(), r.dy.data(), again.data(), nullptr, scratch.data());
    if (std::memcmp(again.data(), dw.data(), r.w_size * sizeof(float)) != 0) {
      FAIL_CHECK(what << ": a second call (no dbias) gives other bits");
      ++failures;
    }
    failures += scratch.check_guards(what);
  }
  return failures;
}

// dx of one 1x1 stride-1 geometry against the reference, every fast ISA (dx is overwritten: it starts
// as NaN); the call repeated gives the same bits. Returns the number of failures.
int check_data_gradient(int batch, int in_channels, int H, int W, int out_channels, Rng& rng) {
  const kernels::ConvGeom g = pointwise(batch, in_channels, H, W, out_channels);
  const ConvBackwardReference r(g, rng);
  const size_t x_size = r.x_size;
  int failures = 0;
  for (const kernels::KernelTable* table : fast_tables()) {
    const std::string what = std::string(table->isa) + " " + describe(g);
    GuardedBuffer scratch(table->conv2d_scratch_floats(g), kNaN);
    std::vector<float> dx(x_size, kNaN);
    // A guard after dx: the 4-pixel path stores whole vectors of interleaved pixels.
    dx.resize(x_size + GuardedBuffer::kGuardFloats, GuardedBuffer::kGuard);
    table->conv2d_backward_data(g, r.dy.data(), r.w.data(), dx.data(), scratch.data());
    for (size_t i = x_size; i < dx.size(); ++i)
      if (dx[i] != GuardedBuffer::kGuard) {
        FAIL_CHECK(what << ": wrote past dx");
        ++failures;
        break;
      }
    dx.resize(x_size);
    failures += compare_parity(what + " backward data", dx, r.dx_ref, r.dx_mag, r.K_data);
    std::vector<float> again(x_size, 0.0f);
    table->conv2d_backward_data(g, r.dy.data(), r.w.data(), again.data(), scratch.data());
    if (std::memcmp(again.data(), dx.data(), x_size * sizeof(float)) != 0) {
      FAIL_CHECK(what << ": a second call gives other bits");
      ++failures;
    }
    failures += scratch.check_guards(what);
  }
  return failures;
}

}  // namespace

TEST_CASE("Kernel parity: expand weight gradient broadcasting dy on small planes, odd shapes, every ISA") {
  // Planes 1x1 .. 8x8 (1, 2, 4, 7, 16, 49, 64 pixels: one to 64 images per block of xT), input channels
  // below, at and above the path's bounds (1, 3, 5, 17: other paths; 32, 33, 47, 64, 97, 200: panels of
  // 1 to 6 vectors with partial last vectors), output channels tails of every tile height (+1, +7).
  Rng rng(61);
  int failures = 0;
  const std::pair<int, int> planes[] = {{1, 1}, {1, 2}, {2, 2}, {2, 4}, {1, 7}, {4, 4}, {7, 7}, {8, 8}};
  const std::pair<int, int> channels[] = {{1, 1},   {3, 5},   {5, 17},  {17, 17}, {17, 40},  {32, 32},
                                          {32, 39}, {33, 70}, {47, 47}, {64, 71}, {97, 101}, {200, 203}};
  for (const auto& hw : planes)
    for (const auto& c : channels)
      for (int batch : {1, 5}) failures += check_weight_gradient(batch, c.first, hw.first, hw.second, c.second, rng);
  CHECK(failures == 0);
}

TEST_CASE("Kernel parity: expand weight gradient broadcasting dy over several pixel blocks and the models' shapes") {
  // Blocks of 64 pixels: batch 70 at 1x1 and 37 at 2x2 make 2 and 3 blocks (the last one short), 9 at 4x4
  // makes 3; H, W 31 and 7x31 stay on the other paths. MobileNetV2's expand layers (32->192 @8 .. 320->1280
  // @2) with batches of 1 and 5.
  Rng rng(67);
  int failures = 0;
  failures += check_weight_gradient(70, 40, 1, 1, 80, rng);
  failures += check_weight_gradient(37, 48, 2, 2, 96, rng);
  failures += check_weight_gradient(9, 96, 4, 4, 101, rng);
  failures += check_weight_gradient(5, 33, 7, 31, 40, rng);
  failures += check_weight_gradient(1, 32, 31, 31, 36, rng);
  for (int batch : {1, 5}) {
    failures += check_weight_gradient(batch, 32, 8, 8, 192, rng);
    failures += check_weight_gradient(batch, 64, 4, 4, 384, rng);
    failures += check_weight_gradient(batch, 96, 4, 4, 576, rng);
    failures += check_weight_gradient(batch, 160, 2, 2, 960, rng);
    failures += check_weight_gradient(batch, 320, 2, 2, 1280, rng);
  }
  CHECK(failures == 0);
}

TEST_CASE("Conv2d expand 1x1 on small planes: gradients, and 1 vs 2 threads") {
  // A finite-difference check through the layer (32 -> 40 at 2x2: the path above on every ISA), then
  // 96 -> 576 at 4x4 on 9 images: forward and dx bit-identical for 1 and 2 threads, each thread count's
  // weight gradient repeatable bit for bit, and 1 vs 2 threads equal up to the rounding of another order.
  {
    Conv2d conv(32, 40, 1, 1, 0, 1, false);
    Rng rng(71);
    conv.init_default(rng);
    Tensor x({3, 32, 2, 2});
    fill_uniform(x, rng, -1.0f, 1.0f);
    check_layer_gradients(conv, x, {}, 71);
  }
  Conv2d conv(96, 576, 1, 1, 0, 1, false);
  Rng rng(73);
  conv.init_default(rng);
  Tensor x({9, 96, 4, 4});
  fill_uniform(x, rng, -1.0f, 1.0f);
  Tensor dy(conv.out_shape(x.shape()));
  fill_uniform(dy, rng, -1.0f, 1.0f);
  auto run = [&](int threads) { return conv_step_on_threads(conv, x, dy, threads); };
  const ConvStep one = run(1), one_again = run(1);
  CHECK(same_bits(one.dweight, one_again.dweight));
  const ConvStep two = run(2), two_again = run(2);
  set_thread_count(0);
  CHECK(same_bits(one.y, two.y));
  CHECK(same_bits(one.dx, two.dx));
  CHECK(same_bits(two.dweight, two_again.dweight));
  for (size_t i = 0; i < one.dweight.size(); ++i)
    REQUIRE(std::abs(two.dweight[i] - one.dweight[i]) <= 1e-5f * (1.0f + std::abs(one.dweight[i])));
}

TEST_CASE("Kernel parity: backward data on 4-pixel planes (conv_pw_data.h, vectors of input channels)") {
  // 2x2, 1x4 and 4x1 planes; input channels below and above the path's bound (1, 3, 5, 17: other paths;
  // 32 .. 250: panels of 3 vectors with 1 .. 3 vector tails and partial last vectors); output channels
  // fewer and more, up to and over 160 per pass (250, 321: 2 and 3 passes through the partial sums, the
  // last one short); batches 1, 2, 5, 7 (tails of the image tiles). Then MobileNetV2's 2x2 layers.
  Rng rng(79);
  int failures = 0;
  const std::pair<int, int> planes[] = {{2, 2}, {1, 4}, {4, 1}};
  const std::pair<int, int> channels[] = {{1, 1},   {3, 5},   {17, 5},    {32, 1},    {33, 17},  {47, 3},
                                          {64, 63}, {97, 40}, {250, 210}, {200, 201}, {49, 250}, {40, 321}};
  for (const auto& hw : planes)
    for (const auto& c : channels)
      for (int batch : {1, 2, 5, 7})
        failures += check_data_gradient(batch, c.first, hw.first, hw.second, c.second, rng);
  for (int batch : {1, 5}) {
    failures += check_data_gradient(batch, 576, 2, 2, 160, rng);
    failures += check_data_gradient(batch, 960, 2, 2, 160, rng);
    failures += check_data_gradient(batch, 960, 2, 2, 320, rng);
    failures += check_data_gradient(batch, 160, 2, 2, 960, rng);
    failures += check_data_gradient(batch, 320, 2, 2, 1280, rng);
  }
  CHECK(failures == 0);
}
