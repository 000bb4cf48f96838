// NEON (AArch64 Advanced SIMD) vector traits for the generic SIMD kernels of engine/kernels/simd/:
// 4 float lanes, masks as all-ones uint32 lanes. NEON has no masked loads: partial loads and stores go
// through a small stack buffer. Include only from files in engine/kernels/neon/.
#pragma once
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

namespace plasmo::kernels::neon {
namespace {

struct Vec {
  using F = float32x4_t;
  using I = int32x4_t;
  using M = uint32x4_t;
  static constexpr int W = 4;
  static constexpr const char* name = "neon";

  static F load(const float* p) { return vld1q_f32(p); }
  static void store(float* p, F v) { vst1q_f32(p, v); }
  static F load_partial(const float* p, int count) {
    float lanes[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    std::memcpy(lanes, p, sizeof(float) * static_cast<size_t>(count));
    return vld1q_f32(lanes);
  }
  static void store_partial(float* p, F v, int count) {
    float lanes[4];
    vst1q_f32(lanes, v);
    std::memcpy(p, lanes, sizeof(float) * static_cast<size_t>(count));
  }
  static I iload(const int32_t* p) { return vld1q_s32(p); }
  static I iload_partial(const int32_t* p, int count) {
    int32_t lanes[4] = {0, 0, 0, 0};
    std::memcpy(lanes, p, sizeof(int32_t) * static_cast<size_t>(count));
    return vld1q_s32(lanes);
  }
  static void istore(int32_t* p, I v) { vst1q_s32(p, v); }
  static void istore_partial(int32_t* p, I v, int count) {
    int32_t lanes[4];
    vst1q_s32(lanes, v);
    std::memcpy(p, lanes, sizeof(int32_t) * static_cast<size_t>(count));
  }
  static void load_deinterleave(const float* p, F& even, F& odd) {
    const float32x4x2_t pair = vld2q_f32(p);
    even = pair.val[0];
    odd = pair.val[1];
  }
  static void store_interleave(float* p, F a, F b) {
    float32x4x2_t pair;
    pair.val[0] = a;
    pair.val[1] = b;
    vst2q_f32(p, pair);
  }

  static F set1(float v) { return vdupq_n_f32(v); }
  static F zero() { return vdupq_n_f32(0.0f); }
  static F add(F a, F b) { return vaddq_f32(a, b); }
  static F sub(F a, F b) { return vsubq_f32(a, b); }
  static F mul(F a, F b) { return vmulq_f32(a, b); }
  static F div(F a, F b) { return vdivq_f32(a, b); }
  static F sqrt(F a) { return vsqrtq_f32(a); }
  static F fmadd(F a, F b, F c) { return vfmaq_f32(c, a, b); }  // c + a*b, one rounding
  // vmaxq/vminq propagate NaN and order -0 < +0; the kernels need the x86 rule instead.
  static F max_gt(F a, F b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }  // a > b ? a : b
  static F min_lt(F a, F b) { return vbslq_f32(vcltq_f32(a, b), a, b); }  // a < b ? a : b
  static F abs(F a) { return vabsq_f32(a); }
  static F round_nearest(F a) { return vrndnq_f32(a); }  // ties to even, as the x86 versions
  static float reduce_add(F v) {
    const float32x2_t pair = vadd_f32(vget_low_f32(v), vget_high_f32(v));  // v0+v2, v1+v3
    return vget_lane_f32(pair, 0) + vget_lane_f32(pair, 1);
  }

  static M cmp_gt(F a, F b) { return vcgtq_f32(a, b); }
  static M cmp_lt(F a, F b) { return vcltq_f32(a, b); }
  static M cmp_ge(F a, F b) { return vcgeq_f32(a, b); }
  static M mand(M a, M b) { return vandq_u32(a, b); }
  static M mor(M a, M b) { return vorrq_u32(a, b); }
  static F select(M m, F a, F b) { return vbslq_f32(m, a, b); }
  static F keep(M m, F a) { return vreinterpretq_f32_u32(vandq_u32(m, vreinterpretq_u32_f32(a))); }

  static I iset1(int32_t v) { return vdupq_n_s32(v); }
  static I iota() {
    static const int32_t lanes[4] = {0, 1, 2, 3};
    return vld1q_s32(lanes);
  }
  static I iadd(I a, I b) { return vaddq_s32(a, b); }
  static I isub(I a, I b) { return vsubq_s32(a, b); }
  static I imul(I a, int32_t b) { return vmulq_n_s32(a, b); }
  static I ishr1(I a) { return vshrq_n_s32(a, 1); }
  static M icmp_gt(I a, I b) { return vcgtq_s32(a, b); }
  static M icmp_eq(I a, I b) { return vceqq_s32(a, b); }
  static I iselect(M m, I a, I b) { return vbslq_s32(m, a, b); }
  static I to_int(F a) { return vcvtq_s32_f32(a); }
  static F pow2(I e) { return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(e, vdupq_n_s32(127)), 23)); }
};

}  // namespace
}  // namespace plasmo::kernels::neon
