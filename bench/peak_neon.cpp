// NEON FMA peak probe (aarch64): 24 independent chains of fmla on q registers.
#include "bench/peak.h"

#if defined(__aarch64__)
#include <arm_neon.h>

namespace plasmo::bench {

double peak_probe_neon(long iterations) {
  constexpr int kChains = 24;
  float32x4_t acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = vdupq_n_f32(0.001f * c);
  const float32x4_t m = vdupq_n_f32(0.999f), a = vdupq_n_f32(0.001f);
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 24
    for (int c = 0; c < kChains; ++c) acc[c] = vfmaq_f32(a, acc[c], m);
  }
  // Consume every chain before the clock stops, so no chain can be dropped or moved past it.
  float32x4_t total = acc[0];
  for (int c = 1; c < kChains; ++c) total = vaddq_f32(total, acc[c]);
  peak_sink = vaddvq_f32(total);
  return 2.0 * 4 * kChains * static_cast<double>(iterations);
}

}  // namespace plasmo::bench
#else
namespace plasmo::bench {
double peak_probe_neon(long) { return 0.0; }
}  // namespace plasmo::bench
#endif
