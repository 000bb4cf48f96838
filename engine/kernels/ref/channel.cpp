// Reference per-channel ops over [N, C, HW] (BatchNorm's building blocks). Sums run in double so the
// reference is the accurate side of every parity test.
#include "engine/kernels/ref/ref_kernels.h"

namespace plasmo::kernels::ref {

void channel_mean_var(int N, int C, int HW, const float* x, float* mean, float* var) {
  const double count = static_cast<double>(N) * HW;
  for (int c = 0; c < C; ++c) {
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

void channel_affine(int N, int C, int HW, const float* x, const float* scale, const float* shift, float* y) {
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      const size_t base = (static_cast<size_t>(n) * C + c) * HW;
      for (int i = 0; i < HW; ++i) y[base + i] = x[base + i] * scale[c] + shift[c];
    }
}

void channel_grad_sums(int N, int C, int HW, const float* dy, const float* x, float* sum_dy, float* sum_dy_x) {
  for (int c = 0; c < C; ++c) {
    double s_dy = 0.0, s_dyx = 0.0;
    for (int n = 0; n < N; ++n) {
      const size_t base = (static_cast<size_t>(n) * C + c) * HW;
      for (int i = 0; i < HW; ++i) {
        s_dy += dy[base + i];
        s_dyx += static_cast<double>(dy[base + i]) * x[base + i];
      }
    }
    sum_dy[c] = static_cast<float>(s_dy);
    sum_dy_x[c] = static_cast<float>(s_dyx);
  }
}

void channel_affine2(int N, int C, int HW, const float* dy, const float* x, const float* a, const float* b,
                     const float* k, float* dx) {
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      const size_t base = (static_cast<size_t>(n) * C + c) * HW;
      for (int i = 0; i < HW; ++i) dx[base + i] = dy[base + i] * a[c] + x[base + i] * b[c] + k[c];
    }
}

}  // namespace plasmo::kernels::ref
