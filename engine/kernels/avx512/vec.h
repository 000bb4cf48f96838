// AVX-512 vector traits for the generic GEMM and convolution templates (engine/kernels/simd/), plus this
// ISA's GEMM microkernel shape. Included only by files in engine/kernels/avx512/ (built with -mavx512f ...).
//
// Every template in simd/ is instantiated with this ConvVec, so its symbols differ from the AVX2 and NEON
// instantiations and the linker can never hand an AVX-512 copy to a CPU without AVX-512. Named apart from
// vec_avx512.h's Vec (the other kernels' traits) so conv2d.cpp can hold both.
#pragma once
// GCC 12's AVX-512 shuffle intrinsics start from _mm512_undefined_ps() (`__m512 __Y = __Y;`), which
// -Wuninitialized reports at every use; the value is never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "engine/kernels/simd/micro_bcast.h"

namespace plasmo::kernels::avx512 {

struct ConvVec {
  using reg = __m512;
  static constexpr int width = 16;
  static constexpr bool has_masked_io = true;  // partial loads never touch the lanes they skip

  static inline reg zero() { return _mm512_setzero_ps(); }
  static inline reg set1(float value) { return _mm512_set1_ps(value); }
  static inline reg load(const float* p) { return _mm512_loadu_ps(p); }
  static inline void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  // Non-temporal store past the caches: p aligned to the vector (64 bytes); stream_fence() after the
  // last one orders them before any later store (they are weakly ordered).
  static inline void stream(float* p, reg v) { _mm512_stream_ps(p, v); }
  static inline void stream_fence() { _mm_sfence(); }
  static inline reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }  // a*b + c
  static inline reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static inline reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }

  static inline __mmask16 lanes(int lo, int hi) {  // bits [lo, hi), clipped to [0, 16)
    if (lo < 0) lo = 0;
    if (hi <= lo) return 0;
    const unsigned below_hi = hi >= 16 ? 0xffffu : ((1u << hi) - 1u);
    const unsigned below_lo = (1u << lo) - 1u;  // lo < hi <= 16 here
    return static_cast<__mmask16>(below_hi & ~below_lo);
  }
  // A lane mask made once and reused (pad_images: the same columns of every row).
  using mask = __mmask16;
  static inline mask make_mask(int lo, int hi) { return lanes(lo, hi); }
  static inline reg load_masked(const float* p, mask m) { return _mm512_maskz_loadu_ps(m, p); }
  // Lane i on when bit i of bits is set (any pattern, e.g. a small plane's valid neighbours).
  static inline mask mask_from_bits(unsigned bits) { return static_cast<__mmask16>(bits); }

  // Lanes [lo, hi) from p[lane]; the other lanes are 0 and their addresses are not read.
  static inline reg load_lanes(const float* p, int lo, int hi) { return _mm512_maskz_loadu_ps(lanes(lo, hi), p); }
  // Lanes [0, count): p[lane]; the rest 0.
  static inline reg load_partial(const float* p, int count) { return load_lanes(p, 0, count); }
  static inline void store_partial(float* p, reg v, int count) { _mm512_mask_storeu_ps(p, lanes(0, count), v); }

  // Lane i = p[2*i] for lanes [lo, hi) (reads only p[2*lo .. 2*hi-2]); the other lanes are 0.
  static inline reg load_even_lanes(const float* p, int lo, int hi) {
    // Pair i of the 32 floats p[0..31] is lanes 2i, 2i+1; lane 2i of the pair is needed for i in [lo, hi).
    const __mmask16 first = lanes(2 * lo, 2 * hi - 1);             // p[0..15]
    const __mmask16 second = lanes(2 * lo - 16, 2 * hi - 1 - 16);  // p[16..31]
    const reg low = _mm512_maskz_loadu_ps(first, p);
    const reg high = _mm512_maskz_loadu_ps(second, p + 16);
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    return _mm512_permutex2var_ps(low, even, high);
  }

  // p[0], p[2], ..., p[2*width - 2] (never reads p[2*width - 1], which may lie past the row).
  static inline reg load_even(const float* p) { return load_even_lanes(p, 0, width); }

  // Lane parity + 2m = p[m] for m in [lo, hi) (0 <= lo, hi <= 8; reads only those), the other lanes 0:
  // consecutive values spread over the lanes of one parity (the stride-2 depthwise backward data).
  static inline reg load_spread(const float* p, int parity, int lo, int hi) {
    const reg v = _mm512_maskz_loadu_ps(lanes(lo, hi), p);
    const __m512i pairs = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __mmask16 keep = parity ? (lanes(2 * lo + 1, 2 * hi + 1) & 0xAAAA) : (lanes(2 * lo, 2 * hi) & 0x5555);
    return _mm512_maskz_permutexvar_ps(keep, pairs, v);
  }

  // Interleave: zip_lo(a, b) = a0 b0 a1 b1 ... a7 b7, zip_hi(a, b) = a8 b8 ... a15 b15.
  static inline reg zip_lo(reg a, reg b) {
    return _mm512_permutex2var_ps(a, _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0), b);
  }
  static inline reg zip_hi(reg a, reg b) {
    return _mm512_permutex2var_ps(a, _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8), b);
  }

  static inline float hsum(reg v) { return _mm512_reduce_add_ps(v); }

  // dst[j*ldd + i] = src[i*lds + j] for i < rows (<= 16), j < 16: a rows x 16 block, transposed.
  static inline void transpose_block(const float* src, long lds, int rows, float* dst, long ldd) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_loadu_ps(src + i * lds) : _mm512_setzero_ps();
    // Stage 1: interleave pairs of rows (32-bit elements).
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    // Stage 2: interleave 64-bit pairs.
    for (int i = 0; i < 16; i += 4) {
      r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
      r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
      r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
      r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    // Now r[4q + s] holds, in each 128-bit lane L, elements (rows 4q..4q+3, column 4L + s).
    // Stage 3: gather 128-bit lanes across groups q = 0..3 so each output row gets all 16 rows.
    for (int s = 0; s < 4; ++s) {
      const __m512 a = r[s], b = r[4 + s], c = r[8 + s], d = r[12 + s];
      const __m512 ab_lo = _mm512_shuffle_f32x4(a, b, 0x44);  // a.L0 a.L1 b.L0 b.L1
      const __m512 ab_hi = _mm512_shuffle_f32x4(a, b, 0xee);  // a.L2 a.L3 b.L2 b.L3
      const __m512 cd_lo = _mm512_shuffle_f32x4(c, d, 0x44);
      const __m512 cd_hi = _mm512_shuffle_f32x4(c, d, 0xee);
      t[s] = _mm512_shuffle_f32x4(ab_lo, cd_lo, 0x88);       // a.L0 b.L0 c.L0 d.L0 -> column s
      t[4 + s] = _mm512_shuffle_f32x4(ab_lo, cd_lo, 0xdd);   // L1 -> column 4 + s
      t[8 + s] = _mm512_shuffle_f32x4(ab_hi, cd_hi, 0x88);   // L2 -> column 8 + s
      t[12 + s] = _mm512_shuffle_f32x4(ab_hi, cd_hi, 0xdd);  // L3 -> column 12 + s
    }
    if (rows == 16) {
      for (int j = 0; j < 16; ++j) _mm512_storeu_ps(dst + j * ldd, t[j]);
    } else {
      const __mmask16 keep = lanes(0, rows);
      for (int j = 0; j < 16; ++j) _mm512_mask_storeu_ps(dst + j * ldd, keep, t[j]);
    }
  }
};

// 8 x 32 microkernel: 16 accumulators (the FMA units need >= 8 chains in flight: 2 ports x 4 cycles
// latency; 16 leave room for load latency), 2 B loads + 8 broadcasts per 16 FMAs keeps the load ports
// under the FMA ports. 8 rows divide every output-channel count of the models (64..512).
using Micro = simd::MicroBcast<ConvVec, 8, 2>;

}  // namespace plasmo::kernels::avx512
