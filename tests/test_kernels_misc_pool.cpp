// Parity of the pooling and upsample kernels of every ISA with the reference (see
// tests/test_kernels_misc.h): planes = batch {1, 5} x channels {1, 3, 5, 17}, H and W in {1, 7, 31},
// windows 1x1 to 5x5 with strides 1, 2 (the vector paths) and 3 (the reference fallback), paddings
// 0 to 2, plus the shapes the models use (the ResNet stem pool 3x3/2 pad 1 on 32x32 and 64x64, the
// autoencoder's 2x2/2 pools) and rows longer than one vector pass (kPoolChunk = 128 outputs).
//   Bit-exact: max pool forward (values and argmax, with many ties: first max wins), max pool
//   backward, avg pool forward and backward (same summation order), upsample forward and backward,
//   global average pool backward; max pool with a folded ReLU (g.relu), also against relu then max pool.
//   Global average pool forward: the reference adds a plane left to right in float, the vector
//   versions in blocks (engine/kernels/simd/pool.h). Both are judged against the exact mean:
//   vector within 4e-6 * mean|x|, the reference within its classical bound (HW - 1) * 2^-24 * mean|x|,
//   so they agree within the sum of the two.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tests/test_kernels_misc.h"

using namespace plasmo;
using namespace plasmo::testing::kernels_misc;
using kernels::KernelTable;
using kernels::PoolGeom;

namespace {

struct Window {
  int kernel, stride, pad;
};

// Every pooling geometry of the parity tests.
std::vector<PoolGeom> pool_geometries() {
  std::vector<PoolGeom> geometries;
  const Window windows[] = {{1, 1, 0}, {2, 2, 0}, {2, 1, 0}, {3, 1, 1}, {3, 2, 1},
                            {3, 2, 0}, {5, 2, 2}, {4, 2, 1}, {3, 3, 0}, {3, 3, 1}};
  for (int batch : {1, 5})
    for (int channels : {1, 3, 5, 17})
      for (int in_h : {1, 7, 31})
        for (int in_w : {1, 7, 31})
          for (const Window& w : windows) {
            // Keep the test short: the 17-channel, batch-5 planes only with the models' windows.
            if (batch * channels > 17 && !(w.kernel == 3 && w.stride == 2) && !(w.kernel == 2 && w.stride == 2))
              continue;
            const PoolGeom g = kernels::make_pool_geom(batch * channels, in_h, in_w, w.kernel, w.stride, w.pad);
            if (g.out_h >= 1 && g.out_w >= 1 && in_h + 2 * w.pad >= w.kernel && in_w + 2 * w.pad >= w.kernel)
              geometries.push_back(g);
          }
  // The models' pools and long rows.
  geometries.push_back(kernels::make_pool_geom(10, 32, 32, 3, 2, 1));  // ResNet stem @64: 2 images x 5 channels
  geometries.push_back(kernels::make_pool_geom(3, 64, 64, 3, 2, 1));   // ResNet stem @128
  for (int size : {32, 16, 8, 4}) geometries.push_back(kernels::make_pool_geom(6, size, size, 2, 2, 0));
  geometries.push_back(kernels::make_pool_geom(2, 9, 7, 2, 2, 0));    // odd sizes: a row and column unused
  geometries.push_back(kernels::make_pool_geom(2, 3, 300, 3, 1, 1));  // 300 outputs per row: 3 passes
  geometries.push_back(kernels::make_pool_geom(2, 5, 301, 3, 2, 1));  // 151 outputs per row: 2 passes
  geometries.push_back(kernels::make_pool_geom(2, 5, 40, 9, 1, 4));   // 9x9 window: the reference path
  return geometries;
}

std::string describe(const PoolGeom& g) {
  return std::to_string(g.planes) + " planes " + std::to_string(g.in_h) + "x" + std::to_string(g.in_w) + " k" +
         std::to_string(g.kernel_h) + " s" + std::to_string(g.stride_h) + " p" + std::to_string(g.pad_h) + " -> " +
         std::to_string(g.out_h) + "x" + std::to_string(g.out_w);
}

size_t in_count(const PoolGeom& g) { return static_cast<size_t>(g.planes) * g.in_h * g.in_w; }
size_t out_count(const PoolGeom& g) { return static_cast<size_t>(g.planes) * g.out_h * g.out_w; }

// Max-pool inputs: values from {-1, 0, 1, 2} (ties in almost every window, so "first max wins"
// decides argmax), with some -inf planted (a window of only -inf still has an argmax).
std::vector<float> tied_values(size_t n, Rng& rng) {
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>(static_cast<int>(rng.below(4)) - 1);
  for (size_t i = 0; i < n; i += 11) x[i] = -std::numeric_limits<float>::infinity();
  return x;
}

}  // namespace

