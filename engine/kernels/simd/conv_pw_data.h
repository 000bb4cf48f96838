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
#include "engine/kernels/simd/conv_pack.h"    // min_int
#include "engine/kernels/simd/gemm_driver.h"  // transpose_copy

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

// Backward data of pointwise convolutions on 4-pixel planes (2x2, 1x4, 4x1: MobileNetV2's 2x2 stage),
// vectors along the input channels:
//
//   dx[n][ci][p] = sum over oc of W[oc][ci] * dy[n][oc][p]      (W's rows have ci contiguous)
//
// A tile of I images (4 * I pixels) x NV vectors of input channels keeps 4 * I * NV accumulators over
// the output channels: per output channel it loads NV vectors of W's row and broadcasts the 4 * I values
// of dy (each image's 4-float plane), 3 + 8 loads for 24 FMAs. At the end each image's 4 pixel vectors
// are interleaved (two rounds of zip) into dx[n][ci][0 .. 4) order and stored whole. The tile's W panel
// (<= 160 output channels x NV vectors: 30 KB) stays in L1 across the images, which run inside the panel
// loop; more output channels take several passes (see kBlockFloats).
// The route it replaces ran the forward of the transposed convolution (flipped W packed, a gathered GEMM
// whose 4-float plane runs go through a buffer per tile). Measured (AVX-512, 1 thread, batch 64 as in the
// model, dy in L2, ms before -> here): 576->160 0.37 -> 0.25, 960->160 0.63 -> 0.42-0.46, 960->320
// 1.21 -> 0.85-0.95, 160->960 0.53 -> 0.47, 320->1280 1.42 -> 1.19-1.23.
//
// Every dx element is the sum over oc in order, in one FMA chain: independent of how the batch is split.
template <class V>
struct ConvPointwiseDataQuad {
  using reg = typename V::reg;
  static constexpr int W = V::width;
  static constexpr int kPixels = 4;
  // Output channels per pass: the tile's W panel (kBlockFloats = 160 x 3 vectors of 16: 30 KB) stays in
  // L1. With more output channels (the expand layers' backward data: 960, 1280), the passes keep the
  // accumulators of every image of the panel in a pixel-major buffer between them.
  static constexpr int kBlockFloats = 160 * 48;

  static bool applies(const ConvGeom& g) {
    return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0 &&
           g.groups == 1 && g.out_h * g.out_w == kPixels && W % kPixels == 0 && g.in_channels >= 2 * W;
  }
  static constexpr int panel_vectors() { return W == 8 ? 2 : 3; }
  static int block_channels(int NV) { return kBlockFloats / (NV * W); }
  // The pixel-major partial sums of one panel over the batch, when the output channels take several passes.
  static size_t scratch_floats(const ConvGeom& g) {
    if (g.out_channels <= block_channels(panel_vectors())) return 0;
    return static_cast<size_t>(g.batch) * kPixels * panel_vectors() * W;
  }

  // out[v] = the W floats at src + v * W for v < NV, of which the last vector holds only `last` (1 to W)
  // lanes, the rest 0: a row of W or the bias over the tile's input channels.
  template <int NV>
  [[gnu::always_inline]] static inline void load_columns(const float* src, int last, reg (&out)[NV]) {
#pragma GCC unroll 8
    for (int v = 0; v < NV - 1; ++v) out[v] = V::load(src + v * W);
    out[NV - 1] = last >= W ? V::load(src + (NV - 1) * W) : V::load_partial(src + (NV - 1) * W, last);
  }

