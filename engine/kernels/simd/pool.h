// Pooling and nearest x2 upsampling over planes (batch * channels), written once over a vector-traits
// type V (see simd/elementwise.h). Lanes run along a row of outputs.
//
// Parity with the reference (engine/kernels/ref/pool.cpp): bit-exact everywhere except the vector path
// of global_avgpool_forward.
// - maxpool2d_forward: each lane walks its window in the reference's order (kh, then kw) with the
//   reference's rule "take v when v > best, or when it is the first element inside the image", so the
//   first max wins and argmax (index ih*in_w + iw within the plane) is the reference's. Inputs are
//   assumed NaN-free, as in the reference. The 2x2 stride-2 pools without padding (the autoencoder's)
//   read their windows straight from the input rows (maxpool2d_forward_2x2). g.relu (a ReLU folded
//   in) applies the reference's max(y, +0) / argmax -1 to each lane's result.
// - avgpool2d_forward: each lane adds its window in the reference's order; padding reads +0, and adding
//   +0 to a sum that started at +0 changes nothing, so the sum is the reference's.
// - avgpool2d_backward: the reference scatters outputs in (oh, ow) order. Here a row of outputs is
//   scattered per (kh, kw) with kw descending: for one input element the contributions from one oh
//   then still arrive in increasing ow, so every sum is formed in the reference's order.
// - maxpool2d_backward: the 2x2 stride-2 pools (windows do not overlap) write dx directly (0 + dy, as
//   the reference's zero-then-add; an argmax of -1 matches no element, which gets +0); overlapping
//   windows (the 3x3/2 ResNet stem pool) need the reference's ordered scatter, which only touches one
//   element per output, and run the reference.
// - upsample2x forward/backward: copies, and the four-term sum ((a+b)+c)+d in the reference's order.
// - global_avgpool_forward: planes of at least 2W floats are summed with vector accumulators (float
//   blocks of kSumBlock, block sums in double; error below 1.3e-6 * mean|x| for AVX2, see
//   simd/channel.h); smaller planes (the 2x2 maps before a classifier) sum in the reference's order.
//
// Geometries the vector paths do not cover (horizontal stride other than 1 or 2, windows wider or
// taller than kPoolMaxKernel) run the reference.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "engine/kernels/kernels.h"
#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/simd/channel.h"
#include "engine/kernels/simd/elementwise.h"

