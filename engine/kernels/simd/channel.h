// Per-channel ops over [N, C, HW] (BatchNorm) written once over a vector-traits type V (see
// simd/elementwise.h).
//
// Parity with the reference (engine/kernels/ref/channel.cpp), which sums in double:
// - channel_affine, channel_affine2: bit-exact (same multiplies and adds in the same order, unfused).
// - channel_mean_var, channel_grad_sums: sums are blocked. Each (n, c) plane is cut into blocks of at
//   most kSumBlock floats, summed in float with 2 vector accumulators per sum (each lane adds at most
//   kSumBlock / (2 W) terms, then a reduction tree of log2(2 W) levels), and the block sums are added
//   in double. The error of one block sum is below (kSumBlock/(2W) + log2(2W) + 1) * 2^-24 *
//   sum|terms|, i.e. 2.2e-6 (NEON, W=4), 1.3e-6 (AVX2), 8.4e-7 (AVX-512) times sum|terms|; the double
//   accumulation adds nothing measurable. Products (dy*x, (x - mean)^2) are fused, one rounding.
//   Variance is two-pass like the reference (squared deviations from the mean rounded to float), so
//   there is no cancellation. The parity tests allow 4e-6 * sum|terms| / count on means and sums
//   (a bound, not an estimate: typical errors are 1e-7).
#pragma once
#include <cstddef>

#include "engine/kernels/simd/elementwise.h"

