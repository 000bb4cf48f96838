// Per-channel ops over [N, C, HW] (BatchNorm and the activation fused after it, kernels.h) written once
// over a vector-traits type V (see simd/elementwise.h).
//
// Layouts of the work, by plane size:
// - planes of at least kSumBlock values (the 32x32 and 16x16 stages), sums: blocks of channels walked
//   image by image, each plane in blocks (kSumBlock values for the gradient sums, stat_block<V>() =
//   64 vectors for the mean and variance);
// - smaller planes, sums (and the elementwise passes below one vector per plane): spans of whole
//   channels, contiguous in each image (at most kSpanFloats floats), walked image by image with the
//   coefficients expanded per element once per span; per-plane vectors would be mostly idle lanes and
//   a channel-by-channel walk reads one short plane per image, a whole image apart;
// - elementwise passes over planes of at least one vector: vectors along each (n, c) plane, the
//   channel's coefficients broadcast once per plane.
//
// Parity with the reference (engine/kernels/ref/channel.cpp), which sums in double:
// - channel_affine_act, channel_act_affine2: bit-exact (the same multiplies, adds and comparisons in the
//   same order, unfused: this file is built with -ffp-contract=off).
// - channel_mean_var, channel_act_grad_sums: float sums in blocks, the block results added in double.
//   Large planes: gradient sums in two vector accumulators used alternately, each lane adding at most
//   kSumBlock / (2 W) = 16 terms (NEON; fewer for wider vectors) before both are reduced (a tree of
//   log2(2 W) levels) into the double total; mean and variance in four accumulators over blocks of 64
//   vectors, each lane adding 16 terms before the tree of log2(4 W) levels. Small planes: each lane sums
//   one element over at most kImageBlock = 16 images, then a plane of at most 8 whole vectors has its
//   vectors added and reduced (others: the elements added in double). Either way a block sum's error
//   is below (16 + log2(4 W) + 8 + 1) * 2^-24 * sum|terms| (1.9e-6), and the double accumulation adds
//   nothing measurable. Products are fused (fmadd), one rounding.
//   The variance is computed in one read of x, without cancellation: each block (in L1 or L2) is summed
//   twice, for its mean m_b and then for d = x - m_b (sum d and sum d^2: the
//   corrected two-pass formula), and the blocks are merged in double by Chan et al.'s pairwise update.
//   The parity tests allow 4e-6 * sum|terms| / count on means and sums (a bound, not an estimate:
//   typical errors are 1e-7).
// Results never depend on c_begin / c_end beyond which channels are written: a channel's values are
// visited in the same blocks and order, with the same per-element operations, whatever the range.
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/elementwise.h"

