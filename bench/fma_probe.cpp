#include "bench/fma_probe.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <vector>

#include "engine/kernels/kernels.h"

// bench-kernels' probes, when present: the Makefile links bench/peak_*.cpp (with their ISA flags) into
// bench-models whenever bench/peak.h exists.
#if __has_include("bench/peak.h")
#include "bench/peak.h"
#define PLASMO_KERNEL_PEAK 1
#endif

// The own probes: x86 only, and only when bench-kernels' are absent.
#if (defined(__x86_64__) || defined(__i386__)) && !defined(PLASMO_KERNEL_PEAK)
#define PLASMO_PROBE_X86 1
// GCC 12's own _mm512_undefined_ps() trips -Wuninitialized inside the intrinsics header.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace plasmo::bench {

#ifdef PLASMO_KERNEL_PEAK
// bench/peak.h declares it and bench_kernels.cpp defines it there; bench-models does not link that file.
volatile float peak_sink = 0.0f;
#endif

namespace {

#ifdef PLASMO_PROBE_X86
volatile float sink = 0.0f;  // the chains' sum, so the compiler must compute them
#endif

double thread_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

#ifdef PLASMO_PROBE_X86
// 24 chains of 16 lanes: two FMA ports x 4 cycles latency need 8 in flight (NOTES.md: 12 or more reach the
// peak on this machine, 8 give ~195 of ~235 GFLOP/s). acc = acc * 0.999 + 0.001 stays bounded: no overflow,
// no denormals. Returns the flops done.
__attribute__((target("avx512f,fma"))) double probe_avx512(long iterations) {
  constexpr int kChains = 24;
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(0.001f * static_cast<float>(c));
  const __m512 m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(0.001f);
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 24
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], m, a);
  }
  __m512 total = acc[0];
  for (int c = 1; c < kChains; ++c) total = _mm512_add_ps(total, acc[c]);
  sink = _mm512_reduce_add_ps(total);
  return 2.0 * 16 * kChains * static_cast<double>(iterations);
}

// 12 chains of 8 lanes: 14 of the 16 ymm registers with the two constants.
__attribute__((target("avx2,fma"))) double probe_avx2(long iterations) {
  constexpr int kChains = 12;
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(0.001f * static_cast<float>(c));
  const __m256 m = _mm256_set1_ps(0.999f), a = _mm256_set1_ps(0.001f);
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], m, a);
  }
  __m256 total = acc[0];
  for (int c = 1; c < kChains; ++c) total = _mm256_add_ps(total, acc[c]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, total);
  float sum = 0;
  for (float lane : lanes) sum += lane;
  sink = sum;
  return 2.0 * 8 * kChains * static_cast<double>(iterations);
}
#endif

PeakResult run(const char* isa, double (*probe)(long), int reps) {
  long iterations = 1 << 14;
  for (;;) {  // size one burst to ~20 ms
    const double start = thread_seconds();
    probe(iterations);
    if (thread_seconds() - start > 0.02 || iterations > (1L << 40)) break;
    iterations *= 2;
  }
  std::vector<double> rates;
  for (int r = 0; r < std::max(reps, 1); ++r) {
    const double start = thread_seconds();
    const double flops = probe(iterations);
    rates.push_back(flops / std::max(thread_seconds() - start, 1e-9) / 1e9);
  }
  std::sort(rates.begin(), rates.end());
  const size_t n = rates.size();
  PeakResult result;
  result.isa = isa;
  result.median = n % 2 ? rates[n / 2] : 0.5 * (rates[n / 2 - 1] + rates[n / 2]);
  result.min = rates.front();
  result.max = rates.back();
  return result;
}

// Whether this CPU runs the ISA's instructions (the kernel table's own check).
[[maybe_unused]] bool cpu_runs(const char* isa) { return kernels::table_for(isa) != nullptr; }

}  // namespace

const char* fma_probe_source() {
#ifdef PLASMO_KERNEL_PEAK
  return "bench/peak.h";
#else
  return "bench/fma_probe.cpp";
#endif
}

PeakResult measure_fma_peak(const char* isa, int reps) {
#ifdef PLASMO_KERNEL_PEAK
  // The probes return 0 flops when their ISA is not compiled in; the CPU check is the caller's (as
  // bench-kernels does with kernels::table_for).
  double (*probe)(long) = nullptr;
  if (std::strcmp(isa, "avx512") == 0) probe = peak_probe_avx512;
  if (std::strcmp(isa, "avx2") == 0) probe = peak_probe_avx2;
  if (std::strcmp(isa, "neon") == 0) probe = peak_probe_neon;
  if (probe && cpu_runs(isa) && probe(1) > 0) return run(isa, probe, reps);
  return PeakResult{};
#else
#ifdef PLASMO_PROBE_X86
  __builtin_cpu_init();
  if (std::strcmp(isa, "avx512") == 0 && __builtin_cpu_supports("avx512f")) return run("avx512", probe_avx512, reps);
  if (std::strcmp(isa, "avx2") == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return run("avx2", probe_avx2, reps);
#endif
  (void)isa, (void)reps;
  return PeakResult{};
#endif
}

PeakResult measure_fma_peak(int reps) {
  for (const char* isa : {"avx512", "avx2", "neon"}) {
    const PeakResult result = measure_fma_peak(isa, reps);
    if (result.median > 0) return result;
  }
  return PeakResult{};
}

}  // namespace plasmo::bench
