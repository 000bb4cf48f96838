// Weight gradient of pointwise (1x1, stride 1, no padding, one group) convolutions as register-blocked
// dot products over the pixels (NCHW: each image's channel is a contiguous plane of P pixels):
//
//   dW[oc][ci] += sum over images n and pixels p of dy[n][oc][p] * x[n][ci][p]
//
// Of dy and x, the tensor with more channels (the "wide" one: dy for an expand convolution, x for a
// projection) is read in place; the one with fewer channels (the "narrow" one) is copied, one chunk of
// pixels at a time, into a contiguous buffer that stays in L1 while every wide channel passes over it.
// A chunk is a range of pixels of one image, or whole planes of a few images laid end to end (small
// planes): narrow row c of the chunk is buf[c][0 .. L), each image's piece padded with zeros to whole
// vectors. A block of WB wide channels x NB narrow channels keeps WB * NB vector accumulators; per
// vector of pixels it loads WB wide vectors and NB buffer vectors for WB * NB FMAs, then reduces each
// accumulator horizontally once per block and chunk and adds it to dW.
//
// conv_gemm.h instead transposes dy into a packed panel: with 16-32 input channels each transposed
// element serves only 16-32 FMAs, so the packing dominated (MobileNetV2's expand 16->96 at 32x32: 39
// GFLOP/s). The copy here is of the narrow tensor, each element serving all the wide channels' FMAs.
// Measured (AVX-512, 1 thread, GFLOP/s, the layer's groups of images with dy in L2 as in the model,
// conv_gemm.h -> here): expand 16->96 @32 58 -> 122, 24->144 @16 65 -> 131, 32->192 @8 83 -> 120;
// project 32->16 @32 50 -> 68-85, 96->24 @16 74 -> 102, 144->24 @16 83 -> 100 (these read x from
// memory: about its bandwidth).
//
// Reading the wide tensor's planes straight (no copy) matters too: 32x32 planes are 4 KB apart, so
// 8 narrow planes read in place would share one L1 set (12 ways) with the wide ones and evict each other.
//
// Order of the sums: per chunk, lanes, then images and pixels in order, then the horizontal reduction;
// chunks in order. It depends only on the batch slice: bit-identical for the same thread count.
#pragma once
#include <cstdint>

#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/conv_pack.h"  // min_int, round_up

namespace plasmo::kernels::simd {

// Keeps v in a register: without it GCC folds each buffer load into the FMAs that use it (x86 FMAs take
// one memory operand), loading every buffer vector once per wide channel (27 loads for 24 FMAs with
// 3 x 8 blocks: load-bound) instead of once (11 loads).
template <class R>
inline void in_register(R& v) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  asm("" : "+v"(v));
#else
  (void)v;
#endif
}

template <class V>
struct ConvPointwiseWeight {
  using reg = typename V::reg;
  static constexpr int W = V::width;
  // 3 x 8 = 24 accumulators + 3 wide vectors (+ a buffer vector) of 32 registers (AVX-512, NEON); AVX2
  // has 16 registers: 3 x 4 = 12 + 3 + 1.
  static constexpr int WB = 3;
  static constexpr int NB = W == 8 ? 4 : 8;
  // Floats per image row of a chunk (the buffer rows): a block's NB rows take 32 KB of L1's 48, the
  // wide rows stream past them; longer rows mean fewer horizontal reductions (one per block and chunk).
  static constexpr int kRowFloats = 1024;
  // The buffer rows lie this much further apart than their length: rows a multiple of 4 KB apart
  // would all fall in the same L1 sets (12 ways) together with the wide rows.
  static constexpr int kRowSkew = 16;

  // 1x1 stride 1 without padding, one group, planes of at least 4 vectors: on smaller planes a chunk of
  // whole images holds too few pixels per reduction (with 16 lanes, 4x4 planes stay with conv_pointwise.h:
  // tried, 96->576 113 -> 89 GFLOP/s). A projection
  // (x the wide tensor) on planes under 16 vectors stays with conv_gemm.h: x's rows, read in place, are
  // then too short per image (8x8, measured in the model's groups of 9-12 images: 144->32 118 -> 112,
  // 192->32 124 -> 112 GFLOP/s; the expands gain: 32->192 79 -> 122).
  static bool applies(const ConvGeom& g) {
    const int P = g.out_h * g.out_w;
    return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0 &&
           g.groups == 1 && P >= 4 * W && (g.out_channels >= g.in_channels || P >= 16 * W);
  }

