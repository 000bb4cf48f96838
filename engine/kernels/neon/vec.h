// NEON (AArch64 Advanced SIMD) vector traits for the generic GEMM and convolution templates
// (engine/kernels/simd/), plus this ISA's GEMM microkernel. Included only by files in
// engine/kernels/neon/, which the Makefile builds for ARCH=aarch64 only. Named ConvVec, apart from
// vec_neon.h's Vec (the other kernels' traits), so conv2d.cpp can hold both.
//
// NEON has no masked loads, so partial vectors go through a small buffer (has_masked_io = false makes
// the templates take their scalar edge paths); whole vectors are plain ld1/st1.
#pragma once
#include <arm_neon.h>

namespace plasmo::kernels::neon {

struct ConvVec {
  using reg = float32x4_t;
  static constexpr int width = 4;
  static constexpr bool has_masked_io = false;

  static inline reg zero() { return vdupq_n_f32(0.0f); }
  static inline reg set1(float value) { return vdupq_n_f32(value); }
  static inline reg load(const float* p) { return vld1q_f32(p); }
  static inline void store(float* p, reg v) { vst1q_f32(p, v); }
  // No non-temporal store here: stream is a plain store (the kernels' streaming paths run as plain ones).
  static inline void stream(float* p, reg v) { vst1q_f32(p, v); }
  static inline void stream_fence() {}
  static inline reg fma(reg a, reg b, reg c) { return vfmaq_f32(c, a, b); }  // a*b + c
  static inline reg add(reg a, reg b) { return vaddq_f32(a, b); }
  static inline reg mul(reg a, reg b) { return vmulq_f32(a, b); }

  // Lanes [lo, hi) from p[lane], others 0; only the addresses of those lanes are read.
  static inline reg load_lanes(const float* p, int lo, int hi) {
    float lanes[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = lo < 0 ? 0 : lo; i < hi && i < 4; ++i) lanes[i] = p[i];
    return vld1q_f32(lanes);
  }
  static inline reg load_partial(const float* p, int count) { return load_lanes(p, 0, count); }
  static inline void store_partial(float* p, reg v, int count) {
    float lanes[4];
    vst1q_f32(lanes, v);
    // count < 4 always; the bound on i is for GCC, which cannot see it through some unrolled callers
    // (conv_pw_data.h) and warns of lanes[4].
    for (int i = 0; i < count && i < 4; ++i) p[i] = lanes[i];
  }
  // p[0], p[2], p[4], p[6], reading only p[0..6] (never p[7], which may lie past the row).
  static inline reg load_even(const float* p) {
    const reg first = vld1q_f32(p);                                       // p0 p1 p2 p3
    const reg second = vextq_f32(vld1q_f32(p + 3), vld1q_f32(p + 3), 1);  // p4 p5 p6 p3
    return vuzp1q_f32(first, second);                                     // p0 p2 p4 p6
  }
  // Lane parity + 2m = p[m] for m in [lo, hi) (reads only those), the other lanes 0.
  static inline reg load_spread(const float* p, int parity, int lo, int hi) {
    float lanes[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int m = lo < 0 ? 0 : lo; m < hi && parity + 2 * m < 4; ++m) lanes[parity + 2 * m] = p[m];
    return vld1q_f32(lanes);
  }
  static inline reg load_even_lanes(const float* p, int lo, int hi) {
    float lanes[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = lo < 0 ? 0 : lo; i < hi && i < 4; ++i) lanes[i] = p[2 * i];
    return vld1q_f32(lanes);
  }

  // Interleave: zip_lo(a, b) = a0 b0 a1 b1, zip_hi(a, b) = a2 b2 a3 b3.
  static inline reg zip_lo(reg a, reg b) { return vzip1q_f32(a, b); }
  static inline reg zip_hi(reg a, reg b) { return vzip2q_f32(a, b); }

  static inline float hsum(reg v) { return vaddvq_f32(v); }

  // dst[j*ldd + i] = src[i*lds + j] for i < rows (<= 4), j < 4.
  static inline void transpose_block(const float* src, long lds, int rows, float* dst, long ldd) {
    reg r[4];
    for (int i = 0; i < 4; ++i) r[i] = i < rows ? vld1q_f32(src + i * lds) : zero();
    const reg t0 = vtrn1q_f32(r[0], r[1]), t1 = vtrn2q_f32(r[0], r[1]);  // r0_0 r1_0 r0_2 r1_2 | r0_1 r1_1 ...
    const reg t2 = vtrn1q_f32(r[2], r[3]), t3 = vtrn2q_f32(r[2], r[3]);
    reg c[4];
    c[0] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    c[1] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
    c[2] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    c[3] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
    for (int j = 0; j < 4; ++j) {
      if (rows == 4)
        vst1q_f32(dst + j * ldd, c[j]);
      else
        store_partial(dst + j * ldd, c[j], rows);
    }
  }
};

// 8 x 12 microkernel: 24 accumulators, 3 B vectors and 2 A vectors = 29 of the 32 q registers. A is
// loaded as vectors and applied lane by lane (fmla by element), so one 8-float load of A feeds 24 FMAs.
// Same contract as simd::MicroBcast (micro_bcast.h).
struct Micro {
  static constexpr int MR = 8;
  static constexpr int NR = 12;
  static inline void run(int kc, const float* __restrict Ap, const float* __restrict Bp, float* C, long ldc,
                         bool accumulate, const float* row_init) {
    run_with(
        kc, Ap, [Bp](int k, int v) { return vld1q_f32(Bp + k * NR + v * 4); }, C, ldc, accumulate, row_init);
  }
  // Vector v of B's row k at bvec[v] + offsets[k] (see simd::MicroBcast::run_indirect).
  static inline void run_indirect(int kc, const float* __restrict Ap, const float* const* bvec, const int* offsets,
                                  float* C, long ldc, bool accumulate, const float* row_init) {
    const float *b0 = bvec[0], *b1 = bvec[1], *b2 = bvec[2];
    run_with(
        kc, Ap,
        [=](int k, int v) {
          return vld1q_f32((v == 0 ? b0 : v == 1 ? b1 : b2) + offsets[k]);
        },
        C, ldc, accumulate, row_init);
  }