TEST_CASE("Kernel parity: maxpool2d forward (values, argmax with ties) and backward are bit-exact") {
  Rng rng(1111);
  const std::vector<PoolGeom> geometries = pool_geometries();
  for (const KernelTable* fast : fast_tables())
    for (const PoolGeom& g : geometries)
      for (bool ties : {true, false}) {
        const std::string isa = fast->isa, shape = describe(g);
        CAPTURE(isa);
        CAPTURE(shape);
        CAPTURE(ties);
        const std::vector<float> x = ties ? tied_values(in_count(g), rng) : normal_values(in_count(g), rng);
        Guarded<float> y_want(out_count(g)), y_got(out_count(g));
        Guarded<int32_t> index_want(out_count(g)), index_got(out_count(g));
        ref_table().maxpool2d_forward(g, x.data(), y_want.data(), index_want.data());
        fast->maxpool2d_forward(g, x.data(), y_got.data(), index_got.data());
        CHECK(bit_difference(y_got.data(), y_want.data(), out_count(g)) == "");
        CHECK(int_difference(index_got.data(), index_want.data(), out_count(g)) == "");
        CHECK(y_got.guards_intact());
        CHECK(index_got.guards_intact());

        const std::vector<float> dy = normal_values(out_count(g), rng);
        Guarded<float> dx_want(in_count(g)), dx_got(in_count(g), 99.0f);  // dx is overwritten
        ref_table().maxpool2d_backward(g, dy.data(), index_want.data(), dx_want.data());
        fast->maxpool2d_backward(g, dy.data(), index_want.data(), dx_got.data());
        CHECK(bit_difference(dx_got.data(), dx_want.data(), in_count(g)) == "");
        CHECK(dx_got.guards_intact());
      }
}