namespace plasmo::kernels::simd {
// Unnamed: every function here is compiled once per ISA (with that ISA's flags) and must never be
// shared between those copies by the linker.
namespace {

constexpr int kSumBlock = 256;

// Lanes [0, count) all ones.
template <class V>
inline typename V::M lanes_below(int count) {
  return V::icmp_gt(V::iset1(count), V::iota());
}

// sum of block[0, count) and sum of (block[i] - center)^2, count <= kSumBlock; two vector accumulators
// per sum (independent add chains), float.
template <class V>
inline void block_sums(int count, const float* block, float center, float* sum, float* squares) {
  using F = typename V::F;
  const F center_v = V::set1(center);
  F sum0 = V::zero(), sum1 = V::zero(), sq0 = V::zero(), sq1 = V::zero();
  int i = 0;
  for (; i + 2 * V::W <= count; i += 2 * V::W) {
    const F x0 = V::load(block + i), x1 = V::load(block + i + V::W);
    sum0 = V::add(sum0, x0);
    sum1 = V::add(sum1, x1);
    const F d0 = V::sub(x0, center_v), d1 = V::sub(x1, center_v);
    sq0 = V::fmadd(d0, d0, sq0);
    sq1 = V::fmadd(d1, d1, sq1);
  }
  for (; i < count; i += V::W) {
    const int lanes = count - i < V::W ? count - i : V::W;
    const F x0 = load_n<V>(block + i, lanes);  // lanes past `lanes` read 0
    sum0 = V::add(sum0, x0);
    const F d0 = V::keep(lanes_below<V>(lanes), V::sub(x0, center_v));
    sq0 = V::fmadd(d0, d0, sq0);
  }
  if (sum) *sum = V::reduce_add(V::add(sum0, sum1));
  if (squares) *squares = V::reduce_add(V::add(sq0, sq1));
}

// mean[c] and biased var[c] over the N*HW values of channel c: pass 1 the mean, pass 2 the mean
// squared deviation from it (as the reference).
template <class V>
void channel_mean_var(int N, int C, int HW, const float* x, float* mean, float* var) {
  const double count = static_cast<double>(N) * HW;
  for (int c = 0; c < C; ++c) {
    double sum = 0.0;
    for (int n = 0; n < N; ++n) {
      const float* plane = x + (static_cast<size_t>(n) * C + c) * HW;
      for (int start = 0; start < HW; start += kSumBlock) {
        float block = 0.0f;
        block_sums<V>(HW - start < kSumBlock ? HW - start : kSumBlock, plane + start, 0.0f, &block, nullptr);
        sum += block;
      }
    }
    const float mu = static_cast<float>(sum / count);
    double squares = 0.0;
    for (int n = 0; n < N; ++n) {
      const float* plane = x + (static_cast<size_t>(n) * C + c) * HW;
      for (int start = 0; start < HW; start += kSumBlock) {
        float block = 0.0f;
        block_sums<V>(HW - start < kSumBlock ? HW - start : kSumBlock, plane + start, mu, nullptr, &block);
        squares += block;
      }
    }
    mean[c] = mu;
    var[c] = static_cast<float>(squares / count);
  }
}

// y = x * scale[c] + shift[c]
template <class V>
void channel_affine(int N, int C, int HW, const float* x, const float* scale, const float* shift, float* y) {
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      const size_t base = (static_cast<size_t>(n) * C + c) * HW;
      const auto scale_v = V::set1(scale[c]), shift_v = V::set1(shift[c]);
      for_each_vector<V>(static_cast<size_t>(HW), [&](size_t i, int count) {
        store_n<V>(y + base + i, V::add(V::mul(load_n<V>(x + base + i, count), scale_v), shift_v), count);
      });
    }
}

// sum_dy[c] = sum of dy, sum_dy_x[c] = sum of dy * x over channel c (blocks as in channel_mean_var).
template <class V>
void channel_grad_sums(int N, int C, int HW, const float* dy, const float* x, float* sum_dy, float* sum_dy_x) {
  using F = typename V::F;
  for (int c = 0; c < C; ++c) {
    double s_dy = 0.0, s_dyx = 0.0;
    for (int n = 0; n < N; ++n) {
      const size_t base = (static_cast<size_t>(n) * C + c) * HW;
      for (int start = 0; start < HW; start += kSumBlock) {
        const float* dy_block = dy + base + start;
        const float* x_block = x + base + start;
        const int count = HW - start < kSumBlock ? HW - start : kSumBlock;
        F dy0 = V::zero(), dy1 = V::zero(), dyx0 = V::zero(), dyx1 = V::zero();
        int i = 0;
        for (; i + 2 * V::W <= count; i += 2 * V::W) {
          const F g0 = V::load(dy_block + i), g1 = V::load(dy_block + i + V::W);
          dy0 = V::add(dy0, g0);
          dy1 = V::add(dy1, g1);
          dyx0 = V::fmadd(g0, V::load(x_block + i), dyx0);
          dyx1 = V::fmadd(g1, V::load(x_block + i + V::W), dyx1);
        }
        for (; i < count; i += V::W) {
          const int lanes = count - i < V::W ? count - i : V::W;
          const F g0 = load_n<V>(dy_block + i, lanes);  // padded lanes read 0 in both
          dy0 = V::add(dy0, g0);
          dyx0 = V::fmadd(g0, load_n<V>(x_block + i, lanes), dyx0);
        }
        s_dy += V::reduce_add(V::add(dy0, dy1));
        s_dyx += V::reduce_add(V::add(dyx0, dyx1));
      }
    }
    sum_dy[c] = static_cast<float>(s_dy);
    sum_dy_x[c] = static_cast<float>(s_dyx);
  }
}

// dx = dy * a[c] + x * b[c] + k[c], evaluated ((dy*a) + (x*b)) + k as the reference.
template <class V>
void channel_affine2(int N, int C, int HW, const float* dy, const float* x, const float* a, const float* b,
                     const float* k, float* dx) {
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      const size_t base = (static_cast<size_t>(n) * C + c) * HW;
      const auto a_v = V::set1(a[c]), b_v = V::set1(b[c]), k_v = V::set1(k[c]);
      for_each_vector<V>(static_cast<size_t>(HW), [&](size_t i, int count) {
        const auto dy_a = V::mul(load_n<V>(dy + base + i, count), a_v);
        const auto x_b = V::mul(load_n<V>(x + base + i, count), b_v);
        store_n<V>(dx + base + i, V::add(V::add(dy_a, x_b), k_v), count);
      });
    }
}

}  // namespace
}  // namespace plasmo::kernels::simd
