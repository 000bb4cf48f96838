// Reference pooling and resampling over planes (batch * channels).
//   max:  y[o] = max over the window of x (padding = -inf); dx[argmax[o]] += dy[o]
//         (g.relu: y[o] = max(y[o], +0) = max over the window of relu(x); argmax[o] = -1 where y[o] is +0)
//   avg:  y[o] = (1 / (kernel_h*kernel_w)) * sum over the window (padding counts as 0, divisor fixed)
//   gap:  y[p] = (1/HW) sum x[p][:];  dx[p][:] = dy[p] / HW
//   up2:  y[2h+i][2w+j] = x[h][w];    dx[h][w] = sum_{i,j in {0,1}} dy[2h+i][2w+j]
#include <cstring>
#include <limits>

#include "engine/kernels/ref/ref_kernels.h"

namespace plasmo::kernels::ref {

void maxpool2d_forward(const PoolGeom& g, const float* x, float* y, int32_t* argmax) {
  const size_t in_size = static_cast<size_t>(g.in_h) * g.in_w, out_size = static_cast<size_t>(g.out_h) * g.out_w;
  for (int plane = 0; plane < g.planes; ++plane) {
    const float* xp = x + plane * in_size;
    for (int oh = 0; oh < g.out_h; ++oh)
      for (int ow = 0; ow < g.out_w; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        int32_t best_index = -1;
        for (int kh = 0; kh < g.kernel_h; ++kh) {
          const int ih = oh * g.stride_h - g.pad_h + kh;
          if (ih < 0 || ih >= g.in_h) continue;
          for (int kw = 0; kw < g.kernel_w; ++kw) {
            const int iw = ow * g.stride_w - g.pad_w + kw;
            if (iw < 0 || iw >= g.in_w) continue;
            const float v = xp[ih * g.in_w + iw];
            if (v > best || best_index < 0) {  // first max wins; NaN-free inputs assumed
              best = v;
              best_index = ih * g.in_w + iw;
            }
          }
        }
        if (g.relu && !(best > 0.0f)) {  // relu(max) = +0: as every relu(x) of the window, no gradient
          best = 0.0f;
          best_index = -1;
        }
        const size_t o = plane * out_size + oh * g.out_w + ow;
        y[o] = best;
        argmax[o] = best_index;
      }
  }
}

void maxpool2d_backward(const PoolGeom& g, const float* dy, const int32_t* argmax, float* dx) {
  const size_t in_size = static_cast<size_t>(g.in_h) * g.in_w, out_size = static_cast<size_t>(g.out_h) * g.out_w;
  std::memset(dx, 0, sizeof(float) * in_size * g.planes);
  for (int plane = 0; plane < g.planes; ++plane)
    for (size_t o = 0; o < out_size; ++o) {
      const int32_t source = argmax[plane * out_size + o];
      if (source >= 0) dx[plane * in_size + source] += dy[plane * out_size + o];
    }
}

void avgpool2d_forward(const PoolGeom& g, const float* x, float* y) {
  const size_t in_size = static_cast<size_t>(g.in_h) * g.in_w, out_size = static_cast<size_t>(g.out_h) * g.out_w;
  const float inv_count = 1.0f / static_cast<float>(g.kernel_h * g.kernel_w);
  for (int plane = 0; plane < g.planes; ++plane)
    for (int oh = 0; oh < g.out_h; ++oh)
      for (int ow = 0; ow < g.out_w; ++ow) {
        float sum = 0.0f;
        for (int kh = 0; kh < g.kernel_h; ++kh) {
          const int ih = oh * g.stride_h - g.pad_h + kh;
          if (ih < 0 || ih >= g.in_h) continue;
          for (int kw = 0; kw < g.kernel_w; ++kw) {
            const int iw = ow * g.stride_w - g.pad_w + kw;
            if (iw >= 0 && iw < g.in_w) sum += x[plane * in_size + ih * g.in_w + iw];
          }
        }
        y[plane * out_size + oh * g.out_w + ow] = sum * inv_count;
      }
}

void avgpool2d_backward(const PoolGeom& g, const float* dy, float* dx) {
  const size_t in_size = static_cast<size_t>(g.in_h) * g.in_w, out_size = static_cast<size_t>(g.out_h) * g.out_w;
  const float inv_count = 1.0f / static_cast<float>(g.kernel_h * g.kernel_w);
  std::memset(dx, 0, sizeof(float) * in_size * g.planes);
  for (int plane = 0; plane < g.planes; ++plane)
    for (int oh = 0; oh < g.out_h; ++oh)
      for (int ow = 0; ow < g.out_w; ++ow) {
        const float share = dy[plane * out_size + oh * g.out_w + ow] * inv_count;
        for (int kh = 0; kh < g.kernel_h; ++kh) {
          const int ih = oh * g.stride_h - g.pad_h + kh;
          if (ih < 0 || ih >= g.in_h) continue;
          for (int kw = 0; kw < g.kernel_w; ++kw) {
            const int iw = ow * g.stride_w - g.pad_w + kw;
            if (iw >= 0 && iw < g.in_w) dx[plane * in_size + ih * g.in_w + iw] += share;
          }
        }
      }
}

void global_avgpool_forward(int planes, int plane_size, const float* x, float* y) {
  for (int plane = 0; plane < planes; ++plane) {
    float sum = 0.0f;
    for (int i = 0; i < plane_size; ++i) sum += x[static_cast<size_t>(plane) * plane_size + i];
    y[plane] = sum / static_cast<float>(plane_size);
  }
}

void global_avgpool_backward(int planes, int plane_size, const float* dy, float* dx) {
  for (int plane = 0; plane < planes; ++plane) {
    const float share = dy[plane] / static_cast<float>(plane_size);
    for (int i = 0; i < plane_size; ++i) dx[static_cast<size_t>(plane) * plane_size + i] = share;
  }
}

void upsample2x_forward(int planes, int in_h, int in_w, const float* x, float* y) {
  const int out_w = 2 * in_w;
  for (int plane = 0; plane < planes; ++plane) {
    const float* xp = x + static_cast<size_t>(plane) * in_h * in_w;
    float* yp = y + static_cast<size_t>(plane) * 4 * in_h * in_w;
    for (int oh = 0; oh < 2 * in_h; ++oh)
      for (int ow = 0; ow < out_w; ++ow) yp[oh * out_w + ow] = xp[(oh / 2) * in_w + ow / 2];
  }
}

void upsample2x_backward(int planes, int in_h, int in_w, const float* dy, float* dx) {
  const int out_w = 2 * in_w;
  for (int plane = 0; plane < planes; ++plane) {
    const float* dyp = dy + static_cast<size_t>(plane) * 4 * in_h * in_w;
    float* dxp = dx + static_cast<size_t>(plane) * in_h * in_w;
    for (int h = 0; h < in_h; ++h)
      for (int w = 0; w < in_w; ++w) {
        const float* top = dyp + (2 * h) * out_w + 2 * w;
        dxp[h * in_w + w] = top[0] + top[1] + top[out_w] + top[out_w + 1];
      }
  }
}

}  // namespace plasmo::kernels::ref
