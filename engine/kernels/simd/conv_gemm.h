// Convolution as GEMM on packed panels, for layers with many channels (ResNet-18's 3x3 and 1x1 convs,
// MobileNetV2's 1x1 expand/project convs, the stems). Per group g (W_g: group_out x K, K = group_in*kh*kw,
// columns j = (image, output pixel) of the whole batch slice):
//
//   forward          y_g[oc][j]   = b[oc] + sum_k W_g[oc][k] * cols[k][j]           M = group_out, N = J
//   backward data    dcols[k][j]  = sum_oc W_g[oc][k] * dy_g[oc][j];  dx += col2im    M = K,  N = J'
//   backward weight  dW_g[oc][k] += sum_j dy_g[oc][j] * cols[k][j]                  M = group_out, N = K
//
// cols is never stored whole: the B packer reads the windows straight from x (conv_pack.h), so a 1x1
// stride-1 convolution is a plain GEMM on the NCHW planes, and the columns of several images share one
// GEMM, which keeps N large where one image has few pixels (ResNet's 4x4 and 2x2 stages).
#pragma once
#include <cstring>

#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/conv_few.h"
#include "engine/kernels/simd/conv_pack.h"
#include "engine/kernels/simd/gemm_driver.h"

namespace plasmo::kernels::simd {

template <class V, class Micro>
struct ConvGemm {
  static constexpr int MR = Micro::MR, NR = Micro::NR;
  // KC x NR floats of B (32 KB for NR = 32) stay in L1 while the MC x KC block of A streams from L2.
  static constexpr int KC = 256;
  static constexpr int MC_MAX = (512 + MR - 1) / MR * MR;
  static constexpr int NC = 512 / NR * NR;
  static constexpr long kTargetColumns = 256;  // batch columns per backward-data GEMM (bounds its scratch)
  static constexpr int kGroup = 4;             // slivers per group in forward_gemm
  // Pointwise convolutions group more slivers (up to kMaxGroup, about kPointwiseGroupBytes of B): every
  // tile row then writes one long run per output plane instead of a short run into each of the M planes,
  // which at MobileNetV2's expand convolutions (96..1280 planes) is more streams than the prefetchers
  // track (16 -> 96 at 32x32: 4.3 -> 2.3 ms at batch 64).
  static constexpr int kMaxGroup = 32;
  static constexpr long kPointwiseGroupBytes = 128 * 1024;
  static int group_slivers(bool pointwise, int kc) {
    if (!pointwise) return kGroup;
    const long slivers = kPointwiseGroupBytes / (static_cast<long>(kc > 0 ? kc : 1) * NR * 4);
    return slivers < kGroup ? kGroup : slivers > kMaxGroup ? kMaxGroup : static_cast<int>(slivers);
  }

  static Blocking blocking(int M) { return Blocking{min_int(round_up(M, MR), MC_MAX), KC, NC}; }
  static size_t gemm_floats(int M) { return gemm_scratch_floats<Micro>(blocking(M)); }

  // ---- windows: padded chunks of images ---------------------------------------------------------------
  // With padding, windows are read from a zero-padded copy of a chunk of images (about kChunkColumns
  // batch columns), so packing is plain vector copies; without padding, straight from x.
  static constexpr int kChunkColumns = 512;
  static bool padded(const ConvGeom& g) { return g.pad_h != 0 || g.pad_w != 0; }
  static int chunk_images(const ConvGeom& g) {
    if (!padded(g)) return g.batch;
    const int P = g.out_h * g.out_w;
    return max_int(1, min_int(g.batch, (kChunkColumns + P - 1) / P));
  }
  static size_t window_floats(const ConvGeom& g) {
    if (!padded(g)) return 0;
    return static_cast<size_t>(chunk_images(g)) * g.in_channels * padded_h(g) * padded_w(g) + 2 * V::width;
  }
  // The source for images [n0, n0 + images), padding them into `buffer` when needed; group offset applied later.
  static WindowSource window_source(const ConvGeom& g, const float* x, int n0, int images, float* buffer) {
    if (!padded(g)) {
      const long plane = static_cast<long>(g.in_h) * g.in_w;
      return WindowSource{x, g.in_channels * plane, plane, g.in_w, 0};
    }
    pad_images<V>(g, x, n0, images, buffer);
    const long plane = static_cast<long>(padded_h(g)) * padded_w(g);
    return WindowSource{buffer, g.in_channels * plane, plane, padded_w(g), n0};
  }
  // Stride-1 convolutions whose output rows are narrower than a vector but tile it (8 pixels with
  // AVX-512: ResNet-18's 8x8 stage) read their windows from kernel_w column-shifted copies (pad_shifted),
  // where 16 consecutive output pixels of an image are consecutive for every tap: the microkernel then
  // reads B in place as for 16-wide rows, instead of packing a sliver of four 8-pixel runs per tap.
  static bool shifted(const ConvGeom& g) {
    constexpr int W = V::width;
    return g.stride_h == 1 && g.stride_w == 1 && !(g.kernel_h == 1 && g.kernel_w == 1) && g.out_w < W &&
           W % g.out_w == 0 && g.out_w > 4 && (g.out_h * g.out_w) % W == 0;
  }
  // Images per chunk of the forward: shifted copies are made with or without padding, so always chunked.
  static int forward_chunk_images(const ConvGeom& g) {
    if (!shifted(g)) return chunk_images(g);
    const int P = g.out_h * g.out_w;
    return max_int(1, min_int(g.batch, (kChunkColumns + P - 1) / P));
  }
  static size_t forward_window_floats(const ConvGeom& g) {
    if (!shifted(g)) return window_floats(g);
    return static_cast<size_t>(g.kernel_w) * forward_chunk_images(g) * g.in_channels * padded_h(g) * g.out_w +
           2 * V::width;
  }
  static WindowSource forward_window_source(const ConvGeom& g, const float* x, int n0, int images, float* buffer) {
    if (!shifted(g)) return window_source(g, x, n0, images, buffer);
    pad_shifted<V>(g, x, n0, images, buffer);
    const long plane = static_cast<long>(padded_h(g)) * g.out_w;
    return WindowSource{buffer, g.in_channels * plane, plane, g.out_w, n0, images * g.in_channels * plane};
  }
  static WindowSource group_source(WindowSource src, int first_channel) {
    src.base += first_channel * src.plane;
    return src;
  }