// g.relu (a ReLU folded into the pool, engine/layers/pool2d.h): every ISA bit-exact with the reference, and
// the reference bit-exact with the unfused pair it replaces: relu_forward, then max pool; backward: max pool
// backward, then relu_backward. Inputs: the tied values above with some -0 planted (windows whose max is
// -0, 0 or negative: y must be +0 and no input gets a gradient), and normal values.
TEST_CASE("Kernel parity: maxpool2d with a folded ReLU (g.relu) equals relu then max pool, bit for bit") {
  Rng rng(1212);
  const std::vector<PoolGeom> geometries = pool_geometries();
  int zero_windows = 0, positive_windows = 0;
  for (PoolGeom g : geometries)
    for (bool ties : {true, false}) {
      const std::string shape = describe(g);
      CAPTURE(shape);
      CAPTURE(ties);
      std::vector<float> x = ties ? tied_values(in_count(g), rng) : normal_values(in_count(g), rng);
      for (size_t i = 5; i < x.size(); i += 13) x[i] = -0.0f;
      const std::vector<float> dy = normal_values(out_count(g), rng);

      // Unfused: t = relu(x); y = max pool(t); dt = scatter of dy; dx = relu_backward(t, dt).
      g.relu = false;
      std::vector<float> t(in_count(g)), y_unfused(out_count(g)), dt(in_count(g)), dx_unfused(in_count(g));
      std::vector<int32_t> index_unfused(out_count(g));
      ref_table().relu_forward(in_count(g), x.data(), t.data());
      ref_table().maxpool2d_forward(g, t.data(), y_unfused.data(), index_unfused.data());
      ref_table().maxpool2d_backward(g, dy.data(), index_unfused.data(), dt.data());
      ref_table().relu_backward(in_count(g), t.data(), dt.data(), dx_unfused.data());

      g.relu = true;
      Guarded<float> y_want(out_count(g)), dx_want(in_count(g), 99.0f);
      Guarded<int32_t> index_want(out_count(g));
      ref_table().maxpool2d_forward(g, x.data(), y_want.data(), index_want.data());
      ref_table().maxpool2d_backward(g, dy.data(), index_want.data(), dx_want.data());
      CHECK(bit_difference(y_want.data(), y_unfused.data(), out_count(g)) == "");
      CHECK(bit_difference(dx_want.data(), dx_unfused.data(), in_count(g)) == "");
      // argmax: the unfused one where the max is > 0, -1 (no gradient) where it is +0.
      for (size_t o = 0; o < out_count(g); ++o) {
        const bool positive = y_unfused[o] > 0.0f;
        (positive ? positive_windows : zero_windows)++;
        if (index_want.data()[o] != (positive ? index_unfused[o] : -1)) {
          CHECK(index_want.data()[o] == (positive ? index_unfused[o] : -1));
          break;
        }
      }

      for (const KernelTable* fast : fast_tables()) {
        const std::string isa = fast->isa;
        CAPTURE(isa);
        Guarded<float> y_got(out_count(g)), dx_got(in_count(g), 99.0f);
        Guarded<int32_t> index_got(out_count(g));
        fast->maxpool2d_forward(g, x.data(), y_got.data(), index_got.data());
        CHECK(bit_difference(y_got.data(), y_want.data(), out_count(g)) == "");
        CHECK(int_difference(index_got.data(), index_want.data(), out_count(g)) == "");
        CHECK(y_got.guards_intact());
        CHECK(index_got.guards_intact());
        fast->maxpool2d_backward(g, dy.data(), index_want.data(), dx_got.data());
        CHECK(bit_difference(dx_got.data(), dx_want.data(), in_count(g)) == "");
        CHECK(dx_got.guards_intact());
      }
    }
  CHECK(zero_windows > 1000);  // both cases well covered
  CHECK(positive_windows > 1000);
}

TEST_CASE("Kernel parity: avgpool2d forward and backward are bit-exact") {
  Rng rng(2222);
  const std::vector<PoolGeom> geometries = pool_geometries();
  for (const KernelTable* fast : fast_tables())
    for (const PoolGeom& g : geometries) {
      const std::string isa = fast->isa, shape = describe(g);
      CAPTURE(isa);
      CAPTURE(shape);
      const std::vector<float> x = normal_values(in_count(g), rng);
      Guarded<float> y_want(out_count(g)), y_got(out_count(g));
      ref_table().avgpool2d_forward(g, x.data(), y_want.data());
      fast->avgpool2d_forward(g, x.data(), y_got.data());
      CHECK(bit_difference(y_got.data(), y_want.data(), out_count(g)) == "");
      CHECK(y_got.guards_intact());

      const std::vector<float> dy = normal_values(out_count(g), rng);
      Guarded<float> dx_want(in_count(g)), dx_got(in_count(g), 99.0f);
      ref_table().avgpool2d_backward(g, dy.data(), dx_want.data());
      fast->avgpool2d_backward(g, dy.data(), dx_got.data());
      CHECK(bit_difference(dx_got.data(), dx_want.data(), in_count(g)) == "");
      CHECK(dx_got.guards_intact());
    }
}

