// AVX2+FMA vector traits for the generic SIMD kernels of engine/kernels/simd/: 8 float lanes, masks
// as all-ones float lanes. Include only from files in engine/kernels/avx2/ (built with -mavx2 -mfma).
// Everything is in an unnamed namespace so no inline function compiled with AVX2 flags can be picked
// by the linker for code that must run on a CPU without AVX2.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace plasmo::kernels::avx2 {
namespace {

struct Vec {
  using F = __m256;   // 8 floats
  using I = __m256i;  // 8 int32
  using M = __m256;   // lane mask: all ones (true) or all zeros (false)
  static constexpr int W = 8;
  static constexpr const char* name = "avx2";

  // ---- memory; *_partial touch only lanes [0, count) and read the others as 0 (count in [0, W]) --
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static __m256i lanes_below(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static F load_partial(const float* p, int count) { return _mm256_maskload_ps(p, lanes_below(count)); }
  static void store_partial(float* p, F v, int count) { _mm256_maskstore_ps(p, lanes_below(count), v); }
  static I iload(const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static I iload_partial(const int32_t* p, int count) {
    return _mm256_maskload_epi32(reinterpret_cast<const int*>(p), lanes_below(count));
  }
  static void istore(int32_t* p, I v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
  static void istore_partial(int32_t* p, I v, int count) {
    _mm256_maskstore_epi32(reinterpret_cast<int*>(p), lanes_below(count), v);
  }
  // even[j] = p[2j], odd[j] = p[2j+1] for j < W (reads p[0, 2W)).
  static void load_deinterleave(const float* p, F& even, F& odd) {
    const F lo = _mm256_loadu_ps(p), hi = _mm256_loadu_ps(p + 8);
    // shuffle gives [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6]; the 64-bit permute restores lane order.
    even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xD8));
    odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xDD)), 0xD8));
  }
  // p[2j] = a[j], p[2j+1] = b[j] for j < W (writes p[0, 2W)).
  static void store_interleave(float* p, F a, F b) {
    const F lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);  // [a0 b0 a1 b1 | a4 b4 a5 b5] ...
    _mm256_storeu_ps(p, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(p + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
  }

  // ---- float arithmetic (IEEE, each op rounded once; fmadd fuses) ---------------------------------
  static F set1(float v) { return _mm256_set1_ps(v); }
  static F zero() { return _mm256_setzero_ps(); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
  static F sqrt(F a) { return _mm256_sqrt_ps(a); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }  // a*b + c, one rounding
  static F max_gt(F a, F b) { return _mm256_max_ps(a, b); }           // a > b ? a : b (exactly maxps)
  static F min_lt(F a, F b) { return _mm256_min_ps(a, b); }           // a < b ? a : b (exactly minps)
  static F abs(F a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static F round_nearest(F a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static float reduce_add(F v) {
    const __m128 quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
    return _mm_cvtss_f32(_mm_add_ss(pair, _mm_movehdup_ps(pair)));
  }

  // ---- masks (ordered compares: false when either side is NaN) -----------------------------------
  static M cmp_gt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static M cmp_lt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static M cmp_ge(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
  static M mand(M a, M b) { return _mm256_and_ps(a, b); }
  static M mor(M a, M b) { return _mm256_or_ps(a, b); }
  static F select(M m, F a, F b) { return _mm256_blendv_ps(b, a, m); }  // m ? a : b
  static F keep(M m, F a) { return _mm256_and_ps(m, a); }               // m ? a : +0

  // ---- int32 lanes ------------------------------------------------------------------------------
  static I iset1(int32_t v) { return _mm256_set1_epi32(v); }
  static I iota() { return _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7); }
  static I iadd(I a, I b) { return _mm256_add_epi32(a, b); }
  static I isub(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I imul(I a, int32_t b) { return _mm256_mullo_epi32(a, _mm256_set1_epi32(b)); }
  static I ishr1(I a) { return _mm256_srai_epi32(a, 1); }  // arithmetic: floor(a / 2)
  static M icmp_gt(I a, I b) { return _mm256_castsi256_ps(_mm256_cmpgt_epi32(a, b)); }
  static M icmp_eq(I a, I b) { return _mm256_castsi256_ps(_mm256_cmpeq_epi32(a, b)); }
  static I iselect(M m, I a, I b) {
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(b), _mm256_castsi256_ps(a), m));
  }
  static I to_int(F a) { return _mm256_cvttps_epi32(a); }  // truncation; callers pass integral values
  // 2^e for integer e in [-126, 127], built from the exponent bits.
  static F pow2(I e) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23)); }
};

}  // namespace
}  // namespace plasmo::kernels::avx2
