// sgemm for a handful of outputs (M * N <= kTinyOutputs: Dense(1280 -> 2) at batch 1, the classifier of
// every model in single-image inference). The packed driver would pack B into 32-column slivers (30 of
// them zero) and A into 8-row ones (7 zero) per 128-deep K block: 18 us for 2,560 multiply-adds. Here
// each output is one chain of fused multiply-adds over k in order from C (accumulate) or 0, the same
// operations in the same order as the microkernels' (acc = fma(a, b, acc) per k), so the result has the
// same bits as the packed path's; the chains of all outputs interleave so their latencies overlap.
#pragma once
#include <cmath>

namespace plasmo::kernels::simd {
// Internal linkage: each ISA's gemm.cpp compiles its own copy with its own flags. An ordinary inline
// function here would be one weak symbol, and the linker would keep one ISA's copy for all of them
// (scripts/check_isa_symbols.sh, run by make test, refuses that).
namespace {

constexpr int kTinyOutputs = 4;

inline bool sgemm_tiny_applies(int M, int N) { return M >= 1 && N >= 1 && M * N <= kTinyOutputs; }

// C[m][n] (+)= sum_k op(A)[m][k] * op(B)[k][n], op(A)[m][k] = trans_a ? A[k*lda + m] : A[m*lda + k],
// op(B)[k][n] = trans_b ? B[n*ldb + k] : B[k*ldb + n].
inline void sgemm_tiny(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda, const float* B,
                       int ldb, float* C, int ldc, bool accumulate) {
  const float* a_row[kTinyOutputs] = {};
  const float* b_col[kTinyOutputs] = {};
  long a_step[kTinyOutputs] = {}, b_step[kTinyOutputs] = {};
  float acc[kTinyOutputs];
  const int outputs = M * N;
  for (int i = 0; i < outputs; ++i) {
    const int m = i / N, n = i % N;
    a_row[i] = trans_a ? A + m : A + static_cast<long>(m) * lda;
    a_step[i] = trans_a ? lda : 1;
    b_col[i] = trans_b ? B + static_cast<long>(n) * ldb : B + n;
    b_step[i] = trans_b ? 1 : ldb;
    acc[i] = accumulate ? C[static_cast<long>(m) * ldc + n] : 0.0f;
  }
  for (int i = outputs; i < kTinyOutputs; ++i) {  // idle chains: never stored
    a_row[i] = a_row[0];
    b_col[i] = b_col[0];
    a_step[i] = a_step[0];
    b_step[i] = b_step[0];
    acc[i] = 0.0f;
  }
  for (long k = 0; k < K; ++k)
#pragma GCC unroll 4
    for (int i = 0; i < kTinyOutputs; ++i) acc[i] = std::fma(a_row[i][k * a_step[i]], b_col[i][k * b_step[i]], acc[i]);
  for (int i = 0; i < outputs; ++i) C[static_cast<long>(i / N) * ldc + i % N] = acc[i];
}

}  // namespace
}  // namespace plasmo::kernels::simd
