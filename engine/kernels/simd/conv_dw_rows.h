// Depthwise 3x3 convolution (stride 1 or 2, any padding) straight on the NCHW planes, vectors along the
// output rows: MobileNetV2's layers. A depthwise layer does 9 multiply-adds per output, so at batch 64
// it is bound by moving its tensors (up to 25 MB) and by per-plane overheads, not by arithmetic. This
// path has no padded copy, no index arithmetic per vector and no transposes: planes are visited in
// memory order (one sequential read stream and one write stream for the hardware prefetcher), the
// borders are masked loads (lanes outside the plane read nothing and count as 0), and each loaded input
// row serves every output row of a group of R that uses it.
//
//   forward          y[c][oh][ow] = b[c] + sum_{kh,kw} w[c][kh][kw] * x[c][oh*s - p + kh][ow*s - p + kw]
//   backward data    stride 1: the forward of dy with the taps reversed (padding 2 - p);
//                    stride 2: dx[ih][iw] = sum over the taps with ih + p - kh and iw + p - kw even of
//                    w[kh][kw] * dy[(ih + p - kh)/2][(iw + p - kw)/2]: even and odd dx columns are
//                    computed apart (each tap reads consecutive dy values) and interleaved
//   backward weight  dw[c][kh][kw] += sum dy[c][oh][ow] * x[c][oh*s - p + kh][ow*s - p + kw],
//                    db[c] += sum dy[c][oh][ow]; 9 vector accumulators per channel, reduced once
//
// Stride 2 reads every other input column with V::load_even_lanes (two loads and a permute). Rows
// narrower than a vector use partial vectors (the tail lanes are masked, never stored).
#pragma once
#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/gemm_driver.h"

namespace plasmo::kernels::simd {

template <class V>
struct ConvDepthwiseRows {
  using reg = typename V::reg;
  static constexpr int W = V::width;
  static constexpr int R = 4;  // output rows per group (independent accumulator chains, shared input rows)

  // Rows of at least half a vector: narrower ones would leave most lanes idle (conv_depthwise.h's
  // channels-last path takes them).
  static bool applies(const ConvGeom& g) {
    return V::has_masked_io && 2 * g.out_w >= W && g.in_channels == g.groups && g.out_channels == g.groups &&
           g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == g.stride_w && (g.stride_h == 1 || g.stride_h == 2) &&
           g.pad_h == g.pad_w && g.pad_h >= 0 && g.pad_h <= 2;
  }
  static size_t scratch_floats(const ConvGeom& g) { return static_cast<size_t>(g.in_channels) * 9 + W; }

  // Lanes [lo, hi) of a vector whose lane l reads input column iw0 + S*l (0 <= column < width); count
  // lanes at most.
  template <int S>
  static void lane_range(int iw0, int width, int count, int& lo, int& hi) {
    lo = iw0 >= 0 ? 0 : (-iw0 + S - 1) / S;
    hi = width - iw0 <= 0 ? 0 : (width - 1 - iw0) / S + 1;
    if (hi > count) hi = count;
    if (lo > hi) lo = hi;
  }
  template <int S>
  static reg load_taps(const float* p, int lo, int hi) {
    if (S == 1) return (lo == 0 && hi == W) ? V::load(p) : V::load_lanes(p, lo, hi);
    return V::load_even_lanes(p, lo, hi);
  }

