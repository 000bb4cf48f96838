// AVX-512 FMA peak probe: 24 independent chains of vfmadd231ps on zmm registers (the FMA units need
// 2 ports x 4 cycles = 8 in flight; 24 leave no doubt). Built with -mavx512f (Makefile).
#include "bench/peak.h"

#if defined(__AVX512F__)
// GCC 12 reports its own _mm512_undefined_ps() as uninitialized (see engine/kernels/avx512/vec.h).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

namespace plasmo::bench {

double peak_probe_avx512(long iterations) {
  constexpr int kChains = 24;
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(0.001f * c);
  // acc = acc * m + a stays bounded (m < 1), so no overflow or denormals slow the loop.
  const __m512 m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(0.001f);
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 24
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], m, a);
  }
  // Consume every chain before the clock stops, so no chain can be dropped or moved past it.
  __m512 total = acc[0];
  for (int c = 1; c < kChains; ++c) total = _mm512_add_ps(total, acc[c]);
  peak_sink = _mm512_reduce_add_ps(total);
  return 2.0 * 16 * kChains * static_cast<double>(iterations);
}

}  // namespace plasmo::bench
#else
namespace plasmo::bench {
double peak_probe_avx512(long) { return 0.0; }
}  // namespace plasmo::bench
#endif
