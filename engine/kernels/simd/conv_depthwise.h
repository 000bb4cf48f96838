// Depthwise convolution (groups == in_channels == out_channels: one kernel_h x kernel_w filter per
// channel; MobileNetV2's 3x3, stride 1 and 2). There is no channel sum to share a GEMM over, so every
// path works plane by plane with vectors along the output row and the window taps as broadcast weights:
//
//   forward          y[c][oh][ow] = b[c] + sum_{kh,kw} w[c][kh][kw] * x[c][oh*s - p + kh][ow*s - p + kw]
//   backward data    dx[c][ih][iw] = sum over (kh, kw, oh, ow) with ih = oh*s - p + kh, iw = ow*s - p + kw
//                    of w[c][kh][kw] * dy[c][oh][ow]  (computed per dx element: no scatter, no zeroing)
//   backward weight  dw[c][kh][kw] += sum_{n,oh,ow} dy[n][c][oh][ow] * x[n][c][ih][iw];  db[c] += sum dy
//
// Lanes whose window falls in the padding load as 0 (masked loads); several output vectors are in
// flight at once so the FMA chains overlap.
#pragma once
#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/gemm_driver.h"

namespace plasmo::kernels::simd {

// Lanes t in [0, count) with 0 <= first + t*stride < limit: [lo, hi) (empty when lo == hi).
static inline void valid_lanes(int first, int stride, int limit, int count, int& lo, int& hi) {
  lo = first >= 0 ? 0 : ceil_div_stride(-first, stride);
  hi = first >= limit ? 0 : ceil_div_stride(limit - first, stride);
  if (hi > count) hi = count;
  if (lo > hi) lo = hi;
}

// Lane t = row[first + t*stride] for valid lanes (see valid_lanes), 0 elsewhere; stride 1 or 2 use vector
// loads, larger strides scalar ones.
template <class V>
inline typename V::reg load_window(const float* row, int first, int stride, int limit, int count) {
  constexpr int W = V::width;
  int lo, hi;
  valid_lanes(first, stride, limit, count, lo, hi);
  if (lo == hi) return V::zero();
  if (lo == 0 && hi == W) {
    if (stride == 1) return V::load(row + first);
    if (stride == 2) return V::load_even(row + first);
  }
  if (V::has_masked_io && stride <= 2)
    return stride == 1 ? V::load_lanes(row + first, lo, hi) : V::load_even_lanes(row + first, lo, hi);
  alignas(64) float lanes[W];
  for (int t = 0; t < W; ++t) lanes[t] = (t >= lo && t < hi) ? row[first + t * stride] : 0.0f;
  return V::load(lanes);
}

template <class V>
struct ConvDepthwise {
  static constexpr int W = V::width;
  static constexpr int kTiles = 4;  // output vectors in flight

  static bool applies(const ConvGeom& g) {
    return g.in_channels / g.groups == 1 && g.out_channels / g.groups == 1;
  }

  // A vector of output positions: row oh, columns [ow, ow + count).
  struct Tile {
    int oh, ow, count;
  };

  // Planes [plane_begin, plane_end) of the batch (plane = n * channels + c).
  static void forward(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                      long plane_begin, long plane_end) {
    const int C = g.out_channels, taps = g.kernel_h * g.kernel_w;
    const long in_plane = static_cast<long>(g.in_h) * g.in_w, out_plane = static_cast<long>(g.out_h) * g.out_w;
    for (long plane = plane_begin; plane < plane_end; ++plane) {
      const int c = static_cast<int>(plane % C);
      const float* xp = x + plane * in_plane;
      float* yp = y + plane * out_plane;
      const float* w = weight + static_cast<long>(c) * taps;
      const float b = bias ? bias[c] : 0.0f;
      Tile tiles[kTiles];
      int num = 0;
      auto flush = [&]() {
        typename V::reg acc[kTiles];
        for (int u = 0; u < kTiles; ++u) acc[u] = V::set1(b);
        for (int kh = 0; kh < g.kernel_h; ++kh)
          for (int kw = 0; kw < g.kernel_w; ++kw) {
            const typename V::reg wv = V::set1(w[kh * g.kernel_w + kw]);
            for (int u = 0; u < num; ++u) {
              const int ih = tiles[u].oh * g.stride_h - g.pad_h + kh;
              if (ih < 0 || ih >= g.in_h) continue;
              const typename V::reg xv = load_window<V>(xp + static_cast<long>(ih) * g.in_w,
                                                        tiles[u].ow * g.stride_w - g.pad_w + kw, g.stride_w, g.in_w,
                                                        tiles[u].count);
              acc[u] = V::fma(wv, xv, acc[u]);
            }
          }
        for (int u = 0; u < num; ++u) {
          float* dst = yp + static_cast<long>(tiles[u].oh) * g.out_w + tiles[u].ow;
          if (tiles[u].count == W)
            V::store(dst, acc[u]);
          else
            V::store_partial(dst, acc[u], tiles[u].count);
        }
        num = 0;
      };
      for (int oh = 0; oh < g.out_h; ++oh)
        for (int ow = 0; ow < g.out_w; ow += W) {
          tiles[num++] = Tile{oh, ow, min_int(W, g.out_w - ow)};
          if (num == kTiles) flush();
        }
      if (num) flush();
    }
  }