TEST_CASE("Kernel parity: global average pool (forward within the stated bound, backward bit-exact)") {
  Rng rng(3333);
  for (const KernelTable* fast : fast_tables())
    for (int planes : {1, 3, 5, 17, 85})
      for (int plane_size : {1, 4, 7, 16, 49, 961, 64 * 64}) {
        const std::string isa = fast->isa;
        CAPTURE(isa);
        CAPTURE(planes);
        CAPTURE(plane_size);
        const size_t count = static_cast<size_t>(planes) * plane_size;
        const std::vector<float> x = normal_values(count, rng, 2.0f, 1.0f);
        Guarded<float> want(planes), got(planes);
        ref_table().global_avgpool_forward(planes, plane_size, x.data(), want.data());
        fast->global_avgpool_forward(planes, plane_size, x.data(), got.data());
        std::vector<float> exact(planes);
        std::vector<double> mean_abs(planes);
        for (int p = 0; p < planes; ++p) {
          double sum = 0.0, sum_abs = 0.0;
          for (int i = 0; i < plane_size; ++i) {
            sum += x[static_cast<size_t>(p) * plane_size + i];
            sum_abs += std::fabs(x[static_cast<size_t>(p) * plane_size + i]);
          }
          exact[p] = static_cast<float>(sum / plane_size);
          mean_abs[p] = sum_abs / plane_size;
        }
        auto vector_bound = [&](size_t p) { return 4e-6 * mean_abs[p] + 1e-30; };
        auto ref_bound = [&](size_t p) { return (plane_size - 1) * 0x1p-24 * mean_abs[p] + 1e-7 * mean_abs[p]; };
        CHECK(bound_difference(got.data(), exact.data(), planes, vector_bound) == "");
        CHECK(bound_difference(want.data(), exact.data(), planes, ref_bound) == "");
        CHECK(bound_difference(got.data(), want.data(), planes,
                               [&](size_t p) { return vector_bound(p) + ref_bound(p); }) == "");
        CHECK(got.guards_intact());

        const std::vector<float> dy = normal_values(planes, rng);
        Guarded<float> dx_want(count), dx_got(count, 99.0f);
        ref_table().global_avgpool_backward(planes, plane_size, dy.data(), dx_want.data());
        fast->global_avgpool_backward(planes, plane_size, dy.data(), dx_got.data());
        CHECK(bit_difference(dx_got.data(), dx_want.data(), count) == "");
        CHECK(dx_got.guards_intact());
      }
}

TEST_CASE("Kernel parity: upsample2x forward and backward are bit-exact") {
  Rng rng(4444);
  for (const KernelTable* fast : fast_tables())
    for (int planes : {1, 3, 5, 17, 85})
      for (int in_h : {1, 4, 7, 16, 31})
        for (int in_w : {1, 4, 7, 16, 31}) {
          const std::string isa = fast->isa;
          CAPTURE(isa);
          CAPTURE(planes);
          CAPTURE(in_h);
          CAPTURE(in_w);
          const size_t in = static_cast<size_t>(planes) * in_h * in_w, out = 4 * in;
          const std::vector<float> x = normal_values(in, rng), dy = normal_values(out, rng);
          Guarded<float> y_want(out), y_got(out), dx_want(in), dx_got(in, 99.0f);
          ref_table().upsample2x_forward(planes, in_h, in_w, x.data(), y_want.data());
          fast->upsample2x_forward(planes, in_h, in_w, x.data(), y_got.data());
          CHECK(bit_difference(y_got.data(), y_want.data(), out) == "");
          CHECK(y_got.guards_intact());
          ref_table().upsample2x_backward(planes, in_h, in_w, dy.data(), dx_want.data());
          fast->upsample2x_backward(planes, in_h, in_w, dy.data(), dx_got.data());
          CHECK(bit_difference(dx_got.data(), dx_want.data(), in) == "");
          CHECK(dx_got.guards_intact());
        }
}