  // ---- pre-packed weights ---------------------------------------------------------------------------
  // The forward paths read W as packed GEMM panels in one of three layouts, fixed by the geometry:
  //   kRows (forward: W_g is the A operand), per group and KC block pc of K: the rows of W_g as MR-slivers
  //         [kc][MR], block (grp, pc) at grp*Mr*K + pc*Mr and the sliver of row r at + r*kc (Mr = group_out
  //         rounded up to MR);
  //   kCols (forward_gather: W_g^T is the B operand), per group and KC block: the output channels
  //         as slivers one vector wide, [kc][width], block at grp*Mc*K + pc*Mc and the sliver of channel c at
  //         + c*kc (Mc: group_out rounded up to NR, zero-filled). One-vector slivers let each path pick its
  //         tile width: NR (NR/width slivers side by side) for the gathered product;
  // pack_weights writes every block once (the Conv2d layer keeps them while the weights do not change, so a
  // single image no longer re-reads and re-packs 9.4 MB of layer4 weights per call). Called with
  // packed == nullptr, the paths pack each block into scratch when they need it: same values, same order of
  // operations, so both ways give the same bits.
  // kFew (forward_few, conv_few.h): kCols' slivers over the whole of K in one block (see ConvFew).
  enum Layout { kNone = 0, kRows = 1, kCols = 2, kFew = 3 };
  static int layout(const ConvGeom& g) { return few(g) ? kFew : gathered(g) ? kCols : kRows; }
  static int weight_k(const ConvGeom& g) { return g.in_channels / g.groups * g.kernel_h * g.kernel_w; }
  static int rows_padded(const ConvGeom& g) { return round_up(g.out_channels / g.groups, MR); }
  static int cols_padded(const ConvGeom& g) { return round_up(g.out_channels / g.groups, NR); }
  static size_t packed_floats(const ConvGeom& g) {
    const int padded = layout(g) != kRows ? cols_padded(g) : rows_padded(g);
    return static_cast<size_t>(g.groups) * padded * weight_k(g);
  }
  // The rows (kRows) or output-channel slivers (kCols) [first, first + count) of group grp's KC block pc,
  // packed at dst (slivers from `first`, which is a multiple of MR or NR).
  static void pack_rows_block(const ConvGeom& g, const float* weight, int grp, int first, int count, int pc, int kc,
                              float* dst) {
    const int K = weight_k(g), group_out = g.out_channels / g.groups;
    const PackMatrix<V, MR> pack{weight + (static_cast<long>(grp) * group_out + first) * K, K, false};
    pack(0, count, pc, kc, dst);
  }
  // Output channels [first, first + count) as vector slivers [kc][width] (channel first + c*width + i at
  // dst + c*kc*width + k*width + i), zero up to `padded` channels.
  static void pack_cols_block(const ConvGeom& g, const float* weight, int grp, int first, int count, int padded, int pc,
                              int kc, float* dst) {
    constexpr int W = V::width;
    const int K = weight_k(g), group_out = g.out_channels / g.groups;
    const PackMatrix<V, W> pack{weight + (static_cast<long>(grp) * group_out + first) * K, K, false};
    pack(0, count, pc, kc, dst);
    const long done = static_cast<long>(round_up(count, W)) * kc;
    std::memset(dst + done, 0, sizeof(float) * (static_cast<long>(padded) * kc - done));
  }
  static void pack_weights(const ConvGeom& g, const float* weight, float* packed) {
    if (layout(g) == kFew) {
      Few::pack_weights(g, weight, packed);
      return;
    }
    const int K = weight_k(g), group_out = g.out_channels / g.groups;
    const bool cols = layout(g) == kCols;
    const int padded = cols ? cols_padded(g) : rows_padded(g);
    for (int grp = 0; grp < g.groups; ++grp)
      for (int pc = 0; pc < K; pc += KC) {
        const int kc = min_int(KC, K - pc);
        float* dst = packed + static_cast<long>(grp) * padded * K + static_cast<long>(pc) * padded;
        if (cols)
          pack_cols_block(g, weight, grp, 0, group_out, padded, pc, kc, dst);
        else
          pack_rows_block(g, weight, grp, 0, group_out, pc, kc, dst);
      }
  }
  // Block (grp, pc) of a pre-packed set, from its first sliver.
  static const float* packed_block(const ConvGeom& g, const float* packed, int padded, int grp, int pc) {
    return packed + static_cast<long>(grp) * padded * weight_k(g) + static_cast<long>(pc) * padded;
  }

