// Finite-difference gradient checks of the pooling, upsample, activation and BatchNorm kernels as
// dispatched by K(): run with PLASMO_ISA=ref|avx2|avx512 (make test-isa) or under qemu for NEON
// (make test-arm), they check each ISA's backward against its own forward. Same method as
// tests/gradcheck.h (which works on layers): L(x) = sum_i y_i r_i for a fixed random r, accumulated in
// double; numeric dL/dx_j = (L(x + eps e_j) - L(x - eps e_j)) / (2 eps) with eps = 1e-2, compared with
// the kernel's backward applied to r: |analytic - numeric| <= 2e-3 + 1e-2 * max(|analytic|, |numeric|).
// Inputs stay away from kinks (max-pool ties, ReLU at 0 and 6) by more than eps.
#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "tests/test_kernels_misc.h"

using namespace plasmo;
using namespace plasmo::testing::kernels_misc;
using kernels::K;
using kernels::PoolGeom;

namespace {

using Forward = std::function<void(const std::vector<float>& x, std::vector<float>& y)>;
using Backward = std::function<void(const std::vector<float>& x, const std::vector<float>& dy, std::vector<float>& dx)>;

void check_kernel_gradient(const std::string& name, std::vector<float> x, size_t out_size, const Forward& forward,
                           const Backward& backward, Rng& rng) {
  const std::string isa = K().isa;
  CAPTURE(isa);
  CAPTURE(name);
  std::vector<float> r(out_size), y(out_size), dx(x.size());
  for (auto& v : r) v = rng.uniform(-1.0f, 1.0f);
  auto loss = [&](const std::vector<float>& input) {
    forward(input, y);
    double total = 0.0;
    for (size_t i = 0; i < out_size; ++i) total += static_cast<double>(y[i]) * r[i];
    return total;
  };
  loss(x);  // leaves y = forward(x) for backward kernels that read it
  backward(x, r, dx);
  const float eps = 1e-2f;
  int failures = 0;
  std::string worst;
  for (size_t j = 0; j < x.size(); ++j) {
    const float saved = x[j];
    x[j] = saved + eps;
    const double up = loss(x);
    x[j] = saved - eps;
    const double down = loss(x);
    x[j] = saved;
    const double numeric = (up - down) / (2.0 * eps), analytic = dx[j];
    if (!(std::fabs(analytic - numeric) <= 2e-3 + 1e-2 * std::max(std::fabs(analytic), std::fabs(numeric)))) {
      if (failures++ == 0)
        worst = "x[" + std::to_string(j) + "]: analytic " + std::to_string(analytic) + " numeric " +
                std::to_string(numeric);
    }
  }
  CHECK_MESSAGE(failures == 0, worst);
}

// Distinct values at least `spacing` apart, shuffled: max-pool windows have a unique max that a
// +-eps nudge cannot change.
std::vector<float> distinct_values(size_t n, Rng& rng, float spacing) {
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = spacing * (static_cast<float>(i) - 0.5f * static_cast<float>(n));
  for (size_t i = n; i > 1; --i) std::swap(x[i - 1], x[rng.below(static_cast<uint32_t>(i))]);
  return x;
}

// |v| in [margin, scale], random sign.
std::vector<float> away_from_zero(size_t n, Rng& rng, float margin, float scale) {
  std::vector<float> x(n);
  for (auto& v : x) v = (rng.bernoulli(0.5f) ? 1.0f : -1.0f) * rng.uniform(margin, scale);
  return x;
}

}  // namespace

