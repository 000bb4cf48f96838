// Parity of every fast sgemm (each ISA this machine runs) with the scalar reference, on odd shapes, all
// four transpose combinations, with and without accumulate, and leading dimensions wider than the
// matrices (whose padding must stay untouched). Tolerance: tests/kernel_parity.h.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

#include "engine/kernels/kernels.h"
#include "tests/kernel_parity.h"

using namespace plasmo;
using namespace plasmo::testing;

namespace {

constexpr float kSentinel = 12345.0f;  // written into C's row padding; no kernel may touch it

// One sgemm case on every fast table. Returns the number of failing elements.
int check_sgemm_case(bool trans_a, bool trans_b, int M, int N, int K, bool accumulate, Rng& rng) {
  const kernels::KernelTable& ref = *kernels::table_for("ref");
  // Stored shapes: A is M x K (or K x M when transposed), B is K x N (or N x K); rows padded by 1..3.
  const int a_rows = trans_a ? K : M, a_cols = trans_a ? M : K, lda = a_cols + 2;
  const int b_rows = trans_b ? N : K, b_cols = trans_b ? K : N, ldb = b_cols + 1;
  const int ldc = N + 3;
  const std::vector<float> A = random_vector(static_cast<size_t>(a_rows) * lda, rng);
  const std::vector<float> B = random_vector(static_cast<size_t>(b_rows) * ldb, rng);
  std::vector<float> C0(static_cast<size_t>(M) * ldc, kSentinel);
  for (int row = 0; row < M; ++row)
    for (int col = 0; col < N; ++col)
      // Without accumulate the old C must be ignored: make it NaN so any read of it shows.
      C0[row * ldc + col] = accumulate ? rng.uniform(-1.0f, 1.0f) : std::numeric_limits<float>::quiet_NaN();

  std::vector<float> expected = C0;
  ref.sgemm(trans_a, trans_b, M, N, K, A.data(), lda, B.data(), ldb, expected.data(), ldc, accumulate);
  std::vector<float> magnitude = absolute(C0);
  if (!accumulate) magnitude.assign(magnitude.size(), 0.0f);
  ref.sgemm(trans_a, trans_b, M, N, K, absolute(A).data(), lda, absolute(B).data(), ldb, magnitude.data(), ldc, true);

  int failures = 0;
  for (const kernels::KernelTable* table : fast_tables()) {
    std::vector<float> C = C0;
    table->sgemm(trans_a, trans_b, M, N, K, A.data(), lda, B.data(), ldb, C.data(), ldc, accumulate);
    std::ostringstream what;
    what << table->isa << " sgemm ta=" << trans_a << " tb=" << trans_b << " M=" << M << " N=" << N << " K=" << K
         << " acc=" << accumulate;
    for (int row = 0; row < M; ++row)
      for (int col = N; col < ldc; ++col)
        if (C[row * ldc + col] != kSentinel) {
          FAIL_CHECK(what.str() << ": wrote into C's padding at row " << row << " col " << col);
          ++failures;
        }
    for (int row = 0; row < M; ++row)
      for (int col = N; col < ldc; ++col)
        C[row * ldc + col] = expected[row * ldc + col] = magnitude[row * ldc + col] = 0;
    failures += compare_parity(what.str(), C, expected, magnitude, K);
  }
  return failures;
}

}  // namespace

TEST_CASE("Kernel parity: sgemm on odd shapes, every transpose, accumulate, every ISA") {
  REQUIRE(kernels::table_for("ref") != nullptr);
  Rng rng(7);
  const int sizes[] = {1, 3, 5, 17, 31, 64, 100};
  int cases = 0, failures = 0;
  for (bool trans_a : {false, true})
    for (bool trans_b : {false, true})
      for (bool accumulate : {false, true})
        for (int M : sizes)
          for (int N : sizes)
            for (int K : sizes) {
              failures += check_sgemm_case(trans_a, trans_b, M, N, K, accumulate, rng);
              ++cases;
            }
  CHECK(cases == 2 * 2 * 2 * 7 * 7 * 7);
  CHECK(failures == 0);
}

TEST_CASE("Kernel parity: sgemm larger than one cache block in every dimension, and K = 0") {
  Rng rng(11);
  int failures = 0;
  for (bool trans_a : {false, true})
    for (bool trans_b : {false, true}) {
      failures += check_sgemm_case(trans_a, trans_b, 203, 301, 333, true, rng);
      failures += check_sgemm_case(trans_a, trans_b, 97, 195, 129, false, rng);
    }
  CHECK(failures == 0);
  // K = 0: C = 0 without accumulate, C unchanged with it (the reference's empty sum).
  for (const kernels::KernelTable* table : fast_tables()) {
    float C[6] = {1, 2, 3, 4, 5, 6};
    const float A[1] = {0}, B[1] = {0};
    table->sgemm(false, false, 2, 3, 0, A, 1, B, 3, C, 3, true);
    for (int i = 0; i < 6; ++i) CHECK(C[i] == static_cast<float>(i + 1));
    table->sgemm(false, false, 2, 3, 0, A, 1, B, 3, C, 3, false);
    for (int i = 0; i < 6; ++i) CHECK(C[i] == 0.0f);
  }
}

TEST_CASE("sgemm with at most 4 outputs (gemm_tiny.h) has the packed path's bits") {
  // The classifier's shape at batch 1 (1 x 2 outputs, K = 1280, B transposed) and the other tiny shapes
  // against the same products computed inside a larger call (M = 5 or N = 5: the packed driver).
  Rng rng(23);
  struct Case {
    int M, N, K;
  };
  for (const Case c : {Case{1, 2, 1280}, Case{2, 2, 300}, Case{1, 4, 77}, Case{4, 1, 129}, Case{1, 1, 1}})
    for (bool trans_a : {false, true})
      for (bool trans_b : {false, true})
        for (bool accumulate : {false, true}) {
          const int big_M = c.N == 1 ? 5 : c.M, big_N = c.N == 1 ? c.N : 5;  // packed: M * N > 4
          // Stored operands of the big call; the tiny call reads their first M rows / N columns.
          const int lda = trans_a ? big_M : c.K, ldb = trans_b ? c.K : big_N, ldc = big_N;
          const std::vector<float> A = random_vector(static_cast<size_t>(trans_a ? c.K : big_M) * lda, rng);
          const std::vector<float> B = random_vector(static_cast<size_t>(trans_b ? big_N : c.K) * ldb, rng);
          const std::vector<float> C0 = random_vector(static_cast<size_t>(big_M) * ldc, rng);
          for (const kernels::KernelTable* table : fast_tables()) {
            std::vector<float> big = C0, tiny = C0;
            table->sgemm(trans_a, trans_b, big_M, big_N, c.K, A.data(), lda, B.data(), ldb, big.data(), ldc,
                         accumulate);
            table->sgemm(trans_a, trans_b, c.M, c.N, c.K, A.data(), lda, B.data(), ldb, tiny.data(), ldc, accumulate);
            for (int m = 0; m < c.M; ++m)
              for (int n = 0; n < c.N; ++n)
                CHECK_MESSAGE(tiny[m * ldc + n] == big[m * ldc + n],
                              table->isa << " M=" << c.M << " N=" << c.N << " K=" << c.K << " ta=" << trans_a
                                         << " tb=" << trans_b << " acc=" << accumulate);
          }
        }
}
