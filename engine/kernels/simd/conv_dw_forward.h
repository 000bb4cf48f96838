// Depthwise 3x3 convolution forward, padding 1, stride 1 or 2, straight on the NCHW planes with vectors
// along the output rows (MobileNetV2's 32x32 and 16x16 stages at batch 64: 8-25 MB per layer).
//
//   y[c][oh][ow] = b[c] + sum_{kh,kw} w[c][kh][kw] * x[c][s*oh - 1 + kh][s*ow - 1 + kw]
//
// A layer does 9 multiply-adds per output, so the cost is moving its tensors: the input comes from L3
// (the layer before wrote it) and the output goes to L2 for the BatchNorm statistics. The loop does
// little besides the loads and FMAs, so the memory stream is not held up behind it:
// - planes in memory order, each loaded input row serving every output row of a group of R that reads it
//   (8 rows of one column block or 4 rows of two);
// - the borders as masked loads whose masks depend only on the column block (made once per call), the
//   rows outside the plane read from a row of zeros: no branch per row or per load;
// - with AVX-512 (DepthwiseLanes) each input row is loaded aligned, once, and the taps made in registers:
//   stride 1 shifts it by a lane either way, stride 2 splits 2W columns into the even and odd ones; else
//   the taps are masked loads at column offsets -1, 0, +1 (stride 2: even-lane loads).
// Software prefetch of the next planes (T0, T1 and NTA hints, 1 to 8 planes ahead) gained nothing
// measurable with the input just written by another pass and the output cold, as in the model.
// Lanes outside the output row are never stored. Every output is summed in the same order (bias, then
// kh = 0..2, kw = 0..2) whatever the split of planes between calls, and the same as conv_dw_rows.h's.
// MobileNetV2@64, batch 64, in a training step (AVX-512, CPU ms with the statistics hand-over, medians
// of 3 profiles, busy machine): 32x32 stride 1 2.47 -> 1.90, 32x32 stride 2 4.25 -> 3.57, 16x16 stride 1
// 2.76 -> 2.38, 16x16 stride 2 1.43 -> 1.08.
#pragma once
#include <cstdint>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/gemm_driver.h"

namespace plasmo::kernels::simd {

// Lane shuffles beyond the Vec interface, per vector width: defined only where the ISA's compile flags
// are on (the AVX-512 translation unit), so no other ISA's code can be linked in its place; elsewhere
// `available` is false and the callers keep their masked loads. Stride 2 then takes 2 aligned loads and 3
// shuffles per input row and block instead of 6 loads (4 across cache lines) and 3 shuffles; stride 1
// one load and 2 shuffles instead of 3 loads (2 across cache lines). Used by conv_dw_small.h too.
template <int Width>
struct DepthwiseLanes {
  static constexpr bool available = false;
};
#if defined(__AVX512F__)
template <>
struct DepthwiseLanes<16> {
  static constexpr bool available = true;
  // (a, b) = columns 0..31: even = 0, 2, ..., 30; odd = 1, 3, ..., 31
  static __m512 even(__m512 a, __m512 b) {
    return _mm512_permutex2var_ps(a, _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0), b);
  }
  static __m512 odd(__m512 a, __m512 b) {
    return _mm512_permutex2var_ps(a, _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1), b);
  }
  // prev[15], v[0], ..., v[14]
  static __m512 shift_in(__m512 v, __m512 prev) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(v), _mm512_castps_si512(prev), 15));
  }
  // Small planes (conv_dw_small.h): lane l = (a, b)[at[l]] (0..31) where keep has bit l, else 0.
  using index = __m512i;
  static index load_index(const int32_t* p) { return _mm512_loadu_si512(p); }
  static __m512 pick(__m512 a, __m512 b, index at, __mmask16 keep) {
    return _mm512_maskz_permutex2var_ps(keep, a, at, b);
  }
  // The lanes of two picks with disjoint masks (each 0 outside its own).
  static __m512 merge(__m512 a, __m512 b) {
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
  }
  // v[1], ..., v[15], next[0]
  static __m512 shift_out(__m512 v, __m512 next) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(v), 1));
  }
};
#endif

template <class V>
struct ConvDepthwiseForward {
  using reg = typename V::reg;
  using mask = typename V::mask;
  static constexpr int W = V::width;
  static constexpr int kMaxBlocks = 8;  // column vectors per output row

