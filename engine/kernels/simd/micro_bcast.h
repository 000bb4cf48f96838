// The register-blocked GEMM microkernel for ISAs with a broadcast-from-memory FMA operand (x86).
//
//   C[MR x NR] = init + sum_{k < kc} Ap[k][0..MR) (outer) Bp[k][0..NR),   NR = NV * V::width
//   init = C (accumulate), else row_init[r] broadcast along the row (when given), else 0.
//
// Ap is a packed A sliver (kc x MR, k-major), Bp a packed B sliver (kc x NR, k-major), both contiguous, so
// the inner loop streams two arrays. The MR*NV accumulators live in registers for the whole k loop: per
// k, NV vector loads of B and MR broadcasts of A feed MR*NV independent FMAs. Every element of C sees
// the same sequence of operations (init, then k = 0, 1, ... in order) wherever its tile sits, so results
// do not depend on how callers split M or N.
#pragma once

namespace plasmo::kernels::simd {

template <class V, int MR_, int NV>
struct MicroBcast {
  static constexpr int MR = MR_;
  static constexpr int NR = NV * V::width;
  using reg = typename V::reg;

  static inline void run(int kc, const float* __restrict Ap, const float* __restrict Bp, float* C, long ldc,
                         bool accumulate, const float* row_init) {
    run_with(
        kc, [Ap](int k, int r) { return V::set1(Ap[k * MR + r]); },
        [Bp](int k, int v) { return V::load(Bp + k * NR + v * V::width); }, C, ldc, accumulate, row_init);
  }

  // B read in place instead of from a packed sliver: vector v of row k is at bvec[v] + offsets[k] (a
  // convolution's window rows straight from the image, see conv_gemm.h).
  static inline void run_indirect(int kc, const float* __restrict Ap, const float* const* bvec, const int* offsets,
                                  float* C, long ldc, bool accumulate, const float* row_init) {
    const float* b_at[NV];
    for (int v = 0; v < NV; ++v) b_at[v] = bvec[v];
    run_with(
        kc, [Ap](int k, int r) { return V::set1(Ap[k * MR + r]); },
        [&b_at, offsets](int k, int v) { return V::load(b_at[v] + offsets[k]); }, C, ldc, accumulate, row_init);
  }

  // A gathered in place instead of from a packed sliver: A[r][k] = base[row_terms[r] + k_terms[k]] (im2col
  // elements broadcast straight from the image: rows are windows and k taps, or the reverse).
  static inline void run_gather(int kc, const float* base, const int* row_terms, const int* k_terms,
                                const float* __restrict Bp, float* C, long ldc, bool accumulate,
                                const float* row_init) {
    // One pointer per row and one widened index per k: each broadcast is then a single load with a
    // base + index*4 address, no per-element integer add and sign extension (15% of the loop's time).
    const float* rows[MR];
    for (int r = 0; r < MR; ++r) rows[r] = base + row_terms[r];
    run_with_k(
        kc, [k_terms](int k) { return static_cast<long>(k_terms[k]); },
        [&rows](long at, int r) { return V::set1(rows[r][at]); },
        [Bp](int k, int v) { return V::load(Bp + k * NR + v * V::width); }, C, ldc, accumulate, row_init);
  }

  // run_gather with B as NV vector slivers, one after another: vector v of row k at Bp + (v*kc + k)*width
  // (the pre-packed W^T panels of conv_gemm.h, whose slivers are one vector wide).
  static inline void run_gather_vs(int kc, const float* base, const int* row_terms, const int* k_terms,
                                   const float* __restrict Bp, float* C, long ldc, bool accumulate,
                                   const float* row_init) {
    const float* rows[MR];
    for (int r = 0; r < MR; ++r) rows[r] = base + row_terms[r];
    const long sliver = static_cast<long>(kc) * V::width;
    run_with_k(
        kc, [k_terms](int k) { return static_cast<long>(k_terms[k]); },
        [&rows](long at, int r) { return V::set1(rows[r][at]); },
        [Bp, sliver](int k, int v) { return V::load(Bp + v * sliver + k * V::width); }, C, ldc, accumulate, row_init);
  }

  template <class LoadA, class LoadB>
  static inline __attribute__((always_inline)) void run_with(int kc, LoadA load_a, LoadB load_b, float* C, long ldc,
                                                             bool accumulate, const float* row_init) {
    run_with_k(
        kc, [](int k) { return k; }, [&load_a](int k, int r) { return load_a(k, r); }, load_b, C, ldc, accumulate,
        row_init);
  }

  // The loop itself: per k, at = k_value(k) once, then load_a(at, r) for each row.
  template <class KValue, class LoadA, class LoadB>
  static inline __attribute__((always_inline)) void run_with_k(int kc, KValue k_value, LoadA load_a, LoadB load_b,
                                                               float* C, long ldc, bool accumulate,
                                                               const float* row_init) {
    reg acc[MR][NV];
    if (accumulate) {
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = V::load(C + r * ldc + v * V::width);
    } else if (row_init) {
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = V::set1(row_init[r]);
    } else {
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
    }
#pragma GCC unroll 2
    for (int k = 0; k < kc; ++k) {
      reg b[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) b[v] = load_b(k, v);
      const auto at = k_value(k);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const reg a = load_a(at, r);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(a, b[v], acc[r][v]);
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) V::store(C + r * ldc + v * V::width, acc[r][v]);
  }
};

}  // namespace plasmo::kernels::simd
