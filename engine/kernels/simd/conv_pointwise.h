// Pointwise (1x1, stride 1, no padding, one group) convolutions on small planes as plain packed GEMMs over
// batch columns: MobileNetV2's expand and project convolutions at 4x4 (64 to 576 channels, 16 columns
// per image). There the in-place form of conv_gemm.h reads B one 16-float plane row per channel and
// tile, and its backward data goes through a transposed copy of W and the forward; here every operand is
// packed first, reading x, dy and W image by image in memory order, and the microkernel runs on packed
// slivers (gemm_blocked) with tiles one plane wide, so C is written in place. The columns j of a batch
// slice are (image n, pixel p), j = n * P + p.
//
//   forward          Y[oc][j]  = b[oc] + sum_ci W[oc][ci] * X[ci][j]     A = W,   B = X,    C = Y
//   backward data    dX[ci][j] = sum_oc W[oc][ci] * dY[oc][j]            A = W^T, B = dY,   C = dX
//   backward weight  dW[oc][ci] += sum_j dY[oc][j] * X[ci][j]            A = dY,  B = X^T,  C = dW
//
// X[ci][j] = x[n][ci][p] (and so on) are NCHW planes: PackPlanes, PlanesTile and PlaneRow (conv_pack.h)
// map the batch columns onto them.
#pragma once
#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/conv_pack.h"
#include "engine/kernels/simd/gemm_driver.h"

namespace plasmo::kernels::simd {

// PlanesTile copying the runs of a tile that crosses images by vector loads and stores (a 2x2 plane is 4
// floats: a library memcpy per run would cost more than the tile's math).
template <class V, int NR>
using PlanesTileV = PlanesTile<NR, V>;

template <class V, class Micro>
struct ConvPointwise {
  static constexpr int MR = Micro::MR, NR = Micro::NR;
  static constexpr int KC = 256;
  static constexpr int MC_MAX = (512 + MR - 1) / MR * MR;
  static constexpr int NC = 512 / NR * NR;
  // Planes of exactly NR pixels (4x4 with the 16-column tiles the dispatcher picks): every tile row is one
  // image's plane row, stored in place. Measured on AVX-512 at batch 64 against conv_gemm.h (warm / after
  // evicting the caches, ms): forward 64->384 0.78/0.95 -> 0.35/0.43, 96->576 1.50/1.72 -> 0.72/0.85;
  // backward data 384->64 0.78/0.95 -> 0.33/0.44, 576->96 1.42/1.79 -> 0.68/0.81. Larger planes gain
  // nothing over the in-place form (8x8: equal), 2x2 planes (tiles crossing images) lose on some shapes.
  static bool applies(const ConvGeom& g) {
    return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0 &&
           g.groups == 1 && g.out_h * g.out_w == NR;
  }
  // The weight gradient gains only when the output has at least as many channels as the input (expand:
  // 96->576 1.16 -> 0.97 ms, 64->384 0.54 -> 0.54 warm, 0.76 -> 0.62 evicted); projections (576->96,
  // 384->64: packing x^T, the larger operand, dominates) stay with conv_gemm.h (0.83 vs 1.0 ms).
  static bool applies_weight(const ConvGeom& g) { return applies(g) && g.out_channels >= g.in_channels; }
  static Blocking blocking(int M) { return Blocking{min_int(round_up(M, MR), MC_MAX), KC, NC}; }
  static size_t gemm_floats(int M) { return gemm_scratch_floats<Micro>(blocking(M)); }
  static size_t scratch_floats(const ConvGeom& g) {
    const int most = g.out_channels > g.in_channels ? g.out_channels : g.in_channels;
    return gemm_floats(most) + static_cast<size_t>(MR > NR ? MR : NR) * KC;  // + a transposing pack's rows
  }

  // Output channels [row_begin, row_end), batch columns [col_begin, col_end).
  static void forward(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                      float* scratch, long col_begin, long col_end, int row_begin, int row_end) {
    const int K = g.in_channels, P = g.out_h * g.out_w, M = row_end - row_begin;
    const Blocking blk = blocking(M);
    float* Ap = scratch;
    float* Bp = Ap + static_cast<long>(blk.MC) * blk.KC;
    const PackMatrix<V, MR> pack_a{weight + static_cast<long>(row_begin) * K, K, false};
    const PackPlanes<V, NR> pack_b{x, static_cast<long>(K) * P, P, col_begin};
    const PlanesTileV<V, NR> tile{y + static_cast<long>(row_begin) * P, static_cast<long>(g.out_channels) * P, P,
                                  col_begin};
    gemm_blocked<Micro>(M, static_cast<int>(col_end - col_begin), K, pack_a, pack_b, tile, false,
                        bias ? bias + row_begin : nullptr, blk, Ap, Bp);
  }

  static void backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* scratch) {
    const int K = g.in_channels, M = g.out_channels, P = g.out_h * g.out_w;
    const Blocking blk = blocking(K);
    float* Ap = scratch;
    float* Bp = Ap + static_cast<long>(blk.MC) * blk.KC;
    const PackMatrix<V, MR> pack_a{weight, K, true};  // A[ci][oc] = W[oc][ci]
    const PackPlanes<V, NR> pack_b{dy, static_cast<long>(M) * P, P, 0};
    const PlanesTileV<V, NR> tile{dx, static_cast<long>(K) * P, P, 0};
    gemm_blocked<Micro>(K, g.batch * P, M, pack_a, pack_b, tile, false, nullptr, blk, Ap, Bp);
  }

  static void backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* scratch) {
    const int K = g.in_channels, M = g.out_channels, P = g.out_h * g.out_w;
    const Blocking blk = blocking(M);
    float* Ap = scratch;
    float* Bp = Ap + static_cast<long>(blk.MC) * blk.KC;
    float* rows = Bp + static_cast<long>(blk.NC) * blk.KC;  // a transposing pack's rows (MR or NR x KC)
    // A[oc][j] = dy[n][oc][p], B[j][ci] = x[n][ci][p]: both are rows of planes, packed transposed.
    const PackTransposed<V, MR, PlaneRow> pack_a{PlaneRow{dy, static_cast<long>(M) * P, P}, rows};
    const PackTransposed<V, NR, PlaneRow> pack_b{PlaneRow{x, static_cast<long>(K) * P, P}, rows};
    gemm_blocked<Micro>(M, K, g.batch * P, pack_a, pack_b, MatrixTile{dweight, K}, true, nullptr, blk, Ap, Bp);
  }
};

}  // namespace plasmo::kernels::simd