  // ---- forward --------------------------------------------------------------------------------------
  // Three ways, by geometry:
  //  - in place (stride 1 with output rows of whole vectors, or a pointwise conv over whole vectors of
  //    pixels): y = W * cols with cols read by the microkernel straight from the image (forward_gemm);
  //    stride 1 with 8-pixel rows too, from column-shifted copies of the images (shifted());
  //  - packed (other planes of 8 pixels per row or more): forward_gemm packing B slivers of windows;
  //  - gathered (rows of 4 pixels or fewer, such as ResNet's 4x4 and 2x2 stages): y^T = cols^T * W^T, the rows of
  //    cols^T (windows of 8 pixels) broadcast from the image (run_gather), W^T packed, y^T accumulated
  //    in scratch and transposed into y. Nothing is packed per pixel, whatever the stride or plane size;
  //  - few (<= kFewColumns batch columns in all: one image at 4x4 or 2x2): the gathered product over all of
  //    K in registers, W^T streamed once, sliver after sliver, results straight into y (forward_few, conv_few.h).
  static bool pointwise(const ConvGeom& g) {
    return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
  }
  static bool in_place(const ConvGeom& g) {
    constexpr int W = V::width;
    return g.stride_w == 1 && (pointwise(g) ? (g.out_h * g.out_w) % W == 0 : g.out_w % W == 0);
  }
  // Packing copies one run of pixels per output row and tap, so its overhead grows as rows shrink; the
  // gathered form's (initialising and transposing y) does not. Measured on AVX-512 (ResNet-18@64): packing
  // wins at 8-wide rows and more (16x16/2 -> 8x8: 99 vs 93 GFLOP/s; the 7x7/2 stem: 113 vs 78), gathering
  // below (4x4: 102 -> 120; 2x2: 74 -> 108; 4x4/2 -> 2x2: 73 -> 107).
  static bool gathered(const ConvGeom& g) { return !few(g) && !in_place(g) && g.out_w <= 4; }
  // 1x1 convolutions with y^T chunks of over kGatherYtFloats (more than 512 output channels at 512
  // columns) take chunks of kGatherPointwiseColumns: y^T (columns x output channels) is the chunk's working
  // set besides one W^T sliver, and at 1-1.3 MB (MobileNetV2's 160->960 and 320->1280 at 2x2, batch 64)
  // it outgrew L2, read and written per KC block, then transposed. Fewer output channels keep 512 columns:
  // their W (K up to 1280) would be re-read per chunk (features.18.0's backward data, 1280->320, and
  // features.17.conv.2, 960->320, lost 0.15-0.35 ms each at 64 columns). MobileNetV2@64 train step (1
  // thread, CPU clock, alternating with main): features.18.0 forward 2.37-2.66 -> 2.23-2.29 ms,
  // features.15-17.conv.0.0 forward 1.06-1.21 -> 0.88-1.03 ms. Depends on the output channels only, so a
  // smaller batch never needs a larger chunk (the scratch sizing). Same bits: a column's sums do not
  // depend on its chunk.
  static constexpr int kGatherPointwiseColumns = 64;
  static constexpr long kGatherYtFloats = 256L * 1024;
  static int gather_chunk_images(const ConvGeom& g) {
    const int P = g.out_h * g.out_w;
    const bool big_yt = pointwise(g) && static_cast<long>(kChunkColumns) * cols_padded(g) > kGatherYtFloats;
    const int columns = big_yt ? kGatherPointwiseColumns : kChunkColumns;
    return max_int(1, min_int(g.batch, (columns + P - 1) / P));
  }
  static size_t forward_scratch(const ConvGeom& g) {
    if (few(g)) return few_scratch(g);
    if (!gathered(g)) return gemm_floats(g.out_channels / g.groups) + forward_window_floats(g) + packed_floats(g);
    const long M_pad = cols_padded(g);
    const long J_pad = round_up(gather_chunk_images(g) * g.out_h * g.out_w, MR);
    // panel (KC x M_pad) + y^T (J_pad x M_pad) + origins (J_pad ints) + tap offsets (KC ints) + windows
    // (+ the packed W^T of a call that runs several chunks without pre-packed weights)
    const size_t own = gather_chunk_images(g) < g.batch ? packed_floats(g) : 0;
    return static_cast<size_t>(KC * M_pad + J_pad * M_pad + J_pad + KC) + gather_windows_floats(g) + own;
  }
  static size_t gather_windows_floats(const ConvGeom& g) {
    if (!padded(g)) return 0;
    return static_cast<size_t>(gather_chunk_images(g)) * g.in_channels * padded_h(g) * padded_w(g) + 2 * V::width;
  }

