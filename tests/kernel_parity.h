// Helpers shared by the kernel parity tests (test_kernels_gemm.cpp, test_kernels_conv*.cpp, the
// depthwise and pointwise backward tests, test_kernels_misc.h): random inputs, the list of fast ISAs on
// this machine, the tolerance every fast kernel is held to, the reference's convolution backward on
// random inputs, and a scratch buffer with guard floats after it.
//
// Tolerance. A fast kernel computes the same sums as the reference in another order (vector lanes,
// register tiles, K blocks, FMA's single rounding). Each sum of K products then differs by rounding
// only, with a spread of about u * sqrt(K) * sum|a*b| (u = 2^-24 ~ 6e-8, errors of random sign), and at
// worst K * u * sum|a*b|. We allow
//     |fast - ref| <= 2e-6 * sqrt(K) * magnitude + 1e-30,    magnitude = sum over the K terms of |a*b|
// (computed by the reference on |inputs|, plus |C| when accumulating): ~30 standard deviations of the
// rounding noise, yet a dropped, doubled or misplaced term (error ~ magnitude / K) exceeds it for every
// K the tests use (K^1.5 < 5e5).
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "engine/kernels/kernels.h"
#include "engine/rng.h"

namespace plasmo::testing {

inline std::vector<float> random_vector(size_t n, Rng& rng, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = rng.uniform(lo, hi);
  return v;
}

inline std::vector<float> absolute(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = std::fabs(v[i]);
  return out;
}

// The fast tables this machine and build can run (every available ISA but "ref").
inline std::vector<const kernels::KernelTable*> fast_tables() {
  const char* names[4];
  const int count = kernels::available_isas(names);
  std::vector<const kernels::KernelTable*> tables;
  for (int i = 0; i < count; ++i)
    if (std::strcmp(names[i], "ref") != 0) tables.push_back(kernels::table_for(names[i]));
  return tables;
}

inline double parity_tolerance(int K, double magnitude) {
  return 2e-6 * std::sqrt(static_cast<double>(K) + 1.0) * magnitude + 1e-30;
}

// Compares fast with ref elementwise; reports the first few failures with their index.
// Returns the number of elements outside the tolerance.
inline int compare_parity(const std::string& what, const std::vector<float>& fast, const std::vector<float>& ref,
                          const std::vector<float>& magnitude, int K) {
  int failures = 0;
  REQUIRE(fast.size() == ref.size());
  for (size_t i = 0; i < fast.size(); ++i) {
    const double err = std::fabs(static_cast<double>(fast[i]) - ref[i]);
    const double tol = parity_tolerance(K, magnitude[i]);
    if (!(err <= tol)) {  // also catches NaN
      if (failures < 3)
        FAIL_CHECK(what << ": element " << i << " fast " << fast[i] << " ref " << ref[i] << " tolerance " << tol);
      ++failures;
    }
  }
  return failures;
}

// A depthwise 3x3 convolution (one group per channel) on [batch, channels, h, w].
inline kernels::ConvGeom depthwise_3x3(int batch, int channels, int h, int w, int stride, int pad = 1) {
  return kernels::make_conv_geom(batch, channels, h, w, channels, 3, stride, pad, channels);
}

// One convolution's backward on random inputs, computed by the reference table: dx from dy and w, and dw,
// db accumulated onto random dw0, db0 (the kernels accumulate). The magnitudes (*_mag) are the same calls
// on |inputs| (and |dw0|, |db0|), for compare_parity; K_data and K_weight the terms of each sum.
struct ConvBackwardReference {
  const kernels::ConvGeom g;
  const size_t x_size, y_size, w_size;
  std::vector<float> x, w, dy, dw0, db0;
  std::vector<float> dx_ref, dx_mag, dw_ref, dw_mag, db_ref, db_mag;
  const int K_data, K_weight;

  // x is drawn uniform in [x_lo, x_hi), w, dy, dw0 and db0 in [-1, 1), in that order.
  ConvBackwardReference(const kernels::ConvGeom& geom, Rng& rng, float x_lo = -1.0f, float x_hi = 1.0f)
      : g(geom),
        x_size(static_cast<size_t>(g.batch) * g.in_channels * g.in_h * g.in_w),
        y_size(static_cast<size_t>(g.batch) * g.out_channels * g.out_h * g.out_w),
        w_size(static_cast<size_t>(g.out_channels) * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w),
        x(random_vector(x_size, rng, x_lo, x_hi)),
        w(random_vector(w_size, rng)),
        dy(random_vector(y_size, rng)),
        dw0(random_vector(w_size, rng)),
        db0(random_vector(g.out_channels, rng)),
        dx_ref(x_size),
        dx_mag(x_size),
        dw_ref(dw0),
        dw_mag(absolute(dw0)),
        db_ref(db0),
        db_mag(absolute(db0)),
        // dx sums out_channels / groups * kernel taps; dw and db sum every output pixel (+ the start value).
        K_data(g.out_channels / g.groups * g.kernel_h * g.kernel_w),
        K_weight(g.batch * g.out_h * g.out_w + 1) {
    const kernels::KernelTable& ref = *kernels::table_for("ref");
    const std::vector<float> ax = absolute(x), aw = absolute(w), ady = absolute(dy);
    std::vector<float> scratch(ref.conv2d_scratch_floats(g) + 1);
    ref.conv2d_backward_data(g, dy.data(), w.data(), dx_ref.data(), scratch.data());
    ref.conv2d_backward_data(g, ady.data(), aw.data(), dx_mag.data(), scratch.data());
    ref.conv2d_backward_weight(g, x.data(), dy.data(), dw_ref.data(), db_ref.data(), scratch.data());
    ref.conv2d_backward_weight(g, ax.data(), ady.data(), dw_mag.data(), db_mag.data(), scratch.data());
  }
};

// `floats` usable floats (a kernel's scratch, packed weights or output) followed by guard floats the
// kernel must leave alone: a write past what it asked for, the usual tail bug, shows as a changed guard.
struct GuardedBuffer {
  static constexpr float kGuard = -555.0f;
  static constexpr size_t kGuardFloats = 64;
  const size_t floats;
  std::vector<float> buffer;

  // The usable part starts as `fill` (NaN: a kernel that reads before it writes shows).
  explicit GuardedBuffer(size_t usable, float fill = 0.0f) : floats(usable), buffer(usable + kGuardFloats, kGuard) {
    std::fill(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(floats), fill);
  }
  float* data() { return buffer.data(); }
  // Every float, usable part included, back to kGuard.
  void refill() { std::fill(buffer.begin(), buffer.end(), kGuard); }
  bool intact() const {
    for (size_t i = floats; i < buffer.size(); ++i)
      if (buffer[i] != kGuard) return false;
    return true;
  }
  // 0 when the guards survived, else 1 with a failed check naming `what`.
  int check_guards(const std::string& what) const {
    if (intact()) return 0;
    FAIL_CHECK(what << ": wrote past the scratch it asked for");
    return 1;
  }
};

}  // namespace plasmo::testing
