// Reference convolution: per image and group, im2col then a GEMM.
//   forward:          y_g[oc][p]   = sum_k W_g[oc][k] * cols[k][p] + b[oc]          (W_g: oc_g x K)
//   backward data:    dcols[k][p]  = sum_oc W_g[oc][k] * dy_g[oc][p];  dx = col2im(dcols)
//   backward weight:  dW_g[oc][k] += sum_p dy_g[oc][p] * cols[k][p];   db[oc] += sum_p dy[oc][p]
// with K = (in_channels/groups) * kernel_h * kernel_w and p = oh*out_w + ow.
#include <algorithm>
#include <cstring>

#include "engine/kernels/ref/ref_kernels.h"

namespace plasmo::kernels::ref {

void im2col(const ConvGeom& g, const float* x, float* cols) {
  const int group_in = g.in_channels / g.groups;
  const int out_size = g.out_h * g.out_w;
  for (int ci = 0; ci < group_in; ++ci)
    for (int kh = 0; kh < g.kernel_h; ++kh)
      for (int kw = 0; kw < g.kernel_w; ++kw) {
        float* row = cols + ((ci * g.kernel_h + kh) * g.kernel_w + kw) * out_size;
        for (int oh = 0; oh < g.out_h; ++oh) {
          const int ih = oh * g.stride_h - g.pad_h + kh;
          for (int ow = 0; ow < g.out_w; ++ow) {
            const int iw = ow * g.stride_w - g.pad_w + kw;
            const bool inside = ih >= 0 && ih < g.in_h && iw >= 0 && iw < g.in_w;
            row[oh * g.out_w + ow] = inside ? x[(ci * g.in_h + ih) * g.in_w + iw] : 0.0f;
          }
        }
      }
}

void col2im(const ConvGeom& g, const float* cols, float* dx) {
  const int group_in = g.in_channels / g.groups;
  const int out_size = g.out_h * g.out_w;
  for (int ci = 0; ci < group_in; ++ci)
    for (int kh = 0; kh < g.kernel_h; ++kh)
      for (int kw = 0; kw < g.kernel_w; ++kw) {
        const float* row = cols + ((ci * g.kernel_h + kh) * g.kernel_w + kw) * out_size;
        for (int oh = 0; oh < g.out_h; ++oh) {
          const int ih = oh * g.stride_h - g.pad_h + kh;
          if (ih < 0 || ih >= g.in_h) continue;
          for (int ow = 0; ow < g.out_w; ++ow) {
            const int iw = ow * g.stride_w - g.pad_w + kw;
            if (iw < 0 || iw >= g.in_w) continue;
            dx[(ci * g.in_h + ih) * g.in_w + iw] += row[oh * g.out_w + ow];
          }
        }
      }
}

size_t conv2d_scratch_floats(const ConvGeom& g) {
  // One group's column matrix: K x (out_h*out_w).
  return static_cast<size_t>(g.in_channels / g.groups) * g.kernel_h * g.kernel_w * g.out_h * g.out_w;
}

void conv2d_forward(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                    float* scratch) {
  const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
  const int K = group_in * g.kernel_h * g.kernel_w, P = g.out_h * g.out_w;
  for (int n = 0; n < g.batch; ++n)
    for (int grp = 0; grp < g.groups; ++grp) {
      const float* x_g = x + (static_cast<size_t>(n) * g.in_channels + grp * group_in) * g.in_h * g.in_w;
      float* y_g = y + (static_cast<size_t>(n) * g.out_channels + grp * group_out) * P;
      im2col(g, x_g, scratch);
      sgemm(false, false, group_out, P, K, weight + static_cast<size_t>(grp) * group_out * K, K, scratch, P, y_g, P,
            false);
      if (bias)
        for (int oc = 0; oc < group_out; ++oc)
          for (int p = 0; p < P; ++p) y_g[oc * P + p] += bias[grp * group_out + oc];
    }
}

// Output channels [out_channels*part/parts, out_channels*(part+1)/parts) of every image: the same im2col
// and the same per-element sums as conv2d_forward, on a subset of the GEMM's rows.
void conv2d_forward_part(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                         float* scratch, int part, int parts) {
  const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
  const int K = group_in * g.kernel_h * g.kernel_w, P = g.out_h * g.out_w;
  const int oc_begin = static_cast<int>(static_cast<long>(g.out_channels) * part / parts);
  const int oc_end = static_cast<int>(static_cast<long>(g.out_channels) * (part + 1) / parts);
  for (int n = 0; n < g.batch; ++n)
    for (int grp = 0; grp < g.groups; ++grp) {
      const int first = std::max(oc_begin, grp * group_out), last = std::min(oc_end, (grp + 1) * group_out);
      if (first >= last) continue;
      const float* x_g = x + (static_cast<size_t>(n) * g.in_channels + grp * group_in) * g.in_h * g.in_w;
      float* y_rows = y + (static_cast<size_t>(n) * g.out_channels + first) * P;
      im2col(g, x_g, scratch);
      sgemm(false, false, last - first, P, K, weight + static_cast<size_t>(first) * K, K, scratch, P, y_rows, P, false);
      if (bias)
        for (int oc = first; oc < last; ++oc)
          for (int p = 0; p < P; ++p) y_rows[(oc - first) * P + p] += bias[oc];
    }
}

int conv2d_packed_layout(const ConvGeom&) { return 1; }

size_t conv2d_packed_floats(const ConvGeom& g) {
  return static_cast<size_t>(g.out_channels) * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
}

void conv2d_pack_weights(const ConvGeom& g, const float* weight, float* packed) {
  std::memcpy(packed, weight, sizeof(float) * conv2d_packed_floats(g));
}

void conv2d_forward_packed_part(const ConvGeom& g, const float* x, const float* packed, const float* bias, float* y,
                                float* scratch, int part, int parts) {
  conv2d_forward_part(g, x, packed, bias, y, scratch, part, parts);
}

void conv2d_backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* scratch) {
  const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
  const int K = group_in * g.kernel_h * g.kernel_w, P = g.out_h * g.out_w;
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(g.batch) * g.in_channels * g.in_h * g.in_w);
  for (int n = 0; n < g.batch; ++n)
    for (int grp = 0; grp < g.groups; ++grp) {
      const float* dy_g = dy + (static_cast<size_t>(n) * g.out_channels + grp * group_out) * P;
      float* dx_g = dx + (static_cast<size_t>(n) * g.in_channels + grp * group_in) * g.in_h * g.in_w;
      // dcols = W_g^T (K x oc_g) * dy_g (oc_g x P)
      sgemm(true, false, K, P, group_out, weight + static_cast<size_t>(grp) * group_out * K, K, dy_g, P, scratch, P,
            false);
      col2im(g, scratch, dx_g);
    }
}

void conv2d_backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* dbias,
                            float* scratch) {
  const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
  const int K = group_in * g.kernel_h * g.kernel_w, P = g.out_h * g.out_w;
  for (int n = 0; n < g.batch; ++n)
    for (int grp = 0; grp < g.groups; ++grp) {
      const float* x_g = x + (static_cast<size_t>(n) * g.in_channels + grp * group_in) * g.in_h * g.in_w;
      const float* dy_g = dy + (static_cast<size_t>(n) * g.out_channels + grp * group_out) * P;
      im2col(g, x_g, scratch);
      // dW_g (oc_g x K) += dy_g (oc_g x P) * cols^T (P x K)
      sgemm(false, true, group_out, K, P, dy_g, P, scratch, P, dweight + static_cast<size_t>(grp) * group_out * K, K,
            true);
      if (dbias)
        for (int oc = 0; oc < group_out; ++oc) {
          float sum = 0.0f;
          for (int p = 0; p < P; ++p) sum += dy_g[oc * P + p];
          dbias[grp * group_out + oc] += sum;
        }
    }
}

}  // namespace plasmo::kernels::ref