  // y[n][row0 + oc][p] = yt[j - c0][oc] for oc < M, batch columns j in [c0, c0 + J): image by image.
  static void store_transposed(const ConvGeom& g, const float* yt, long ld, long c0, int J, int M, float* y_rows) {
    const int P = g.out_h * g.out_w;
    long j = c0;
    for (int done = 0; done < J;) {
      const int n = static_cast<int>(j / P), p = static_cast<int>(j % P);
      const int len = min_int(P - p, J - done);
      transpose_copy<V>(yt + static_cast<long>(done) * ld, ld, len, M,
                        y_rows + static_cast<long>(n) * g.out_channels * P + p, P);
      done += len;
      j += len;
    }
  }
  // yt[j][oc] = bias[oc] (0 without bias) for j < J_pad, oc < M_pad (oc >= M: 0).
  static void init_transposed(float* yt, int J_pad, int M_pad, int M, const float* bias) {
    float* row = yt;
    if (bias)
      std::memcpy(row, bias, sizeof(float) * M);
    else
      std::memset(row, 0, sizeof(float) * M);
    std::memset(row + M, 0, sizeof(float) * (M_pad - M));
    for (int j = 1; j < J_pad; ++j) std::memcpy(yt + static_cast<long>(j) * M_pad, row, sizeof(float) * M_pad);
  }

  // y for output channels [row_begin, row_end) of every group (row_begin a multiple of NR) and batch
  // columns [col_begin, col_end), by the gathered formulation above.
  static void forward_gather(const ConvGeom& g, const float* x, const float* weight, const float* packed,
                             const float* bias, float* y, float* scratch, long col_begin, long col_end, int row_begin,
                             int row_end) {
    const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
    const int K = weight_k(g), P = g.out_h * g.out_w;
    const int M = row_end - row_begin, M_pad = round_up(M, NR), Mc = cols_padded(g);
    const int chunk = gather_chunk_images(g);
    const int J_max = round_up(chunk * P, MR);
    float* panel = scratch;                                                     // KC x M_pad: W^T slivers
    float* yt = panel + static_cast<long>(KC) * Mc;                             // J_max x M_pad
    int* origins = reinterpret_cast<int*>(yt + static_cast<long>(J_max) * Mc);  // J_max
    int* offsets = origins + J_max;                                             // KC
    float* windows = reinterpret_cast<float*>(offsets + KC);
    // Without pre-packed weights, one chunk of columns packs each block of W^T just before using it
    // (from W straight into L2, no pass over W ahead: a training step's forward). Several chunks would
    // pack every block once per chunk, so this part's slivers are then packed once, up front.
    const int first_image = static_cast<int>(col_begin / P), last_image = static_cast<int>((col_end - 1) / P);
    if (!packed && (last_image - first_image) / chunk > 0) {
      float* own = windows + gather_windows_floats(g);
      for (int grp = 0; grp < g.groups; ++grp)
        for (int pc = 0; pc < K; pc += KC) {
          const int kc = min_int(KC, K - pc);
          const long block = static_cast<long>(grp) * Mc * K + static_cast<long>(pc) * Mc;
          pack_cols_block(g, weight, grp, row_begin, M, M_pad, pc, kc, own + block + static_cast<long>(row_begin) * kc);
        }
      packed = own;
    }
    for (int n0 = first_image; static_cast<long>(n0) * P < col_end; n0 += chunk) {
      const int images = min_int(chunk, g.batch - n0);
      const long c0 = col_begin > static_cast<long>(n0) * P ? col_begin : static_cast<long>(n0) * P;
      const long c1 = col_end < static_cast<long>(n0 + images) * P ? col_end : static_cast<long>(n0 + images) * P;
      const int J = static_cast<int>(c1 - c0), J_pad = round_up(J, MR);
      const WindowSource src = window_source(g, x, n0, images, windows);
      // Window origin of each column (extra rows repeat column c0's: computed, never stored).
      {
        int n = static_cast<int>(c0 / P), p = static_cast<int>(c0 % P), oh = p / g.out_w, ow = p % g.out_w;
        for (int j = 0; j < J; ++j) {
          origins[j] = static_cast<int>((n - src.n_first) * src.image_stride +
                                        static_cast<long>(oh * g.stride_h) * src.row_len + ow * g.stride_w);
          if (++ow == g.out_w) {
            ow = 0;
            if (++oh == g.out_h) {
              oh = 0;
              ++n;
            }
          }
        }
        for (int j = J; j < J_pad; ++j) origins[j] = origins[0];
      }
      for (int grp = 0; grp < g.groups; ++grp) {
        const int row0 = grp * group_out + row_begin;
        const float* base = src.base + static_cast<long>(grp) * group_in * src.plane;
        init_transposed(yt, J_pad, M_pad, M, bias ? bias + row0 : nullptr);
        for (int pc = 0; pc < K; pc += KC) {
          const int kc = min_int(KC, K - pc);
          for (int kk = 0; kk < kc; ++kk) {
            const int k = pc + kk;
            const int ci = k / (g.kernel_h * g.kernel_w), kh = (k / g.kernel_w) % g.kernel_h, kw = k % g.kernel_w;
            offsets[kk] = static_cast<int>(ci * src.plane + static_cast<long>(kh) * src.row_len + kw);
          }
          const float* w_panel = panel;
          if (packed)
            w_panel = packed_block(g, packed, Mc, grp, pc) + static_cast<long>(row_begin) * kc;
          else
            pack_cols_block(g, weight, grp, row_begin, M, M_pad, pc, kc, panel);
          // Slivers outer: a W^T sliver (KC x NR, 32 KB) stays in L1 for every column tile, whose gathered
          // windows (a few KB) come from L2; the other order streamed the whole panel from L2 per tile.
          // The next block's panel (pre-packed: it follows in memory) is fetched into L2 a slice per
          // sliver while this one computes, so no sliver waits on DRAM.
          const float* next = nullptr;
          long next_floats = 0, slice = 0;
          if (packed && pc + KC < K) {
            const int next_kc = min_int(KC, K - pc - KC);
            next = packed_block(g, packed, Mc, grp, pc + KC) + static_cast<long>(row_begin) * next_kc;
            next_floats = static_cast<long>(M_pad) * next_kc;
            slice = (next_floats + M_pad / NR - 1) / (M_pad / NR);
          }
          for (int s = 0; s < M_pad; s += NR) {
            if (next) prefetch_l2(next + s / NR * slice, min_long(slice, next_floats - s / NR * slice));
            for (int jt = 0; jt < J_pad; jt += MR)
              Micro::run_gather_vs(kc, base, origins + jt, offsets, w_panel + static_cast<long>(s) * kc,
                                   yt + static_cast<long>(jt) * M_pad + s, M_pad, true, nullptr);
          }
        }
        store_transposed(g, yt, M_pad, c0, J, M, y + static_cast<long>(row0) * P);
      }
    }
  }

