// AVX-512 (F, BW, VL, DQ) vector traits for the generic SIMD kernels of engine/kernels/simd/: 16 float
// lanes, masks in k registers (partial loads and stores are masked and never fault). Include only from
// files in engine/kernels/avx512/. Unnamed namespace: see avx2/vec_avx2.h.
#pragma once
// GCC 12 flags its own AVX-512 intrinsics (_mm512_undefined_* inside them) as maybe-uninitialized
// (GCC bug 105593); the warning is reported at the intrinsic's location, so it is silenced before the
// include.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

namespace plasmo::kernels::avx512 {
namespace {

struct Vec {
  using F = __m512;
  using I = __m512i;
  using M = __mmask16;
  static constexpr int W = 16;
  static constexpr const char* name = "avx512";

  static M lanes_below(int count) { return static_cast<M>(count >= 16 ? 0xFFFFu : ((1u << count) - 1u)); }
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F load_partial(const float* p, int count) { return _mm512_maskz_loadu_ps(lanes_below(count), p); }
  static void store_partial(float* p, F v, int count) { _mm512_mask_storeu_ps(p, lanes_below(count), v); }
  static I iload(const int32_t* p) { return _mm512_loadu_si512(p); }
  static I iload_partial(const int32_t* p, int count) { return _mm512_maskz_loadu_epi32(lanes_below(count), p); }
  static void istore(int32_t* p, I v) { _mm512_storeu_si512(p, v); }
  static void istore_partial(int32_t* p, I v, int count) { _mm512_mask_storeu_epi32(p, lanes_below(count), v); }
  static void load_deinterleave(const float* p, F& even, F& odd) {
    const F lo = _mm512_loadu_ps(p), hi = _mm512_loadu_ps(p + 16);
    const I even_index = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    even = _mm512_permutex2var_ps(lo, even_index, hi);
    odd = _mm512_permutex2var_ps(lo, _mm512_add_epi32(even_index, _mm512_set1_epi32(1)), hi);
  }
  static void store_interleave(float* p, F a, F b) {
    const I low_index = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    _mm512_storeu_ps(p, _mm512_permutex2var_ps(a, low_index, b));
    _mm512_storeu_ps(p + 16, _mm512_permutex2var_ps(a, _mm512_add_epi32(low_index, _mm512_set1_epi32(8)), b));
  }

  static F set1(float v) { return _mm512_set1_ps(v); }
  static F zero() { return _mm512_setzero_ps(); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static F sqrt(F a) { return _mm512_sqrt_ps(a); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F max_gt(F a, F b) { return _mm512_max_ps(a, b); }  // a > b ? a : b (exactly vmaxps)
  static F min_lt(F a, F b) { return _mm512_min_ps(a, b); }  // a < b ? a : b (exactly vminps)
  static F abs(F a) { return _mm512_abs_ps(a); }
  static F round_nearest(F a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static float reduce_add(F v) {
    // Same pairing as the AVX2 version: halves, then quarters, then pairs.
    const __m256 half = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    const __m128 quad = _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
    const __m128 pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
    return _mm_cvtss_f32(_mm_add_ss(pair, _mm_movehdup_ps(pair)));
  }

  static M cmp_gt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M cmp_lt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M cmp_ge(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
  static M mand(M a, M b) { return static_cast<M>(a & b); }
  static M mor(M a, M b) { return static_cast<M>(a | b); }
  static F select(M m, F a, F b) { return _mm512_mask_blend_ps(m, b, a); }  // m ? a : b
  static F keep(M m, F a) { return _mm512_maskz_mov_ps(m, a); }

  static I iset1(int32_t v) { return _mm512_set1_epi32(v); }
  static I iota() { return _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }
  static I iadd(I a, I b) { return _mm512_add_epi32(a, b); }
  static I isub(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I imul(I a, int32_t b) { return _mm512_mullo_epi32(a, _mm512_set1_epi32(b)); }
  static I ishr1(I a) { return _mm512_srai_epi32(a, 1); }
  static M icmp_gt(I a, I b) { return _mm512_cmpgt_epi32_mask(a, b); }
  static M icmp_eq(I a, I b) { return _mm512_cmpeq_epi32_mask(a, b); }
  static I iselect(M m, I a, I b) { return _mm512_mask_blend_epi32(m, b, a); }
  static I to_int(F a) { return _mm512_cvttps_epi32(a); }
  static F pow2(I e) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(e, _mm512_set1_epi32(127)), 23)); }
};

}  // namespace
}  // namespace plasmo::kernels::avx512