TEST_CASE("Kernel gradient: max pool (3x3/2 pad 1, 2x2/2, 3x3/1) under the selected ISA") {
  Rng rng(5151);
  const PoolGeom geometries[] = {kernels::make_pool_geom(3, 9, 9, 3, 2, 1), kernels::make_pool_geom(2, 6, 7, 2, 2, 0),
                                 kernels::make_pool_geom(2, 5, 11, 3, 1, 1)};
  for (const PoolGeom& g : geometries) {
    const size_t in = static_cast<size_t>(g.planes) * g.in_h * g.in_w,
                 out = static_cast<size_t>(g.planes) * g.out_h * g.out_w;
    std::vector<int32_t> argmax(out);
    check_kernel_gradient(
        "maxpool2d k" + std::to_string(g.kernel_h) + " s" + std::to_string(g.stride_h), distinct_values(in, rng, 0.05f),
        out,
        [&](const std::vector<float>& x, std::vector<float>& y) {
          K().maxpool2d_forward(g, x.data(), y.data(), argmax.data());
        },
        [&](const std::vector<float>&, const std::vector<float>& dy, std::vector<float>& dx) {
          K().maxpool2d_backward(g, dy.data(), argmax.data(), dx.data());
        },
        rng);
  }
}

TEST_CASE("Kernel gradient: average pool, global average pool and upsample x2 under the selected ISA") {
  Rng rng(5252);
  const PoolGeom geometries[] = {kernels::make_pool_geom(3, 9, 9, 3, 2, 1), kernels::make_pool_geom(2, 6, 7, 2, 2, 0),
                                 kernels::make_pool_geom(2, 5, 11, 3, 1, 1)};
  for (const PoolGeom& g : geometries) {
    const size_t in = static_cast<size_t>(g.planes) * g.in_h * g.in_w,
                 out = static_cast<size_t>(g.planes) * g.out_h * g.out_w;
    check_kernel_gradient(
        "avgpool2d k" + std::to_string(g.kernel_h) + " s" + std::to_string(g.stride_h), normal_values(in, rng), out,
        [&](const std::vector<float>& x, std::vector<float>& y) { K().avgpool2d_forward(g, x.data(), y.data()); },
        [&](const std::vector<float>&, const std::vector<float>& dy, std::vector<float>& dx) {
          K().avgpool2d_backward(g, dy.data(), dx.data());
        },
        rng);
  }
  for (int plane_size : {4, 49}) {
    const int planes = 3;
    check_kernel_gradient(
        "global_avgpool " + std::to_string(plane_size), normal_values(static_cast<size_t>(planes) * plane_size, rng),
        planes,
        [&](const std::vector<float>& x, std::vector<float>& y) {
          K().global_avgpool_forward(planes, plane_size, x.data(), y.data());
        },
        [&](const std::vector<float>&, const std::vector<float>& dy, std::vector<float>& dx) {
          K().global_avgpool_backward(planes, plane_size, dy.data(), dx.data());
        },
        rng);
  }
  const int planes = 2, in_h = 3, in_w = 9;
  const size_t in = static_cast<size_t>(planes) * in_h * in_w;
  check_kernel_gradient(
      "upsample2x", normal_values(in, rng), 4 * in,
      [&](const std::vector<float>& x, std::vector<float>& y) {
        K().upsample2x_forward(planes, in_h, in_w, x.data(), y.data());
      },
      [&](const std::vector<float>&, const std::vector<float>& dy, std::vector<float>& dx) {
        K().upsample2x_backward(planes, in_h, in_w, dy.data(), dx.data());
      },
      rng);
}

