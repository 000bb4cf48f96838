// Per-channel ops over [N, C, HW] (BatchNorm and the activation fused after it, kernels.h) written once
// over a vector-traits type V (see simd/elementwise.h).
//
// Two layouts of the work, by plane size:
// - planes of at least one vector (HW >= W): vectors run along each (n, c) plane, the channel's
//   coefficients broadcast once per plane;
// - smaller planes (HW < W: the 2x2 and 1x1 stages of the models): vectors run along chunks of whole
//   channels of one image (kChunkVectors vectors, the same chunks in every image), with the coefficients
//   expanded per element once per chunk and reused for every image. Per-plane vectors would be mostly
//   idle lanes there, and the per-plane overhead (a broadcast, a horizontal sum) would dominate.
//
// Parity with the reference (engine/kernels/ref/channel.cpp), which sums in double:
// - channel_affine_act, channel_act_affine2: bit-exact (the same multiplies, adds and comparisons in the
//   same order, unfused: this file is built with -ffp-contract=off).
// - channel_mean_var, channel_act_grad_sums: float sums in blocks, the block results added in double.
//   Large planes: two vector accumulators per sum used alternately, each lane adding at most
//   kSumBlock / (2 W) terms before both are reduced (a tree of log2(2 W) levels) into the double total.
//   Small planes: each lane sums one element over at most kImageBlock images. Either way a block sum's
//   error is below (kSumBlock / (2 W) + log2(2 W) + 1) * 2^-24 * sum|terms| (at most 2.2e-6, NEON), and
//   the double accumulation adds nothing measurable. Products are fused (fmadd), one rounding.
//   The variance is computed in one read of x, without cancellation: each block (at most kSumBlock
//   values, in L1) is summed twice, for its mean m_b and then for d = x - m_b (sum d and sum d^2: the
//   corrected two-pass formula), and the blocks are merged in double by Chan et al.'s pairwise update.
//   The parity tests allow 4e-6 * sum|terms| / count on means and sums (a bound, not an estimate:
//   typical errors are 1e-7).
// Results never depend on c_begin / c_end beyond which channels are written: a channel's values are
// visited in the same blocks, lanes and order whatever the range.
#pragma once
#include <cstddef>
#include <type_traits>

#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/elementwise.h"