  static bool applies(const ConvGeom& g) {
    if (!V::has_masked_io) return false;
    if (g.in_channels != g.groups || g.out_channels != g.groups || g.kernel_h != 3 || g.kernel_w != 3) return false;
    if (g.pad_h != 1 || g.pad_w != 1 || g.stride_h != g.stride_w || (g.stride_h != 1 && g.stride_h != 2)) return false;
    // Rows of at least half a vector (narrower ones would leave most lanes idle), at most kMaxBlocks.
    return 2 * g.out_w >= W && g.out_w <= kMaxBlocks * W;
  }

  // Planes [plane_begin, plane_end) of the batch (plane = n * channels + c).
  static void forward(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                      long plane_begin, long plane_end) {
    if (g.stride_h == 1)
      planes<1>(g, x, weight, bias, y, plane_begin, plane_end);
    else
      planes<2>(g, x, weight, bias, y, plane_begin, plane_end);
  }

  // One column block (output columns [ow0, ow0 + W)): per tap kw, the input column of lane 0 and the
  // lanes [lo, hi) whose input column lies inside the row; the output lanes stored.
  struct Block {
    int at[3], lo[3], hi[3];
    mask m[3];  // lanes [lo, hi)
    int count;
    int index;      // b
    bool has_next;  // b + 1 < blocks
    mask pair[2];   // stride 2, DepthwiseLanes: the input columns [2*ow0, 2*ow0 + 2W) inside the row
  };

