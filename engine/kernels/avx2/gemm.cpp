// AVX2 sgemm: the shared packed GEMM driver (simd/gemm_driver.h) with the 6 x 16 microkernel.
#include "engine/kernels/avx2/gemm_conv.h"
#include "engine/kernels/avx2/vec.h"
#include "engine/kernels/simd/gemm_driver.h"

namespace plasmo::kernels::avx2 {

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C,
           int ldc, bool accumulate) {
  simd::sgemm<Vec, Micro>(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

}  // namespace plasmo::kernels::avx2
