// Optimizer updates written once over a vector-traits type V (see simd/elementwise.h). Each lane runs
// exactly the operations of the reference (engine/kernels/ref/optim.cpp, torch.optim 1.13's
// single-tensor formulas) in the same order: multiplies and adds are never fused, sqrt and division are
// IEEE-exact on every ISA, and the scalar constants (1 - beta, step sizes) are computed in the same
// precision as the reference. Results are therefore bit-identical to the reference on every ISA.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "engine/kernels/simd/elementwise.h"

namespace plasmo::kernels::simd {
// Unnamed: every function here is compiled once per ISA (with that ISA's flags) and must never be
// shared between those copies by the linker.
namespace {

// g' = g + wd*w; momentum != 0: buf = first ? g' : momentum*buf + (1-dampening)*g',
// step = nesterov ? g' + momentum*buf : buf; else step = g'. w -= lr*step.
template <class V>
void sgd_step(size_t n, float* w, const float* g, float* buf, float lr, float momentum, float dampening,
              float weight_decay, bool nesterov, bool first) {
  const auto lr_v = V::set1(lr), momentum_v = V::set1(momentum), decay_v = V::set1(weight_decay);
  const auto keep_v = V::set1(1.0f - dampening);
  for_each_vector<V>(n, [&](size_t i, int count) {
    const auto wv = load_n<V>(w + i, count);
    auto grad = load_n<V>(g + i, count);
    if (weight_decay != 0.0f) grad = V::add(grad, V::mul(decay_v, wv));
    if (momentum != 0.0f) {
      const auto bv = first ? grad : V::add(V::mul(momentum_v, load_n<V>(buf + i, count)), V::mul(keep_v, grad));
      store_n<V>(buf + i, bv, count);
      grad = nesterov ? V::add(grad, V::mul(momentum_v, bv)) : bv;
    }
    store_n<V>(w + i, V::sub(wv, V::mul(lr_v, grad)), count);
  });
}

// g' = g + wd*w; m = m*b1 + (1-b1)*g'; v = v*b2 + (1-b2)*g'*g';
// w -= (lr / (1-b1^t)) * (m / (sqrt(v) / sqrt(1-b2^t) + eps)), the bias corrections in double.
template <class V>
void adam_step(size_t n, float* w, const float* g, float* m, float* v, float lr, float beta1, float beta2, float eps,
               float weight_decay, int64_t t) {
  const double bias_correction1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(t));
  const double bias_correction2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(t));
  const auto step_size = V::set1(static_cast<float>(lr / bias_correction1));
  const auto bias_correction2_sqrt = V::set1(static_cast<float>(std::sqrt(bias_correction2)));
  const auto beta1_v = V::set1(beta1), beta2_v = V::set1(beta2);
  const auto one_minus_beta1 = V::set1(1.0f - beta1), one_minus_beta2 = V::set1(1.0f - beta2);
  const auto eps_v = V::set1(eps), decay_v = V::set1(weight_decay);
  for_each_vector<V>(n, [&](size_t i, int count) {
    const auto wv = load_n<V>(w + i, count);
    auto grad = load_n<V>(g + i, count);
    if (weight_decay != 0.0f) grad = V::add(grad, V::mul(decay_v, wv));
    const auto mv = V::add(V::mul(load_n<V>(m + i, count), beta1_v), V::mul(one_minus_beta1, grad));
    const auto vv = V::add(V::mul(load_n<V>(v + i, count), beta2_v), V::mul(V::mul(one_minus_beta2, grad), grad));
    store_n<V>(m + i, mv, count);
    store_n<V>(v + i, vv, count);
    const auto denom = V::add(V::div(V::sqrt(vv), bias_correction2_sqrt), eps_v);
    store_n<V>(w + i, V::sub(wv, V::mul(step_size, V::div(mv, denom))), count);
  });
}

// g' = g + wd*w; sq = sq*alpha + (1-alpha)*g'*g'; avg = sqrt(sq) + eps;
// momentum > 0: buf = buf*momentum + g'/avg, w -= lr*buf;  else w -= lr*(g'/avg).
template <class V>
void rmsprop_step(size_t n, float* w, const float* g, float* sq, float* buf, float lr, float alpha, float eps,
                  float weight_decay, float momentum) {
  const auto lr_v = V::set1(lr), alpha_v = V::set1(alpha), one_minus_alpha = V::set1(1.0f - alpha);
  const auto eps_v = V::set1(eps), decay_v = V::set1(weight_decay), momentum_v = V::set1(momentum);
  for_each_vector<V>(n, [&](size_t i, int count) {
    const auto wv = load_n<V>(w + i, count);
    auto grad = load_n<V>(g + i, count);
    if (weight_decay != 0.0f) grad = V::add(grad, V::mul(decay_v, wv));
    const auto sqv = V::add(V::mul(load_n<V>(sq + i, count), alpha_v), V::mul(V::mul(one_minus_alpha, grad), grad));
    store_n<V>(sq + i, sqv, count);
    const auto avg = V::add(V::sqrt(sqv), eps_v);
    if (momentum > 0.0f) {
      const auto bv = V::add(V::mul(load_n<V>(buf + i, count), momentum_v), V::div(grad, avg));
      store_n<V>(buf + i, bv, count);
      store_n<V>(w + i, V::sub(wv, V::mul(lr_v, bv)), count);
    } else {
      store_n<V>(w + i, V::sub(wv, V::mul(lr_v, V::div(grad, avg))), count);
    }
  });
}

}  // namespace
}  // namespace plasmo::kernels::simd
