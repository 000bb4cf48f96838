// The microkernel of the few-column forward (conv_few.h: one image at 4x4 or 2x2):
//
//   acc[r][v] = init[v*width ..] (every row r < MR), then for k < K:  acc[r][v] += A[k*MR + r] * B_v[k]
//
// A is an MR-wide sliver [K][MR] of cols^T (the few columns' windows, or x's planes themselves); B is NV
// vector slivers [K][width] one after another (vector v of row k at B + (v*K + k)*width): the pre-packed
// W^T, which the few-column forward streams from memory exactly once. The tile is chosen per column
// count (MR = 4, 8 or 16 rows with NV = accumulators / MR vectors), so no FMA is spent on padding rows and
// every byte of W feeds MR FMAs in a single pass over all of K: the accumulators stay in registers from
// the bias to the result, which the caller takes (acc) and writes into y.
//
// Bandwidth: the whole call is a stream of W (9.4 MB for ResNet-18's layer4 at batch 1) that the hardware
// prefetcher alone kept only ~7 GB/s in flight; every line of B is therefore prefetched kPrefetchFloats
// ahead in its own sliver, and over the last kPrefetchFloats of the slivers at the same place in the next
// tile's slivers (B + NV*K*width on: the caller's next group), so the stream never restarts cold.
// Arithmetic: acc starts at init, then k = 0, 1, ... in order with one fused multiply-add each, exactly as
// MicroBcast, so the two kernels give the same bits.
#pragma once

namespace plasmo::kernels::simd {

template <class V, int MR, int NV>
struct MicroFew {
  static constexpr int kPrefetchFloats = 1024;
  using reg = typename V::reg;

  // k in [k0, k1), each line of B prefetched at + ahead floats.
  __attribute__((always_inline)) static inline void steps(int k0, int k1, long ahead, long sliver,
                                                          const float* __restrict A, const float* __restrict B,
                                                          reg (&acc)[MR][NV]) {
    constexpr int W = V::width;
#pragma GCC unroll 2
    for (int k = k0; k < k1; ++k) {
      reg b[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const float* at = B + v * sliver + static_cast<long>(k) * W;
        // One prefetch per 64-byte line: every row of a 16-wide sliver, every other of an 8-wide one.
        if (W * 4 >= 64 || (k & (64 / (W * 4) - 1)) == 0) __builtin_prefetch(at + ahead, 0, 3);
        b[v] = V::load(at);
      }
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const reg a = V::set1(A[static_cast<long>(k) * MR + r]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(a, b[v], acc[r][v]);
      }
    }
  }

  __attribute__((always_inline)) static inline void run(int K, const float* __restrict A, const float* __restrict B,
                                                        const float* init, reg (&acc)[MR][NV]) {
    constexpr int W = V::width;
    const long sliver = static_cast<long>(K) * W;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const reg start = V::load(init + v * W);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) acc[r][v] = start;
    }
    // Rows k >= k_switch prefetch into the next tile: sliver v's row k + kPrefetchFloats/W - K there.
    const int ahead_rows = kPrefetchFloats / W;
    const int k_switch = K > ahead_rows ? K - ahead_rows : 0;
    steps(0, k_switch, kPrefetchFloats, sliver, A, B, acc);
    steps(k_switch, K, kPrefetchFloats + (NV - 1) * sliver, sliver, A, B, acc);
  }
};

}  // namespace plasmo::kernels::simd
