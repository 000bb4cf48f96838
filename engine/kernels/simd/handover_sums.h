// The BatchNorm hand-over's per-image sums over a group of images in one call (kernels.h:
// conv2d_backward_sums): for each image n of [0, N) and channel c,
//   sum_g[n * C + c], sum_gxc[n * C + c] = channel c of channel_act_grad_sums(1, C, HW, 0, C, dy_n, x_n, ...)
// bit for bit (simd/channel.h's kernels, this ISA's vectors). A call per image costs, on planes below
// kSumBlock values (the 8x8, 4x4 and 2x2 stages), the per-element coefficients of every span of channels
// (3 * C * HW floats written) again for each image: more than the pass it replaces. Here each span's
// coefficients are expanded once per group and the images walked inside the span, each folded on its own:
// an image's values go through the same lanes, the same operations (0 + g, 0 + g * (x - mu), then the
// span's fold and 0.0 + fold in double) as in the per-image call, so the bits are the same.
// Include after simd/channel.h's vector traits (as channel.h itself).
#pragma once
#include "engine/kernels/simd/channel.h"

namespace plasmo::kernels::simd {
namespace {

template <class V, int ACT>
void image_grad_sums_spans(int N, int C, int HW, const float* dy, const float* x, const float* scale,
                           const float* shift, const float* mean, float* sum_g, float* sum_gxc) {
  using F = typename V::F;
  constexpr int W = V::W;
  const size_t image = static_cast<size_t>(C) * HW;
  alignas(64) float sc[kSpanFloats + W], sh[kSpanFloats + W], mu[kSpanFloats + W];
  alignas(64) float acc_g[kSpanFloats + W], acc_gxc[kSpanFloats + W];
  double fold_g[kSpanChannels], fold_gxc[kSpanChannels];
  for (int c0 = 0; c0 < C;) {
    const Span<V> span(c0, C, HW);
    const int channels = span.c1 - span.c0;
    span.expand(scale, sc);
    span.expand(shift, sh);
    span.expand(mean, mu);
    for (int n = 0; n < N; ++n) {
      const size_t base = n * image + static_cast<size_t>(c0) * HW;
      for (int v = 0; v < span.vectors; ++v) {
        const int lanes = span.lanes(v);
        const F xv = load_n<V>(x + base + v * W, lanes);
        const F g = gate<V, ACT>(affine<V>(xv, V::load(sc + v * W), V::load(sh + v * W)),
                                 load_n<V>(dy + base + v * W, lanes));  // idle lanes: dy = 0, x = mu = 0
        V::store(acc_g + v * W, V::add(V::zero(), g));
        V::store(acc_gxc + v * W, V::add(V::zero(), V::mul(g, V::sub(xv, V::load(mu + v * W)))));
      }
      span.fold(acc_g, fold_g);
      span.fold(acc_gxc, fold_gxc);
      float* out_g = sum_g + static_cast<size_t>(n) * C + c0;
      float* out_gxc = sum_gxc + static_cast<size_t>(n) * C + c0;
      for (int i = 0; i < channels; ++i) {
        double total_g = 0.0, total_gxc = 0.0;
        total_g += fold_g[i];
        total_gxc += fold_gxc[i];
        out_g[i] = static_cast<float>(total_g);
        out_gxc[i] = static_cast<float>(total_gxc);
      }
    }
    c0 = span.c1;
  }
}

// Planes of whole vectors, at most 8 (HW % W == 0, HW <= 8 W: 4x4 and 8x8 at every W): Span::fold adds a
// channel's vectors in order, then reduce_add; here the same adds on the vectors in registers, straight from
// the loads (no span coefficients, no accumulator stores and reloads): per channel c and image,
//   sum = (0 + g_0) + (0 + g_1) + ... + (0 + g_{HW/W-1}), reduce_add(sum), then 0.0 + that in double
// (and the same for g * (x - mu)): the per-image call's values and operations, so its bits.
template <class V, int ACT>
void image_grad_sums_planes(int N, int C, int HW, const float* dy, const float* x, const float* scale,
                            const float* shift, const float* mean, float* sum_g, float* sum_gxc) {
  using F = typename V::F;
  constexpr int W = V::W;
  const int per = HW / W;
  const size_t image = static_cast<size_t>(C) * HW;
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      const size_t base = n * image + static_cast<size_t>(c) * HW;
      const F sc = V::set1(scale[c]), sh = V::set1(shift[c]), mu = V::set1(mean[c]);
      F acc_g = V::zero(), acc_gxc = V::zero();
      for (int v = 0; v < per; ++v) {
        const F xv = V::load(x + base + v * W);
        const F g = gate<V, ACT>(affine<V>(xv, sc, sh), V::load(dy + base + v * W));
        const F lane_g = V::add(V::zero(), g), lane_gxc = V::add(V::zero(), V::mul(g, V::sub(xv, mu)));
        acc_g = v == 0 ? lane_g : V::add(acc_g, lane_g);
        acc_gxc = v == 0 ? lane_gxc : V::add(acc_gxc, lane_gxc);
      }
      double total_g = 0.0, total_gxc = 0.0;
      total_g += static_cast<double>(V::reduce_add(acc_g));
      total_gxc += static_cast<double>(V::reduce_add(acc_gxc));
      sum_g[static_cast<size_t>(n) * C + c] = static_cast<float>(total_g);
      sum_gxc[static_cast<size_t>(n) * C + c] = static_cast<float>(total_gxc);
    }
}

// sum_g, sum_gxc [N, C]: per image, channel_act_grad_sums(1, C, HW, 0, C, ...)'s values.
template <class V>
void image_grad_sums(int N, int C, int HW, const float* dy, const float* x, const float* scale, const float* shift,
                     const float* mean, int act, float* sum_g, float* sum_gxc) {
  const size_t image = static_cast<size_t>(C) * HW;
  with_act(act, [&](auto act_tag) {
    constexpr int ACT = decltype(act_tag)::value;
    if (HW >= kSumBlock) {
      for (int n = 0; n < N; ++n)
        grad_sums_large<V, ACT>(1, C, HW, 0, C, dy + n * image, x + n * image, scale, shift, mean,
                                sum_g + static_cast<size_t>(n) * C, sum_gxc + static_cast<size_t>(n) * C);
    } else if (HW % V::W == 0 && HW <= 8 * V::W) {
      image_grad_sums_planes<V, ACT>(N, C, HW, dy, x, scale, shift, mean, sum_g, sum_gxc);
    } else {
      image_grad_sums_spans<V, ACT>(N, C, HW, dy, x, scale, shift, mean, sum_g, sum_gxc);
    }
  });
}

}  // namespace
}  // namespace plasmo::kernels::simd
