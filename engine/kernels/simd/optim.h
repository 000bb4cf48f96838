// Optimizer updates written once over a vector-traits type V (see simd/elementwise.h). Each lane runs
// exactly the operations of the reference (engine/kernels/ref/optim.cpp: torch.optim 1.13 as ATen
// computes it, formulas in kernels.h) in the same order: fused multiply-adds exactly where the
// reference calls std::fma and nowhere else (these files are built with -ffp-contract=off), sqrt and
// division IEEE-exact on every ISA, the scalars taken from the *Step structs as they are. Results are
// therefore bit-identical to the reference, hence to PyTorch, on every ISA.
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/kernels/simd/elementwise.h"

namespace plasmo::kernels::simd {
// Unnamed: every function here is compiled once per ISA (with that ISA's flags) and must never be
// shared between those copies by the linker.
namespace {

// d = weight_decay != 0 ? fma(weight_decay, w, g) : g
// momentum != 0:  buf = first ? d : fma(one_minus_dampening, d, buf*momentum)
//                 d = nesterov ? fma(momentum, buf, d) : buf
// w = fma(-lr, d, w)
template <class V>
void sgd_step(size_t n, float* w, const float* g, float* buf, const SGDStep& step) {
  const auto neg_lr = V::set1(-step.lr), momentum = V::set1(step.momentum);
  const auto decay = V::set1(step.weight_decay), one_minus_dampening = V::set1(step.one_minus_dampening);
  for_each_vector<V>(n, [&](size_t i, int count) {
    const auto wv = load_n<V>(w + i, count);
    auto d = load_n<V>(g + i, count);
    if (step.weight_decay != 0.0f) d = V::fmadd(decay, wv, d);
    if (step.momentum != 0.0f) {
      const auto bv = step.first ? d : V::fmadd(one_minus_dampening, d, V::mul(load_n<V>(buf + i, count), momentum));
      store_n<V>(buf + i, bv, count);
      d = step.nesterov ? V::fmadd(momentum, bv, d) : bv;
    }
    store_n<V>(w + i, V::fmadd(neg_lr, d, wv), count);
  });
}

// d as in SGD; m = fma(one_minus_beta1, d, m*beta1); v = fma(one_minus_beta2*d, d, v*beta2);
// denom = sqrt(v)/bias_correction2_sqrt + eps; w = w + (-step_size*m)/denom
template <class V>
void adam_step(size_t n, float* w, const float* g, float* m, float* v, const AdamStep& step) {
  const auto neg_step_size = V::set1(-step.step_size), bias_correction2_sqrt = V::set1(step.bias_correction2_sqrt);
  const auto beta1 = V::set1(step.beta1), beta2 = V::set1(step.beta2);
  const auto one_minus_beta1 = V::set1(step.one_minus_beta1), one_minus_beta2 = V::set1(step.one_minus_beta2);
  const auto eps = V::set1(step.eps), decay = V::set1(step.weight_decay);
  for_each_vector<V>(n, [&](size_t i, int count) {
    const auto wv = load_n<V>(w + i, count);
    auto d = load_n<V>(g + i, count);
    if (step.weight_decay != 0.0f) d = V::fmadd(decay, wv, d);
    const auto mv = V::fmadd(one_minus_beta1, d, V::mul(load_n<V>(m + i, count), beta1));
    const auto vv = V::fmadd(V::mul(one_minus_beta2, d), d, V::mul(load_n<V>(v + i, count), beta2));
    store_n<V>(m + i, mv, count);
    store_n<V>(v + i, vv, count);
    const auto denom = V::add(V::div(V::sqrt(vv), bias_correction2_sqrt), eps);
    store_n<V>(w + i, V::add(wv, V::div(V::mul(neg_step_size, mv), denom)), count);
  });
}

// d as in SGD; sq = fma(one_minus_alpha*d, d, sq*alpha); avg = sqrt(sq) + eps;
// momentum > 0: buf = buf*momentum + d/avg, w = fma(-lr, buf, w);  else w = w + (-lr*d)/avg
template <class V>
void rmsprop_step(size_t n, float* w, const float* g, float* sq, float* buf, const RMSpropStep& step) {
  const auto neg_lr = V::set1(-step.lr), alpha = V::set1(step.alpha), one_minus_alpha = V::set1(step.one_minus_alpha);
  const auto eps = V::set1(step.eps), decay = V::set1(step.weight_decay), momentum = V::set1(step.momentum);
  for_each_vector<V>(n, [&](size_t i, int count) {
    const auto wv = load_n<V>(w + i, count);
    auto d = load_n<V>(g + i, count);
    if (step.weight_decay != 0.0f) d = V::fmadd(decay, wv, d);
    const auto sqv = V::fmadd(V::mul(one_minus_alpha, d), d, V::mul(load_n<V>(sq + i, count), alpha));
    store_n<V>(sq + i, sqv, count);
    const auto avg = V::add(V::sqrt(sqv), eps);
    if (step.momentum > 0.0f) {
      const auto bv = V::add(V::mul(load_n<V>(buf + i, count), momentum), V::div(d, avg));
      store_n<V>(buf + i, bv, count);
      store_n<V>(w + i, V::fmadd(neg_lr, bv, wv), count);
    } else {
      store_n<V>(w + i, V::add(wv, V::div(V::mul(neg_lr, d), avg)), count);
    }
  });
}

}  // namespace
}  // namespace plasmo::kernels::simd