  template <int S>
  static void planes(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                     long plane_begin, long plane_end) {
    const int C = g.out_channels, OW = g.out_w;
    const long in_plane = static_cast<long>(g.in_h) * g.in_w, out_plane = static_cast<long>(g.out_h) * OW;
    const int blocks = (OW + W - 1) / W;
    Block blk[kMaxBlocks];
    for (int b = 0; b < blocks; ++b) {
      const int ow0 = b * W;
      blk[b].count = min_int(W, OW - ow0);
      blk[b].index = b;
      blk[b].has_next = b + 1 < blocks;
      blk[b].pair[0] = V::make_mask(0, g.in_w - 2 * ow0);
      blk[b].pair[1] = V::make_mask(0, g.in_w - 2 * ow0 - W);
      for (int kw = 0; kw < 3; ++kw) {
        const int first = ow0 * S - 1 + kw;  // lanes l with 0 <= first + S*l < in_w, l < count
        int lo = first >= 0 ? 0 : (-first + S - 1) / S;
        int hi = g.in_w - first <= 0 ? 0 : (g.in_w - 1 - first) / S + 1;
        if (hi > blk[b].count) hi = blk[b].count;
        if (lo > hi) lo = hi;
        blk[b].at[kw] = first;
        blk[b].lo[kw] = lo;
        blk[b].hi[kw] = hi;
        blk[b].m[kw] = V::make_mask(lo, hi);
      }
    }
    // Rows above and below the plane (the padding) are read from a row of zeros, at columns -1 on.
    alignas(64) float zeros[(kMaxBlocks * W + 2) * S + 2 * W] = {};
    const float* zero_row = zeros + W;
    for (long plane = plane_begin; plane < plane_end; ++plane) {
      const int c = static_cast<int>(plane % C);
      reg wv[9];
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) wv[t] = V::set1(weight[static_cast<long>(c) * 9 + t]);
      const reg bv = V::set1(bias ? bias[c] : 0.0f);
      const float* xp = x + plane * in_plane;
      float* yp = y + plane * out_plane;
      // Two column blocks at a time (4 output rows per group), or one (8 rows).
      int b = 0;
      for (; b + 2 <= blocks; b += 2) columns<S, 2, 4>(g, xp, zero_row, blk + b, wv, bv, yp + b * W);
      if (b < blocks) columns<S, 1, 8>(g, xp, zero_row, blk + b, wv, bv, yp + b * W);
    }
  }

  // Output columns of NB blocks of one plane, R rows per group: each input row the group reads is loaded
  // once (3 taps per block) and serves the output rows that use it.
  template <int S, int NB, int R>
  static void columns(const ConvGeom& g, const float* xp, const float* zero_row, const Block* blk, const reg* wv,
                      reg bv, float* yp) {
    const int H = g.in_h, Wi = g.in_w, OH = g.out_h, OW = g.out_w;
    constexpr int J = (R - 1) * S + 3;  // input rows a group reads
    for (int oh0 = 0; oh0 < OH; oh0 += R) {
      reg acc[R][NB];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
        for (int b = 0; b < NB; ++b) acc[r][b] = bv;
      const int ih0 = oh0 * S - 1;
#pragma GCC unroll 17
      for (int j = 0; j < J; ++j) {
        const int ih = ih0 + j;
        const float* row = (ih >= 0 && ih < H) ? xp + static_cast<long>(ih) * Wi : zero_row;
        reg odd_prev[NB], centre[NB];
        (void)odd_prev;
        if constexpr (S == 1 && DepthwiseLanes<W>::available)
#pragma GCC unroll 2
          for (int b = 0; b < NB; ++b) centre[b] = V::load_masked(row + blk[b].index * W, blk[b].m[1]);
#pragma GCC unroll 2
        for (int b = 0; b < NB; ++b) {
          reg v[3];
          if constexpr (S == 2 && DepthwiseLanes<W>::available) {
            // v[1] = x[2 ow], v[2] = x[2 ow + 1], v[0] = x[2 ow - 1]: the odd columns moved up a lane, the
            // previous block's last odd column (or the padding) in lane 0.
            using Lanes = DepthwiseLanes<W>;
            const float* at = row + 2 * blk[b].index * W;
            const reg lo = V::load_masked(at, blk[b].pair[0]), hi = V::load_masked(at + W, blk[b].pair[1]);
            v[1] = Lanes::even(lo, hi);
            v[2] = Lanes::odd(lo, hi);
            reg prev = V::zero();
            if (blk[b].index > 0) {
              if (b > 0) {
                prev = odd_prev[b - 1];
              } else {
                const Block& p = blk[-1];
                prev = Lanes::odd(V::load_masked(at - 2 * W, p.pair[0]), V::load_masked(at - W, p.pair[1]));
              }
            }
            odd_prev[b] = v[2];
            v[0] = Lanes::shift_in(v[2], prev);
          } else if constexpr (S == 1 && DepthwiseLanes<W>::available) {
            // The row's aligned vectors moved by a lane, the neighbouring block's column (or the padding)
            // shifted in: no load across cache lines.
            using Lanes = DepthwiseLanes<W>;
            reg prev = V::zero(), next = V::zero();
            if (b > 0)
              prev = centre[b - 1];
            else if (blk[b].index > 0)
              prev = V::load_masked(row + (blk[b].index - 1) * W, blk[-1].m[1]);
            if (b + 1 < NB)
              next = centre[b + 1];
            else if (blk[b].has_next)
              next = V::load_masked(row + (blk[b].index + 1) * W, blk[b + 1].m[1]);
            v[0] = Lanes::shift_in(centre[b], prev);
            v[1] = centre[b];
            v[2] = Lanes::shift_out(centre[b], next);
          } else {
#pragma GCC unroll 3
            for (int kw = 0; kw < 3; ++kw)
              v[kw] = S == 1 ? V::load_masked(row + blk[b].at[kw], blk[b].m[kw])
                             : V::load_even_lanes(row + blk[b].at[kw], blk[b].lo[kw], blk[b].hi[kw]);
          }
#pragma GCC unroll 8
          for (int r = 0; r < R; ++r) {
            const int kh = j - r * S;  // compile-time after unrolling
            if (kh < 0 || kh > 2) continue;
#pragma GCC unroll 3
            for (int kw = 0; kw < 3; ++kw) acc[r][b] = V::fma(wv[kh * 3 + kw], v[kw], acc[r][b]);
          }
        }
      }
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        if (oh0 + r >= OH) break;
        float* dst = yp + static_cast<long>(oh0 + r) * OW;
#pragma GCC unroll 2
        for (int b = 0; b < NB; ++b) {
          if (blk[b].count == W)
            V::store(dst + b * W, acc[r][b]);
          else
            V::store_partial(dst + b * W, acc[r][b], blk[b].count);
        }
      }
    }
  }
};

}  // namespace plasmo::kernels::simd