namespace plasmo::kernels::simd {
// Unnamed: every function here is compiled once per ISA (with that ISA's flags) and must never be
// shared between those copies by the linker.
namespace {

constexpr int kSumBlock = 256;    // floats per float-summed block (large planes)
constexpr int kChunkVectors = 4;  // small planes: vectors per chunk of whole channels
constexpr int kImageBlock = 16;   // small planes: images summed in float before a flush

// ---- activations (kernels.h: kActNone, kActReLU, kActReLU6) ------------------------------------------------
template <class V, int ACT>
inline typename V::F activate(typename V::F t) {
  if constexpr (ACT == kActReLU) return V::max_gt(t, V::zero());  // t > 0 ? t : 0
  if constexpr (ACT == kActReLU6) return V::min_lt(V::max_gt(t, V::zero()), V::set1(6.0f));
  return t;
}
// act'(t) ? dy : 0
template <class V, int ACT>
inline typename V::F gate(typename V::F t, typename V::F dy) {
  if constexpr (ACT == kActReLU) return V::keep(V::cmp_gt(t, V::zero()), dy);
  if constexpr (ACT == kActReLU6) return V::keep(V::mand(V::cmp_gt(t, V::zero()), V::cmp_lt(t, V::set1(6.0f))), dy);
  return dy;
}
// t = x * scale + shift: a multiply, then an add.
template <class V>
inline typename V::F affine(typename V::F x, typename V::F scale, typename V::F shift) {
  return V::add(V::mul(x, scale), shift);
}

// Calls fn(std::integral_constant<int, ACT>{}) for the runtime act, so the loops are compiled per activation.
template <class Fn>
inline void with_act(int act, Fn&& fn) {
  if (act == kActReLU)
    fn(std::integral_constant<int, kActReLU>{});
  else if (act == kActReLU6)
    fn(std::integral_constant<int, kActReLU6>{});
  else
    fn(std::integral_constant<int, kActNone>{});
}

// Lanes [0, count) all ones.
template <class V>
inline typename V::M lanes_below(int count) {
  return V::icmp_gt(V::iset1(count), V::iota());
}
// Lanes whose index i satisfies lo <= i < hi.
template <class V>
inline typename V::M lanes_between(int lo, int hi) {
  const auto index = V::iota();
  return V::mand(V::icmp_gt(index, V::iset1(lo - 1)), V::icmp_gt(V::iset1(hi), index));
}

// sum of block[0, count) and sum of (block[i] - center)^2, count <= kSumBlock; two vector accumulators
// per sum (independent add chains), float. (Also the global average pooling's plane sums, simd/pool.h.)
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

// Two float accumulators used alternately (add2 feeds one vector to each), reduced into a double total
// after kSumBlock / (2 W) pairs.
template <class V>
struct PairSum {
  using F = typename V::F;
  static constexpr int kPairs = kSumBlock / (2 * V::W);
  F a0 = V::zero(), a1 = V::zero();
  int pairs = 0;
  double total = 0.0;
  void add2(F v0, F v1) {
    a0 = V::add(a0, v0);
    a1 = V::add(a1, v1);
    if (++pairs == kPairs) flush();
  }
  void flush() {
    if (pairs == 0) return;
    total += V::reduce_add(V::add(a0, a1));
    a0 = a1 = V::zero();
    pairs = 0;
  }
};

// Chan et al.'s merge of (count, mean, m2 = sum of squared deviations) statistics, in double.
struct Moments {
  double count = 0.0, mean = 0.0, m2 = 0.0;
  void merge(double n_b, double mean_b, double m2_b) {
    if (n_b == 0.0) return;
    const double total = count + n_b, delta = mean_b - mean;
    mean += delta * (n_b / total);
    m2 += m2_b + delta * delta * (count * n_b / total);
    count = total;
  }
};

// ---- large planes (HW >= W) ------------------------------------------------------------------------------------
// The blocks of one channel: runs of at most kSumBlock values, each a whole number of planes (planes of
// at most kSumBlock values) or a piece of one plane. fn(n_first, n_count, start, len) visits planes
// [n_first, n_first + n_count), values [start, start + len) of each.
template <class Fn>
inline void for_each_block(int N, int HW, Fn&& fn) {
  if (HW >= kSumBlock) {
    for (int n = 0; n < N; ++n)
      for (int start = 0; start < HW; start += kSumBlock)
        fn(n, 1, start, HW - start < kSumBlock ? HW - start : kSumBlock);
    return;
  }
  const int planes = kSumBlock / HW;
  for (int n = 0; n < N; n += planes) fn(n, N - n < planes ? N - n : planes, 0, HW);
}

// Mean and variance of one channel, large planes: per block, sum (pass 1) -> block mean m_b; sum of
// d = x - m_b and of d^2 (pass 2, from L1) -> the block's corrected mean and m2, merged in double.
template <class V>
void mean_var_planes(int N, int C, int HW, int c, const float* x, float* mean, float* var) {
  using F = typename V::F;
  constexpr int W = V::W;
  Moments total;
  for_each_block(N, HW, [&](int n_first, int n_count, int start, int len) {
    F s0 = V::zero(), s1 = V::zero();
    for (int n = n_first; n < n_first + n_count; ++n) {
      const float* p = x + (static_cast<size_t>(n) * C + c) * HW + start;
      int i = 0;
      for (; i + 2 * W <= len; i += 2 * W) {
        s0 = V::add(s0, V::load(p + i));
        s1 = V::add(s1, V::load(p + i + W));
      }
      for (; i < len; i += W) s0 = V::add(s0, load_n<V>(p + i, len - i < W ? len - i : W));  // idle lanes read 0
    }
    const int count = n_count * len;
    const float m_b = V::reduce_add(V::add(s0, s1)) / static_cast<float>(count);
    const F center = V::set1(m_b);
    F d0 = V::zero(), d1 = V::zero(), q0 = V::zero(), q1 = V::zero();
    for (int n = n_first; n < n_first + n_count; ++n) {
      const float* p = x + (static_cast<size_t>(n) * C + c) * HW + start;
      int i = 0;
      for (; i + 2 * W <= len; i += 2 * W) {
        const F a = V::sub(V::load(p + i), center), b = V::sub(V::load(p + i + W), center);
        d0 = V::add(d0, a);
        d1 = V::add(d1, b);
        q0 = V::fmadd(a, a, q0);
        q1 = V::fmadd(b, b, q1);
      }
      for (; i < len; i += W) {
        const int lanes = len - i < W ? len - i : W;
        const F a = V::keep(lanes_below<V>(lanes), V::sub(load_n<V>(p + i, lanes), center));
        d0 = V::add(d0, a);
        q0 = V::fmadd(a, a, q0);
      }
    }
    const double sum_d = V::reduce_add(V::add(d0, d1)), sum_dd = V::reduce_add(V::add(q0, q1));
    total.merge(count, m_b + sum_d / count, sum_dd - sum_d * sum_d / count);
  });
  mean[c] = static_cast<float>(total.mean);
  const double m2 = total.m2 > 0.0 ? total.m2 : 0.0;
  var[c] = static_cast<float>(m2 / total.count);
}

template <class V, int ACT>
void grad_sums_planes(int N, int C, int HW, int c, const float* dy, const float* x, const float* scale,
                      const float* shift, const float* mean, float* sum_g, float* sum_gxc) {
  using F = typename V::F;
  constexpr int W = V::W;
  const F sc = V::set1(scale[c]), sh = V::set1(shift[c]), mu = V::set1(mean[c]);
  PairSum<V> g_sum, gxc_sum;
  for (int n = 0; n < N; ++n) {
    const size_t base = (static_cast<size_t>(n) * C + c) * HW;
    const float* dy_p = dy + base;
    const float* x_p = x + base;
    int i = 0;
    for (; i + 2 * W <= HW; i += 2 * W) {
      const F x0 = V::load(x_p + i), x1 = V::load(x_p + i + W);
      const F g0 = gate<V, ACT>(affine<V>(x0, sc, sh), V::load(dy_p + i));
      const F g1 = gate<V, ACT>(affine<V>(x1, sc, sh), V::load(dy_p + i + W));
      g_sum.add2(g0, g1);
      gxc_sum.add2(V::mul(g0, V::sub(x0, mu)), V::mul(g1, V::sub(x1, mu)));
    }
    for (; i < HW; i += W) {
      const int lanes = HW - i < W ? HW - i : W;
      const F x0 = load_n<V>(x_p + i, lanes);
      const F g0 = gate<V, ACT>(affine<V>(x0, sc, sh), load_n<V>(dy_p + i, lanes));  // idle lanes: dy = 0
      g_sum.add2(g0, V::zero());
      gxc_sum.add2(V::mul(g0, V::sub(x0, mu)), V::zero());
    }
  }
  g_sum.flush();
  gxc_sum.flush();
  sum_g[c] = static_cast<float>(g_sum.total);
  sum_gxc[c] = static_cast<float>(gxc_sum.total);
}

// ---- large planes (HW >= kSumBlock): channel blocks, images outer ----------------------------------------
// The per-channel sums above walk one channel through every image: runs of one plane, the next one a whole
// image away. For planes of kSumBlock values and more (the 32x32 and 16x16 stages, 10-25 MB per tensor at
// batch 64) that costs bandwidth, so these walk kChannelBlock channels at a time through each image in
// memory order, carrying the block's per-channel double sums. Each channel still sees its blocks in the
// same order (image by image, kSumBlock values at a time), whatever the channel range.
constexpr int kChannelBlock = 32;

// Corrected two-pass moments of one block of len <= kSumBlock values (in L1 after the first pass).
template <class V>
inline void block_moments(const float* p, int len, double& mean_b, double& m2_b) {
  using F = typename V::F;
  constexpr int W = V::W;
  F s0 = V::zero(), s1 = V::zero();
  int i = 0;
  for (; i + 2 * W <= len; i += 2 * W) {
    s0 = V::add(s0, V::load(p + i));
    s1 = V::add(s1, V::load(p + i + W));
  }
  for (; i < len; i += W) s0 = V::add(s0, load_n<V>(p + i, len - i < W ? len - i : W));
  const float m_b = V::reduce_add(V::add(s0, s1)) / static_cast<float>(len);
  const F center = V::set1(m_b);
  F d0 = V::zero(), d1 = V::zero(), q0 = V::zero(), q1 = V::zero();
  i = 0;
  for (; i + 2 * W <= len; i += 2 * W) {
    const F a = V::sub(V::load(p + i), center), b = V::sub(V::load(p + i + W), center);
    d0 = V::add(d0, a);
    d1 = V::add(d1, b);
    q0 = V::fmadd(a, a, q0);
    q1 = V::fmadd(b, b, q1);
  }
  for (; i < len; i += W) {
    const int lanes = len - i < W ? len - i : W;
    const F a = V::keep(lanes_below<V>(lanes), V::sub(load_n<V>(p + i, lanes), center));
    d0 = V::add(d0, a);
    q0 = V::fmadd(a, a, q0);
  }
  const double sum_d = V::reduce_add(V::add(d0, d1)), sum_dd = V::reduce_add(V::add(q0, q1));
  mean_b = m_b + sum_d / len;
  m2_b = sum_dd - sum_d * sum_d / len;
}

template <class V>
void mean_var_large(int N, int C, int HW, int c_begin, int c_end, const float* x, float* mean, float* var) {
  for (int c0 = c_begin; c0 < c_end; c0 += kChannelBlock) {
    const int c1 = c_end - c0 < kChannelBlock ? c_end : c0 + kChannelBlock;
    Moments moments[kChannelBlock];
    for (int n = 0; n < N; ++n)
      for (int c = c0; c < c1; ++c) {
        const float* plane = x + (static_cast<size_t>(n) * C + c) * HW;
        for (int start = 0; start < HW; start += kSumBlock) {
          const int len = HW - start < kSumBlock ? HW - start : kSumBlock;
          double mean_b, m2_b;
          block_moments<V>(plane + start, len, mean_b, m2_b);
          moments[c - c0].merge(len, mean_b, m2_b);
        }
      }
    for (int c = c0; c < c1; ++c) {
      const Moments& m = moments[c - c0];
      mean[c] = static_cast<float>(m.mean);
      var[c] = static_cast<float>((m.m2 > 0.0 ? m.m2 : 0.0) / m.count);
    }
  }
}

template <class V, int ACT>
void grad_sums_large(int N, int C, int HW, int c_begin, int c_end, const float* dy, const float* x, const float* scale,
                     const float* shift, const float* mean, float* sum_g, float* sum_gxc) {
  using F = typename V::F;
  constexpr int W = V::W;
  for (int c0 = c_begin; c0 < c_end; c0 += kChannelBlock) {
    const int c1 = c_end - c0 < kChannelBlock ? c_end : c0 + kChannelBlock;
    double total_g[kChannelBlock] = {}, total_gxc[kChannelBlock] = {};
    for (int n = 0; n < N; ++n)
      for (int c = c0; c < c1; ++c) {
        const F sc = V::set1(scale[c]), sh = V::set1(shift[c]), mu = V::set1(mean[c]);
        const size_t base = (static_cast<size_t>(n) * C + c) * HW;
        for (int start = 0; start < HW; start += kSumBlock) {
          const int len = HW - start < kSumBlock ? HW - start : kSumBlock;
          const float* dy_p = dy + base + start;
          const float* x_p = x + base + start;
          F g0 = V::zero(), g1 = V::zero(), p0 = V::zero(), p1 = V::zero();
          int i = 0;
          for (; i + 2 * W <= len; i += 2 * W) {
            const F x0 = V::load(x_p + i), x1 = V::load(x_p + i + W);
            const F a = gate<V, ACT>(affine<V>(x0, sc, sh), V::load(dy_p + i));
            const F b = gate<V, ACT>(affine<V>(x1, sc, sh), V::load(dy_p + i + W));
            g0 = V::add(g0, a);
            g1 = V::add(g1, b);
            p0 = V::add(p0, V::mul(a, V::sub(x0, mu)));
            p1 = V::add(p1, V::mul(b, V::sub(x1, mu)));
          }
          for (; i < len; i += W) {
            const int lanes = len - i < W ? len - i : W;
            const F x0 = load_n<V>(x_p + i, lanes);
            const F a = gate<V, ACT>(affine<V>(x0, sc, sh), load_n<V>(dy_p + i, lanes));  // idle lanes: dy = 0
            g0 = V::add(g0, a);
            p0 = V::add(p0, V::mul(a, V::sub(x0, mu)));
          }
          total_g[c - c0] += V::reduce_add(V::add(g0, g1));
          total_gxc[c - c0] += V::reduce_add(V::add(p0, p1));
        }
      }
    for (int c = c0; c < c1; ++c) {
      sum_g[c] = static_cast<float>(total_g[c - c0]);
      sum_gxc[c] = static_cast<float>(total_gxc[c - c0]);
    }
  }
}

// ---- small planes (HW < W) -------------------------------------------------------------------------------------
// Chunk j holds channels [j*G, (j+1)*G) of every image (G = kChunkVectors*W / HW whole channels): element
// e of the chunk (value e % HW of channel j*G + e / HW) is lane e % W of vector e / W, always. Channels
// outside [c_begin, c_end) are masked out of the loads (the vector loads stay inside the image).
template <class V>
struct Chunks {
  static constexpr int L = kChunkVectors * V::W;  // floats per chunk, at most
  int C, HW, G;
  explicit Chunks(int channels, int hw) : C(channels), HW(hw), G(L / hw) {}
  int first(int c) const { return c / G * G; }  // the chunk holding channel c starts here
  int length(int c0) const { return (C - c0 < G ? C - c0 : G) * HW; }
  // per-element copy of coef[c0 .. c0 + G) (0 past the chunk)
  void expand(const float* coef, int c0, float* out) const {
    const int len = length(c0);
    for (int e = 0; e < L; ++e) out[e] = e < len ? coef[c0 + e / HW] : 0.0f;
  }
};

template <class V>
void mean_var_chunks(int N, int C, int HW, int c_begin, int c_end, const float* x, float* mean, float* var) {
  using F = typename V::F;
  constexpr int W = V::W, L = Chunks<V>::L;
  const Chunks<V> chunks(C, HW);
  const size_t image = static_cast<size_t>(C) * HW;
  alignas(64) float lane_sum[L], lane_d[L], lane_dd[L];
  for (int c0 = chunks.first(c_begin); c0 < c_end; c0 += chunks.G) {
    const int len = chunks.length(c0);
    const int lo = (c_begin > c0 ? c_begin - c0 : 0) * HW, hi = (c_end - c0 < chunks.G ? c_end - c0 : chunks.G) * HW;
    Moments moments[L];  // per channel of the chunk (G <= L)
    for (int n0 = 0; n0 < N; n0 += kImageBlock) {
      const int images = N - n0 < kImageBlock ? N - n0 : kImageBlock;
      F s[kChunkVectors];
      for (int v = 0; v < kChunkVectors; ++v) s[v] = V::zero();
      for (int n = n0; n < n0 + images; ++n) {
        const float* p = x + n * image + static_cast<size_t>(c0) * HW;
        for (int v = 0; v < kChunkVectors && v * W < len; ++v)
          s[v] = V::add(s[v], V::keep(lanes_between<V>(lo - v * W, hi - v * W),
                                      load_n<V>(p + v * W, len - v * W < W ? len - v * W : W)));
      }
      const F inv = V::set1(static_cast<float>(images));
      F d[kChunkVectors], dd[kChunkVectors], m[kChunkVectors];
      for (int v = 0; v < kChunkVectors; ++v) {
        m[v] = V::div(s[v], inv);  // per-element block mean
        d[v] = dd[v] = V::zero();
      }
      for (int n = n0; n < n0 + images; ++n) {
        const float* p = x + n * image + static_cast<size_t>(c0) * HW;
        for (int v = 0; v < kChunkVectors && v * W < len; ++v) {
          const F a = V::keep(lanes_between<V>(lo - v * W, hi - v * W),
                              V::sub(load_n<V>(p + v * W, len - v * W < W ? len - v * W : W), m[v]));
          d[v] = V::add(d[v], a);
          dd[v] = V::fmadd(a, a, dd[v]);
        }
      }
      for (int v = 0; v < kChunkVectors; ++v) {
        V::store(lane_sum + v * W, m[v]);
        V::store(lane_d + v * W, d[v]);
        V::store(lane_dd + v * W, dd[v]);
      }
      for (int e = lo; e < hi; ++e) {
        const double sum_d = lane_d[e];
        moments[e / HW].merge(images, lane_sum[e] + sum_d / images, lane_dd[e] - sum_d * sum_d / images);
      }
    }
    for (int e = lo; e < hi; e += HW) {
      const Moments& mo = moments[e / HW];
      mean[c0 + e / HW] = static_cast<float>(mo.mean);
      var[c0 + e / HW] = static_cast<float>((mo.m2 > 0.0 ? mo.m2 : 0.0) / mo.count);
    }
  }
}

template <class V, int ACT>
void grad_sums_chunks(int N, int C, int HW, int c_begin, int c_end, const float* dy, const float* x, const float* scale,
                      const float* shift, const float* mean, float* sum_g, float* sum_gxc) {
  using F = typename V::F;
  constexpr int W = V::W, L = Chunks<V>::L;
  const Chunks<V> chunks(C, HW);
  const size_t image = static_cast<size_t>(C) * HW;
  alignas(64) float sc[L], sh[L], mu[L], lane_g[L], lane_gxc[L];
  for (int c0 = chunks.first(c_begin); c0 < c_end; c0 += chunks.G) {
    const int len = chunks.length(c0);
    const int lo = (c_begin > c0 ? c_begin - c0 : 0) * HW, hi = (c_end - c0 < chunks.G ? c_end - c0 : chunks.G) * HW;
    chunks.expand(scale, c0, sc);
    chunks.expand(shift, c0, sh);
    chunks.expand(mean, c0, mu);
    double totals_g[L], totals_gxc[L];  // per channel of the chunk
    for (int i = 0; i < chunks.G; ++i) totals_g[i] = totals_gxc[i] = 0.0;
    for (int n0 = 0; n0 < N; n0 += kImageBlock) {
      const int images = N - n0 < kImageBlock ? N - n0 : kImageBlock;
      F g_acc[kChunkVectors], gxc_acc[kChunkVectors];
      for (int v = 0; v < kChunkVectors; ++v) g_acc[v] = gxc_acc[v] = V::zero();
      for (int n = n0; n < n0 + images; ++n) {
        const size_t base = n * image + static_cast<size_t>(c0) * HW;
        for (int v = 0; v < kChunkVectors && v * W < len; ++v) {
          const int lanes = len - v * W < W ? len - v * W : W;
          const F xv = load_n<V>(x + base + v * W, lanes);
          const F dyv = V::keep(lanes_between<V>(lo - v * W, hi - v * W), load_n<V>(dy + base + v * W, lanes));
          const F g = gate<V, ACT>(affine<V>(xv, V::load(sc + v * W), V::load(sh + v * W)), dyv);
          g_acc[v] = V::add(g_acc[v], g);
          gxc_acc[v] = V::add(gxc_acc[v], V::mul(g, V::sub(xv, V::load(mu + v * W))));
        }
      }
      for (int v = 0; v < kChunkVectors; ++v) {
        V::store(lane_g + v * W, g_acc[v]);
        V::store(lane_gxc + v * W, gxc_acc[v]);
      }
      for (int e = lo; e < hi; ++e) {
        totals_g[e / HW] += lane_g[e];
        totals_gxc[e / HW] += lane_gxc[e];
      }
    }
    for (int e = lo; e < hi; e += HW) {
      sum_g[c0 + e / HW] = static_cast<float>(totals_g[e / HW]);
      sum_gxc[c0 + e / HW] = static_cast<float>(totals_gxc[e / HW]);
    }
  }
}

// ---- the kernel table's entries --------------------------------------------------------------------------------
template <class V>
void channel_mean_var(int N, int C, int HW, int c_begin, int c_end, const float* x, float* mean, float* var) {
  if (HW < V::W) {
    mean_var_chunks<V>(N, C, HW, c_begin, c_end, x, mean, var);
    return;
  }
  if (HW >= kSumBlock) {
    mean_var_large<V>(N, C, HW, c_begin, c_end, x, mean, var);
    return;
  }
  for (int c = c_begin; c < c_end; ++c) mean_var_planes<V>(N, C, HW, c, x, mean, var);
}

// y = act(x * scale[c] + shift[c])
template <class V>
void channel_affine_act(int N, int C, int HW, const float* x, const float* scale, const float* shift, int act,
                        float* y) {
  using F = typename V::F;
  constexpr int W = V::W, L = Chunks<V>::L;
  const size_t image = static_cast<size_t>(C) * HW;
  with_act(act, [&](auto act_tag) {
    constexpr int ACT = decltype(act_tag)::value;
    if (HW >= W) {
      for (int n = 0; n < N; ++n)
        for (int c = 0; c < C; ++c) {
          const size_t base = n * image + static_cast<size_t>(c) * HW;
          const F sc = V::set1(scale[c]), sh = V::set1(shift[c]);
          for_each_vector<V>(static_cast<size_t>(HW), [&](size_t i, int count) {
            store_n<V>(y + base + i, activate<V, ACT>(affine<V>(load_n<V>(x + base + i, count), sc, sh)), count);
          });
        }
      return;
    }
    const Chunks<V> chunks(C, HW);
    alignas(64) float sc[L], sh[L];
    for (int c0 = 0; c0 < C; c0 += chunks.G) {
      const int len = chunks.length(c0);
      chunks.expand(scale, c0, sc);
      chunks.expand(shift, c0, sh);
      for (int n = 0; n < N; ++n) {
        const size_t base = n * image + static_cast<size_t>(c0) * HW;
        for (int v = 0; v * W < len; ++v) {
          const int count = len - v * W < W ? len - v * W : W;
          const F t = affine<V>(load_n<V>(x + base + v * W, count), V::load(sc + v * W), V::load(sh + v * W));
          store_n<V>(y + base + v * W, activate<V, ACT>(t), count);
        }
      }
    }
  });
}

template <class V>
void channel_act_grad_sums(int N, int C, int HW, int c_begin, int c_end, const float* dy, const float* x,
                           const float* scale, const float* shift, const float* mean, int act, float* sum_g,
                           float* sum_gxc) {
  with_act(act, [&](auto act_tag) {
    constexpr int ACT = decltype(act_tag)::value;
    if (HW < V::W) {
      grad_sums_chunks<V, ACT>(N, C, HW, c_begin, c_end, dy, x, scale, shift, mean, sum_g, sum_gxc);
      return;
    }
    if (HW >= kSumBlock) {
      grad_sums_large<V, ACT>(N, C, HW, c_begin, c_end, dy, x, scale, shift, mean, sum_g, sum_gxc);
      return;
    }
    for (int c = c_begin; c < c_end; ++c)
      grad_sums_planes<V, ACT>(N, C, HW, c, dy, x, scale, shift, mean, sum_g, sum_gxc);
  });
}

// dx = (g * a[c] + xc * b[c]) + k[c], g = act'(x * scale[c] + shift[c]) ? dy : 0, xc = x - mean[c]
template <class V>
void channel_act_affine2(int N, int C, int HW, const float* dy, const float* x, const float* scale, const float* shift,
                         const float* mean, int act, const float* a, const float* b, const float* k, float* dx) {
  using F = typename V::F;
  constexpr int W = V::W, L = Chunks<V>::L;
  const size_t image = static_cast<size_t>(C) * HW;
  auto one = [](F dyv, F xv, F sc, F sh, F mu, F av, F bv, F kv, auto act_tag) {
    constexpr int ACT_ = decltype(act_tag)::value;
    const F g = gate<V, ACT_>(affine<V>(xv, sc, sh), dyv);
    return V::add(V::add(V::mul(g, av), V::mul(V::sub(xv, mu), bv)), kv);
  };
  with_act(act, [&](auto act_tag) {
    using Tag = decltype(act_tag);
    if (HW >= W) {
      for (int n = 0; n < N; ++n)
        for (int c = 0; c < C; ++c) {
          const size_t base = n * image + static_cast<size_t>(c) * HW;
          const F sc = V::set1(scale[c]), sh = V::set1(shift[c]), mu = V::set1(mean[c]);
          const F av = V::set1(a[c]), bv = V::set1(b[c]), kv = V::set1(k[c]);
          for_each_vector<V>(static_cast<size_t>(HW), [&](size_t i, int count) {
            store_n<V>(
                dx + base + i,
                one(load_n<V>(dy + base + i, count), load_n<V>(x + base + i, count), sc, sh, mu, av, bv, kv, Tag{}),
                count);
          });
        }
      return;
    }
    const Chunks<V> chunks(C, HW);
    alignas(64) float sc[L], sh[L], mu[L], av[L], bv[L], kv[L];
    for (int c0 = 0; c0 < C; c0 += chunks.G) {
      const int len = chunks.length(c0);
      chunks.expand(scale, c0, sc);
      chunks.expand(shift, c0, sh);
      chunks.expand(mean, c0, mu);
      chunks.expand(a, c0, av);
      chunks.expand(b, c0, bv);
      chunks.expand(k, c0, kv);
      for (int n = 0; n < N; ++n) {
        const size_t base = n * image + static_cast<size_t>(c0) * HW;
        for (int v = 0; v * W < len; ++v) {
          const int count = len - v * W < W ? len - v * W : W;
          const size_t at = base + v * W;
          store_n<V>(dx + at,
                     one(load_n<V>(dy + at, count), load_n<V>(x + at, count), V::load(sc + v * W), V::load(sh + v * W),
                         V::load(mu + v * W), V::load(av + v * W), V::load(bv + v * W), V::load(kv + v * W), Tag{}),
                     count);
        }
      }
    }
  });
}

}  // namespace
}  // namespace plasmo::kernels::simd
