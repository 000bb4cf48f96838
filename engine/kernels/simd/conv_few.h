// Convolution forward for a handful of batch columns (one image at 4x4 or 2x2: single-image inference).
//
// With J = batch * out_h * out_w <= kFewColumns, every weight meets at most 16 columns: the pass is a
// stream of W (ResNet-18's layer4 W is 9.4 MB for 4 columns, MobileNetV2's 4x4 and 2x2 1x1 convolutions
// 8.3 MB in all) and the way to speed it up is to read W once, in order, at the memory's pace, with as
// little else around it as possible. Per group g:
//
//   y_g^T[j][oc] = b[oc] + sum_{k < K} cols^T[j][k] * W_g^T[k][oc]
//
// cols^T is FR-row slivers [K][FR] (FR = 4, 8 or 16: J rounded up, so no FMA on more than 3 padding
// rows); W_g^T is pre-packed (layout kFew: per group, the output channels as one-vector slivers over the
// whole K, [K][width], sliver c at c*K*width: one sequential stream). Each tile of FR columns x FV
// slivers runs MicroFew over all of K in registers (acc = bias, then k = 0, 1, ... in order, one fma
// each: forward_gather's arithmetic, so both give the same bits) and writes its outputs straight into y,
// transposed in registers (4 columns: zip) or through a one-tile buffer: no y^T scratch to initialise,
// re-load per K block or transpose afterwards.
//
// cols^T is not copied at all for a pointwise convolution of one image whose plane is one tile (4x4 with
// FR = 16, 2x2 with FR = 4): x's planes [K][P] are already the [K][FR] sliver. Otherwise it is gathered
// once per call with the column origins and tap offsets computed once (the old per-element division
// chain cost more than the weight stream at MobileNetV2's 4x4 stage).
#pragma once
#include <cstring>

#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/conv_pack.h"
#include "engine/kernels/simd/gemm_driver.h"
#include "engine/kernels/simd/micro_few.h"

namespace plasmo::kernels::simd {

// Gemm: the ConvGemm this serves (its window sources, padding and transposed stores).
template <class V, class Gemm>
struct ConvFew {
  static constexpr int kFewColumns = 16;
  // Accumulator registers per tile: 16 of AVX-512's and NEON's 32 vector registers, 8 of AVX2's 16.
  static constexpr int kFewAccumulators = V::width == 8 ? 8 : 16;
  // Slivers per tile at most (FR = 4): the unpacked path packs this many slivers of W^T at a time.
  static constexpr int kMaxTileVectors = kFewAccumulators / 4;

  static bool few(const ConvGeom& g) { return static_cast<long>(g.batch) * g.out_h * g.out_w <= kFewColumns; }
  static int few_rows(int J) {
    const int rows = J <= 4 ? 4 : J <= 8 ? 8 : 16;
    return rows <= kFewAccumulators ? rows : kFewAccumulators;
  }
  static int weight_k(const ConvGeom& g) { return g.in_channels / g.groups * g.kernel_h * g.kernel_w; }
  static bool pointwise(const ConvGeom& g) {
    return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
  }
  // x's planes are the cols^T sliver as they are: one image, 1x1 stride 1 without padding, P == FR.
  static bool direct_a(const ConvGeom& g) {
    const int P = g.out_h * g.out_w;
    return g.batch == 1 && pointwise(g) && P == few_rows(P);
  }

  // ---- pre-packed weights (layout kFew) -----------------------------------------------------------------
  // Per group grp: output channels [0, Mc) (Mc = group_out rounded up to NR, zero-filled) as slivers one
  // vector wide over the whole of K: channel c*width + i, tap k at grp*Mc*K + c*K*width + k*width + i.
  static void pack_weights(const ConvGeom& g, const float* weight, float* packed) {
    const int K = weight_k(g), group_out = g.out_channels / g.groups, Mc = Gemm::cols_padded(g);
    for (int grp = 0; grp < g.groups; ++grp)
      Gemm::pack_cols_block(g, weight, grp, 0, group_out, Mc, 0, K, packed + static_cast<long>(grp) * Mc * K);
  }

