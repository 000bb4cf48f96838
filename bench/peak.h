// The machine's fp32 FMA peak on one thread, per ISA: a loop of independent FMA chains (more chains than
// FMA latency x FMA ports, so the FMA units never wait). GFLOP/s = 2 * lanes * chains * iterations / s.
#pragma once

namespace plasmo::bench {

// Receives the probes' results so the compiler must compute them (defined in bench_kernels.cpp).
extern volatile float peak_sink;

// Each runs `iterations` rounds of its probe and returns the flops done (2 * lanes * chains *
// iterations); the caller times it. Returns 0 when that ISA is not compiled in.

double peak_probe_avx512(long iterations);
double peak_probe_avx2(long iterations);
double peak_probe_neon(long iterations);

}  // namespace plasmo::bench