  // ---- forward for a handful of columns (one image at 4x4 or 2x2: single-image inference) ------------
  // conv_few.h: y^T = cols^T * W^T over all of K in registers, W^T pre-packed whole-K (layout kFew).
  using Few = ConvFew<V, ConvGemm>;
  static constexpr int kFewColumns = Few::kFewColumns;
  static bool few(const ConvGeom& g) { return Few::few(g); }
  static size_t few_scratch(const ConvGeom& g) { return Few::scratch_floats(g); }
  // Output channels [row_begin, row_end) of every group (row_begin a multiple of NR), all columns.
  static void forward_few(const ConvGeom& g, const float* x, const float* weight, const float* packed,
                          const float* bias, float* y, float* scratch, int row_begin, int row_end) {
    Few::forward(g, x, weight, packed, bias, y, scratch, row_begin, row_end);
  }

  // Output channels [row_begin, row_end) of every group (row_begin a multiple of MR), batch columns
  // [col_begin, col_end).
  static void forward(const ConvGeom& g, const float* x, const float* weight, const float* packed, const float* bias,
                      float* y, float* scratch, long col_begin, long col_end, int row_begin, int row_end) {
    const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
    const int K = weight_k(g), P = g.out_h * g.out_w;
    const Blocking blk = blocking(group_out);
    float* Bp = scratch + static_cast<long>(blk.MC) * blk.KC;
    float* windows = scratch + gemm_floats(group_out);
    // Without pre-packed weights, this part's rows of W are packed once for the whole call (into the
    // layout pack_weights writes, after the windows), not once per chunk of images: 32 chunks of 2
    // images at ResNet's 16x16 planes packed W 32 times (+6% time). Same values, so the same bits.
    if (!packed) {
      float* own = windows + forward_window_floats(g);
      for (int grp = 0; grp < g.groups; ++grp)
        for (int pc = 0; pc < K; pc += KC) {
          const int kc = min_int(KC, K - pc);
          const long block = static_cast<long>(grp) * rows_padded(g) * K + static_cast<long>(pc) * rows_padded(g);
          pack_rows_block(g, weight, grp, row_begin, row_end - row_begin, pc, kc,
                          own + block + static_cast<long>(row_begin) * kc);
        }
      packed = own;
    }
    const int chunk = forward_chunk_images(g);
    for (int n0 = static_cast<int>(col_begin / P); static_cast<long>(n0) * P < col_end; n0 += chunk) {
      const int images = min_int(chunk, g.batch - n0);
      const long c0 = col_begin > static_cast<long>(n0) * P ? col_begin : static_cast<long>(n0) * P;
      const long c1 = col_end < static_cast<long>(n0 + images) * P ? col_end : static_cast<long>(n0 + images) * P;
      const WindowSource src = forward_window_source(g, x, n0, images, windows);
      for (int grp = 0; grp < g.groups; ++grp) {
        const int row0 = grp * group_out + row_begin;
        // A block (rows [ic, ic + mc) of this part, KC block pc) of the packed weights.
        const auto a_block = [&](int ic, int /*mc*/, int pc, int kc) -> const float* {
          return packed_block(g, packed, rows_padded(g), grp, pc) + static_cast<long>(row_begin + ic) * kc;
        };
        const PackWindows<V, NR> pack_b{&g, group_source(src, grp * group_in), c0};
        const PlanesTile<NR> tile{y + static_cast<long>(row0) * P, static_cast<long>(g.out_channels) * P, P, c0};
        forward_gemm(g, group_source(src, grp * group_in), row_end - row_begin, c0, c1, K, a_block, pack_b, tile,
                     bias ? bias + row0 : nullptr, blk, Bp);
      }
    }
  }

