// The fp32 FMA peak for bench-models (`bench-models --peak` prints it as a JSON line): the kernel benchmark's
// probes (bench/peak.h, bench-kernels) when they are in the tree, so both benchmarks measure the same peak;
// otherwise a small probe of its own. Either is a loop of independent FMA chains (more than FMA latency x FMA
// ports, so the units never wait), each step acc = acc * m + a on full vectors.
// GFLOP/s = 2 * lanes * chains * iterations / seconds of the calling thread's CPU time, median of bursts.
// The own probe's ISA-specific loops are compiled per function (__attribute__((target))), so the binary still
// runs on a CPU without AVX-512; it checks the CPU before calling them.
#pragma once

namespace plasmo::bench {

struct PeakResult {
  const char* isa = "none";             // "avx512", "avx2" or "none" (no probe for this CPU / build)
  double median = 0, min = 0, max = 0;  // GFLOP/s over the repetitions
};

// The widest ISA the CPU runs: median of `reps` bursts of ~20 ms each, one thread.
PeakResult measure_fma_peak(int reps);
// Same, for a named ISA ("avx512" or "avx2"); isa "none" in the result when the CPU lacks it.
PeakResult measure_fma_peak(const char* isa, int reps);
// Which probe runs: "bench/peak.h" (bench-kernels') or "bench/fma_probe.cpp".
const char* fma_probe_source();

}  // namespace plasmo::bench