namespace plasmo::kernels::simd {
// Unnamed: every function here is compiled once per ISA (with that ISA's flags) and must never be
// shared between those copies by the linker.
namespace {

constexpr int kPoolChunk = 128;    // outputs of one row handled per pass (a multiple of every W)
constexpr int kPoolMaxKernel = 8;  // larger windows run the reference
// Floats of one padded input row segment: stride * kPoolChunk + kernel + 1 (the stride-2 loads read
// pairs, so up to one float past the last one used), rounded up to a multiple of every W.
constexpr int kPoolRowFloats = 2 * kPoolChunk + kPoolMaxKernel + 32;

inline bool pool_vectorizable(const PoolGeom& g) {
  return (g.stride_w == 1 || g.stride_w == 2) && g.kernel_w >= 1 && g.kernel_w <= kPoolMaxKernel && g.kernel_h >= 1 &&
         g.kernel_h <= kPoolMaxKernel && g.stride_h >= 1;
}

// dst[q] = row[start + q] for start + q in [0, in_w), else fill; q in [0, length). Vector stores: the
// segments are short (a 32-wide row gives 36 floats), where memcpy's start-up cost would dominate.
// dst has room for length rounded up to W.
template <class V>
inline void copy_padded_row(const float* row, int in_w, int start, int length, float fill, float* dst) {
  int lo = -start;  // first q inside the row
  if (lo < 0) lo = 0;
  if (lo > length) lo = length;
  int hi = in_w - start;  // first q past the row
  if (hi < lo) hi = lo;
  if (hi > length) hi = length;
  const auto fill_v = V::set1(fill);
  if (lo > 0 || hi < length)
    for (int q = 0; q < length; q += V::W) V::store(dst + q, fill_v);
  int q = lo;
  for (; q + V::W <= hi; q += V::W) V::store(dst + q, V::load(row + start + q));
  if (q < hi) V::store_partial(dst + q, V::load_partial(row + start + q, hi - q), hi - q);
}

// Valid window rows of output row oh: kh in [kh_lo, kh_hi) has ih = oh*stride_h - pad_h + kh in [0, in_h).
inline void window_rows(const PoolGeom& g, int oh, int& kh_lo, int& kh_hi) {
  const int top = oh * g.stride_h - g.pad_h;
  kh_lo = top < 0 ? -top : 0;
  kh_hi = g.in_h - top < g.kernel_h ? g.in_h - top : g.kernel_h;
}

// The window column kw of lanes [j0, j0 + W) of a padded row segment: segment position
// (j0 + lane) * stride + kw. Calls visit(kw, values) for kw = 0 .. kernel_w-1 in order.
template <class V, class Visit>
inline void for_each_window_column(const float* segment, int j0, int stride, int kernel_w, Visit&& visit) {
  if (stride == 1) {
    for (int kw = 0; kw < kernel_w; ++kw) visit(kw, V::load(segment + j0 + kw));
  } else {  // stride 2: one paired load gives columns kw (even lanes) and kw + 1 (odd lanes)
    for (int kw = 0; kw < kernel_w; kw += 2) {
      typename V::F even, odd;
      V::load_deinterleave(segment + 2 * j0 + kw, even, odd);
      visit(kw, even);
      if (kw + 1 < kernel_w) visit(kw + 1, odd);
    }
  }
}

inline bool pool_two_by_two(const PoolGeom& g) {
  return g.kernel_h == 2 && g.kernel_w == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h == 0 && g.pad_w == 0;
}

// g.relu: y = max(best, +0) (best > 0 ? best : +0, as relu_forward) and argmax -1 where y is +0.
template <class V>
inline void relu_after_max(const PoolGeom& g, typename V::F& best, typename V::I& best_index) {
  if (!g.relu) return;
  const auto positive = V::cmp_gt(best, V::zero());
  best = V::keep(positive, best);
  best_index = V::iselect(positive, best_index, V::iset1(-1));
}

// Stores the window maxima of `lanes` (<= W) outputs at y and their input indices at argmax.
template <class V>
inline void store_window_max(typename V::F best, typename V::I best_index, int lanes, float* y, int32_t* argmax) {
  if (lanes < V::W) {  // a row's last outputs
    V::store_partial(y, best, lanes);
    V::istore_partial(argmax, best_index, lanes);
    return;
  }
  V::store(y, best);
  V::istore(argmax, best_index);
}

// The 2x2 stride-2 pool without padding (the autoencoder's): windows do not overlap, so lanes read their
// pairs straight from the two input rows (no padded copy). Window (a b / c d) of lane j: a, b =
// top[2j], top[2j+1], c, d = bottom[2j], bottom[2j+1]. The reference takes the first max in the order
// a, b, c, d; so does: upper = b > a ? b : a, lower = d > c ? d : c, best = lower > upper ? lower : upper
// (within a row the left one wins a tie, and the top row's max beats an equal one below).
template <class V>
void maxpool2d_forward_2x2(const PoolGeom& g, const float* x, float* y, int32_t* argmax) {
  using F = typename V::F;
  using I = typename V::I;
  const size_t in_size = static_cast<size_t>(g.in_h) * g.in_w, out_size = static_cast<size_t>(g.out_h) * g.out_w;
  const I below = V::iset1(g.in_w), right_column = V::iset1(1), right_below = V::iset1(g.in_w + 1);
  const I zero_offset = V::iset1(0);
  const I lane_left = V::imul(V::iota(), 2);  // column of lane j's top-left element, minus 2*ow0
  alignas(64) float pairs[2 * V::W];
  for (int plane = 0; plane < g.planes; ++plane) {
    const float* xp = x + plane * in_size;
    for (int oh = 0; oh < g.out_h; ++oh) {
      const float* top = xp + static_cast<size_t>(2 * oh) * g.in_w;
      const float* bottom = top + g.in_w;
      for (int ow0 = 0; ow0 < g.out_w; ow0 += V::W) {
        const int lanes = g.out_w - ow0 < V::W ? g.out_w - ow0 : V::W;
        F a, b, c, d;
        if (lanes == V::W) {
          V::load_deinterleave(top + 2 * ow0, a, b);
          V::load_deinterleave(bottom + 2 * ow0, c, d);
        } else {  // 2 * lanes floats of each row (never past the row: 2 * out_w <= in_w)
          const int first = 2 * lanes < V::W ? 2 * lanes : V::W, second = 2 * lanes - first;
          V::store(pairs, load_n<V>(top + 2 * ow0, first));
          V::store(pairs + V::W, second > 0 ? V::load_partial(top + 2 * ow0 + V::W, second) : V::zero());
          V::load_deinterleave(pairs, a, b);
          V::store(pairs, load_n<V>(bottom + 2 * ow0, first));
          V::store(pairs + V::W, second > 0 ? V::load_partial(bottom + 2 * ow0 + V::W, second) : V::zero());
          V::load_deinterleave(pairs, c, d);
        }
        const auto take_b = V::cmp_gt(b, a), take_d = V::cmp_gt(d, c);
        const F upper = V::select(take_b, b, a), lower = V::select(take_d, d, c);
        const auto take_lower = V::cmp_gt(lower, upper);
        F best = V::select(take_lower, lower, upper);
        const I offset = V::iselect(take_lower, V::iselect(take_d, right_below, below),
                                    V::iselect(take_b, right_column, zero_offset));
        I best_index = V::iadd(V::iadd(V::iset1(2 * oh * g.in_w + 2 * ow0), lane_left), offset);
        relu_after_max<V>(g, best, best_index);
        const size_t o = plane * out_size + static_cast<size_t>(oh) * g.out_w + ow0;
        store_window_max<V>(best, best_index, lanes, y + o, argmax + o);
      }
    }
  }
}

// y = max over the window, argmax = its index in the plane; padding never wins.
template <class V>
void maxpool2d_forward(const PoolGeom& g, const float* x, float* y, int32_t* argmax) {
  if (pool_two_by_two(g)) return maxpool2d_forward_2x2<V>(g, x, y, argmax);
  if (!pool_vectorizable(g)) return ref::maxpool2d_forward(g, x, y, argmax);
  using F = typename V::F;
  using I = typename V::I;
  const size_t in_size = static_cast<size_t>(g.in_h) * g.in_w, out_size = static_cast<size_t>(g.out_h) * g.out_w;
  const int stride = g.stride_w, kernel_w = g.kernel_w;
  const float minus_inf = -std::numeric_limits<float>::infinity();
  const I zero = V::iset1(0);
  alignas(64) float segments[kPoolMaxKernel][kPoolRowFloats];
  for (int plane = 0; plane < g.planes; ++plane) {
    const float* xp = x + plane * in_size;
    for (int oh = 0; oh < g.out_h; ++oh) {
      int kh_lo, kh_hi;
      window_rows(g, oh, kh_lo, kh_hi);
      const int top = oh * g.stride_h - g.pad_h;  // input row of window row 0
      for (int ow0 = 0; ow0 < g.out_w; ow0 += kPoolChunk) {
        const int chunk = g.out_w - ow0 < kPoolChunk ? g.out_w - ow0 : kPoolChunk;
        const int padded_chunk = (chunk + V::W - 1) / V::W * V::W;
        const int start = ow0 * stride - g.pad_w;  // input column of segment position 0
        // Padding reads -inf, which is never > best: only the first element of a window could take it
        // under the reference's rule, and that element is set up front instead (below).
        for (int kh = kh_lo; kh < kh_hi; ++kh)
          copy_padded_row<V>(xp + static_cast<size_t>(top + kh) * g.in_w, g.in_w, start,
                             padded_chunk * stride + kernel_w + 1, minus_inf, segments[kh]);
        for (int j0 = 0; j0 < chunk; j0 += V::W) {
          // Window of lane j: rows top + kh, columns column0[j] + kw. best_offset = kh*in_w + kw of the
          // element taken so far; the reference takes the window's first element inside the image
          // whatever its value, (kh_lo, max(column0, 0)), and afterwards only v > best.
          const I column0 = V::iadd(V::imul(V::iadd(V::iset1(ow0 + j0), V::iota()), stride), V::iset1(-g.pad_w));
          const I first_column_offset = V::iselect(V::icmp_gt(zero, column0), V::isub(zero, column0), zero);
          I best_offset = V::iadd(V::iset1(kh_lo * g.in_w), first_column_offset);
          F best = V::set1(minus_inf);
          for (int kh = kh_lo; kh < kh_hi; ++kh)
            for_each_window_column<V>(segments[kh], j0, stride, kernel_w, [&](int kw, F v) {
              const auto take = V::cmp_gt(v, best);
              best = V::select(take, v, best);
              best_offset = V::iselect(take, V::iset1(kh * g.in_w + kw), best_offset);
            });
          I best_index = V::iadd(best_offset, V::iadd(V::iset1(top * g.in_w), column0));
          relu_after_max<V>(g, best, best_index);
          const int lanes = chunk - j0 < V::W ? chunk - j0 : V::W;
          const size_t o = plane * out_size + static_cast<size_t>(oh) * g.out_w + ow0 + j0;
          store_window_max<V>(best, best_index, lanes, y + o, argmax + o);
        }
      }
    }
  }
}

// dst[0, count) = pair[0, count), count < 2W.
template <class V>
inline void copy_pairs(const float* pair, int count, float* dst) {
  const int first = count < V::W ? count : V::W;
  store_n<V>(dst, V::load(pair), first);
  if (count > V::W) V::store_partial(dst + V::W, V::load(pair + V::W), count - V::W);
}

// dx[argmax[o]] += dy[o] over a zeroed dx.
template <class V>
void maxpool2d_backward(const PoolGeom& g, const float* dy, const int32_t* argmax, float* dx) {
  if (!pool_two_by_two(g)) return ref::maxpool2d_backward(g, dy, argmax, dx);
  using F = typename V::F;
  using I = typename V::I;
  const size_t in_size = static_cast<size_t>(g.in_h) * g.in_w, out_size = static_cast<size_t>(g.out_h) * g.out_w;
  const F zero = V::zero();
  alignas(64) float pair[2 * V::W];
  for (int plane = 0; plane < g.planes; ++plane) {
    float* dxp = dx + plane * in_size;
    for (int oh = 0; oh < g.out_h; ++oh) {
      float* top = dxp + static_cast<size_t>(2 * oh) * g.in_w;
      float* bottom = top + g.in_w;
      for (int ow0 = 0; ow0 < g.out_w; ow0 += V::W) {
        const int lanes = g.out_w - ow0 < V::W ? g.out_w - ow0 : V::W;
        const size_t o = plane * out_size + static_cast<size_t>(oh) * g.out_w + ow0;
        const F d = load_n<V>(dy + o, lanes);
        const I a = lanes == V::W ? V::iload(argmax + o) : V::iload_partial(argmax + o, lanes);
        // Index of the top-left element of each lane's window; the other three are +1, +in_w, +in_w+1.
        const I top_left = V::iadd(V::iset1(2 * oh * g.in_w + 2 * ow0), V::imul(V::iota(), 2));
        const I bottom_left = V::iadd(top_left, V::iset1(g.in_w));
        const I one = V::iset1(1);
        // 0 + dy as the reference's zero-then-add (turns -0 into +0); lanes not chosen get +0.
        const F top_even = V::add(V::keep(V::icmp_eq(a, top_left), d), zero);
        const F top_odd = V::add(V::keep(V::icmp_eq(a, V::iadd(top_left, one)), d), zero);
        const F bottom_even = V::add(V::keep(V::icmp_eq(a, bottom_left), d), zero);
        const F bottom_odd = V::add(V::keep(V::icmp_eq(a, V::iadd(bottom_left, one)), d), zero);
        if (lanes == V::W) {
          V::store_interleave(top + 2 * ow0, top_even, top_odd);
          V::store_interleave(bottom + 2 * ow0, bottom_even, bottom_odd);
        } else {
          // 2 * lanes floats of each row, by (masked) vector stores: a memcpy call per row costs more than
          // the row itself for the narrow planes (8 or 4 outputs per row).
          V::store_interleave(pair, top_even, top_odd);
          copy_pairs<V>(pair, 2 * lanes, top + 2 * ow0);
          V::store_interleave(pair, bottom_even, bottom_odd);
          copy_pairs<V>(pair, 2 * lanes, bottom + 2 * ow0);
        }
      }
      if (g.in_w > 2 * g.out_w) top[g.in_w - 1] = bottom[g.in_w - 1] = 0.0f;  // odd width: last column unused
    }
    const size_t covered = static_cast<size_t>(2 * g.out_h) * g.in_w;  // odd height: last row unused
    if (covered < in_size) std::memset(dxp + covered, 0, sizeof(float) * (in_size - covered));
  }
}

// y = (sum over the window, padding as 0) / (kernel_h * kernel_w)
template <class V>
void avgpool2d_forward(const PoolGeom& g, const float* x, float* y) {
  if (!pool_vectorizable(g)) return ref::avgpool2d_forward(g, x, y);
  using F = typename V::F;
  const size_t in_size = static_cast<size_t>(g.in_h) * g.in_w, out_size = static_cast<size_t>(g.out_h) * g.out_w;
  const int stride = g.stride_w, kernel_w = g.kernel_w;
  const F inv_count = V::set1(1.0f / static_cast<float>(g.kernel_h * g.kernel_w));
  alignas(64) float segments[kPoolMaxKernel][kPoolRowFloats];
  for (int plane = 0; plane < g.planes; ++plane) {
    const float* xp = x + plane * in_size;
    for (int oh = 0; oh < g.out_h; ++oh) {
      int kh_lo, kh_hi;
      window_rows(g, oh, kh_lo, kh_hi);
      for (int ow0 = 0; ow0 < g.out_w; ow0 += kPoolChunk) {
        const int chunk = g.out_w - ow0 < kPoolChunk ? g.out_w - ow0 : kPoolChunk;
        const int padded_chunk = (chunk + V::W - 1) / V::W * V::W;
        const int start = ow0 * stride - g.pad_w;
        for (int kh = kh_lo; kh < kh_hi; ++kh)
          copy_padded_row<V>(xp + static_cast<size_t>(oh * g.stride_h - g.pad_h + kh) * g.in_w, g.in_w, start,
                             padded_chunk * stride + kernel_w + 1, 0.0f, segments[kh]);
        for (int j0 = 0; j0 < chunk; j0 += V::W) {
          F sum = V::zero();
          for (int kh = kh_lo; kh < kh_hi; ++kh)
            for_each_window_column<V>(segments[kh], j0, stride, kernel_w, [&](int, F v) { sum = V::add(sum, v); });
          const int lanes = chunk - j0 < V::W ? chunk - j0 : V::W;
          store_n<V>(y + plane * out_size + static_cast<size_t>(oh) * g.out_w + ow0 + j0, V::mul(sum, inv_count),
                     lanes);
        }
      }
    }
  }
}

// dx[window of o] += dy[o] / (kernel_h * kernel_w) over a zeroed dx, in the reference's order.
template <class V>
void avgpool2d_backward(const PoolGeom& g, const float* dy, float* dx) {
  if (!pool_vectorizable(g)) return ref::avgpool2d_backward(g, dy, dx);
  using F = typename V::F;
  const size_t in_size = static_cast<size_t>(g.in_h) * g.in_w, out_size = static_cast<size_t>(g.out_h) * g.out_w;
  const float inv_count = 1.0f / static_cast<float>(g.kernel_h * g.kernel_w);
  const F inv_count_v = V::set1(inv_count);
  const int stride = g.stride_w;
  std::memset(dx, 0, sizeof(float) * in_size * g.planes);
  for (int plane = 0; plane < g.planes; ++plane)
    for (int oh = 0; oh < g.out_h; ++oh) {
      const float* dy_row = dy + plane * out_size + static_cast<size_t>(oh) * g.out_w;
      int kh_lo, kh_hi;
      window_rows(g, oh, kh_lo, kh_hi);
      for (int kh = kh_lo; kh < kh_hi; ++kh) {
        float* dx_row = dx + plane * in_size + static_cast<size_t>(oh * g.stride_h - g.pad_h + kh) * g.in_w;
        for (int kw = g.kernel_w - 1; kw >= 0; --kw) {
          // Outputs whose column kw lies inside the row: iw = ow*stride - pad_w + kw in [0, in_w).
          int ow_lo = g.pad_w - kw > 0 ? (g.pad_w - kw + stride - 1) / stride : 0;
          int ow_hi = (g.in_w - 1 + g.pad_w - kw) / stride + 1;  // exclusive
          if (g.in_w - 1 + g.pad_w - kw < 0) ow_hi = 0;
          if (ow_hi > g.out_w) ow_hi = g.out_w;
          float* target = dx_row + (kw - g.pad_w);  // target[ow * stride] is column iw
          int ow = ow_lo;
          if (stride == 1) {
            for (; ow < ow_hi; ow += V::W) {
              const int lanes = ow_hi - ow < V::W ? ow_hi - ow : V::W;
              const F share = V::mul(load_n<V>(dy_row + ow, lanes), inv_count_v);
              store_n<V>(target + ow, V::add(load_n<V>(target + ow, lanes), share), lanes);
            }
          } else {
            // Read-modify-write of the pairs (target[2ow], target[2ow+1]) while they lie inside the row;
            // the odd elements get +0, which leaves them unchanged (no sum here is -0).
            for (; ow + V::W <= ow_hi && 2 * (ow + V::W) - g.pad_w + kw <= g.in_w; ow += V::W) {
              const F share = V::mul(V::load(dy_row + ow), inv_count_v);
              F even, odd;
              V::load_deinterleave(target + 2 * ow, even, odd);
              V::store_interleave(target + 2 * ow, V::add(even, share), V::add(odd, V::zero()));
            }
          }
          for (; ow < ow_hi; ++ow) target[ow * stride] += dy_row[ow] * inv_count;
        }
      }
    }
}

// y[p] = (sum of plane p) / plane_size
template <class V>
void global_avgpool_forward(int planes, int plane_size, const float* x, float* y) {
  if (plane_size < 2 * V::W) return ref::global_avgpool_forward(planes, plane_size, x, y);
  for (int plane = 0; plane < planes; ++plane) {
    const float* xp = x + static_cast<size_t>(plane) * plane_size;
    double sum = 0.0;
    for (int start = 0; start < plane_size; start += kSumBlock) {
      float block = 0.0f;
      block_sums<V>(plane_size - start < kSumBlock ? plane_size - start : kSumBlock, xp + start, 0.0f, &block, nullptr);
      sum += block;
    }
    y[plane] = static_cast<float>(sum) / static_cast<float>(plane_size);
  }
}

// dx[p][:] = dy[p] / plane_size
template <class V>
void global_avgpool_backward(int planes, int plane_size, const float* dy, float* dx) {
  for (int plane = 0; plane < planes; ++plane) {
    const auto share = V::set1(dy[plane] / static_cast<float>(plane_size));
    float* dxp = dx + static_cast<size_t>(plane) * plane_size;
    for_each_vector<V>(static_cast<size_t>(plane_size),
                       [&](size_t i, int count) { store_n<V>(dxp + i, share, count); });
  }
}

// y[2h+i][2w+j] = x[h][w]
template <class V>
void upsample2x_forward(int planes, int in_h, int in_w, const float* x, float* y) {
  const int out_w = 2 * in_w;
  for (int plane = 0; plane < planes; ++plane)
    for (int h = 0; h < in_h; ++h) {
      const float* x_row = x + (static_cast<size_t>(plane) * in_h + h) * in_w;
      float* top = y + (static_cast<size_t>(plane) * 2 * in_h + 2 * h) * out_w;
      float* bottom = top + out_w;
      int w = 0;
      for (; w + V::W <= in_w; w += V::W) {
        const auto v = V::load(x_row + w);
        V::store_interleave(top + 2 * w, v, v);
        V::store_interleave(bottom + 2 * w, v, v);
      }
      for (; w < in_w; ++w) top[2 * w] = top[2 * w + 1] = bottom[2 * w] = bottom[2 * w + 1] = x_row[w];
    }
}

// dx[h][w] = ((dy[2h][2w] + dy[2h][2w+1]) + dy[2h+1][2w]) + dy[2h+1][2w+1]
template <class V>
void upsample2x_backward(int planes, int in_h, int in_w, const float* dy, float* dx) {
  const int out_w = 2 * in_w;
  for (int plane = 0; plane < planes; ++plane)
    for (int h = 0; h < in_h; ++h) {
      const float* top = dy + (static_cast<size_t>(plane) * 2 * in_h + 2 * h) * out_w;
      const float* bottom = top + out_w;
      float* dx_row = dx + (static_cast<size_t>(plane) * in_h + h) * in_w;
      int w = 0;
      for (; w + V::W <= in_w; w += V::W) {
        typename V::F a, b, c, d;
        V::load_deinterleave(top + 2 * w, a, b);
        V::load_deinterleave(bottom + 2 * w, c, d);
        V::store(dx_row + w, V::add(V::add(V::add(a, b), c), d));
      }
      for (; w < in_w; ++w) dx_row[w] = top[2 * w] + top[2 * w + 1] + bottom[2 * w] + bottom[2 * w + 1];
    }
}

}  // namespace
}  // namespace plasmo::kernels::simd
