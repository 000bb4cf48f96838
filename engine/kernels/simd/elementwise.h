// Elementwise kernels written once over a vector-traits type V (avx2/vec_avx2.h, avx512/vec_avx512.h,
// neon/vec_neon.h) and instantiated in each ISA folder. Tails (n % W) run the same vector code on a
// partial load/store, so every element goes through the same instructions whatever its position.
//
// Parity with the reference (engine/kernels/ref/elementwise.cpp):
// - relu, relu6, their backwards, sigmoid_backward, add, mul, axpy, scale: bit-exact. Each result is
//   the same IEEE operations in the same order as the reference (axpy is a multiply then an add, never
//   fused; the reference is built with -ffp-contract=off so it is not fused either).
// - sigmoid_forward: within a few ulp (see exp_nonpositive and tests/test_kernels_misc_elementwise.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/kernels/kernels.h"

namespace plasmo::kernels::simd {
// Unnamed: every function here is compiled once per ISA (with that ISA's flags) and must never be
// shared between those copies by the linker.
namespace {

// Applies body(offset, count) over [0, n) in vector steps; count == V::W except for the last step.
template <class V, class Body>
inline void for_each_vector(size_t n, Body&& body) {
  size_t i = 0;
  for (; i + V::W <= n; i += V::W) body(i, V::W);
  if (i < n) body(i, static_cast<int>(n - i));
}

template <class V>
inline typename V::F load_n(const float* p, int count) {
  return count == V::W ? V::load(p) : V::load_partial(p, count);
}
template <class V>
inline void store_n(float* p, typename V::F v, int count) {
  if (count == V::W)
    V::store(p, v);
  else
    V::store_partial(p, v, count);
}

// A full vector to p, bypassing the caches where the ISA has it and p is aligned to the vector
// (x86: movntps); any other case a normal store. Call stream_fence() after the last one.
template <class V>
inline void store_stream(float* p, typename V::F v) {
#if defined(__AVX512F__)
  if constexpr (V::W == 16) {  // V::F is __m512
    if ((reinterpret_cast<uintptr_t>(p) & 63) == 0) return _mm512_stream_ps(p, v);
  }
#endif
#if defined(__AVX__)
  if constexpr (V::W == 8) {  // V::F is __m256
    if ((reinterpret_cast<uintptr_t>(p) & 31) == 0) return _mm256_stream_ps(p, v);
  }
#endif
  V::store(p, v);
}
// Orders the non-temporal stores before any later store (x86 sfence); nothing elsewhere.
inline void stream_fence() {
#if defined(__SSE__)
  _mm_sfence();
#endif
}

// e^r for r <= 0 (and NaN -> NaN). Cody-Waite reduction r = n ln2 + f, |f| <= ln2/2, with ln2 split in
// two (the high part has few bits so n*ln2_hi is exact), then Cephes' degree-7 polynomial for e^f
// (relative error about 1 ulp on [-ln2/2, ln2/2]) and the scale 2^n applied as 2^n1 * 2^n2 with
// n1 = floor(n/2): both factors stay normal down to n = -151, so results in the subnormal range are
// rounded once, like a correctly rounded exp. r is clamped at -105 (e^-105 < half the smallest
// subnormal, so the result rounds to 0 as the true value does).
template <class V>
inline typename V::F exp_nonpositive(typename V::F r) {
  using F = typename V::F;
  using I = typename V::I;
  r = V::max_gt(V::set1(-105.0f), r);                                      // -105 > r ? -105 : r; a NaN r stays NaN
  const F n = V::round_nearest(V::mul(r, V::set1(1.44269504088896341f)));  // n = round(r / ln2)
  F f = V::fmadd(n, V::set1(-0.693359375f), r);                            // r - n*ln2_hi (exact)
  f = V::fmadd(n, V::set1(2.12194440e-4f), f);                             // - n*ln2_lo
  F p = V::set1(1.9875691500e-4f);
  p = V::fmadd(p, f, V::set1(1.3981999507e-3f));
  p = V::fmadd(p, f, V::set1(8.3334519073e-3f));
  p = V::fmadd(p, f, V::set1(4.1665795894e-2f));
  p = V::fmadd(p, f, V::set1(1.6666665459e-1f));
  p = V::fmadd(p, f, V::set1(5.0000001201e-1f));
  p = V::fmadd(p, V::mul(f, f), f);  // e^f - 1 = f + f^2 * P(f)
  p = V::add(p, V::set1(1.0f));
  const I exponent = V::to_int(n);  // in [-151, 0]
  const I half = V::ishr1(exponent);
  return V::mul(V::mul(p, V::pow2(half)), V::pow2(V::isub(exponent, half)));
}

// y = max(x, 0): x > 0 ? x : +0, as the reference (NaN -> 0, -0 -> +0).
template <class V>
void relu_forward(size_t n, const float* x, float* y) {
  const auto zero = V::zero();
  for_each_vector<V>(n,
                     [&](size_t i, int count) { store_n<V>(y + i, V::max_gt(load_n<V>(x + i, count), zero), count); });
}
// dx = y > 0 ? dy : 0
template <class V>
void relu_backward(size_t n, const float* y, const float* dy, float* dx) {
  const auto zero = V::zero();
  for_each_vector<V>(n, [&](size_t i, int count) {
    store_n<V>(dx + i, V::keep(V::cmp_gt(load_n<V>(y + i, count), zero), load_n<V>(dy + i, count)), count);
  });
}
// y = x > 0 ? (x < 6 ? x : 6) : 0  ==  min_lt(max_gt(x, 0), 6) (a NaN becomes 0 in the first step).
template <class V>
void relu6_forward(size_t n, const float* x, float* y) {
  const auto zero = V::zero(), six = V::set1(6.0f);
  for_each_vector<V>(n, [&](size_t i, int count) {
    store_n<V>(y + i, V::min_lt(V::max_gt(load_n<V>(x + i, count), zero), six), count);
  });
}
// dx = (0 < y < 6) ? dy : 0
template <class V>
void relu6_backward(size_t n, const float* y, const float* dy, float* dx) {
  const auto zero = V::zero(), six = V::set1(6.0f);
  for_each_vector<V>(n, [&](size_t i, int count) {
    const auto yv = load_n<V>(y + i, count);
    const auto inside = V::mand(V::cmp_gt(yv, zero), V::cmp_lt(yv, six));
    store_n<V>(dx + i, V::keep(inside, load_n<V>(dy + i, count)), count);
  });
}
// y = 1/(1+e^-x). With e = e^-|x| in (0, 1]: y = 1/(1+e) for x >= 0 and e/(1+e) for x < 0, the two
// branches of the reference, so e^ never overflows; true divisions, no reciprocal estimates. x >= 17
// gives 1+e == 1 and y == 1 exactly; x -> -inf gives e/(1+e) -> 0 through the subnormals.
template <class V>
void sigmoid_forward(size_t n, const float* x, float* y) {
  const auto zero = V::zero(), one = V::set1(1.0f);
  for_each_vector<V>(n, [&](size_t i, int count) {
    const auto xv = load_n<V>(x + i, count);
    const auto e = exp_nonpositive<V>(V::sub(zero, V::abs(xv)));
    const auto denominator = V::add(one, e);
    const auto yv = V::select(V::cmp_ge(xv, zero), V::div(one, denominator), V::div(e, denominator));
    store_n<V>(y + i, yv, count);
  });
}
// dx = dy * y * (1 - y), evaluated left to right as the reference.
template <class V>
void sigmoid_backward(size_t n, const float* y, const float* dy, float* dx) {
  const auto one = V::set1(1.0f);
  for_each_vector<V>(n, [&](size_t i, int count) {
    const auto yv = load_n<V>(y + i, count);
    store_n<V>(dx + i, V::mul(V::mul(load_n<V>(dy + i, count), yv), V::sub(one, yv)), count);
  });
}
template <class V>
void add(size_t n, const float* a, const float* b, float* y) {
  for_each_vector<V>(n, [&](size_t i, int count) {
    store_n<V>(y + i, V::add(load_n<V>(a + i, count), load_n<V>(b + i, count)), count);
  });
}
template <class V>
void mul(size_t n, const float* a, const float* b, float* y) {
  for_each_vector<V>(n, [&](size_t i, int count) {
    store_n<V>(y + i, V::mul(load_n<V>(a + i, count), load_n<V>(b + i, count)), count);
  });
}
// y += alpha * x (multiply, then add: not fused, as the reference)
template <class V>
void axpy(size_t n, float alpha, const float* x, float* y) {
  const auto alpha_v = V::set1(alpha);
  for_each_vector<V>(n, [&](size_t i, int count) {
    store_n<V>(y + i, V::add(load_n<V>(y + i, count), V::mul(alpha_v, load_n<V>(x + i, count))), count);
  });
}
template <class V>
void scale(size_t n, float alpha, const float* x, float* y) {
  const auto alpha_v = V::set1(alpha);
  for_each_vector<V>(n,
                     [&](size_t i, int count) { store_n<V>(y + i, V::mul(alpha_v, load_n<V>(x + i, count)), count); });
}
// y = 0; from kZeroStreamFloats on with non-temporal stores: a gradient zeroed before a step is next
// touched by its layer's backward, long after it left L2, so reading its lines in first is wasted
// (MobileNetV2's zero_grad: 1.3 -> 0.6 ms).
constexpr size_t kZeroStreamFloats = 4096;
template <class V>
void zero(size_t n, float* y) {
  const bool stream = n >= kZeroStreamFloats;
  for_each_vector<V>(n, [&](size_t i, int count) {
    if (stream && count == V::W)
      store_stream<V>(y + i, V::zero());
    else
      store_n<V>(y + i, V::zero(), count);
  });
  if (stream) stream_fence();
}

}  // namespace
}  // namespace plasmo::kernels::simd
