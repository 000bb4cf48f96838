// Reference per-channel ops over [N, C, HW]: BatchNorm and the activation fused after it. Sums run in
// double so the reference is the accurate side of every parity test; the elementwise results are the
// float operations kernels.h lists, in that order (this file is built with -ffp-contract=off).
#include "engine/kernels/ref/ref_kernels.h"

namespace plasmo::kernels::ref {

namespace {

// act(t) and act'(t) as kernels.h defines them.
float activate(int act, float t) {
  if (act == kActReLU) return t > 0.0f ? t : 0.0f;
  if (act == kActReLU6) return t > 0.0f ? (t < 6.0f ? t : 6.0f) : 0.0f;
  return t;
}
bool passes(int act, float t) {
  if (act == kActReLU) return t > 0.0f;
  if (act == kActReLU6) return t > 0.0f && t < 6.0f;
  return true;
}

}  // namespace

void channel_mean_var(int N, int C, int HW, int c_begin, int c_end, const float* x, float* mean, float* var) {
  const double count = static_cast<double>(N) * HW;
  for (int c = c_begin; c < c_end; ++c) {
    double sum = 0.0;
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < HW; ++i) sum += x[(static_cast<size_t>(n) * C + c) * HW + i];
    const double mu = sum / count;
    double sq = 0.0;
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < HW; ++i) {
        const double d = x[(static_cast<size_t>(n) * C + c) * HW + i] - mu;
        sq += d * d;
      }
    mean[c] = static_cast<float>(mu);
    var[c] = static_cast<float>(sq / count);
  }
}

void channel_affine_act(int N, int C, int HW, const float* x, const float* scale, const float* shift, int act,
                        float* y) {
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      const size_t base = (static_cast<size_t>(n) * C + c) * HW;
      for (int i = 0; i < HW; ++i) y[base + i] = activate(act, x[base + i] * scale[c] + shift[c]);
    }
}

void channel_act_grad_sums(int N, int C, int HW, int c_begin, int c_end, const float* dy, const float* x,
                           const float* scale, const float* shift, const float* mean, int act, float* sum_g,
                           float* sum_gxc) {
  for (int c = c_begin; c < c_end; ++c) {
    double s_g = 0.0, s_gxc = 0.0;
    for (int n = 0; n < N; ++n) {
      const size_t base = (static_cast<size_t>(n) * C + c) * HW;
      for (int i = 0; i < HW; ++i) {
        const float g = passes(act, x[base + i] * scale[c] + shift[c]) ? dy[base + i] : 0.0f;
        const float xc = x[base + i] - mean[c];
        s_g += g;
        s_gxc += static_cast<double>(g) * xc;
      }
    }
    sum_g[c] = static_cast<float>(s_g);
    sum_gxc[c] = static_cast<float>(s_gxc);
  }
}

void channel_act_affine2(int N, int C, int HW, const float* dy, const float* x, const float* scale, const float* shift,
                         const float* mean, int act, const float* a, const float* b, const float* k, float* dx) {
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      const size_t base = (static_cast<size_t>(n) * C + c) * HW;
      for (int i = 0; i < HW; ++i) {
        const float g = passes(act, x[base + i] * scale[c] + shift[c]) ? dy[base + i] : 0.0f;
        const float xc = x[base + i] - mean[c];
        dx[base + i] = g * a[c] + xc * b[c] + k[c];
      }
    }
}

}  // namespace plasmo::kernels::ref
