// Backward data of pointwise (1x1, stride 1, no padding, one group) convolutions on NCHW planes, in place:
//
//   dx[n][ci][p] = sum over oc of W[oc][ci] * dy[n][oc][p]
//
// A tile of CB input channels x PV vectors of pixels keeps CB * PV accumulators over all the output
// channels: per output channel it loads PV vectors of one dy row and broadcasts CB weights of W's row
// (contiguous: W[oc][ci0 .. ci0 + CB)), 3 + 8 loads for 24 FMAs, and stores dx once. Nothing is packed
// or padded (but dy's column on 32x32 planes, below): the other routes either pad the images for a
// general direct convolution (conv_direct.h: the 1x1 transpose of MobileNetV2's expand 16->96 at 32x32
// ran at 44 GFLOP/s) or pack dy for a GEMM. The tiles of one image run over the pixels in columns whose
// dy rows (output channels x PV vectors) stay in L1 while every channel block reads them.
// Measured (AVX-512, 1 thread, GFLOP/s, the layer's groups of images with dy in L2 as in the model,
// before -> here): 16->96 @32 73 -> 120, 96->24 @16 125 -> 145, 24->144 @16 141 -> 161, 144->24 @16
// 111 -> 131, 32->192 @8 152 -> 153, 192->32 @8 139 -> 150; 96->16 @32 (no such layer) 140 -> 142.
//
// Every dx element is the sum over oc in order, in one FMA chain: independent of how the batch is split.
#pragma once
#include <cstdint>

#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/conv_pack.h"  // min_int

namespace plasmo::kernels::simd {

template <class V>
struct ConvPointwiseData {
  using reg = typename V::reg;
  static constexpr int W = V::width;
  // 8 x 3 = 24 accumulators + 3 dy vectors + a broadcast of 32 registers; AVX2 (16): 4 x 3 = 12 + 4.
  static constexpr int CB = W == 8 ? 4 : 8;
  static constexpr int PV = 3;

  // 1x1 stride 1 without padding, one group, planes of at least 4 vectors.
  static bool applies(const ConvGeom& g) {
    return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0 &&
           g.groups == 1 && g.out_h * g.out_w >= 4 * W;
  }

  // C channels x N vectors at dx (row stride P) from dy (row stride P) and w = W + ci0 (row stride ld_w),
  // over K output channels. The last vector has `last` lanes (W: whole).
  template <int C, int N>
  static void tile(const float* dy, long ld_dy, const float* w, float* dx, long P, int K, int ld_w, int last) {
    reg acc[CB][PV];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c)
#pragma GCC unroll 8
      for (int v = 0; v < N; ++v) acc[c][v] = V::zero();
    if (last == W) {
      for (int k = 0; k < K; ++k, dy += ld_dy, w += ld_w) {
        reg d[PV];
#pragma GCC unroll 8
        for (int v = 0; v < N; ++v) d[v] = V::load(dy + v * W);
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) {
          const reg b = V::set1(w[c]);
#pragma GCC unroll 8
          for (int v = 0; v < N; ++v) acc[c][v] = V::fma(b, d[v], acc[c][v]);
        }
      }
    } else {
      for (int k = 0; k < K; ++k, dy += ld_dy, w += ld_w) {
        reg d[PV];
#pragma GCC unroll 8
        for (int v = 0; v < N; ++v) d[v] = v + 1 < N ? V::load(dy + v * W) : V::load_partial(dy + v * W, last);
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) {
          const reg b = V::set1(w[c]);
#pragma GCC unroll 8
          for (int v = 0; v < N; ++v) acc[c][v] = V::fma(b, d[v], acc[c][v]);
        }
      }
    }
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c)
#pragma GCC unroll 8
      for (int v = 0; v < N; ++v) {
        float* out = dx + c * P + v * W;
        if (v + 1 < N || last == W)
          V::store(out, acc[c][v]);
        else
          V::store_partial(out, acc[c][v], last);
      }
  }

  // All channels of N vectors of pixels: blocks of CB channels, then pieces of 4, 2, 1.
  template <int N>
  static void column(const ConvGeom& g, const float* dy, long ld_dy, const float* weight, float* dx, int last) {
    const long P = static_cast<long>(g.out_h) * g.out_w;
    const int C = g.in_channels, K = g.out_channels;
    int ci = 0;
    for (; ci + CB <= C; ci += CB) tile<CB, N>(dy, ld_dy, weight + ci, dx + ci * P, P, K, C, last);
    if (CB > 4 && ci + 4 <= C) {
      tile<4, N>(dy, ld_dy, weight + ci, dx + ci * P, P, K, C, last);
      ci += 4;
    }
    if (ci + 2 <= C) {
      tile<2, N>(dy, ld_dy, weight + ci, dx + ci * P, P, K, C, last);
      ci += 2;
    }
    if (ci < C) tile<1, N>(dy, ld_dy, weight + ci, dx + ci * P, P, K, C, last);
  }

  // The dy rows of one tile column, copied to lie kColumn + kSkew floats apart when planes are a multiple
  // of 2 KB: at 32x32 (4 KB) every dy row of a column falls in the same few L1 sets, so each channel
  // block re-read them from L2 (44 -> 69 GFLOP/s with the copy, expand 16->96 from L3).
  static constexpr int kColumn = PV * W;
  static constexpr int kSkew = W;
  // Rows 2 KB apart or a multiple of that share L1 sets within a column (1 KB apart: 16 sets apart,
  // spread enough).
  static bool copies(const ConvGeom& g) { return (static_cast<long>(g.out_h) * g.out_w * 4) % 2048 == 0; }
  static size_t scratch_floats(const ConvGeom& g) {
    return static_cast<size_t>(g.out_channels) * (kColumn + kSkew) + 16;  // + alignment
  }

  static void backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* scratch) {
    const int P = g.out_h * g.out_w, K = g.out_channels;
    const long dy_image = static_cast<long>(K) * P, dx_image = static_cast<long>(g.in_channels) * P;
    constexpr long ld = kColumn + kSkew;
    float* buf = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(scratch) + 63) & ~uintptr_t{63});
    const bool copy = copies(g);
    for (int n = 0; n < g.batch; ++n) {
      const float* dy_n = dy + n * dy_image;
      float* dx_n = dx + n * dx_image;
      for (int p = 0, pixels = 0; p < P; p += pixels) {
        // Columns of PV = 3 vectors; the last 4 vectors as 2 + 2 rather than 3 + 1 (a 1-vector tile has
        // only CB accumulator chains): MobileNetV2's planes (64, 256, 1024 pixels) all end that way.
        const int rest = P - p;
        pixels = rest > 4 * W ? kColumn : (rest > 3 * W ? 2 * W : rest);
        const float* col = dy_n + p;
        long ld_col = P;
        if (copy) {
          for (int k = 0; k < K; ++k) {
            const float* src = dy_n + static_cast<long>(k) * P + p;
            float* dst = buf + k * ld;
            int i = 0;
            for (; i + W <= pixels; i += W) V::store(dst + i, V::load(src + i));
            if (i < pixels) V::store(dst + i, V::load_partial(src + i, pixels - i));
          }
          col = buf;
          ld_col = ld;
        }
        if (pixels > 2 * W)
          column<3>(g, col, ld_col, weight, dx_n + p, pixels - 2 * W);
        else if (pixels > W)
          column<2>(g, col, ld_col, weight, dx_n + p, pixels - W);
        else
          column<1>(g, col, ld_col, weight, dx_n + p, pixels);
      }
    }
  }
  static_assert(PV == 3, "backward_data's tail handles 1 to 3 vectors");
};

}  // namespace plasmo::kernels::simd
