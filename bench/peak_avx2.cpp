// AVX2 FMA peak probe: 12 independent chains of vfmadd231ps on ymm registers (16 registers; 8 chains
// are needed for 2 ports x 4 cycles latency). Built with -mavx2 -mfma (Makefile).
#include "bench/peak.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace plasmo::bench {

double peak_probe_avx2(long iterations) {
  constexpr int kChains = 12;
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(0.001f * c);
  const __m256 m = _mm256_set1_ps(0.999f), a = _mm256_set1_ps(0.001f);
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], m, a);
  }
  // Consume every chain before the clock stops, so no chain can be dropped or moved past it.
  __m256 total = acc[0];
  for (int c = 1; c < kChains; ++c) total = _mm256_add_ps(total, acc[c]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, total);
  peak_sink = lanes[0] + lanes[7];
  return 2.0 * 8 * kChains * static_cast<double>(iterations);
}

}  // namespace plasmo::bench
#else
namespace plasmo::bench {
double peak_probe_avx2(long) { return 0.0; }
}  // namespace plasmo::bench
#endif
