// The microkernel of the few-column forward (conv_gemm.h, forward_few: one image at 4x4 or 2x2):
//
//   C[MR x NV*width] += sum_{k < kc} A[k][0..MR) (outer) B[k][0..NV*width)
//
// A is MR-wide slivers [kc][MR] of cols^T (the few columns' windows, gathered once, L1-resident); B is NV
// vector slivers [kc][width] one after another (vector v of row k at B + (v*kc + k)*width): the
// pre-packed W^T panels, which the few-column forward streams from memory exactly once. The tile is
// chosen per column count (MR = 4, 8 or 16 rows with NV = accumulators / MR vectors), so no FMA is spent
// on padding rows and every byte of W feeds MR FMAs in a single pass.
//
// Bandwidth: with ResNet-18's layer4 at batch 1 the whole call is a stream of 9.4 MB of weights, and
// the hardware prefetcher alone kept only ~7 GB/s in flight; every line of B is therefore prefetched
// kPrefetchFloats ahead (past the slivers' end into the next tile's, which the caller reads next).
// Arithmetic: C starts as given (the caller's bias or the previous K block), then k = 0, 1, ... in order
// with one fused multiply-add each, exactly as MicroBcast, so the two kernels give the same bits.
#pragma once

namespace plasmo::kernels::simd {

template <class V, int MR, int NV>
struct MicroFew {
  static constexpr int kPrefetchFloats = 1024;

  static inline void run(int kc, const float* __restrict A, const float* __restrict B, float* C, long ldc) {
    using reg = typename V::reg;
    constexpr int W = V::width;
    const long sliver = static_cast<long>(kc) * W;
    reg acc[MR][NV];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = V::load(C + r * ldc + v * W);
#pragma GCC unroll 2
    for (int k = 0; k < kc; ++k) {
      reg b[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const float* at = B + v * sliver + k * W;
        // One prefetch per 64-byte line: every row of a 16-wide sliver, every other of an 8-wide one.
        if (W * 4 >= 64 || (k & (64 / (W * 4) - 1)) == 0) __builtin_prefetch(at + kPrefetchFloats, 0, 3);
        b[v] = V::load(at);
      }
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const reg a = V::set1(A[k * MR + r]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(a, b[v], acc[r][v]);
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) V::store(C + r * ldc + v * W, acc[r][v]);
  }
};

}  // namespace plasmo::kernels::simd
