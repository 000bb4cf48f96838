// Reference optimizer updates, written as torch.optim 1.13 computes them on the CPU (single-tensor path):
// the same operations in the same order with the same roundings, so the results are bit-identical to
// PyTorch's (tests/test_optim.cpp checks trajectories against torch's numbers). The formulas and the
// rounding rules are in kernels.h. What ATen does, per torch.optim call (measured with torch 1.13 here):
//   x.add_(y, alpha=a)         x = fma(a, y, x)               (one rounding)
//   x.mul_(s)                  x = x*s
//   x.addcmul_(y, z, value=s)  x = fma(s*y, z, x)             (s*y rounded first)
//   x.addcdiv_(y, z, value=s)  x = x + (s*y)/z                (three roundings)
// The compiler must not fuse anything else: contraction of a*b + c into an FMA (GCC's default on AArch64,
// clang's within an expression) is switched off for this file, so every ISA's build gives the same bits.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <cmath>

#include "engine/kernels/ref/ref_kernels.h"

namespace plasmo::kernels::ref {

void sgd_step(size_t n, float* w, const float* g, float* buf, const SGDStep& step) {
  for (size_t i = 0; i < n; ++i) {
    // d_p = grad.add(param, alpha=weight_decay)
    float d = step.weight_decay != 0.0f ? std::fma(step.weight_decay, w[i], g[i]) : g[i];
    if (step.momentum != 0.0f) {
      // buf = clone(d_p) on the first step, else buf.mul_(momentum).add_(d_p, alpha=1-dampening)
      buf[i] = step.first ? d : std::fma(step.one_minus_dampening, d, buf[i] * step.momentum);
      // nesterov: d_p = d_p.add(buf, alpha=momentum); else d_p = buf
      d = step.nesterov ? std::fma(step.momentum, buf[i], d) : buf[i];
    }
    w[i] = std::fma(-step.lr, d, w[i]);  // param.add_(d_p, alpha=-lr)
  }
}

void adam_step(size_t n, float* w, const float* g, float* m, float* v, const AdamStep& step) {
  const float neg_step_size = -step.step_size;
  for (size_t i = 0; i < n; ++i) {
    const float d = step.weight_decay != 0.0f ? std::fma(step.weight_decay, w[i], g[i]) : g[i];
    m[i] = std::fma(step.one_minus_beta1, d, m[i] * step.beta1);  // exp_avg.mul_(b1).add_(grad, alpha=1-b1)
    const float scaled = step.one_minus_beta2 * d;                // exp_avg_sq.mul_(b2).addcmul_(grad, grad, 1-b2)
    v[i] = std::fma(scaled, d, v[i] * step.beta2);
    const float denom = std::sqrt(v[i]) / step.bias_correction2_sqrt + step.eps;  // (sqrt(v)/bc2_sqrt).add_(eps)
    const float update = neg_step_size * m[i];                                    // addcdiv_(m, denom, -step_size)
    w[i] = w[i] + update / denom;
  }
}

void rmsprop_step(size_t n, float* w, const float* g, float* sq, float* buf, const RMSpropStep& step) {
  const float neg_lr = -step.lr;
  for (size_t i = 0; i < n; ++i) {
    const float d = step.weight_decay != 0.0f ? std::fma(step.weight_decay, w[i], g[i]) : g[i];
    const float scaled = step.one_minus_alpha * d;  // square_avg.mul_(alpha).addcmul_(grad, grad, 1-alpha)
    sq[i] = std::fma(scaled, d, sq[i] * step.alpha);
    const float avg = std::sqrt(sq[i]) + step.eps;  // square_avg.sqrt().add_(eps)
    if (step.momentum > 0.0f) {
      const float momentum_part = buf[i] * step.momentum;  // buf.mul_(momentum).addcdiv_(grad, avg)
      buf[i] = momentum_part + d / avg;
      w[i] = std::fma(neg_lr, buf[i], w[i]);  // param.add_(buf, alpha=-lr)
    } else {
      const float update = neg_lr * d;  // param.addcdiv_(grad, avg, value=-lr)
      w[i] = w[i] + update / avg;
    }
  }
}

}  // namespace plasmo::kernels::ref