namespace plasmo::kernels::simd {
// Unnamed: every function here is compiled once per ISA (with that ISA's flags) and must never be
// shared between those copies by the linker.
namespace {

constexpr int kSumBlock = 256;   // floats per float-summed block (large planes)
constexpr int kImageBlock = 16;  // small planes: images summed in float before a flush

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

// Outputs of at least this many floats are written with non-temporal stores (channel_affine_act): a
// BatchNorm's y that large (MobileNetV2's 32x32 and 16x16 stages at batch 64: 4-25 MB) is evicted from
// L2 before its consumer reads it anyway, and a normal store first reads every line it writes (the line
// was last touched a whole training step ago, so from L3 or memory): streaming saves that read.
constexpr size_t kStreamFloats = size_t{1} << 20;

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

// ---- large planes (HW >= kSumBlock): channel blocks, images outer ----------------------------------------
// The per-channel sums above walk one channel through every image: runs of one plane, the next one a whole
// image away. For planes of kSumBlock values and more (the 32x32 and 16x16 stages, 10-25 MB per tensor at
// batch 64) that costs bandwidth, so these walk kChannelBlock channels at a time through each image in
// memory order, carrying the block's per-channel double sums. Each channel still sees its blocks in the
// same order (image by image, a block at a time), whatever the channel range. With N = 1 (one image per
// call: BatchNorm2d's per-image statistics) a channel's result is its plane's alone.
constexpr int kChannelBlock = 32;

// Blocks of the statistics on large planes: 64 vectors (1024 floats with AVX-512, 512 AVX2, 256 NEON),
// summed in 4 independent chains, so each lane adds 16 values before the tree (the same error bound as
// kSumBlock / (2 W) = 16 terms per lane at NEON's W) while the per-block work (3 horizontal sums, a
// double merge) and the add latency are spread over 4x more values than 2 chains over kSumBlock.
template <class V>
constexpr int stat_block() {
  return 64 * V::W;
}

// Corrected two-pass moments of one block of len <= stat_block<V>() values (in L1 after the first pass).
template <class V>
inline void block_moments(const float* p, int len, double& mean_b, double& m2_b) {
  using F = typename V::F;
  constexpr int W = V::W;
  F s0 = V::zero(), s1 = V::zero(), s2 = V::zero(), s3 = V::zero();
  int i = 0;
  for (; i + 4 * W <= len; i += 4 * W) {
    s0 = V::add(s0, V::load(p + i));
    s1 = V::add(s1, V::load(p + i + W));
    s2 = V::add(s2, V::load(p + i + 2 * W));
    s3 = V::add(s3, V::load(p + i + 3 * W));
  }
  for (; i < len; i += W) s0 = V::add(s0, load_n<V>(p + i, len - i < W ? len - i : W));
  const float m_b = V::reduce_add(V::add(V::add(s0, s1), V::add(s2, s3))) / static_cast<float>(len);
  const F center = V::set1(m_b);
  F d0 = V::zero(), d1 = V::zero(), d2 = V::zero(), d3 = V::zero();
  F q0 = V::zero(), q1 = V::zero(), q2 = V::zero(), q3 = V::zero();
  i = 0;
  for (; i + 4 * W <= len; i += 4 * W) {
    const F a = V::sub(V::load(p + i), center), b = V::sub(V::load(p + i + W), center);
    const F c = V::sub(V::load(p + i + 2 * W), center), e = V::sub(V::load(p + i + 3 * W), center);
    d0 = V::add(d0, a);
    d1 = V::add(d1, b);
    d2 = V::add(d2, c);
    d3 = V::add(d3, e);
    q0 = V::fmadd(a, a, q0);
    q1 = V::fmadd(b, b, q1);
    q2 = V::fmadd(c, c, q2);
    q3 = V::fmadd(e, e, q3);
  }
  for (; i < len; i += W) {
    const int lanes = len - i < W ? len - i : W;
    const F a = V::keep(lanes_below<V>(lanes), V::sub(load_n<V>(p + i, lanes), center));
    d0 = V::add(d0, a);
    q0 = V::fmadd(a, a, q0);
  }
  const double sum_d = V::reduce_add(V::add(V::add(d0, d1), V::add(d2, d3)));
  const double sum_dd = V::reduce_add(V::add(V::add(q0, q1), V::add(q2, q3)));
  mean_b = m_b + sum_d / len;
  m2_b = sum_dd - sum_d * sum_d / len;
}

template <class V>
void mean_var_large(int N, int C, int HW, int c_begin, int c_end, const float* x, float* mean, float* var) {
  constexpr int kBlock = stat_block<V>();
  for (int c0 = c_begin; c0 < c_end; c0 += kChannelBlock) {
    const int c1 = c_end - c0 < kChannelBlock ? c_end : c0 + kChannelBlock;
    Moments moments[kChannelBlock];
    for (int n = 0; n < N; ++n)
      for (int c = c0; c < c1; ++c) {
        const float* plane = x + (static_cast<size_t>(n) * C + c) * HW;
        for (int start = 0; start < HW; start += kBlock) {
          const int len = HW - start < kBlock ? HW - start : kBlock;
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

// ---- planes below kSumBlock values (HW < kSumBlock): spans of whole channels, in memory order ------------
// The 8x8, 4x4 and 2x2 stages (1-3 MB per tensor at batch 64). Walking one channel through every image
// reads one short plane per image, a whole image apart: strided lines the prefetchers do not follow. So
// these kernels cut each image's channels [c_begin, c_end) into spans of whole channels (at most
// kSpanFloats floats, contiguous in memory) and walk each span image by image: element e of the span
// (value e % HW of channel c0 + e / HW) is always lane e % W of vector e / W, the per-channel coefficients
// are expanded per element once per span, and the sums are per element, in float, over at most
// kImageBlock images, then folded per channel in double. A channel's values go through the same lanes
// and operations whatever c_begin / c_end (only its position in the span moves, and sums are per element).
constexpr int kSpanFloats = 512;    // floats per span, at most (2 KB of each image; kImageBlock spans fit L1)
constexpr int kSpanChannels = 256;  // channels per span, at most (HW >= 2 fills a span by this)

// The span of channels [c0, c1) of every image: len = (c1 - c0) * HW values, vectors = ceil(len / W).
template <class V>
struct Span {
  int c0, c1, HW, len, vectors;
  Span(int first, int end, int hw) : c0(first), HW(hw) {
    int per = kSpanFloats / hw;
    if (per > kSpanChannels) per = kSpanChannels;
    if (per < 1) per = 1;
    c1 = end - first < per ? end : first + per;
    len = (c1 - c0) * HW;
    vectors = (len + V::W - 1) / V::W;
  }
  int lanes(int v) const { return len - v * V::W < V::W ? len - v * V::W : V::W; }
  // per-element copy of coef[c0 .. c1), 0 up to the end of the last vector
  void expand(const float* coef, float* out) const {
    for (int i = 0; i < c1 - c0; ++i)
      for (int e = i * HW; e < (i + 1) * HW; ++e) out[e] = coef[c0 + i];
    for (int e = len; e < vectors * V::W; ++e) out[e] = 0.0f;
  }
  // per channel of the span: the sum of its elements of `lane` (channel i: elements [i*HW, (i+1)*HW)).
  // Planes of at most 8 whole vectors: the plane's vectors added in float, then reduced (a tree of
  // log2(W) levels); others: in double, element by element.
  void fold(const float* lane, double* out) const {
    if (HW % V::W == 0 && HW <= 8 * V::W) {
      const int per = HW / V::W;
      for (int i = 0; i < c1 - c0; ++i) {
        const float* p = lane + i * HW;
        typename V::F sum = V::load(p);
        for (int v = 1; v < per; ++v) sum = V::add(sum, V::load(p + v * V::W));
        out[i] = V::reduce_add(sum);
      }
      return;
    }
    for (int i = 0; i < c1 - c0; ++i) {
      double sum = 0.0;
      for (int e = i * HW; e < (i + 1) * HW; ++e) sum += lane[e];
      out[i] = sum;
    }
  }
};

// Per image block and channel: pass 1 sums per element -> the channel's block mean m_b (float); pass 2
// (the block again, from L2) sums d = x - m_b and d^2 per element -> the block's corrected mean and m2,
// merged in double (Chan et al.) in image order.
template <class V>
void mean_var_spans(int N, int C, int HW, int c_begin, int c_end, const float* x, float* mean, float* var) {
  using F = typename V::F;
  constexpr int W = V::W;
  const size_t image = static_cast<size_t>(C) * HW;
  alignas(64) float acc_a[kSpanFloats + W], acc_b[kSpanFloats + W], center[kSpanFloats + W];
  double fold_a[kSpanChannels], fold_b[kSpanChannels];
  Moments moments[kSpanChannels];
  for (int c0 = c_begin; c0 < c_end;) {
    const Span<V> span(c0, c_end, HW);
    const int channels = span.c1 - span.c0;
    for (int i = 0; i < channels; ++i) moments[i] = Moments{};
    for (int n0 = 0; n0 < N; n0 += kImageBlock) {
      const int images = N - n0 < kImageBlock ? N - n0 : kImageBlock;
      const double count = static_cast<double>(images) * HW;
      for (int v = 0; v < span.vectors; ++v) V::store(acc_a + v * W, V::zero());
      for (int n = n0; n < n0 + images; ++n) {
        const float* p = x + n * image + static_cast<size_t>(c0) * HW;
        for (int v = 0; v < span.vectors; ++v)  // idle lanes read 0
          V::store(acc_a + v * W, V::add(V::load(acc_a + v * W), load_n<V>(p + v * W, span.lanes(v))));
      }
      span.fold(acc_a, fold_a);
      for (int i = 0; i < channels; ++i) {
        const float m_b = static_cast<float>(fold_a[i] / count);
        for (int e = i * HW; e < (i + 1) * HW; ++e) center[e] = m_b;
      }
      for (int e = span.len; e < span.vectors * W; ++e) center[e] = 0.0f;
      for (int v = 0; v < span.vectors; ++v) {
        V::store(acc_a + v * W, V::zero());
        V::store(acc_b + v * W, V::zero());
      }
      for (int n = n0; n < n0 + images; ++n) {
        const float* p = x + n * image + static_cast<size_t>(c0) * HW;
        for (int v = 0; v < span.vectors; ++v) {
          const F d = V::sub(load_n<V>(p + v * W, span.lanes(v)), V::load(center + v * W));  // idle lanes: 0 - 0
          V::store(acc_a + v * W, V::add(V::load(acc_a + v * W), d));
          V::store(acc_b + v * W, V::fmadd(d, d, V::load(acc_b + v * W)));
        }
      }
      span.fold(acc_a, fold_a);
      span.fold(acc_b, fold_b);
      for (int i = 0; i < channels; ++i) {
        const double sum_d = fold_a[i];
        moments[i].merge(count, center[i * HW] + sum_d / count, fold_b[i] - sum_d * sum_d / count);
      }
    }
    for (int i = 0; i < channels; ++i) {
      mean[c0 + i] = static_cast<float>(moments[i].mean);
      var[c0 + i] = static_cast<float>((moments[i].m2 > 0.0 ? moments[i].m2 : 0.0) / moments[i].count);
    }
    c0 = span.c1;
  }
}

template <class V, int ACT>
void grad_sums_spans(int N, int C, int HW, int c_begin, int c_end, const float* dy, const float* x, const float* scale,
                     const float* shift, const float* mean, float* sum_g, float* sum_gxc) {
  using F = typename V::F;
  constexpr int W = V::W;
  const size_t image = static_cast<size_t>(C) * HW;
  alignas(64) float sc[kSpanFloats + W], sh[kSpanFloats + W], mu[kSpanFloats + W];
  alignas(64) float acc_g[kSpanFloats + W], acc_gxc[kSpanFloats + W];
  double fold_g[kSpanChannels], fold_gxc[kSpanChannels], total_g[kSpanChannels], total_gxc[kSpanChannels];
  for (int c0 = c_begin; c0 < c_end;) {
    const Span<V> span(c0, c_end, HW);
    const int channels = span.c1 - span.c0;
    span.expand(scale, sc);
    span.expand(shift, sh);
    span.expand(mean, mu);
    for (int i = 0; i < channels; ++i) total_g[i] = total_gxc[i] = 0.0;
    for (int n0 = 0; n0 < N; n0 += kImageBlock) {
      const int images = N - n0 < kImageBlock ? N - n0 : kImageBlock;
      for (int v = 0; v < span.vectors; ++v) {
        V::store(acc_g + v * W, V::zero());
        V::store(acc_gxc + v * W, V::zero());
      }
      for (int n = n0; n < n0 + images; ++n) {
        const size_t base = n * image + static_cast<size_t>(c0) * HW;
        for (int v = 0; v < span.vectors; ++v) {
          const int lanes = span.lanes(v);
          const F xv = load_n<V>(x + base + v * W, lanes);
          const F g = gate<V, ACT>(affine<V>(xv, V::load(sc + v * W), V::load(sh + v * W)),
                                   load_n<V>(dy + base + v * W, lanes));  // idle lanes: dy = 0, x = mu = 0
          V::store(acc_g + v * W, V::add(V::load(acc_g + v * W), g));
          V::store(acc_gxc + v * W, V::add(V::load(acc_gxc + v * W), V::mul(g, V::sub(xv, V::load(mu + v * W)))));
        }
      }
      span.fold(acc_g, fold_g);
      span.fold(acc_gxc, fold_gxc);
      for (int i = 0; i < channels; ++i) {
        total_g[i] += fold_g[i];
        total_gxc[i] += fold_gxc[i];
      }
    }
    for (int i = 0; i < channels; ++i) {
      sum_g[c0 + i] = static_cast<float>(total_g[i]);
      sum_gxc[c0 + i] = static_cast<float>(total_gxc[i]);
    }
    c0 = span.c1;
  }
}

// ---- the kernel table's entries --------------------------------------------------------------------------------
template <class V>
void channel_mean_var(int N, int C, int HW, int c_begin, int c_end, const float* x, float* mean, float* var) {
  if (HW >= kSumBlock)
    mean_var_large<V>(N, C, HW, c_begin, c_end, x, mean, var);
  else
    mean_var_spans<V>(N, C, HW, c_begin, c_end, x, mean, var);
}

// y = act(x * scale[c] + shift[c])
template <class V>
void channel_affine_act(int N, int C, int HW, const float* x, const float* scale, const float* shift, int act,
                        float* y) {
  using F = typename V::F;
  constexpr int W = V::W;
  const size_t image = static_cast<size_t>(C) * HW;
  with_act(act, [&](auto act_tag) {
    constexpr int ACT = decltype(act_tag)::value;
    if (HW >= W) {
      const bool stream = static_cast<size_t>(N) * image >= kStreamFloats;
      for (int n = 0; n < N; ++n)
        for (int c = 0; c < C; ++c) {
          const size_t base = n * image + static_cast<size_t>(c) * HW;
          const F sc = V::set1(scale[c]), sh = V::set1(shift[c]);
          for_each_vector<V>(static_cast<size_t>(HW), [&](size_t i, int count) {
            const F t = activate<V, ACT>(affine<V>(load_n<V>(x + base + i, count), sc, sh));
            if (stream && count == W)
              store_stream<V>(y + base + i, t);
            else
              store_n<V>(y + base + i, t, count);
          });
        }
      if (stream) stream_fence();
      return;
    }
    alignas(64) float sc[kSpanFloats + W], sh[kSpanFloats + W];
    for (int c0 = 0; c0 < C;) {
      const Span<V> span(c0, C, HW);
      span.expand(scale, sc);
      span.expand(shift, sh);
      for (int n = 0; n < N; ++n) {
        const size_t base = n * image + static_cast<size_t>(c0) * HW;
        for (int v = 0; v < span.vectors; ++v) {
          const int count = span.lanes(v);
          const F t = affine<V>(load_n<V>(x + base + v * W, count), V::load(sc + v * W), V::load(sh + v * W));
          store_n<V>(y + base + v * W, activate<V, ACT>(t), count);
        }
      }
      c0 = span.c1;
    }
  });
}

template <class V>
void channel_act_grad_sums(int N, int C, int HW, int c_begin, int c_end, const float* dy, const float* x,
                           const float* scale, const float* shift, const float* mean, int act, float* sum_g,
                           float* sum_gxc) {
  with_act(act, [&](auto act_tag) {
    constexpr int ACT = decltype(act_tag)::value;
    if (HW >= kSumBlock)
      grad_sums_large<V, ACT>(N, C, HW, c_begin, c_end, dy, x, scale, shift, mean, sum_g, sum_gxc);
    else
      grad_sums_spans<V, ACT>(N, C, HW, c_begin, c_end, dy, x, scale, shift, mean, sum_g, sum_gxc);
  });
}

// dx = (g * a[c] + xc * b[c]) + k[c], g = act'(x * scale[c] + shift[c]) ? dy : 0, xc = x - mean[c]
template <class V>
void channel_act_affine2(int N, int C, int HW, const float* dy, const float* x, const float* scale, const float* shift,
                         const float* mean, int act, const float* a, const float* b, const float* k, float* dx) {
  using F = typename V::F;
  constexpr int W = V::W;
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
    alignas(64) float sc[kSpanFloats + W], sh[kSpanFloats + W], mu[kSpanFloats + W];
    alignas(64) float av[kSpanFloats + W], bv[kSpanFloats + W], kv[kSpanFloats + W];
    for (int c0 = 0; c0 < C;) {
      const Span<V> span(c0, C, HW);
      span.expand(scale, sc);
      span.expand(shift, sh);
      span.expand(mean, mu);
      span.expand(a, av);
      span.expand(b, bv);
      span.expand(k, kv);
      for (int n = 0; n < N; ++n) {
        const size_t base = n * image + static_cast<size_t>(c0) * HW;
        for (int v = 0; v < span.vectors; ++v) {
          const int count = span.lanes(v);
          const size_t at = base + v * W;
          store_n<V>(dx + at,
                     one(load_n<V>(dy + at, count), load_n<V>(x + at, count), V::load(sc + v * W), V::load(sh + v * W),
                         V::load(mu + v * W), V::load(av + v * W), V::load(bv + v * W), V::load(kv + v * W), Tag{}),
                     count);
        }
      }
      c0 = span.c1;
    }
  });
}

}  // namespace
}  // namespace plasmo::kernels::simd