  // A[r][k] = base[row_terms[r] + k_terms[k]] gathered in place (see simd::MicroBcast::run_gather).
  static inline void run_gather(int kc, const float* base, const int* row_terms, const int* k_terms,
                                const float* __restrict Bp, float* C, long ldc, bool accumulate,
                                const float* row_init) {
    int rows[8];
    for (int r = 0; r < 8; ++r) rows[r] = row_terms[r];
    float32x4_t acc[8][3];
    for (int r = 0; r < 8; ++r)
      for (int v = 0; v < 3; ++v)
        acc[r][v] = accumulate ? vld1q_f32(C + r * ldc + v * 4) : vdupq_n_f32(row_init ? row_init[r] : 0.0f);
    for (int k = 0; k < kc; ++k) {
      const float32x4_t b0 = vld1q_f32(Bp), b1 = vld1q_f32(Bp + 4), b2 = vld1q_f32(Bp + 8);
      const float* at = base + k_terms[k];
      for (int r = 0; r < 8; ++r) {
        const float32x4_t a = vld1q_dup_f32(at + rows[r]);
        acc[r][0] = vfmaq_f32(acc[r][0], b0, a);
        acc[r][1] = vfmaq_f32(acc[r][1], b1, a);
        acc[r][2] = vfmaq_f32(acc[r][2], b2, a);
      }
      Bp += 12;
    }
    for (int r = 0; r < 8; ++r)
      for (int v = 0; v < 3; ++v) vst1q_f32(C + r * ldc + v * 4, acc[r][v]);
  }

  // run_gather with B as 3 vector slivers [kc][4], one after another (see simd::MicroBcast::run_gather_vs).
  static inline void run_gather_vs(int kc, const float* base, const int* row_terms, const int* k_terms,
                                   const float* __restrict Bp, float* C, long ldc, bool accumulate,
                                   const float* row_init) {
    int rows[8];
    for (int r = 0; r < 8; ++r) rows[r] = row_terms[r];
    const float *s0 = Bp, *s1 = Bp + kc * 4, *s2 = Bp + kc * 8;
    float32x4_t acc[8][3];
    for (int r = 0; r < 8; ++r)
      for (int v = 0; v < 3; ++v)
        acc[r][v] = accumulate ? vld1q_f32(C + r * ldc + v * 4) : vdupq_n_f32(row_init ? row_init[r] : 0.0f);
    for (int k = 0; k < kc; ++k) {
      const float32x4_t b0 = vld1q_f32(s0 + k * 4), b1 = vld1q_f32(s1 + k * 4), b2 = vld1q_f32(s2 + k * 4);
      const float* at = base + k_terms[k];
      for (int r = 0; r < 8; ++r) {
        const float32x4_t a = vld1q_dup_f32(at + rows[r]);
        acc[r][0] = vfmaq_f32(acc[r][0], b0, a);
        acc[r][1] = vfmaq_f32(acc[r][1], b1, a);
        acc[r][2] = vfmaq_f32(acc[r][2], b2, a);
      }
    }
    for (int r = 0; r < 8; ++r)
      for (int v = 0; v < 3; ++v) vst1q_f32(C + r * ldc + v * 4, acc[r][v]);
  }

  template <class LoadB>
  static inline __attribute__((always_inline)) void run_with(int kc, const float* __restrict Ap, LoadB load_b, float* C,
                                                             long ldc, bool accumulate, const float* row_init) {
    float32x4_t acc[8][3];
    for (int r = 0; r < 8; ++r)
      for (int v = 0; v < 3; ++v)
        acc[r][v] = accumulate ? vld1q_f32(C + r * ldc + v * 4) : vdupq_n_f32(row_init ? row_init[r] : 0.0f);
    for (int k = 0; k < kc; ++k) {
      const float32x4_t b0 = load_b(k, 0), b1 = load_b(k, 1), b2 = load_b(k, 2);
      const float32x4_t a_lo = vld1q_f32(Ap), a_hi = vld1q_f32(Ap + 4);
#define PLASMO_NEON_ROW(r, a, lane)                    \
  acc[r][0] = vfmaq_laneq_f32(acc[r][0], b0, a, lane); \
  acc[r][1] = vfmaq_laneq_f32(acc[r][1], b1, a, lane); \
  acc[r][2] = vfmaq_laneq_f32(acc[r][2], b2, a, lane);
      PLASMO_NEON_ROW(0, a_lo, 0)
      PLASMO_NEON_ROW(1, a_lo, 1)
      PLASMO_NEON_ROW(2, a_lo, 2)
      PLASMO_NEON_ROW(3, a_lo, 3)
      PLASMO_NEON_ROW(4, a_hi, 0)
      PLASMO_NEON_ROW(5, a_hi, 1)
      PLASMO_NEON_ROW(6, a_hi, 2)
      PLASMO_NEON_ROW(7, a_hi, 3)
#undef PLASMO_NEON_ROW
      Ap += 8;
    }
    for (int r = 0; r < 8; ++r)
      for (int v = 0; v < 3; ++v) vst1q_f32(C + r * ldc + v * 4, acc[r][v]);
  }
};

}  // namespace plasmo::kernels::neon