  // The chunking of one image's plane: pixels per chunk (a whole number of vectors unless the whole
  // plane) and images per chunk (> 1 only when a chunk is a whole plane).
  struct Chunking {
    int pixels;  // S: pixels per image in a chunk
    int padded;  // S rounded up to whole vectors: one image's piece of a buffer row
    int images;  // G
  };
  static Chunking chunking(const ConvGeom& g) {
    const int P = g.out_h * g.out_w;
    const int per_row = kRowFloats / W * W;
    const int P_pad = round_up(P, W);
    if (P_pad <= per_row) return Chunking{P, P_pad, max_int(1, min_int(g.batch, per_row / P_pad))};
    return Chunking{per_row, per_row, 1};
  }
  static size_t scratch_floats(const ConvGeom& g) {
    const Chunking ch = chunking(g);
    const int narrow = g.in_channels < g.out_channels ? g.in_channels : g.out_channels;
    return static_cast<size_t>(narrow) * (static_cast<size_t>(ch.images) * ch.padded + kRowSkew) + 16;  // + alignment
  }

  // acc[o][i] += wide[o][p] * buf[i][p] for the vectors of `pixels` pixels (a partial last one).
  template <int O, int I>
  static void dots(const float* wide, long wide_stride, const float* buf, long buf_stride, int pixels,
                   reg (&acc)[WB][NB]) {
    int p = 0;
    for (; p + W <= pixels; p += W) {
      reg d[O];
#pragma GCC unroll 8
      for (int o = 0; o < O; ++o) d[o] = V::load(wide + o * wide_stride + p);
#pragma GCC unroll 8
      for (int i = 0; i < I; ++i) {
        reg v = V::load(buf + i * buf_stride + p);
        in_register(v);
#pragma GCC unroll 8
        for (int o = 0; o < O; ++o) acc[o][i] = V::fma(d[o], v, acc[o][i]);
      }
    }
    if (p < pixels) {  // lanes past the plane load as 0 from the wide rows (the buffer holds zeros there)
      reg d[O];
#pragma GCC unroll 8
      for (int o = 0; o < O; ++o) d[o] = V::load_partial(wide + o * wide_stride + p, pixels - p);
#pragma GCC unroll 8
      for (int i = 0; i < I; ++i) {
        reg v = V::load(buf + i * buf_stride + p);
        in_register(v);
#pragma GCC unroll 8
        for (int o = 0; o < O; ++o) acc[o][i] = V::fma(d[o], v, acc[o][i]);
      }
    }
  }

  // Where a chunk's data is: the wide tensor at its first image and pixel, the buffer, and dW at
  // (wide channel 0, narrow channel 0) with the steps of each.
  struct Chunk {
    const float* wide;
    long wide_channel, wide_image;  // strides of the wide tensor (P, channels * P)
    const float* buf;
    long buf_row;  // images * padded
    int images, pixels, padded;
    float* dw;
    long dw_wide, dw_narrow;  // dW strides along the wide and the narrow channels
  };

  // One O x I block: wide channels [w0, w0 + O), narrow [n0, n0 + I).
  template <int O, int I>
  static void block(const Chunk& c, int w0, int n0) {
    reg acc[WB][NB];
#pragma GCC unroll 8
    for (int o = 0; o < O; ++o)
#pragma GCC unroll 8
      for (int i = 0; i < I; ++i) acc[o][i] = V::zero();
    const float* wide = c.wide + w0 * c.wide_channel;
    const float* buf = c.buf + n0 * c.buf_row;
    for (int n = 0; n < c.images; ++n)
      dots<O, I>(wide + n * c.wide_image, c.wide_channel, buf + static_cast<long>(n) * c.padded, c.buf_row, c.pixels,
                 acc);
    float* dw = c.dw + w0 * c.dw_wide + n0 * c.dw_narrow;
#pragma GCC unroll 8
    for (int o = 0; o < O; ++o)
#pragma GCC unroll 8
      for (int i = 0; i < I; ++i) dw[o * c.dw_wide + i * c.dw_narrow] += V::hsum(acc[o][i]);
  }