  // The forward GEMM of one group over batch columns [c0, c1). Like gemm_blocked, except that where a B
  // sliver is whole vectors each lying in one row of the window source (stride 1 and output rows of
  // whole vectors: 16 or 32 wide with AVX-512; or a pointwise convolution, whose images are contiguous),
  // the microkernel reads B straight from the source through per-tap offsets and nothing is packed.
  template <class ABlock, class PackB, class Tile>
  static void forward_gemm(const ConvGeom& g, const WindowSource& src, int M, long c0, long c1, int K,
                           const ABlock& a_block, const PackB& pack_b, const Tile& tile, const float* row_init,
                           const Blocking& blk, float* Bp) {
    constexpr int W = V::width, NV = NR / W;
    const int N = static_cast<int>(c1 - c0), P = g.out_h * g.out_w;
    const bool pointwise = g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.pad_h == 0 && g.pad_w == 0;
    // Whole vectors of an image's pixels are contiguous: pointwise and column-shifted sources.
    const bool contiguous = pointwise || shifted(g);
    const bool in_place = g.stride_w == 1 && (contiguous || g.out_w % W == 0);
    int offsets[KC];
    for (int pc = 0; pc < K || pc == 0; pc += blk.KC) {
      const int kc = min_int(blk.KC, K - pc);
      const bool acc = pc > 0;
      for (int kk = 0; kk < kc; ++kk) {
        const int k = pc + kk;
        const int ci = k / (g.kernel_h * g.kernel_w), kh = (k / g.kernel_w) % g.kernel_h, kw = k % g.kernel_w;
        offsets[kk] = static_cast<int>(ci * src.plane + static_cast<long>(kh) * src.row_len + kw * src.tap_w);
      }
      for (int ic = 0; ic < M; ic += blk.MC) {
        const int mc = min_int(blk.MC, M - ic);
        const float* Ap = a_block(ic, mc, pc, kc);
        // Groups of kGroup slivers: slivers read in place run tile row by tile row across the group, so
        // an A sliver (MR x KC) is reused kGroup times from L1 while the group's window rows (about 20 KB
        // for a 3x3 conv) stay in L1 too. Slivers that must be packed run on their own, as in gemm_blocked.
        const int group = group_slivers(pointwise, kc);
        for (int jr0 = 0; jr0 < N; jr0 += group * NR) {
          const float* bvec[kMaxGroup][NV];
          bool direct[kMaxGroup];
          int count = 0;
          for (int s = 0; s < group && jr0 + s * NR < N; ++s, ++count) {
            const int jr = jr0 + s * NR;
            direct[s] = in_place && N - jr >= NR;
            for (int v = 0; v < NV && direct[s]; ++v) {
              const long j = c0 + jr + v * W;
              const int n = static_cast<int>(j / P), p = static_cast<int>(j % P);
              const int oh = p / g.out_w, ow = p % g.out_w;
              direct[s] = contiguous ? p + W <= P : ow + W <= g.out_w;
              bvec[s][v] = src.base + (n - src.n_first) * src.image_stride +
                           static_cast<long>(oh * g.stride_h) * src.row_len + ow;
            }
            if (direct[s]) continue;
            const int nr = min_int(NR, N - jr);
            pack_b(jr, nr, pc, kc, Bp);
            for (int ir = 0; ir < mc; ir += MR)
              gemm_tile<Micro>(ic + ir, jr, min_int(MR, mc - ir), nr, kc, Ap + static_cast<long>(ir) * kc, Bp, tile,
                               acc, (!acc && row_init) ? row_init + ic + ir : nullptr);
          }
          for (int ir = 0; ir < mc; ir += MR) {
            const float* a = Ap + static_cast<long>(ir) * kc;
            const float* init = (!acc && row_init) ? row_init + ic + ir : nullptr;
            for (int s = 0; s < count; ++s)
              if (direct[s])
                gemm_tile_with<Micro>(ic + ir, jr0 + s * NR, min_int(MR, mc - ir), NR, tile, acc, init,
                                      [&](float* C, long ldc, bool accum, const float* start) {
                                        Micro::run_indirect(kc, a, bvec[s], offsets, C, ldc, accum, start);
                                      });
          }
        }
      }
      if (K == 0) break;
    }
  }

  // ---- backward data (col2im route: any stride and padding) ---------------------------------------------
  static int images_per_chunk(const ConvGeom& g) {
    const int P = g.out_h * g.out_w;
    return max_int(1, min_int(g.batch, static_cast<int>((kTargetColumns + P - 1) / P)));
  }
  static size_t backward_data_scratch(const ConvGeom& g) {
    const int K = g.in_channels / g.groups * g.kernel_h * g.kernel_w;
    const size_t cols = static_cast<size_t>(K) * images_per_chunk(g) * g.out_h * g.out_w;
    return gemm_floats(K) + cols;
  }

