// The fp32 FMA peak for bench-models (`bench-models --peak` prints it as a JSON line), from the kernel
// benchmark's probes (bench/peak.h: independent FMA chains per ISA, built with that ISA's flags), so both
// benchmarks quote the same peak. GFLOP/s = flops / seconds of the calling thread's CPU time, median of
// bursts of ~20 ms.
#pragma once

namespace plasmo::bench {

struct PeakResult {
  const char* isa = "none";             // "avx512", "avx2", "neon" or "none" (no probe for this CPU / build)
  double median = 0, min = 0, max = 0;  // GFLOP/s over the repetitions
};

// The widest ISA the CPU and build run: median of `reps` bursts, one thread.
PeakResult measure_fma_peak(int reps);
// Same, for a named ISA; isa "none" in the result when the CPU or build lacks it.
PeakResult measure_fma_peak(const char* isa, int reps);

}  // namespace plasmo::bench
