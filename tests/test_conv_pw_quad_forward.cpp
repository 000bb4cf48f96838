// Parity of the forward of pointwise convolutions on 4-pixel planes (conv_pw_data.h,
// ConvPointwiseForwardQuad: vectors of output channels over panels of W^T, x broadcast) with the scalar
// reference, every ISA table this machine runs: unpacked (W as stored, each panel transposed into
// scratch) and from pre-packed weights (conv2d_pack_weights), whole and in 2 and 3 parts (bit-identical to
// the whole forward), with and without bias. Shapes: input channels 1, 3, 5, 17 and the model's (160, 320,
// 576, 960: one to six passes of input channels), output channels from two vectors to several panels with
// partial last vectors (32, 33, 47, 49, 97, 160, 320, 960, 1280); planes 2x2, 1x4, 4x1 (the path) and 3x3,
// 1x2 (other paths: the dispatch); batch 1, 2 (the few-column path), 5, 7 (the path, odd image tiles).
// Outputs start as NaN (fully overwritten); scratch and packed buffers are guarded. The tolerance is
// tests/kernel_parity.h's (K = products per output). The eval forward's activation is applied by the
// layer after the kernel (Conv2d::run_forward), so the kernel has no activation to test here.
#include <doctest/doctest.h>

#include <limits>
#include <sstream>
#include <vector>

#include "engine/kernels/kernels.h"
#include "tests/kernel_parity.h"

using namespace plasmo;
using namespace plasmo::testing;

namespace {

std::string describe(const kernels::ConvGeom& g, bool bias) {
  std::ostringstream s;
  s << "N" << g.batch << " C" << g.in_channels << "->" << g.out_channels << " " << g.in_h << "x" << g.in_w
    << (bias ? " bias" : "");
  return s.str();
}

// y of one table's forward in `parts` parts, unpacked (packed null) or packed; -1 on a scratch overrun.
int run_parts(const kernels::KernelTable& table, const kernels::ConvGeom& g, const std::vector<float>& x,
              const std::vector<float>& w, const float* packed, const float* bias, int parts, std::vector<float>& y) {
  y.assign(y.size(), std::numeric_limits<float>::quiet_NaN());
  for (int part = 0; part < parts; ++part) {
    GuardedBuffer scratch(table.conv2d_scratch_floats(g));
    if (packed)
      table.conv2d_forward_packed_part(g, x.data(), packed, bias, y.data(), scratch.data(), part, parts);
    else
      table.conv2d_forward_part(g, x.data(), w.data(), bias, y.data(), scratch.data(), part, parts);
    if (!scratch.intact()) return -1;
  }
  return 0;
}

int check_forward(const kernels::ConvGeom& g, bool with_bias, Rng& rng) {
  const kernels::KernelTable& ref = *kernels::table_for("ref");
  const size_t x_size = static_cast<size_t>(g.batch) * g.in_channels * g.in_h * g.in_w;
  const size_t y_size = static_cast<size_t>(g.batch) * g.out_channels * g.out_h * g.out_w;
  const std::vector<float> x = random_vector(x_size, rng),
                           w = random_vector(size_t(g.out_channels) * g.in_channels, rng);
  const std::vector<float> b = random_vector(g.out_channels, rng);
  const std::vector<float> ax = absolute(x), aw = absolute(w), ab = absolute(b);
  const float* bias = with_bias ? b.data() : nullptr;
  std::vector<float> y_ref(y_size), y_mag(y_size);
  GuardedBuffer ref_scratch(ref.conv2d_scratch_floats(g));
  ref.conv2d_forward(g, x.data(), w.data(), bias, y_ref.data(), ref_scratch.data());
  ref.conv2d_forward(g, ax.data(), aw.data(), with_bias ? ab.data() : nullptr, y_mag.data(), ref_scratch.data());

  int failures = 0;
  for (const kernels::KernelTable* table : fast_tables()) {
    const std::string what = std::string(table->isa) + " " + describe(g, with_bias);
    std::vector<float> whole(y_size), y(y_size);
    if (run_parts(*table, g, x, w, nullptr, bias, 1, whole) != 0) {
      FAIL_CHECK(what << ": forward wrote past its scratch");
      ++failures;
    }
    failures += compare_parity(what + " forward", whole, y_ref, y_mag, g.in_channels + 1);
    std::vector<const float*> sources = {nullptr};
    GuardedBuffer packed(table->conv2d_packed_floats(g));
    if (table->conv2d_packed_layout(g) != 0) {
      table->conv2d_pack_weights(g, w.data(), packed.data());
      if (!packed.intact()) {
        FAIL_CHECK(what << ": packing wrote past conv2d_packed_floats");
        ++failures;
      }
      sources.push_back(packed.data());
    }
    for (const float* source : sources)
      for (int parts : {1, 2, 3}) {
        const std::string how = what + (source ? " packed" : " unpacked") + " in " + std::to_string(parts) + " parts";
        if (run_parts(*table, g, x, w, source, bias, parts, y) != 0) {
          FAIL_CHECK(how << ": wrote past its scratch");
          ++failures;
        }
        for (size_t i = 0; i < y_size; ++i)
          if (!(y[i] == whole[i])) {
            FAIL_CHECK(how << " differs from the whole unpacked forward at " << i << ": " << y[i] << " vs "
                           << whole[i]);
            ++failures;
            break;
          }
      }
  }
  return failures;
}

}  // namespace

TEST_CASE("Kernel parity: pointwise forward on 4-pixel planes (ConvPointwiseForwardQuad), odd channels and planes") {
  Rng rng(613);
  int failures = 0;
  for (const auto& hw : {std::pair<int, int>{2, 2}, {1, 4}, {4, 1}, {3, 3}, {1, 2}})
    for (int in_c : {1, 3, 5, 17})
      for (int out_c : {1, 5, 17, 32, 33, 47, 49, 97})
        for (int batch : {1, 2, 5, 7})
          failures += check_forward(kernels::make_conv_geom(batch, in_c, hw.first, hw.second, out_c, 1, 1, 0, 1),
                                    rng.below(2) != 0, rng);
  CHECK(failures == 0);
}

TEST_CASE("Kernel parity: pointwise forward on 4-pixel planes at MobileNetV2's 2x2 shapes (several input passes)") {
  // 160->960 and 320->1280 (expand: one and two passes of 160 input channels), 960->160, 960->320,
  // 576->160 (projections: four to six passes), at batch 5 and 7 (odd image tiles) and 1 (the few path).
  Rng rng(614);
  int failures = 0;
  const std::pair<int, int> shapes[] = {{160, 960}, {320, 1280}, {960, 160}, {960, 320}, {576, 160}, {161, 50}};
  for (const auto& s : shapes)
    for (int batch : {1, 5, 7})
      failures += check_forward(kernels::make_conv_geom(batch, s.first, 2, 2, s.second, 1, 1, 0, 1), batch != 5, rng);
  CHECK(failures == 0);
}