  // dx[ci][ih][iw] += cols[(ci*kh_n + kh)*kw_n + kw][oh*out_w + ow] for one image and group (ld: cols row stride).
  static void col2im_add(const ConvGeom& g, const float* cols, long ld, float* dx) {
    const int group_in = g.in_channels / g.groups;
    for (int ci = 0; ci < group_in; ++ci)
      for (int kh = 0; kh < g.kernel_h; ++kh)
        for (int kw = 0; kw < g.kernel_w; ++kw) {
          const float* row = cols + ((ci * g.kernel_h + kh) * g.kernel_w + kw) * ld;
          // Output columns ow whose input column iw = ow*stride - pad + kw lies in [0, in_w).
          const int iw0 = kw - g.pad_w;
          int lo = iw0 >= 0 ? 0 : (-iw0 + g.stride_w - 1) / g.stride_w;
          int hi = iw0 >= g.in_w ? 0 : (g.in_w - iw0 + g.stride_w - 1) / g.stride_w;
          if (hi > g.out_w) hi = g.out_w;
          if (lo > hi) lo = hi;
          for (int oh = 0; oh < g.out_h; ++oh) {
            const int ih = oh * g.stride_h - g.pad_h + kh;
            if (ih < 0 || ih >= g.in_h) continue;
            float* dx_row = dx + (static_cast<long>(ci) * g.in_h + ih) * g.in_w + iw0;
            const float* src = row + oh * g.out_w;
            if (g.stride_w == 1) {
              int ow = lo;
              for (; ow + V::width <= hi; ow += V::width)
                V::store(dx_row + ow, V::add(V::load(dx_row + ow), V::load(src + ow)));
              for (; ow < hi; ++ow) dx_row[ow] += src[ow];
            } else {
              for (int ow = lo; ow < hi; ++ow) dx_row[ow * g.stride_w] += src[ow];
            }
          }
        }
  }

  // dx = conv_transpose(dy, W) for the whole slice (overwrites dx).
  static void backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* scratch) {
    const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
    const int K = group_in * g.kernel_h * g.kernel_w, P = g.out_h * g.out_w;
    const long in_plane = static_cast<long>(g.in_h) * g.in_w;
    std::memset(dx, 0, sizeof(float) * g.batch * g.in_channels * in_plane);
    const Blocking blk = blocking(K);
    float* Ap = scratch;
    float* Bp = Ap + static_cast<long>(blk.MC) * blk.KC;
    float* dcols = scratch + gemm_floats(K);
    const int chunk = images_per_chunk(g);
    for (int n0 = 0; n0 < g.batch; n0 += chunk) {
      const int images = min_int(chunk, g.batch - n0);
      const int J = images * P;
      for (int grp = 0; grp < g.groups; ++grp) {
        // dcols (K x J) = W_g^T (K x group_out) * dy_g (group_out x J)
        const PackMatrix<V, MR> pack_a{weight + static_cast<long>(grp) * group_out * K, K, true};
        const PackPlanes<V, NR> pack_b{dy + (static_cast<long>(n0) * g.out_channels + grp * group_out) * P,
                                       static_cast<long>(g.out_channels) * P, P, 0};
        gemm_blocked<Micro>(K, J, group_out, pack_a, pack_b, MatrixTile{dcols, J}, false, nullptr, blk, Ap, Bp);
        for (int i = 0; i < images; ++i)
          col2im_add(g, dcols + static_cast<long>(i) * P, J,
                     dx + (static_cast<long>(n0 + i) * g.in_channels + grp * group_in) * in_plane);
      }
    }
  }

  // ---- backward weight ------------------------------------------------------------------------------------
  // dW_g^T (K x group_out) = sum over batch columns j of cols[tap][j] * dy_g[oc][j], as a GEMM with
  //   A = the im2col matrix (rows: taps, inner: j), gathered straight from the window source by the
  //       microkernel (run_gather: element = base[tap offset + window origin of column j]); no im2col
  //       copy and no transpose of it;
  //   B = dy_g^T (inner: j, columns: output channels), packed by transposing dy rows (dy is K/group_out
  //       times smaller than the im2col matrix, and its packed panel serves every tap);
  //   C = dW_g^T in scratch, added (transposed) into dW once at the end.
  static int taps_padded(const ConvGeom& g) { return round_up(g.in_channels / g.groups * g.kernel_h * g.kernel_w, MR); }
  static int outs_padded(const ConvGeom& g) { return round_up(g.out_channels / g.groups, NR); }
  static constexpr long kScratchTiles = 256 * 1024;
  static size_t backward_weight_scratch(const ConvGeom& g) {
    const long tiles = static_cast<long>(taps_padded(g)) * outs_padded(g);
    const size_t dwt = tiles <= kScratchTiles ? static_cast<size_t>(tiles) : 0;
    const size_t panel = static_cast<size_t>(KC) * outs_padded(g), tmp = static_cast<size_t>(NR) * KC;
    const size_t ints = static_cast<size_t>(KC) + taps_padded(g);  // window origins and tap offsets
    return dwt + panel + tmp + ints + window_floats(g);
  }