  // A block of `count` output columns from ow0 (stride S, padding pad, input rows `width` wide): tap
  // column kw of lane l reads input column col[kw] + S*l, the lanes [lo[kw], hi[kw]) inside the row.
  template <int S>
  struct Columns {
    int lo[3], hi[3], col[3];
    // cppcheck-suppress uninitMemberVar ; lane_range sets lo and hi (through references)
    [[gnu::always_inline]] Columns(int ow0, int count, int pad, int width) {
#pragma GCC unroll 3
      for (int kw = 0; kw < 3; ++kw) {
        col[kw] = ow0 * S - pad + kw;
        lane_range<S>(col[kw], width, count, lo[kw], hi[kw]);
      }
    }
    // The three tap vectors of an input row (0 in the lanes outside it).
    [[gnu::always_inline]] void load(const float* row, reg* v) const {
#pragma GCC unroll 3
      for (int kw = 0; kw < 3; ++kw) v[kw] = load_taps<S>(row + col[kw], lo[kw], hi[kw]);
    }
  };
  // The input rows of the group of R output rows whose first reads input row ih0 (xp: the plane, H rows
  // of width): each row inside the plane loaded once, its tap vectors v handed to use_row(r, kh, v) for
  // every output row r of the group that reads it as tap row kh (r and kh compile-time after unrolling).
  template <int S, class UseRow>
  [[gnu::always_inline]] static inline void group_rows(const float* xp, int ih0, int H, int width,
                                                       const Columns<S>& columns, UseRow&& use_row) {
    constexpr int J = (R - 1) * S + 3;  // input rows a group of R output rows reads
#pragma GCC unroll 12
    for (int j = 0; j < J; ++j) {
      const int ih = ih0 + j;
      if (ih < 0 || ih >= H) continue;
      reg v[3];
      columns.load(xp + static_cast<long>(ih) * width, v);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const int kh = j - r * S;
        if (kh < 0 || kh > 2) continue;
        use_row(r, kh, v);
      }
    }
  }
  // The weight passes' walk: per channel, 9 tap accumulators and a bias accumulator over every image's
  // plane (plane(plane index, acc, bias_acc) adds one plane), reduced once into dweight[c][9], dbias[c].
  template <class Plane>
  [[gnu::always_inline]] static inline void weight_by_channel(int C, int batch, float* dweight, float* dbias,
                                                              Plane&& plane) {
    for (int c = 0; c < C; ++c) {
      reg acc[9], bias_acc = V::zero();
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) acc[t] = V::zero();
      for (int n = 0; n < batch; ++n) plane(static_cast<long>(n) * C + c, acc, bias_acc);
      reduce_weight(acc, bias_acc, dweight + static_cast<long>(c) * 9, dbias ? dbias + c : nullptr);
    }
  }
  // dweight[t] += hsum(acc[t]) (9 taps), *dbias += hsum(bias_acc) when dbias is not null.
  static void reduce_weight(const reg* acc, reg bias_acc, float* dweight, float* dbias) {
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) dweight[t] += V::hsum(acc[t]);
    if (dbias) *dbias += V::hsum(bias_acc);
  }

  // ---- forward (also the stride-1 backward data, with reversed taps) ----------------------------------
  // Planes [plane_begin, plane_end) of the batch (plane = n * channels + c); w[c][9] (already reversed
  // for backward data); x planes in_h x in_w, y planes out_h x out_w.
  static void forward(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                      long plane_begin, long plane_end) {
    if (g.stride_h == 1)
      forward_planes<1>(g, x, weight, bias, y, plane_begin, plane_end);
    else
      forward_planes<2>(g, x, weight, bias, y, plane_begin, plane_end);
  }

  template <int S>
  static void forward_planes(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                             long plane_begin, long plane_end) {
    const int C = g.out_channels, H = g.in_h, Wi = g.in_w, OH = g.out_h, OW = g.out_w, pad = g.pad_h;
    const long in_plane = static_cast<long>(H) * Wi, out_plane = static_cast<long>(OH) * OW;
    for (long plane = plane_begin; plane < plane_end; ++plane) {
      const int c = static_cast<int>(plane % C);
      const float* xp = x + plane * in_plane;
      float* yp = y + plane * out_plane;
      reg wv[9];
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) wv[t] = V::set1(weight[static_cast<long>(c) * 9 + t]);
      const reg b = V::set1(bias ? bias[c] : 0.0f);
      for (int ow0 = 0; ow0 < OW; ow0 += W) {
        const int count = min_int(W, OW - ow0);
        const Columns<S> columns(ow0, count, pad, Wi);
        for (int oh0 = 0; oh0 < OH; oh0 += R) {
          reg acc[R];
#pragma GCC unroll 4
          for (int r = 0; r < R; ++r) acc[r] = b;
          group_rows<S>(
              xp, oh0 * S - pad, H, Wi, columns, [&](int r, int kh, const reg* v) __attribute__((always_inline)) {
#pragma GCC unroll 3
                for (int kw = 0; kw < 3; ++kw) acc[r] = V::fma(wv[kh * 3 + kw], v[kw], acc[r]);
              });
          const int rows = min_int(R, OH - oh0);
#pragma GCC unroll 4
          for (int r = 0; r < R; ++r) {
            if (r >= rows) break;
            float* dst = yp + static_cast<long>(oh0 + r) * OW + ow0;
            if (count == W)
              V::store(dst, acc[r]);
            else
              V::store_partial(dst, acc[r], count);
          }
        }
      }
    }
  }

  // ---- backward data ----------------------------------------------------------------------------------
  static void backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* scratch) {
    const long planes = static_cast<long>(g.batch) * g.in_channels;
    if (g.stride_h == 2) {
      backward_data_strided(g, dy, weight, dx, 0, planes);
      return;
    }
    // Stride 1: dx = conv(dy, w reversed in space), padding 2 - p, output in_h x in_w.
    float* reversed = scratch;
    for (int c = 0; c < g.in_channels; ++c)
      for (int t = 0; t < 9; ++t) reversed[static_cast<long>(c) * 9 + t] = weight[static_cast<long>(c) * 9 + 8 - t];
    ConvGeom t = g;
    t.in_h = g.out_h;
    t.in_w = g.out_w;
    t.out_h = g.in_h;
    t.out_w = g.in_w;
    t.pad_h = t.pad_w = 2 - g.pad_h;
    forward_planes<1>(t, dy, reversed, nullptr, dx, 0, planes);
  }

  // Stride 2, planes [plane_begin, plane_end). dx row ih gathers from dy rows (ih + p - kh)/2 for the kh
  // with ih + p - kh even. Its columns split in two classes, iw = q + 2t (q = 0, 1): class q takes the taps
  // kw with q + p - kw even, each reading dy[oh][t + (q + p - kw)/2], consecutive in t. A block of 2W dx
  // columns is one vector per class, interleaved by zip_lo / zip_hi.
  static void backward_data_strided(const ConvGeom& g, const float* dy, const float* weight, float* dx,
                                    long plane_begin, long plane_end) {
    const int C = g.in_channels, H = g.in_h, Wi = g.in_w, OH = g.out_h, OW = g.out_w, pad = g.pad_h;
    const long in_plane = static_cast<long>(H) * Wi, out_plane = static_cast<long>(OH) * OW;
    for (long plane = plane_begin; plane < plane_end; ++plane) {
      const int c = static_cast<int>(plane % C);
      const float* dyp = dy + plane * out_plane;
      float* dxp = dx + plane * in_plane;
      reg wv[9];
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) wv[t] = V::set1(weight[static_cast<long>(c) * 9 + t]);
      for (int iw0 = 0; iw0 < Wi; iw0 += 2 * W) {
        const int t0 = iw0 / 2, count = min_int(2 * W, Wi - iw0);
        // Per kw: the class it feeds, the dy column of lane 0 and the lanes [lo, hi) that read inside dy
        // (and whose dx column lies inside the row).
        int q_of[3], at[3], lo[3], hi[3];
#pragma GCC unroll 3
        for (int kw = 0; kw < 3; ++kw) {
          const int q = (pad - kw) & 1;  // q + p - kw even
          q_of[kw] = q;
          at[kw] = t0 + (q + pad - kw) / 2;
          lo[kw] = at[kw] >= 0 ? 0 : -at[kw];
          hi[kw] = min_int(OW - at[kw], (count - q + 1) / 2);
          if (hi[kw] < lo[kw]) hi[kw] = lo[kw];
        }
        for (int ih0 = 0; ih0 < H; ih0 += R) {
          reg acc[R][2];
#pragma GCC unroll 4
          for (int r = 0; r < R; ++r) {
            acc[r][0] = acc[r][1] = V::zero();
            const int ih = ih0 + r;
            if (ih >= H) continue;
#pragma GCC unroll 3
            for (int kh = 0; kh < 3; ++kh) {
              const int rows = ih + pad - kh;  // 2 * oh
              if (rows & 1) continue;
              const int oh = rows >> 1;
              if (oh < 0 || oh >= OH) continue;
              const float* dy_row = dyp + static_cast<long>(oh) * OW;
#pragma GCC unroll 3
              for (int kw = 0; kw < 3; ++kw) {
                const reg v = (lo[kw] == 0 && hi[kw] == W) ? V::load(dy_row + at[kw])
                                                           : V::load_lanes(dy_row + at[kw], lo[kw], hi[kw]);
                acc[r][q_of[kw]] = V::fma(wv[kh * 3 + kw], v, acc[r][q_of[kw]]);
              }
            }
          }
#pragma GCC unroll 4
          for (int r = 0; r < R; ++r) {
            if (ih0 + r >= H) break;
            float* dst = dxp + static_cast<long>(ih0 + r) * Wi + iw0;
            const reg first = V::zip_lo(acc[r][0], acc[r][1]), second = V::zip_hi(acc[r][0], acc[r][1]);
            if (count == 2 * W) {
              V::store(dst, first);
              V::store(dst + W, second);
            } else if (count > W) {
              V::store(dst, first);
              V::store_partial(dst + W, second, count - W);
            } else {
              V::store_partial(dst, first, count);
            }
          }
        }
      }
    }
  }

  // ---- backward weight --------------------------------------------------------------------------------
  static void backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* dbias) {
    if (g.stride_h == 1)
      backward_weight_channels<1>(g, x, dy, dweight, dbias);
    else
      backward_weight_channels<2>(g, x, dy, dweight, dbias);
  }

  // Per channel (weight_by_channel): 9 vector accumulators (one per tap) and one for the bias over every
  // image's plane; each input row read serves the output rows of a group of R that use it.
  template <int S>
  static void backward_weight_channels(const ConvGeom& g, const float* x, const float* dy, float* dweight,
                                       float* dbias) {
    const int H = g.in_h, Wi = g.in_w, OH = g.out_h, OW = g.out_w, pad = g.pad_h;
    const long in_plane = static_cast<long>(H) * Wi, out_plane = static_cast<long>(OH) * OW;
    weight_by_channel(
        g.in_channels, g.batch, dweight,
        dbias, [&](long plane, reg* acc, reg& bias_acc) __attribute__((always_inline)) {
          const float* xp = x + plane * in_plane;
          const float* dyp = dy + plane * out_plane;
          for (int ow0 = 0; ow0 < OW; ow0 += W) {
            const int count = min_int(W, OW - ow0);
            const Columns<S> columns(ow0, count, pad, Wi);
            for (int oh0 = 0; oh0 < OH; oh0 += R) {
              const int rows = min_int(R, OH - oh0);
              reg d[R];
#pragma GCC unroll 4
              for (int r = 0; r < R; ++r) {
                d[r] = V::zero();
                if (r >= rows) continue;
                const float* src = dyp + static_cast<long>(oh0 + r) * OW + ow0;
                d[r] = count == W ? V::load(src) : V::load_partial(src, count);
                bias_acc = V::add(bias_acc, d[r]);
              }
              group_rows<S>(
                  xp, oh0 * S - pad, H, Wi, columns, [&](int r, int kh, const reg* v) __attribute__((always_inline)) {
#pragma GCC unroll 3
                    for (int kw = 0; kw < 3; ++kw) acc[kh * 3 + kw] = V::fma(d[r], v[kw], acc[kh * 3 + kw]);
                  });
            }
          }
        });
  }
};

}  // namespace plasmo::kernels::simd