  // Wide channels [0, wide) of narrow channels [n0, n0 + I): blocks of WB, then the rest (1 or 2). The
  // I buffer rows stay in L1 while the wide rows stream past them.
  template <int I>
  static void column_of_blocks(const Chunk& c, int n0, int wide) {
    int w0 = 0;
    for (; w0 + WB <= wide; w0 += WB) block<WB, I>(c, w0, n0);
    if (wide - w0 == 2)
      block<2, I>(c, w0, n0);
    else if (wide - w0 == 1)
      block<1, I>(c, w0, n0);
  }

  static void backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* scratch) {
    const int P = g.out_h * g.out_w;
    const bool expand = g.out_channels >= g.in_channels;  // dy is the wide tensor
    const int wide_channels = expand ? g.out_channels : g.in_channels;
    const int narrow_channels = expand ? g.in_channels : g.out_channels;
    const float* wide = expand ? dy : x;
    const float* narrow = expand ? x : dy;
    const Chunking ch = chunking(g);
    const long dw_wide = expand ? g.in_channels : 1, dw_narrow = expand ? 1 : g.in_channels;
    // From a 64-byte boundary: every vector load of the buffer within one line.
    float* buf = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(scratch) + 63) & ~uintptr_t{63});
    for (int n0 = 0; n0 < g.batch; n0 += ch.images) {
      const int images = min_int(ch.images, g.batch - n0);
      const long buf_row = static_cast<long>(images) * ch.padded + kRowSkew;
      for (int p0 = 0; p0 < P; p0 += ch.pixels) {
        const int pixels = min_int(ch.pixels, P - p0);
        // The narrow chunk: buf[c][n * padded + p] = narrow[n0 + n][c][p0 + p], zeros up to padded.
        for (int c = 0; c < narrow_channels; ++c)
          for (int n = 0; n < images; ++n) {
            const float* src = narrow + (static_cast<long>(n0 + n) * narrow_channels + c) * P + p0;
            float* dst = buf + c * buf_row + static_cast<long>(n) * ch.padded;
            int p = 0;
            for (; p + W <= pixels; p += W) V::store(dst + p, V::load(src + p));
            for (; p < ch.padded; p += W) V::store(dst + p, V::load_partial(src + p, max_int(0, pixels - p)));
          }
        const Chunk c{wide + static_cast<long>(n0) * wide_channels * P + p0,
                      P,
                      static_cast<long>(wide_channels) * P,
                      buf,
                      buf_row,
                      images,
                      pixels,
                      ch.padded,
                      dweight,
                      dw_wide,
                      dw_narrow};
        // Narrow blocks of NB, then pieces of 4, 2, 1 (odd channel counts).
        int n = 0;
        for (; n + NB <= narrow_channels; n += NB) column_of_blocks<NB>(c, n, wide_channels);
        if (NB > 4 && n + 4 <= narrow_channels) {
          column_of_blocks<4>(c, n, wide_channels);
          n += 4;
        }
        if (n + 2 <= narrow_channels) {
          column_of_blocks<2>(c, n, wide_channels);
          n += 2;
        }
        if (n < narrow_channels) column_of_blocks<1>(c, n, wide_channels);
      }
    }
  }
  static_assert(WB == 3, "backward_weight's tail handles 1 or 2 wide channels");
};