  static size_t scratch_floats(const ConvGeom& g) {
    constexpr int W = V::width;
    const long K = weight_k(g), Mc = Gemm::cols_padded(g);
    const size_t windows =
        Gemm::padded(g) ? static_cast<size_t>(g.batch) * g.in_channels * padded_h(g) * padded_w(g) + 2 * V::width : 0;
    // cols^T (kFewColumns x K) + bias row (Mc) + unpacked W^T slivers (kMaxTileVectors x K x width) + windows
    return static_cast<size_t>(kFewColumns * K + Mc + kMaxTileVectors * K * W) + windows;
  }

  // ---- one tile ------------------------------------------------------------------------------------------
  // FR columns [jt, jt + FR) x FV slivers from channel c (relative to the part's first row `row0` of y):
  // acc = bias, all of K, then the valid columns (< J) and channels (< M) into y.
  template <int FR, int FV>
  static void tile(const ConvGeom& g, int K, const float* a, const float* w, const float* bias_row, int jt, int J,
                   int c, int M, bool planes4, float* y_rows) {
    using reg = typename V::reg;
    using Micro = MicroFew<V, FR, FV>;
    constexpr int W = V::width;
    reg acc[FR][FV];
    Micro::run(K, a, w, bias_row + c, acc);
    const int P = g.out_h * g.out_w;
    const int channels = min_int(FV * W, M - c);
    if constexpr (FR == 4) {
      if (planes4) {
        // One image of 4 pixels: y[(c + i)*4 + r] = acc[r][v] lane i, so each vector's 4 columns
        // interleave into 4 whole vectors of y (two rounds of zips), stored in order.
        float* out = y_rows + static_cast<long>(c) * 4;
#pragma GCC unroll 4
        for (int v = 0; v < FV; ++v) {
          const reg lo02 = V::zip_lo(acc[0][v], acc[2][v]), lo13 = V::zip_lo(acc[1][v], acc[3][v]);
          const reg hi02 = V::zip_hi(acc[0][v], acc[2][v]), hi13 = V::zip_hi(acc[1][v], acc[3][v]);
          const reg q[4] = {V::zip_lo(lo02, lo13), V::zip_hi(lo02, lo13), V::zip_lo(hi02, hi13), V::zip_hi(hi02, hi13)};
          const int floats = 4 * (channels - v * W);  // of this vector's 4*W outputs
          if (floats >= 4 * W) {
#pragma GCC unroll 4
            for (int s = 0; s < 4; ++s) V::store(out + (v * 4 + s) * W, q[s]);
          } else {
            for (int s = 0; s < 4 && floats - s * W > 0; ++s)
              V::store_partial(out + (v * 4 + s) * W, q[s], min_int(W, floats - s * W));
            break;
          }
        }
        return;
      }
    }
    // Otherwise through one tile in L1: y^T rows jt.. of channels c.., transposed into y's planes.
    alignas(64) float buffer[FR * FV * W];
#pragma GCC unroll 16
    for (int r = 0; r < FR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < FV; ++v) V::store(buffer + (r * FV + v) * W, acc[r][v]);
    Gemm::store_transposed(g, buffer, FV * W, jt, min_int(FR, J - jt), channels, y_rows + static_cast<long>(c) * P);
  }

  // All tiles of one FR: slivers in FV groups (fewer at the end), each over every column tile.
  template <int FR>
  static void tiles(const ConvGeom& g, int K, const float* a, int J, int J_pad, const float* panel, const float* weight,
                    int grp, int row_begin, int M, const float* bias_row, bool planes4, float* w_scratch,
                    float* y_rows) {
    constexpr int W = V::width, FV = kFewAccumulators / FR;
    const int vectors = round_up(M, W) / W;
    // Slivers [c, c + count) of W^T: pre-packed, or packed now (the same values).
    const auto slivers = [&](int c, int count) -> const float* {
      if (panel) return panel + static_cast<long>(c) * K * W;
      const int first = c * W, channels = min_int(count * W, M - first);
      Gemm::pack_cols_block(g, weight, grp, row_begin + first, channels, count * W, 0, K, w_scratch);
      return w_scratch;
    };
    int c = 0;
    for (; c + FV <= vectors; c += FV) {
      const float* w = slivers(c, FV);
      for (int jt = 0; jt < J_pad; jt += FR)
        tile<FR, FV>(g, K, a + static_cast<long>(jt) * K, w, bias_row, jt, J, c * W, M, planes4, y_rows);
    }
    for (; c < vectors; ++c) {
      const float* w = slivers(c, 1);
      for (int jt = 0; jt < J_pad; jt += FR)
        tile<FR, 1>(g, K, a + static_cast<long>(jt) * K, w, bias_row, jt, J, c * W, M, planes4, y_rows);
    }
  }