  // Images [0, I) x input channels [0, cols) (cols <= NV * W) at dx (image stride dx_image), from dy (image
  // stride dy_image) and w = W + ci0 (row stride CI), over K output channels. The accumulators start at 0
  // (first) or at part[i][p][v * W ..] (the previous passes); they end in part (not last_pass) or,
  // interleaved, in dx (last_pass).
  // bias (the forward's, at the tile's first channel; null: none) is added to the whole sums before they
  // are stored.
  template <int I, int NV>
  static void tile(const float* w, long CI, const float* dy, long dy_image, int K, float* dx, long dx_image, int cols,
                   float* part, bool first, bool last_pass, const float* bias = nullptr) {
    reg acc[I][kPixels][NV];
#pragma GCC unroll 4
    for (int i = 0; i < I; ++i)
#pragma GCC unroll 4
      for (int p = 0; p < kPixels; ++p)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v)
          acc[i][p][v] = first ? V::zero() : V::load(part + ((i * kPixels + p) * NV + v) * W);
    const int last = cols - (NV - 1) * W;  // lanes of the last vector
    for (int oc = 0; oc < K; ++oc, w += CI, dy += kPixels) {
      reg b[NV];
      load_columns<NV>(w, last, b);
#pragma GCC unroll 4
      for (int i = 0; i < I; ++i)
#pragma GCC unroll 4
        for (int p = 0; p < kPixels; ++p) {
          const reg s = V::set1(dy[i * dy_image + p]);
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) acc[i][p][v] = V::fma(b[v], s, acc[i][p][v]);
        }
    }
    if (!last_pass) {
#pragma GCC unroll 4
      for (int i = 0; i < I; ++i)
#pragma GCC unroll 4
        for (int p = 0; p < kPixels; ++p)
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) V::store(part + ((i * kPixels + p) * NV + v) * W, acc[i][p][v]);
      return;
    }
    if (bias) {
      reg b[NV];
      load_columns<NV>(bias, last, b);
#pragma GCC unroll 4
      for (int i = 0; i < I; ++i)
#pragma GCC unroll 4
        for (int p = 0; p < kPixels; ++p)
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) acc[i][p][v] = V::add(acc[i][p][v], b[v]);
    }
    // acc[i][p][v] lane l is dx[i][ci0 + v * W + l][p]: interleave the 4 pixel vectors so that out[j] holds
    // channels v * W + j * W / 4 .. + W / 4, 4 pixels each (zip_lo/zip_hi interleave whole vectors).
#pragma GCC unroll 4
    for (int i = 0; i < I; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        const reg t0 = V::zip_lo(acc[i][0][v], acc[i][2][v]), t1 = V::zip_hi(acc[i][0][v], acc[i][2][v]);
        const reg t2 = V::zip_lo(acc[i][1][v], acc[i][3][v]), t3 = V::zip_hi(acc[i][1][v], acc[i][3][v]);
        const reg out[4] = {V::zip_lo(t0, t2), V::zip_hi(t0, t2), V::zip_lo(t1, t3), V::zip_hi(t1, t3)};
        float* d = dx + i * dx_image + static_cast<long>(v) * W * kPixels;
        const int floats = (v == NV - 1 ? last : W) * kPixels;  // of this vector's 4 * W
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
          const int n = floats - j * W;
          if (n >= W)
            V::store(d + j * W, out[j]);
          else if (n > 0)
            V::store_partial(d + j * W, out[j], n);
        }
      }
  }

  // Input channels [ci0, ci0 + cols) of every image: passes over blocks of output channels, each running
  // the images in tiles of I (then single images). Each dx element gets oc = 0 .. K-1 in order in one FMA
  // chain (the passes store and reload the exact accumulator).
  template <int I, int NV>
  static void panel(const ConvGeom& g, const float* dy, const float* weight, float* dx, int ci0, int cols,
                    float* part) {
    const long CI = g.in_channels, K = g.out_channels;
    const long dy_image = K * kPixels, dx_image = CI * kPixels;
    const int block = block_channels(NV);
    const long part_image = static_cast<long>(kPixels) * NV * W;
    for (int oc0 = 0; oc0 < K; oc0 += block) {
      const int count = min_int(block, static_cast<int>(K) - oc0);
      const bool first = oc0 == 0, last_pass = oc0 + count == K;
      const float* w = weight + oc0 * CI + ci0;
      const float* dy_block = dy + static_cast<long>(oc0) * kPixels;
      int n = 0;
      for (; n + I <= g.batch; n += I)
        tile<I, NV>(w, CI, dy_block + n * dy_image, dy_image, count, dx + n * dx_image + ci0 * kPixels, dx_image, cols,
                    part + n * part_image, first, last_pass);
      for (; n < g.batch; ++n)
        tile<1, NV>(w, CI, dy_block + n * dy_image, dy_image, count, dx + n * dx_image + ci0 * kPixels, dx_image, cols,
                    part + n * part_image, first, last_pass);
    }
  }

  // Panels of NV vectors of input channels, I images per tile, then the last panel's 1 .. NV vectors.
  template <int I, int NV>
  static void panels(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* part) {
    const int CI = g.in_channels;
    int ci0 = 0;
    for (; ci0 + NV * W <= CI; ci0 += NV * W) panel<I, NV>(g, dy, weight, dx, ci0, NV * W, part);
    const int rest = CI - ci0;  // < NV * W channels: 1 .. NV vectors, the last one partial
    if (NV >= 3 && rest > 2 * W)
      panel<I, 3>(g, dy, weight, dx, ci0, rest, part);
    else if (rest > W)
      panel<I, 2>(g, dy, weight, dx, ci0, rest, part);
    else if (rest > 0)
      panel<I, 1>(g, dy, weight, dx, ci0, rest, part);
  }

  static void backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* scratch) {
    // AVX-512, NEON: 2 images x 3 vectors = 24 accumulators (+ 3 W vectors + 1 broadcast of 32 registers);
    // AVX2: 1 x 2 = 8 (+ 2 + 1 of 16).
    if constexpr (W == 8)
      panels<1, 2>(g, dy, weight, dx, scratch);
    else
      panels<2, 3>(g, dy, weight, dx, scratch);
  }
};