// Weight gradient of expand convolutions (1x1, stride 1, no padding, one group, out >= in channels) as a
// GEMM with K along the pixels, broadcasting dy in place and keeping x transposed:
//
//   dW[oc][ci] += sum over images n and pixels p of dy[n][oc][p] * xT[(n, p)][ci]
//
// x (the narrow tensor: 32-320 channels) is transposed one block of KC pixels at a time into
// xT[k][ci] (ci contiguous, padded to whole vectors), and each register tile holds MR output channels x
// PV vectors of input channels of dW: per pixel it loads PV vectors of xT (from L1) and broadcasts MR
// values of dy read in place, for MR * PV FMAs (4 x 6: 10 loads for 24 FMAs), and adds straight into dW
// rows (ci contiguous: no horizontal reduction, no transposed dy).
//
// Against the paths it replaces (AVX-512, 1 thread, the model's groups of images, dy in L2, no bias, ms
// before -> here): 32->192 @8 0.38-0.43 -> 0.27-0.30, 64->384 @4 0.42-0.48 -> 0.24-0.27, 96->576 @4
// 0.87-0.93 -> 0.54-0.62, 160->960 @2 0.68-0.74 -> 0.39-0.45, 320->1280 @2 1.5-1.7 -> 1.14-1.3. On 4x4
// and 2x2 planes conv_pointwise.h / conv_gemm.h packed both operands transposed (dy, the large one, with
// a memcpy per 16- or 4-float plane row: ~30% of the time). Not taken: fewer than 2 vectors of input
// channels (16: one broadcast per FMA, load-bound; 24 -> 32 lanes: 24->144 @16 0.81 -> 0.86 ms, the dot
// products above stay), planes over 64 pixels (none in the models; 16->96 @32 measured equal), and
// projections (x the large operand to transpose: 4x4 and 8x8 lose 5-15%, 2x2 gains < 0.1 ms a layer).
//
// Order of the sums: each dW element gets its old value, then k = (n, p) in order (images, then pixels),
// one FMA at a time, whatever the blocking: bit-identical for the same batch slice.
template <class V>
struct ConvPointwiseWeightBcast {
  using reg = typename V::reg;
  static constexpr int W = V::width;
  static constexpr int kRegisters = W == 8 ? 16 : 32;  // AVX2: 16; AVX-512, NEON: 32
  // Widest panel of input channels (vectors) and the output channels per tile for a panel of PV vectors:
  // MR * PV accumulators + PV xT vectors + 1 broadcast within the registers.
  static constexpr int kPanelMax = W == 8 ? 2 : 6;
  static constexpr int rows_for(int PV) { return (kRegisters - 1 - PV) / PV > 12 ? 12 : (kRegisters - 1 - PV) / PV; }
  // Pixels (k) per block of xT: a panel's slice, kKc * kPanelMax vectors, stays in L1 (24 KB with 16 lanes).
  static constexpr int kKc = 64;

  static bool applies(const ConvGeom& g) {
    const int P = g.out_h * g.out_w;
    return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0 &&
           g.groups == 1 && g.out_channels >= g.in_channels && g.in_channels >= 2 * W && P <= 64;
  }

  struct Blocking {
    int pixels;  // pixels of one image per block (a whole plane when images > 1)
    int images;  // whole planes per block
  };
  static Blocking blocking(const ConvGeom& g) {
    const int P = g.out_h * g.out_w;
    if (P >= kKc) return Blocking{kKc, 1};
    return Blocking{P, max_int(1, min_int(g.batch, kKc / P))};
  }
  static int row_floats(const ConvGeom& g) { return round_up(g.in_channels, W); }
  static size_t scratch_floats(const ConvGeom& g) {
    const Blocking b = blocking(g);
    return static_cast<size_t>(b.images) * b.pixels * row_floats(g) + 16;  // + alignment
  }

