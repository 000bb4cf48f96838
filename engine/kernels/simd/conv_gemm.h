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
  static WindowSource group_source(WindowSource src, int first_channel) {
    src.base += first_channel * src.plane;
    return src;
  }

  // ---- forward --------------------------------------------------------------------------------------
  // Two ways, by geometry:
  //  - in place (stride 1 with output rows of whole vectors, or a pointwise conv over whole vectors of
  //    pixels): y = W * cols with cols read by the microkernel straight from the image (forward_gemm);
  //  - packed (other planes of 8 pixels per row or more): forward_gemm packing B slivers of windows;
  //  - gathered (rows of 4 pixels or fewer, such as ResNet's 4x4 and 2x2 stages): y^T = cols^T * W^T, the rows of
  //    cols^T (windows of 8 pixels) broadcast from the image (run_gather), W^T packed, y^T accumulated
  //    in scratch and transposed into y. Nothing is packed per pixel, whatever the stride or plane size.
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
  static bool gathered(const ConvGeom& g) { return !in_place(g) && g.out_w <= 4; }
  static int gather_chunk_images(const ConvGeom& g) {
    const int P = g.out_h * g.out_w;
    return max_int(1, min_int(g.batch, (kChunkColumns + P - 1) / P));
  }
  static size_t forward_scratch(const ConvGeom& g) {
    if (!gathered(g)) return gemm_floats(g.out_channels / g.groups) + window_floats(g);
    const long M_pad = round_up(g.out_channels / g.groups, NR);
    const long J_pad = round_up(gather_chunk_images(g) * g.out_h * g.out_w, MR);
    const size_t windows =
        padded(g)
            ? static_cast<size_t>(gather_chunk_images(g)) * g.in_channels * padded_h(g) * padded_w(g) + 2 * V::width
            : 0;
    // panel (KC x M_pad) + y^T (J_pad x M_pad) + origins (J_pad ints) + tap offsets (KC ints) + windows
    return static_cast<size_t>(KC * M_pad + J_pad * M_pad + J_pad + KC) + windows;
  }

  // y for output channels [row_begin, row_end) of every group and batch columns [col_begin, col_end),
  // by the gathered formulation above.
  static void forward_gather(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                             float* scratch, long col_begin, long col_end, int row_begin, int row_end) {
    const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
    const int K = group_in * g.kernel_h * g.kernel_w, P = g.out_h * g.out_w;
    const int M = row_end - row_begin, M_pad = round_up(group_out, NR);
    const int chunk = gather_chunk_images(g);
    const int J_max = round_up(chunk * P, MR);
    float* panel = scratch;                                                        // KC x M_pad: W^T slivers
    float* yt = panel + static_cast<long>(KC) * M_pad;                             // J_max x M_pad
    int* origins = reinterpret_cast<int*>(yt + static_cast<long>(J_max) * M_pad);  // J_max
    int* offsets = origins + J_max;                                                // KC
    float* windows = reinterpret_cast<float*>(offsets + KC);
    for (int n0 = static_cast<int>(col_begin / P); static_cast<long>(n0) * P < col_end; n0 += chunk) {
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
        for (int j = 0; j < J_pad; ++j)
          for (int oc = 0; oc < M_pad; ++oc)
            yt[static_cast<long>(j) * M_pad + oc] = bias && oc < M ? bias[row0 + oc] : 0.0f;
        const PackMatrix<V, NR> pack_w{weight + static_cast<long>(row0) * K, K, false};
        for (int pc = 0; pc < K; pc += KC) {
          const int kc = min_int(KC, K - pc);
          for (int kk = 0; kk < kc; ++kk) {
            const int k = pc + kk;
            const int ci = k / (g.kernel_h * g.kernel_w), kh = (k / g.kernel_w) % g.kernel_h, kw = k % g.kernel_w;
            offsets[kk] = static_cast<int>(ci * src.plane + static_cast<long>(kh) * src.row_len + kw);
          }
          for (int s = 0; s < M_pad; s += NR) pack_w(s, min_int(NR, M - s), pc, kc, panel + static_cast<long>(s) * kc);
          for (int jt = 0; jt < J_pad; jt += MR)
            for (int s = 0; s < M_pad; s += NR)
              Micro::run_gather(kc, base, origins + jt, offsets, panel + static_cast<long>(s) * kc,
                                yt + static_cast<long>(jt) * M_pad + s, M_pad, true, nullptr);
        }
        // y[n][row0 + oc][p] = yt[j][oc], image by image.
        long j = c0;
        for (int done = 0; done < J;) {
          const int n = static_cast<int>(j / P), p = static_cast<int>(j % P);
          const int len = min_int(P - p, J - done);
          transpose_copy<V>(yt + static_cast<long>(done) * M_pad, M_pad, len, M,
                            y + (static_cast<long>(n) * g.out_channels + row0) * P + p, P);
          done += len;
          j += len;
        }
      }
    }
  }

  // Output channels [row_begin, row_end) of every group, batch columns [col_begin, col_end).
  static void forward(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                      float* scratch, long col_begin, long col_end, int row_begin, int row_end) {
    const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
    const int K = group_in * g.kernel_h * g.kernel_w, P = g.out_h * g.out_w;
    const Blocking blk = blocking(group_out);
    float* Ap = scratch;
    float* Bp = scratch + static_cast<long>(blk.MC) * blk.KC;
    float* windows = scratch + gemm_floats(group_out);
    const int chunk = chunk_images(g);
    for (int n0 = static_cast<int>(col_begin / P); static_cast<long>(n0) * P < col_end; n0 += chunk) {
      const int images = min_int(chunk, g.batch - n0);
      const long c0 = col_begin > static_cast<long>(n0) * P ? col_begin : static_cast<long>(n0) * P;
      const long c1 = col_end < static_cast<long>(n0 + images) * P ? col_end : static_cast<long>(n0 + images) * P;
      const WindowSource src = window_source(g, x, n0, images, windows);
      for (int grp = 0; grp < g.groups; ++grp) {
        const int row0 = grp * group_out + row_begin;
        const PackMatrix<V, MR> pack_a{weight + static_cast<long>(row0) * K, K, false};
        const PackWindows<V, NR> pack_b{&g, group_source(src, grp * group_in), c0};
        const PlanesTile<NR> tile{y + static_cast<long>(row0) * P, static_cast<long>(g.out_channels) * P, P, c0};
        forward_gemm(g, group_source(src, grp * group_in), row_end - row_begin, c0, c1, K, pack_a, pack_b, tile,
                     bias ? bias + row0 : nullptr, blk, Ap, Bp);
      }
    }
  }

  // The forward GEMM of one group over batch columns [c0, c1). Like gemm_blocked, except that where a B
  // sliver is whole vectors each lying in one row of the window source (stride 1 and output rows of
  // whole vectors: 16 or 32 wide with AVX-512; or a pointwise convolution, whose images are contiguous),
  // the microkernel reads B straight from the source through per-tap offsets and nothing is packed.
  template <class PackA, class PackB, class Tile>
  static void forward_gemm(const ConvGeom& g, const WindowSource& src, int M, long c0, long c1, int K,
                           const PackA& pack_a, const PackB& pack_b, const Tile& tile, const float* row_init,
                           const Blocking& blk, float* Ap, float* Bp) {
    constexpr int W = V::width, NV = NR / W;
    const int N = static_cast<int>(c1 - c0), P = g.out_h * g.out_w;
    const bool pointwise = g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.pad_h == 0 && g.pad_w == 0;
    const bool in_place = g.stride_w == 1 && (pointwise || g.out_w % W == 0);
    int offsets[KC];
    for (int pc = 0; pc < K || pc == 0; pc += blk.KC) {
      const int kc = min_int(blk.KC, K - pc);
      const bool acc = pc > 0;
      for (int kk = 0; kk < kc; ++kk) {
        const int k = pc + kk;
        const int ci = k / (g.kernel_h * g.kernel_w), kh = (k / g.kernel_w) % g.kernel_h, kw = k % g.kernel_w;
        offsets[kk] = static_cast<int>(ci * src.plane + static_cast<long>(kh) * src.row_len + kw);
      }
      for (int ic = 0; ic < M; ic += blk.MC) {
        const int mc = min_int(blk.MC, M - ic);
        pack_a(ic, mc, pc, kc, Ap);
        // Groups of kGroup slivers: slivers read in place run tile row by tile row across the group, so
        // an A sliver (MR x KC) is reused kGroup times from L1 while the group's window rows (about 20 KB
        // for a 3x3 conv) stay in L1 too. Slivers that must be packed run on their own, as in gemm_blocked.
        for (int jr0 = 0; jr0 < N; jr0 += kGroup * NR) {
          const float* bvec[kGroup][NV];
          bool direct[kGroup];
          int count = 0;
          for (int s = 0; s < kGroup && jr0 + s * NR < N; ++s, ++count) {
            const int jr = jr0 + s * NR;
            direct[s] = in_place && N - jr >= NR;
            for (int v = 0; v < NV && direct[s]; ++v) {
              const long j = c0 + jr + v * W;
              const int n = static_cast<int>(j / P), p = static_cast<int>(j % P);
              const int oh = p / g.out_w, ow = p % g.out_w;
              direct[s] = pointwise ? p + W <= P : ow + W <= g.out_w;
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

  // ---- forward for a handful of columns (one image at 4x4 or 2x2: single-image inference) ------------
  // With J = batch * out_h * out_w <= 16 columns, packing W (the other paths pack it, transposed, once
  // per call) would cost more than the multiply: ResNet-18's layer4 W is 9.4 MB and meets 4 columns.
  // Here y[oc][j] = b[oc] + dot(W[oc][:], cols^T[j][:]) with vectors along K: W is read in place, once
  // per group of TJ columns, cols^T (J x K, small) is gathered from the windows first, and a tile of
  // TOC x TJ dot products keeps TOC*TJ vector accumulators, reduced across lanes at the end.
  static constexpr int kDotMaxColumns = 16;
  static bool dot_applies(const ConvGeom& g) {
    const long J = static_cast<long>(g.batch) * g.out_h * g.out_w;
    return J <= kDotMaxColumns && g.in_channels / g.groups * g.kernel_h * g.kernel_w >= 4 * V::width;
  }
  static size_t dot_scratch(const ConvGeom& g) {
    const long K = static_cast<long>(g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
    const size_t windows =
        padded(g) ? static_cast<size_t>(g.batch) * g.in_channels * padded_h(g) * padded_w(g) + 2 * V::width : 0;
    return static_cast<size_t>(kDotMaxColumns * K) + windows;
  }

  template <int TOC, int TJ>
  static void dot_tile(const float* w, long K, const float* colsT, int jn, float* out /* [TOC][TJ] */) {
    using reg = typename V::reg;
    constexpr int Wd = V::width;
    reg acc[TOC][TJ];
#pragma GCC unroll 4
    for (int o = 0; o < TOC; ++o)
#pragma GCC unroll 8
      for (int j = 0; j < TJ; ++j) acc[o][j] = V::zero();
    const float* col[TJ];
#pragma GCC unroll 8
    for (int j = 0; j < TJ; ++j) col[j] = colsT + (j < jn ? j : 0) * K;  // idle columns redo column 0
    long k = 0;
    for (; k + Wd <= K; k += Wd) {
      reg a[TOC], b[TJ];
#pragma GCC unroll 4
      for (int o = 0; o < TOC; ++o) a[o] = V::load(w + o * K + k);
#pragma GCC unroll 8
      for (int j = 0; j < TJ; ++j) b[j] = V::load(col[j] + k);
#pragma GCC unroll 4
      for (int o = 0; o < TOC; ++o)
#pragma GCC unroll 8
        for (int j = 0; j < TJ; ++j) acc[o][j] = V::fma(a[o], b[j], acc[o][j]);
    }
    if (k < K) {
      const int rest = static_cast<int>(K - k);
      reg a[TOC], b[TJ];
#pragma GCC unroll 4
      for (int o = 0; o < TOC; ++o) a[o] = V::load_partial(w + o * K + k, rest);
#pragma GCC unroll 8
      for (int j = 0; j < TJ; ++j) b[j] = V::load_partial(col[j] + k, rest);
#pragma GCC unroll 4
      for (int o = 0; o < TOC; ++o)
#pragma GCC unroll 8
        for (int j = 0; j < TJ; ++j) acc[o][j] = V::fma(a[o], b[j], acc[o][j]);
    }
#pragma GCC unroll 4
    for (int o = 0; o < TOC; ++o)
#pragma GCC unroll 8
      for (int j = 0; j < TJ; ++j) out[o * TJ + j] = V::hsum(acc[o][j]);
  }

  // Output channels [row_begin, row_end) of every group, all (<= 16) columns.
  static void forward_dot(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                          float* scratch, int row_begin, int row_end) {
    const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
    const long K = static_cast<long>(group_in) * g.kernel_h * g.kernel_w;
    const int P = g.out_h * g.out_w, J = g.batch * P;
    float* colsT = scratch;  // J x K
    const WindowSource src = window_source(g, x, 0, g.batch, colsT + kDotMaxColumns * K);
    for (int grp = 0; grp < g.groups; ++grp) {
      // cols^T[j][k] = window tap k of column j.
      const float* base = src.base + static_cast<long>(grp) * group_in * src.plane;
      for (int j = 0; j < J; ++j) {
        const int n = j / P, p = j % P, oh = p / g.out_w, ow = p % g.out_w;
        const float* origin = base + (n - src.n_first) * src.image_stride +
                              static_cast<long>(oh * g.stride_h) * src.row_len + ow * g.stride_w;
        float* row = colsT + j * K;
        long k = 0;
        for (int ci = 0; ci < group_in; ++ci)
          for (int kh = 0; kh < g.kernel_h; ++kh)
            for (int kw = 0; kw < g.kernel_w; ++kw)
              row[k++] = origin[ci * src.plane + static_cast<long>(kh) * src.row_len + kw];
      }
      const int first = grp * group_out;
      for (int oc = row_begin; oc < row_end;) {
        float out[4 * 8];
        int toc, tj;
        if (J <= 4) {
          toc = min_int(4, row_end - oc), tj = 4;
          if (toc == 4)
            dot_tile<4, 4>(weight + (first + oc) * K, K, colsT, J, out);
          else
            for (int o = 0; o < toc; ++o) dot_tile<1, 4>(weight + (first + oc + o) * K, K, colsT, J, out + o * 4);
        } else {
          toc = min_int(2, row_end - oc), tj = 8;
          for (int j0 = 0; j0 < J; j0 += 8) {
            float part[2 * 8];
            if (toc == 2)
              dot_tile<2, 8>(weight + (first + oc) * K, K, colsT + j0 * K, min_int(8, J - j0), part);
            else
              dot_tile<1, 8>(weight + (first + oc) * K, K, colsT + j0 * K, min_int(8, J - j0), part);
            for (int o = 0; o < toc; ++o)
              for (int j = j0; j < min_int(J, j0 + 8); ++j) {
                const int n = j / P, p = j % P;
                y[(static_cast<long>(n) * g.out_channels + first + oc + o) * P + p] =
                    part[o * 8 + j - j0] + (bias ? bias[first + oc + o] : 0.0f);
              }
          }
          oc += toc;
          continue;
        }
        for (int o = 0; o < toc; ++o)
          for (int j = 0; j < J; ++j) {
            const int n = j / P, p = j % P;
            y[(static_cast<long>(n) * g.out_channels + first + oc + o) * P + p] =
                out[o * tj + j] + (bias ? bias[first + oc + o] : 0.0f);
          }
        oc += toc;
      }
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
          for (int s = 0; s < M_pad; s += NR)
            for (int t = 0; t < K_pad; t += MR) {
              const float* b = panel + static_cast<long>(s) * kc;
              if (!accumulate_in_scratch) {
                // Tile straight into dW (transposed) from a zeroed buffer.
                alignas(64) float tile[MR * NR];
                Micro::run_gather(kc, src.base, tap_offsets + t, origins, b, tile, NR, false, nullptr);
                add_transposed(tile, NR, min_int(MR, K - t), min_int(NR, group_out - s), K,
                               dweight + (static_cast<long>(grp) * group_out + s) * K + t);
              } else {
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
          for (; t < nt; ++t) row[t] += add[t];
        }
      }
    }
  }
};

}  // namespace plasmo::kernels::simd