// Forward of pointwise convolutions on 4-pixel planes (MobileNetV2's 2x2 stage), the same tiles as
// ConvPointwiseDataQuad with W transposed:
//
//   y[n][co][p] = sum over ci of W[co][ci] * x[n][ci][p] + bias[co]
//
// Vectors run along the output channels, x is broadcast. The output channels come in panels of PW = NV * W
// (48 on AVX-512 and NEON, 16 on AVX2); a panel's weights are read as a block of CI rows x PW floats,
// W^T restricted to the panel, row stride PW: pre-packed (pack_weights, layout kQuadLayout of conv.h) or
// transposed per panel into scratch (the unpacked forward of a training step, whose W changed since the
// last call). Passes of <= block_channels(NV) input channels keep the panel's piece of W^T in L1 across
// the images, with pixel-major partial sums in scratch between passes.
// The route it replaces: the gathered GEMM of conv_gemm.h (64-column chunks for > 512 outputs).
// Measured (AVX-512, 1 thread, batch 64; bench-kernels GFLOP/s, unpacked, before -> here): 160->960
// 130 -> 182-186, 320->1280 126 -> 175-178, 960->160 167 -> 178-180, 960->320 168 -> 174-186, 576->160
// 158 -> 169-181. MobileNetV2@64 training step (per-layer profile, CPU clock, medians of 3 alternating
// with main, forward ms): features.15-17.conv.0.0 0.86-0.89 -> 0.58-0.61, features.18.0 2.12 -> 1.46,
// features.17.conv.2 1.29 -> 1.10, features.15/16.conv.2 0.66-0.67 -> 0.61, features.14.conv.2 0.44 ->
// 0.36: 7.8 -> 5.9 ms in all. Batch <= 4 (single-image latency) keeps the few-column path (conv_few.h).
//
// Parts split the panels: every y element is sum over ci in order in one FMA chain, then + bias, whatever
// the panel, part or pre-packing, so any split is bit-identical.
template <class V>
struct ConvPointwiseForwardQuad {
  using Quad = ConvPointwiseDataQuad<V>;
  static constexpr int W = V::width;
  static constexpr int kPixels = 4;
  static constexpr int NV = Quad::panel_vectors();
  static constexpr int I = W == 8 ? 1 : 2;  // images per tile, as in ConvPointwiseDataQuad::backward_data
  static constexpr int PW = NV * W;         // output channels per panel

  static bool applies(const ConvGeom& g) {
    return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0 &&
           g.groups == 1 && g.out_h * g.out_w == kPixels && W % kPixels == 0 && g.out_channels >= 2 * W;
  }
  static int panels(const ConvGeom& g) { return (g.out_channels + PW - 1) / PW; }
  static size_t panel_floats(const ConvGeom& g) { return static_cast<size_t>(g.in_channels) * PW; }
  static size_t packed_floats(const ConvGeom& g) { return panel_floats(g) * panels(g); }
  // The unpacked forward's panel of W^T, then the partial sums (when the input channels take several passes).
  static size_t scratch_floats(const ConvGeom& g) {
    const size_t part = g.in_channels > Quad::block_channels(NV) ? static_cast<size_t>(g.batch) * kPixels * PW : 0;
    return panel_floats(g) + part + 16;  // + alignment
  }