  // One tile: dW rows [0, MR) (at dw, ld dw_ld) x columns [0, cols) (cols <= PV * W) += over the block's
  // images and pixels of dy[n][r][p] (dy at the block's first image, channel and pixel) * xT[k][c].
  template <int MR, int PV>
  static void tile(const float* xT, long ld, const float* dy, long dy_image, int P, int images, int pixels, float* dw,
                   long dw_ld, int cols) {
    reg acc[MR][PV];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < PV; ++v) {
        const int lanes = cols - v * W;
        acc[r][v] = lanes >= W ? V::load(dw + r * dw_ld + v * W) : V::load_partial(dw + r * dw_ld + v * W, lanes);
      }
    const float* b = xT;
    for (int n = 0; n < images; ++n) {
      const float* a = dy + n * dy_image;
      for (int p = 0; p < pixels; ++p, b += ld) {
        reg bv[PV];
#pragma GCC unroll 8
        for (int v = 0; v < PV; ++v) bv[v] = V::load(b + v * W);
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
          const reg s = V::set1(a[r * P + p]);
#pragma GCC unroll 8
          for (int v = 0; v < PV; ++v) acc[r][v] = V::fma(bv[v], s, acc[r][v]);
        }
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < PV; ++v) {
        const int lanes = cols - v * W;
        if (lanes >= W)
          V::store(dw + r * dw_ld + v * W, acc[r][v]);
        else
          V::store_partial(dw + r * dw_ld + v * W, acc[r][v], lanes);
      }
  }

  // All output channels for input channels [c0, c0 + cols), PV vectors: tiles of MR rows, then single rows.
  template <int PV>
  static void panel(const ConvGeom& g, const float* xT, long ld, const float* dy, int images, int pixels, float* dw,
                    int c0, int cols) {
    constexpr int MR = rows_for(PV);
    const int P = g.out_h * g.out_w;
    const long dy_image = static_cast<long>(g.out_channels) * P;
    int oc = 0;
    for (; oc + MR <= g.out_channels; oc += MR)
      tile<MR, PV>(xT + c0, ld, dy + static_cast<long>(oc) * P, dy_image, P, images, pixels,
                   dw + static_cast<long>(oc) * g.in_channels + c0, g.in_channels, cols);
    for (; oc < g.out_channels; ++oc)
      tile<1, PV>(xT + c0, ld, dy + static_cast<long>(oc) * P, dy_image, P, images, pixels,
                  dw + static_cast<long>(oc) * g.in_channels + c0, g.in_channels, cols);
  }

  // panel<PV> for the run-time width pv in [1, kPanelMax]: tries PV = 1, 2, ... in turn, so only the
  // widths this ISA's registers allow are instantiated.
  template <int PV = 1>
  static void panel_of_width(int pv, const ConvGeom& g, const float* xT, long ld, const float* dy, int images,
                             int pixels, float* dw, int c0, int cols) {
    if (pv == PV) return panel<PV>(g, xT, ld, dy, images, pixels, dw, c0, cols);
    if constexpr (PV < kPanelMax) panel_of_width<PV + 1>(pv, g, xT, ld, dy, images, pixels, dw, c0, cols);
  }

  static void backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* scratch) {
    const int P = g.out_h * g.out_w, CI = g.in_channels;
    const int ld = row_floats(g);
    const int vectors = ld / W;
    const int panels = (vectors + kPanelMax - 1) / kPanelMax;
    const int per_panel = (vectors + panels - 1) / panels;  // vectors per panel (the last may have fewer)
    const Blocking blk = blocking(g);
    // From a 64-byte boundary: every vector load of xT within one line.
    float* xT = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(scratch) + 63) & ~uintptr_t{63});
    for (int n0 = 0; n0 < g.batch; n0 += blk.images) {
      const int images = min_int(blk.images, g.batch - n0);
      for (int p0 = 0; p0 < P; p0 += blk.pixels) {
        const int pixels = min_int(blk.pixels, P - p0);
        // xT[n * pixels + p][c] = x[n0 + n][c][p0 + p], zeros in columns [CI, ld).
        for (int n = 0; n < images; ++n) {
          float* dst = xT + static_cast<long>(n) * pixels * ld;
          transpose_copy<V>(x + static_cast<long>(n0 + n) * CI * P + p0, P, CI, pixels, dst, ld);
          if (CI < ld)
            for (int p = 0; p < pixels; ++p)
              for (int c = CI; c < ld; ++c) dst[p * ld + c] = 0.0f;
        }
        const float* dy_block = dy + static_cast<long>(n0) * g.out_channels * P + p0;
        for (int v0 = 0; v0 < vectors; v0 += per_panel) {
          const int pv = min_int(per_panel, vectors - v0);
          const int c0 = v0 * W, cols = min_int(pv * W, CI - c0);
          panel_of_width(pv, g, xT, ld, dy_block, images, pixels, dweight, c0, cols);
        }
      }
    }
  }
};

}  // namespace plasmo::kernels::simd
