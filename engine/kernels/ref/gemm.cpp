// C[M x N] = op(A) * op(B) (+ C): the triple loop, summing over K in order with a float accumulator.
#include "engine/kernels/ref/ref_kernels.h"

namespace plasmo::kernels::ref {

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C,
           int ldc, bool accumulate) {
  for (int row = 0; row < M; ++row) {
    for (int col = 0; col < N; ++col) {
      float sum = 0.0f;
      for (int inner = 0; inner < K; ++inner) {
        float a = trans_a ? A[inner * lda + row] : A[row * lda + inner];
        float b = trans_b ? B[col * ldb + inner] : B[inner * ldb + col];
        sum += a * b;
      }
      C[row * ldc + col] = accumulate ? C[row * ldc + col] + sum : sum;
    }
  }
}

}  // namespace plasmo::kernels::ref