  // dst[ci][j] = W[co0 + j][ci] for j < count, 0 for count <= j < PW (row stride PW): the ISA's register
  // transpose (transpose_copy). A scalar copy in 16-channel blocks left the 160->960 forward at ~160
  // GFLOP/s in bench-kernels (unpacked), against ~190 for the same tiles in backward data.
  static void pack_panel(const ConvGeom& g, const float* weight, int co0, float* dst) {
    const int CI = g.in_channels, count = min_int(PW, g.out_channels - co0);
    transpose_copy<V>(weight + static_cast<long>(co0) * CI, CI, count, CI, dst, PW);
    if (count < PW)
      for (int ci = 0; ci < CI; ++ci)
        for (int j = count; j < PW; ++j) dst[static_cast<long>(ci) * PW + j] = 0.0f;
  }
  static void pack_weights(const ConvGeom& g, const float* weight, float* packed) {
    for (int j = 0; j < panels(g); ++j) pack_panel(g, weight, j * PW, packed + j * panel_floats(g));
  }

  // Output channels [co0, co0 + cols) (N vectors, the last with cols - (N - 1) * W lanes) of every image
  // from the panel w (CI x PW): passes over blocks of input channels, I images per tile, then single images.
  template <int N>
  static void panel(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y, int co0, int cols,
                    float* part) {
    const int CI = g.in_channels;
    const long x_image = static_cast<long>(CI) * kPixels, y_image = static_cast<long>(g.out_channels) * kPixels;
    const long part_image = static_cast<long>(kPixels) * N * W;
    const int block = Quad::block_channels(N);
    const float* b = bias ? bias + co0 : nullptr;
    float* y_panel = y + static_cast<long>(co0) * kPixels;
    for (int ci0 = 0; ci0 < CI; ci0 += block) {
      const int count = min_int(block, CI - ci0);
      const bool first = ci0 == 0, last_pass = ci0 + count == CI;
      const float* w_block = w + static_cast<long>(ci0) * PW;
      const float* x_block = x + static_cast<long>(ci0) * kPixels;
      int n = 0;
      for (; n + I <= g.batch; n += I)
        Quad::template tile<I, N>(w_block, PW, x_block + n * x_image, x_image, count, y_panel + n * y_image, y_image,
                                  cols, part + n * part_image, first, last_pass, b);
      for (; n < g.batch; ++n)
        Quad::template tile<1, N>(w_block, PW, x_block + n * x_image, x_image, count, y_panel + n * y_image, y_image,
                                  cols, part + n * part_image, first, last_pass, b);
    }
  }

  // Part `part` of `parts`: panels [begin, end) of the thread pool's chunking. packed: pack_weights' panels,
  // or null (weight as stored, each panel transposed into scratch).
  static void forward(const ConvGeom& g, const float* x, const float* weight, const float* packed, const float* bias,
                      float* y, float* scratch, int part, int parts) {
    const long count = panels(g);
    const int begin = static_cast<int>(count * part / parts), end = static_cast<int>(count * (part + 1) / parts);
    float* buf = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(scratch) + 63) & ~uintptr_t{63});
    float* part_sums = buf + panel_floats(g);
    for (int j = begin; j < end; ++j) {
      const int co0 = j * PW, cols = min_int(PW, g.out_channels - co0);
      const float* w = packed ? packed + j * panel_floats(g) : buf;
      if (!packed) pack_panel(g, weight, co0, buf);
      if (NV >= 3 && cols > 2 * W)
        panel<NV>(g, x, w, bias, y, co0, cols, part_sums);
      else if (cols > W)
        panel<2>(g, x, w, bias, y, co0, cols, part_sums);
      else
        panel<1>(g, x, w, bias, y, co0, cols, part_sums);
    }
  }
};

}  // namespace plasmo::kernels::simd
