#include "bench/fma_probe.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <vector>

#include "bench/peak.h"
#include "engine/kernels/kernels.h"

namespace plasmo::bench {

// bench/peak.h declares it and bench_kernels.cpp defines it; bench-models does not link that file.
volatile float peak_sink = 0.0f;

namespace {

double thread_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

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

}  // namespace

PeakResult measure_fma_peak(const char* isa, int reps) {
  double (*probe)(long) = nullptr;
  if (std::strcmp(isa, "avx512") == 0) probe = peak_probe_avx512;
  if (std::strcmp(isa, "avx2") == 0) probe = peak_probe_avx2;
  if (std::strcmp(isa, "neon") == 0) probe = peak_probe_neon;
  // The CPU check is the kernel table's (as bench-kernels does); a probe whose ISA is not compiled in
  // returns 0 flops.
  if (probe && kernels::table_for(isa) != nullptr && probe(1) > 0) return run(isa, probe, reps);
  return PeakResult{};
}

PeakResult measure_fma_peak(int reps) {
  for (const char* isa : {"avx512", "avx2", "neon"}) {
    const PeakResult result = measure_fma_peak(isa, reps);
    if (result.median > 0) return result;
  }
  return PeakResult{};
}

}  // namespace plasmo::bench