TEST_CASE("Kernel gradient: relu, relu6 and sigmoid under the selected ISA") {
  Rng rng(5353);
  const size_t n = 37;  // vector body and tail on every ISA
  std::vector<float> y(n);
  check_kernel_gradient(
      "relu", away_from_zero(n, rng, 0.05f, 3.0f), n,
      [&](const std::vector<float>& x, std::vector<float>& out) { K().relu_forward(n, x.data(), out.data()); },
      [&](const std::vector<float>& x, const std::vector<float>& dy, std::vector<float>& dx) {
        K().relu_forward(n, x.data(), y.data());
        K().relu_backward(n, y.data(), dy.data(), dx.data());
      },
      rng);
  // relu6: values in (-3, 9) away from 0 and 6.
  std::vector<float> x6 = away_from_zero(n, rng, 0.05f, 3.0f);
  for (size_t i = 0; i < n; i += 2) x6[i] += 6.0f;
  check_kernel_gradient(
      "relu6", x6, n,
      [&](const std::vector<float>& x, std::vector<float>& out) { K().relu6_forward(n, x.data(), out.data()); },
      [&](const std::vector<float>& x, const std::vector<float>& dy, std::vector<float>& dx) {
        K().relu6_forward(n, x.data(), y.data());
        K().relu6_backward(n, y.data(), dy.data(), dx.data());
      },
      rng);
  check_kernel_gradient(
      "sigmoid", normal_values(n, rng, 3.0f), n,
      [&](const std::vector<float>& x, std::vector<float>& out) { K().sigmoid_forward(n, x.data(), out.data()); },
      [&](const std::vector<float>& x, const std::vector<float>& dy, std::vector<float>& dx) {
        K().sigmoid_forward(n, x.data(), y.data());
        K().sigmoid_backward(n, y.data(), dy.data(), dx.data());
      },
      rng);
}

TEST_CASE(
    "Kernel gradient: BatchNorm (training) from channel_mean_var, channel_affine_act, channel_act_grad_sums, "
    "channel_act_affine2 under the selected ISA") {
  // y = gamma * (x - mean) * s + beta with s = 1/sqrt(var + eps) over each channel's N*HW values
  // (as t = x * scale + shift, scale = gamma s, shift = beta - mean * scale; no activation here: the
  // activations' kinks are checked at the layer, with retries).
  // dx = gamma s (dy - S_dy/M - xhat * sum(dy xhat)/M) with sum(dy xhat) = s S_dyxc, which is
  // channel_act_affine2's dx = a dy + b (x - mean) + k with a = gamma s, b = -gamma s^3 S_dyxc / M,
  // k = -gamma s S_dy / M.
  Rng rng(5454);
  const int N = 3, C = 2, HW = 5;
  const size_t count = static_cast<size_t>(N) * C * HW;
  const float bn_eps = 1e-5f;
  const std::vector<float> gamma = {1.5f, -0.7f}, beta = {0.2f, -0.1f};
  std::vector<float> mean(C), var(C), scale(C), shift(C), sum_dy(C), sum_dyxc(C), a(C), b(C), k(C);
  auto statistics = [&](const std::vector<float>& x) {
    K().channel_mean_var(N, C, HW, 0, C, x.data(), mean.data(), var.data());
    for (int c = 0; c < C; ++c) {
      scale[c] = gamma[c] / std::sqrt(var[c] + bn_eps);
      shift[c] = beta[c] - mean[c] * scale[c];
    }
  };
  auto forward = [&](const std::vector<float>& x, std::vector<float>& y) {
    statistics(x);
    K().channel_affine_act(N, C, HW, x.data(), scale.data(), shift.data(), kernels::kActNone, y.data());
  };
  auto backward = [&](const std::vector<float>& x, const std::vector<float>& dy, std::vector<float>& dx) {
    statistics(x);
    K().channel_act_grad_sums(N, C, HW, 0, C, dy.data(), x.data(), scale.data(), shift.data(), mean.data(),
                              kernels::kActNone, sum_dy.data(), sum_dyxc.data());
    const double M = static_cast<double>(N) * HW;
    for (int c = 0; c < C; ++c) {
      const double s = 1.0 / std::sqrt(static_cast<double>(var[c]) + bn_eps);
      a[c] = static_cast<float>(gamma[c] * s);
      b[c] = static_cast<float>(-gamma[c] * s * s * s * sum_dyxc[c] / M);
      k[c] = static_cast<float>(-gamma[c] * s * sum_dy[c] / M);
    }
    K().channel_act_affine2(N, C, HW, dy.data(), x.data(), scale.data(), shift.data(), mean.data(), kernels::kActNone,
                            a.data(), b.data(), k.data(), dx.data());
  };
  check_kernel_gradient("batchnorm", normal_values(count, rng, 1.5f, 2.0f), count, forward, backward, rng);
}
