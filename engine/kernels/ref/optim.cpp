// Reference optimizer updates, written as torch.optim 1.13 writes them (single-tensor path), in the
// same order of operations so results agree to float rounding. See kernels.h for the formulas.
#include <cmath>

#include "engine/kernels/ref/ref_kernels.h"

namespace plasmo::kernels::ref {

void sgd_step(size_t n, float* w, const float* g, float* buf, float lr, float momentum, float dampening,
              float weight_decay, bool nesterov, bool first) {
  for (size_t i = 0; i < n; ++i) {
    float grad = g[i];
    if (weight_decay != 0.0f) grad += weight_decay * w[i];
    if (momentum != 0.0f) {
      buf[i] = first ? grad : momentum * buf[i] + (1.0f - dampening) * grad;
      grad = nesterov ? grad + momentum * buf[i] : buf[i];
    }
    w[i] -= lr * grad;
  }
}

void adam_step(size_t n, float* w, const float* g, float* m, float* v, float lr, float beta1, float beta2, float eps,
               float weight_decay, int64_t t) {
  const double bias_correction1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(t));
  const double bias_correction2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(t));
  const float step_size = static_cast<float>(lr / bias_correction1);
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  for (size_t i = 0; i < n; ++i) {
    float grad = g[i];
    if (weight_decay != 0.0f) grad += weight_decay * w[i];
    m[i] = m[i] * beta1 + (1.0f - beta1) * grad;  // torch: exp_avg.mul_(b1).add_(grad, alpha=1-b1)
    v[i] = v[i] * beta2 + (1.0f - beta2) * grad * grad;
    const float denom = std::sqrt(v[i]) / bias_correction2_sqrt + eps;
    w[i] -= step_size * (m[i] / denom);
  }
}

void rmsprop_step(size_t n, float* w, const float* g, float* sq, float* buf, float lr, float alpha, float eps,
                  float weight_decay, float momentum) {
  for (size_t i = 0; i < n; ++i) {
    float grad = g[i];
    if (weight_decay != 0.0f) grad += weight_decay * w[i];
    sq[i] = sq[i] * alpha + (1.0f - alpha) * grad * grad;
    const float avg = std::sqrt(sq[i]) + eps;
    if (momentum > 0.0f) {
      buf[i] = buf[i] * momentum + grad / avg;
      w[i] -= lr * buf[i];
    } else {
      w[i] -= lr * (grad / avg);
    }
  }
}

}  // namespace plasmo::kernels::ref