  // Output channels [row_begin, row_end) of every group (row_begin a multiple of NR), all columns.
  // packed: pack_weights' layout, or null (W^T slivers packed per tile into scratch: the same bits).
  static void forward(const ConvGeom& g, const float* x, const float* weight, const float* packed, const float* bias,
                      float* y, float* scratch, int row_begin, int row_end) {
    const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
    const int K = weight_k(g), P = g.out_h * g.out_w, J = g.batch * P;
    const int FR = few_rows(J), J_pad = round_up(J, FR);
    const int M = row_end - row_begin, Mc = Gemm::cols_padded(g);
    float* a = scratch;                                        // J_pad x K: cols^T, [jt][K][FR]
    float* bias_row = a + static_cast<long>(kFewColumns) * K;  // Mc: b of this part's channels, zero-padded
    float* w_scratch = bias_row + Mc;                          // kMaxTileVectors x K x width
    float* windows = w_scratch + static_cast<long>(kMaxTileVectors) * K * V::width;
    const bool direct = direct_a(g), planes4 = g.batch == 1 && P == 4 && FR == 4;
    const WindowSource src =
        direct ? WindowSource{x, 0, P, g.out_w, 0} : Gemm::window_source(g, x, 0, g.batch, windows);
    for (int grp = 0; grp < g.groups; ++grp) {
      const int row0 = grp * group_out + row_begin;
      const float* base = src.base + static_cast<long>(grp) * group_in * src.plane;
      const float* a_grp = direct ? base : a;
      if (!direct) gather(g, src, base, K, J, J_pad, FR, a);
      if (bias)
        std::memcpy(bias_row, bias + row0, sizeof(float) * M);
      else
        std::memset(bias_row, 0, sizeof(float) * M);
      std::memset(bias_row + M, 0, sizeof(float) * (round_up(M, Gemm::NR) - M));
      const float* panel =
          packed ? packed + static_cast<long>(grp) * Mc * K + static_cast<long>(row_begin) * K : nullptr;
      float* y_rows = y + static_cast<long>(row0) * P;
      if (FR == 4)
        tiles<4>(g, K, a_grp, J, J_pad, panel, weight, grp, row_begin, M, bias_row, planes4, w_scratch, y_rows);
      else if (FR == 8)
        tiles<8>(g, K, a_grp, J, J_pad, panel, weight, grp, row_begin, M, bias_row, planes4, w_scratch, y_rows);
      else
        tiles<(kFewAccumulators >= 16 ? 16 : 8)>(g, K, a_grp, J, J_pad, panel, weight, grp, row_begin, M, bias_row,
                                                 planes4, w_scratch, y_rows);
    }
  }

  // cols^T[j][k] = tap k of column j's window, into sliver jt at a + jt*K, element (k, r) at + k*FR + r;
  // rows past J repeat column 0 (computed, never stored).
  static void gather(const ConvGeom& g, const WindowSource& src, const float* base, int K, int J, int J_pad, int FR,
                     float* a) {
    const int P = g.out_h * g.out_w;
    long origin[kFewColumns];
    for (int j = 0; j < J_pad; ++j) {
      const int col = j < J ? j : 0;
      const int n = col / P, p = col % P, oh = p / g.out_w, ow = p % g.out_w;
      origin[j] =
          (n - src.n_first) * src.image_stride + static_cast<long>(oh * g.stride_h) * src.row_len + ow * g.stride_w;
    }
    int k = 0;
    for (int ci = 0; ci < g.in_channels / g.groups; ++ci)
      for (int kh = 0; kh < g.kernel_h; ++kh)
        for (int kw = 0; kw < g.kernel_w; ++kw, ++k) {
          const float* tap = base + ci * src.plane + static_cast<long>(kh) * src.row_len + kw;
          for (int jt = 0; jt < J_pad; jt += FR) {
            float* dst = a + static_cast<long>(jt) * K + static_cast<long>(k) * FR;
            for (int r = 0; r < FR; ++r) dst[r] = tap[origin[jt + r]];
          }
        }
  }
};

}  // namespace plasmo::kernels::simd