  static void backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* scratch) {
    const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
    const int K = group_in * g.kernel_h * g.kernel_w, P = g.out_h * g.out_w;
    const int K_pad = taps_padded(g), M_pad = outs_padded(g);
    // Small dW^T (<= 1 MB) accumulates in scratch over all column blocks and is added to dW once; a
    // large one would stream through L3 twice more than the GEMM's own tiles, so tiles go straight to dW.
    const bool accumulate_in_scratch = static_cast<long>(K_pad) * M_pad <= kScratchTiles;
    float* dwt = scratch;  // K_pad x M_pad (when accumulating there)
    float* panel = dwt + (accumulate_in_scratch ? static_cast<long>(K_pad) * M_pad : 0);  // KC x M_pad: dy^T
    float* tmp = panel + static_cast<long>(KC) * M_pad;                                   // NR x KC
    // Integer tables live in the float scratch (same size and alignment, only ever read back as int).
    int* origins = reinterpret_cast<int*>(tmp + static_cast<long>(NR) * KC);  // KC
    int* tap_offsets = origins + KC;                                          // K_pad
    float* windows = reinterpret_cast<float*>(tap_offsets + K_pad);
    const int chunk = chunk_images(g);
    for (int grp = 0; grp < g.groups; ++grp) {
      bool first = true;
      for (int n0 = 0; n0 < g.batch; n0 += chunk) {
        const int images = min_int(chunk, g.batch - n0);
        const WindowSource src = group_source(window_source(g, x, n0, images, windows), grp * group_in);
        for (int t = 0; t < K_pad; ++t) {
          const int ci = t / (g.kernel_h * g.kernel_w), kh = (t / g.kernel_w) % g.kernel_h, kw = t % g.kernel_w;
          tap_offsets[t] = t < K ? static_cast<int>(ci * src.plane + static_cast<long>(kh) * src.row_len + kw) : 0;
        }
        const PlaneRow dy_rows{dy + (static_cast<long>(n0) * g.out_channels + grp * group_out) * P,
                               static_cast<long>(g.out_channels) * P, P};
        const int J = images * P;
        for (int pc = 0; pc < J; pc += KC) {
          const int kc = min_int(KC, J - pc);
          // Window origin of each column: image, output row and column of j = pc .. pc + kc.
          int n = (pc / P), p = pc % P, oh = p / g.out_w, ow = p % g.out_w;
          for (int jj = 0; jj < kc; ++jj) {
            origins[jj] = static_cast<int>(n * src.image_stride + static_cast<long>(oh * g.stride_h) * src.row_len +
                                           ow * g.stride_w);
            if (++ow == g.out_w) {
              ow = 0;
              if (++oh == g.out_h) {
                oh = 0;
                ++n;
              }
            }
          }
          for (int s = 0; s < M_pad; s += NR)
            pack_rows_transposed<V, NR>(dy_rows, s, min_int(NR, group_out - s), pc, kc, tmp,
                                        panel + static_cast<long>(s) * kc);
          for (int s = 0; s < M_pad; s += NR) {
            const float* b = panel + static_cast<long>(s) * kc;
            if (!accumulate_in_scratch) {
              // Tiles straight into dW (transposed) from zeroed buffers, TG tiles at a time so that each
              // output channel's row of dW gets whole vectors of taps (8-tap partial vectors stalled on
              // the previous tile's stores to the same lines: -10% on ResNet's layer4).
              constexpr int TG = (V::width + MR - 1) / MR;
              for (int t = 0; t < K_pad; t += TG * MR) {
                alignas(64) float tile[TG * MR * NR];
                // dW's lines for the next group of taps, one per output channel, fetched during this group.
                if (t + TG * MR < K)
                  for (int o = 0; o < min_int(NR, group_out - s); ++o)
                    __builtin_prefetch(dweight + (static_cast<long>(grp) * group_out + s + o) * K + t + TG * MR, 1, 3);
                int rows = 0;
                for (int u = 0; u < TG && t + rows < K_pad; ++u, rows += MR)
                  Micro::run_gather(kc, src.base, tap_offsets + t + rows, origins, b, tile + rows * NR, NR, false,
                                    nullptr);
                add_transposed(tile, NR, min_int(rows, K - t), min_int(NR, group_out - s), K,
                               dweight + (static_cast<long>(grp) * group_out + s) * K + t);
              }
            } else {
              for (int t = 0; t < K_pad; t += MR)
                Micro::run_gather(kc, src.base, tap_offsets + t, origins, b, dwt + static_cast<long>(t) * M_pad + s,
                                  M_pad, !first, nullptr);
            }
          }
          first = false;
        }
      }
      if (accumulate_in_scratch)
        add_transposed(dwt, M_pad, K, group_out, K, dweight + static_cast<long>(grp) * group_out * K);
    }
  }

  // dw[oc * ld_dw + t] += dwt[t * ld + oc] for t < taps, oc < outs, through 16 x 16 blocks transposed in
  // registers so both sides are read and written along rows.
  static void add_transposed(const float* dwt, long ld, int taps, int outs, long ld_dw, float* dw) {
    constexpr int B = 16;
    alignas(64) float block[B * B];
    for (int t0 = 0; t0 < taps; t0 += B) {
      const int nt = min_int(B, taps - t0);
      for (int o0 = 0; o0 < outs; o0 += B) {
        const int no = min_int(B, outs - o0);
        transpose_copy<V>(dwt + static_cast<long>(t0) * ld + o0, ld, nt, no, block, B);  // block[o][t]
        for (int o = 0; o < no; ++o) {
          float* row = dw + static_cast<long>(o0 + o) * ld_dw + t0;
          const float* add = block + o * B;
          int t = 0;
          for (; t + V::width <= nt; t += V::width) V::store(row + t, V::add(V::load(row + t), V::load(add + t)));
          // The rest (8 taps of a tile straight into dW: every row) as one partial vector, not scalars.
          if (t < nt)
            V::store_partial(row + t, V::add(V::load_partial(row + t, nt - t), V::load_partial(add + t, nt - t)),
                             nt - t);
        }
      }
    }
  }
};

}  // namespace plasmo::kernels::simd