  // dx for planes [plane_begin, plane_end), overwritten. For an input column class q (iw = q + s*t) the
  // taps kw with (q + p - kw) divisible by s read dy at ow = (q + p - kw)/s + t: contiguous in t.
  static void backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx, long plane_begin,
                            long plane_end) {
    const int C = g.in_channels, taps = g.kernel_h * g.kernel_w;
    const int sh = g.stride_h, sw = g.stride_w;
    const long in_plane = static_cast<long>(g.in_h) * g.in_w, out_plane = static_cast<long>(g.out_h) * g.out_w;
    for (long plane = plane_begin; plane < plane_end; ++plane) {
      const int c = static_cast<int>(plane % C);
      const float* dyp = dy + plane * out_plane;
      float* dxp = dx + plane * in_plane;
      const float* w = weight + static_cast<long>(c) * taps;
      for (int ih = 0; ih < g.in_h; ++ih) {
        float* dx_row = dxp + static_cast<long>(ih) * g.in_w;
        for (int q = 0; q < sw && q < g.in_w; ++q) {
          const int class_len = (g.in_w - q + sw - 1) / sw;  // iw = q, q + sw, ... < in_w
          for (int t0 = 0; t0 < class_len; t0 += W) {
            const int count = min_int(W, class_len - t0);
            typename V::reg acc = V::zero();
            for (int kh = 0; kh < g.kernel_h; ++kh) {
              const int num = ih + g.pad_h - kh;  // = oh * sh
              if (num < 0 || num % sh) continue;
              const int oh = num / sh;
              if (oh >= g.out_h) continue;
              const float* dy_row = dyp + static_cast<long>(oh) * g.out_w;
              for (int kw = 0; kw < g.kernel_w; ++kw) {
                const int col = q + g.pad_w - kw;  // = ow * sw for t = 0
                if (((col % sw) + sw) % sw) continue;
                const int ow0 = (col >= 0 ? col / sw : -((-col) / sw)) + t0;
                acc = V::fma(V::set1(w[kh * g.kernel_w + kw]), load_window<V>(dy_row, ow0, 1, g.out_w, count), acc);
              }
            }
            store_strided(dx_row + q + static_cast<long>(t0) * sw, sw, acc, count);
          }
        }
      }
    }
  }

  // dst[t*stride] = lane t for t < count.
  static void store_strided(float* dst, int stride, typename V::reg v, int count) {
    if (stride == 1) {
      if (count == W)
        V::store(dst, v);
      else
        V::store_partial(dst, v, count);
      return;
    }
    alignas(64) float lanes[W];
    V::store(lanes, v);
    for (int t = 0; t < count; ++t) dst[t * stride] = lanes[t];
  }

  // dw[c] += sum over the slice; db[c] += sum of dy (db may be null). Up to kTapBlock taps per pass over dy.
  static constexpr int kTapBlock = 9;
  static void backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* dbias) {
    const int C = g.in_channels, taps = g.kernel_h * g.kernel_w;
    const long in_plane = static_cast<long>(g.in_h) * g.in_w, out_plane = static_cast<long>(g.out_h) * g.out_w;
    for (int c = 0; c < C; ++c) {
      for (int tap0 = 0; tap0 < taps; tap0 += kTapBlock) {
        const int block = min_int(kTapBlock, taps - tap0);
        typename V::reg acc[kTapBlock];
        for (int t = 0; t < kTapBlock; ++t) acc[t] = V::zero();
        typename V::reg bias_acc = V::zero();
        for (int n = 0; n < g.batch; ++n) {
          const long plane = static_cast<long>(n) * C + c;
          const float* xp = x + plane * in_plane;
          const float* dyp = dy + plane * out_plane;
          for (int oh = 0; oh < g.out_h; ++oh)
            for (int ow = 0; ow < g.out_w; ow += W) {
              const int count = min_int(W, g.out_w - ow);
              const float* dy_at = dyp + static_cast<long>(oh) * g.out_w + ow;
              const typename V::reg dyv = count == W ? V::load(dy_at) : V::load_partial(dy_at, count);
              if (tap0 == 0) bias_acc = V::add(bias_acc, dyv);
              for (int t = 0; t < block; ++t) {
                const int kh = (tap0 + t) / g.kernel_w, kw = (tap0 + t) % g.kernel_w;
                const int ih = oh * g.stride_h - g.pad_h + kh;
                if (ih < 0 || ih >= g.in_h) continue;
                const typename V::reg xv = load_window<V>(xp + static_cast<long>(ih) * g.in_w,
                                                          ow * g.stride_w - g.pad_w + kw, g.stride_w, g.in_w, count);
                acc[t] = V::fma(dyv, xv, acc[t]);
              }
            }
        }
        for (int t = 0; t < block; ++t) dweight[static_cast<long>(c) * taps + tap0 + t] += V::hsum(acc[t]);
        if (tap0 == 0 && dbias) dbias[c] += V::hsum(bias_acc);
      }
    }
  }
};

}  // namespace plasmo::kernels::simd
