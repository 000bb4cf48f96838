// AVX2 + FMA vector traits for the generic GEMM and convolution templates (engine/kernels/simd/), plus
// this ISA's GEMM microkernel shape. Included only by files in engine/kernels/avx2/ (built with -mavx2
// -mfma). The simd/ templates instantiated with this ConvVec get their own symbols (see avx512/vec.h).
// Named apart from vec_avx2.h's Vec (the other kernels' traits) so conv2d.cpp can hold both.
#pragma once
#include <immintrin.h>

#include "engine/kernels/simd/micro_bcast.h"

namespace plasmo::kernels::avx2 {

struct ConvVec {
  using reg = __m256;
  static constexpr int width = 8;
  static constexpr bool has_masked_io = true;  // vmaskmov never touches the lanes it skips

  static inline reg zero() { return _mm256_setzero_ps(); }
  static inline reg set1(float value) { return _mm256_set1_ps(value); }
  static inline reg load(const float* p) { return _mm256_loadu_ps(p); }
  static inline void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  // Non-temporal store past the caches: p aligned to the vector (32 bytes); stream_fence() after the
  // last one orders them before any later store (they are weakly ordered).
  static inline void stream(float* p, reg v) { _mm256_stream_ps(p, v); }
  static inline void stream_fence() { _mm_sfence(); }
  static inline reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }  // a*b + c
  static inline reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static inline reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }

  // All-ones in lanes [lo, hi), zero elsewhere (bounds may lie outside [0, 8)).
  static inline __m256i lanes(int lo, int hi) {
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i at_least_lo = _mm256_cmpgt_epi32(index, _mm256_set1_epi32(lo - 1));
    const __m256i below_hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), index);
    return _mm256_and_si256(at_least_lo, below_hi);
  }
  static inline reg load_lanes(const float* p, int lo, int hi) { return _mm256_maskload_ps(p, lanes(lo, hi)); }
  // A lane mask made once and reused (pad_images: the same columns of every row).
  using mask = __m256i;
  static inline mask make_mask(int lo, int hi) { return lanes(lo, hi); }
  static inline reg load_masked(const float* p, mask m) { return _mm256_maskload_ps(p, m); }
  // Lane i on when bit i of bits is set (any pattern, e.g. a small plane's valid neighbours).
  static inline mask mask_from_bits(unsigned bits) {
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), bit), bit);
  }
  static inline reg load_partial(const float* p, int count) { return load_lanes(p, 0, count); }
  static inline void store_partial(float* p, reg v, int count) { _mm256_maskstore_ps(p, lanes(0, count), v); }

  // Lane i = p[2*i] for lanes [lo, hi) (reads only p[2*lo .. 2*hi-2]); the other lanes are 0.
  static inline reg load_even_lanes(const float* p, int lo, int hi) {
    const reg low = load_lanes(p, 2 * lo, 2 * hi - 1);
    const reg high = load_lanes(p + 8, 2 * lo - 8, 2 * hi - 1 - 8);
    // Per 128-bit half: low0 low2 high0 high2 | low4 low6 high4 high6; then order the 64-bit pairs.
    const reg even = _mm256_shuffle_ps(low, high, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), _MM_SHUFFLE(3, 1, 2, 0)));
  }

  // Lane parity + 2m = p[m] for m in [lo, hi) (0 <= lo, hi <= 4; reads only those), the other lanes 0:
  // consecutive values spread over the lanes of one parity (the stride-2 depthwise backward data).
  static inline reg load_spread(const float* p, int parity, int lo, int hi) {
    const reg v = load_lanes(p, lo, hi);  // lanes past hi and below lo are 0, so their copies are too
    const reg pairs = _mm256_permutevar8x32_ps(v, _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3));
    return parity ? _mm256_blend_ps(_mm256_setzero_ps(), pairs, 0xAA)
                  : _mm256_blend_ps(_mm256_setzero_ps(), pairs, 0x55);
  }

  // p[0], p[2], ..., p[2*width - 2] (never reads p[2*width - 1], which may lie past the row).
  static inline reg load_even(const float* p) { return load_even_lanes(p, 0, width); }

  // Interleave: zip_lo(a, b) = a0 b0 a1 b1 a2 b2 a3 b3, zip_hi(a, b) = a4 b4 ... a7 b7.
  static inline reg zip_lo(reg a, reg b) {
    return _mm256_permute2f128_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b), 0x20);
  }
  static inline reg zip_hi(reg a, reg b) {
    return _mm256_permute2f128_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b), 0x31);
  }

  static inline float hsum(reg v) {
    __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
    return _mm_cvtss_f32(sum);
  }

  // dst[j*ldd + i] = src[i*lds + j] for i < rows (<= 8), j < 8: a rows x 8 block, transposed.
  static inline void transpose_block(const float* src, long lds, int rows, float* dst, long ldd) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_loadu_ps(src + i * lds) : _mm256_setzero_ps();
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);      // r_i[0] r_i+1[0] r_i[1] r_i+1[1] | same for [4..5]
      t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);  // [2..3] | [6..7]
    }
    for (int i = 0; i < 8; i += 4) {
      r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));          // column 0 | 4, rows i..i+3
      r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));      // column 1 | 5
      r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));  // column 2 | 6
      r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));  // column 3 | 7
    }
    for (int s = 0; s < 4; ++s) {
      t[s] = _mm256_permute2f128_ps(r[s], r[4 + s], 0x20);      // column s: rows 0-3 | rows 4-7
      t[4 + s] = _mm256_permute2f128_ps(r[s], r[4 + s], 0x31);  // column 4 + s
    }
    if (rows == 8) {
      for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dst + j * ldd, t[j]);
    } else {
      const __m256i keep = lanes(0, rows);
      for (int j = 0; j < 8; ++j) _mm256_maskstore_ps(dst + j * ldd, keep, t[j]);
    }
  }
};

// 6 x 16 microkernel: 12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16 ymm registers; 12 chains
// cover the FMA latency (2 ports x 4 cycles), and 2 loads + 6 broadcasts per 12 FMAs fit the load ports.
using Micro = simd::MicroBcast<ConvVec, 6, 2>;

}  // namespace plasmo::kernels::avx2
