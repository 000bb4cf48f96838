// Direct convolution with register blocking, for layers with few output channels per group (the
// autoencoder: 3->16, 16->8, 8->4, 4->4, 4->8, 8->16, 16->3 at 32x32 down to 4x4). With M = group_out <= 16
// a GEMM would pack each im2col element and then use it for at most 16 rows, so packing costs about as
// much as the arithmetic, and 16->3 would fill 3 of the microkernel's 8 rows. Here the windows are read
// straight from x with (masked) unaligned loads and each load feeds OCB output channels.
//
//   forward          y[oc][oh][ow] = b[oc] + sum_{t = (ci,kh,kw)} W[oc][t] * x[ci][oh - p + kh][ow - p + kw]
//     tile: OCB output channels x NCOL output vectors (runs of <= width pixels of one row): per tap,
//     NCOL window loads and OCB weight broadcasts feed OCB*NCOL independent FMAs.
//   backward weight  dW[oc][t] += sum_{n,oh,ow} dy[n][oc][oh][ow] * x[n][ci][oh - p + kh][ow - p + kw]
//     tile: OCB output channels x TB taps of vector accumulators over every output vector of the slice,
//     reduced across lanes once at the end.
//
// Stride 1 only (stride-2 layers here have many channels or are depthwise); rows of at least one vector
// (narrower planes waste lanes: the GEMM path packs several rows and images per vector instead).
#pragma once
#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/conv_depthwise.h"
#include "engine/kernels/simd/gemm_driver.h"

namespace plasmo::kernels::simd {

template <class V>
struct ConvDirect {
  static constexpr int W = V::width;
  static constexpr int OCB = 8;              // output channels per weight block
  static constexpr int kMaxGroupOut = 16;    // above this the GEMM path amortizes its packing
  static constexpr int kMaxCols = 64;        // output vectors per batch of tiles (one row must fit)

  static bool applies(const ConvGeom& g) {
    return g.stride_h == 1 && g.stride_w == 1 && g.out_w >= W && g.out_w <= kMaxCols * W &&
           g.out_channels / g.groups <= kMaxGroupOut;
  }

  static int taps(const ConvGeom& g) { return g.in_channels / g.groups * g.kernel_h * g.kernel_w; }
  static int oc_blocks(const ConvGeom& g) { return (g.out_channels / g.groups + OCB - 1) / OCB; }
  static size_t forward_scratch(const ConvGeom& g) {
    return static_cast<size_t>(g.groups) * oc_blocks(g) * OCB * taps(g) + 16;
  }

  // Weights of block (grp, ob) as [tap][OCB], zero past the group's last channel, so one broadcast per
  // (tap, channel) reads consecutive floats.
  static void pack_weights(const ConvGeom& g, const float* weight, float* packed) {
    const int group_out = g.out_channels / g.groups, K = taps(g), blocks = oc_blocks(g);
    for (int grp = 0; grp < g.groups; ++grp)
      for (int ob = 0; ob < blocks; ++ob) {
        float* dst = packed + (static_cast<long>(grp) * blocks + ob) * OCB * K;
        for (int t = 0; t < K; ++t)
          for (int o = 0; o < OCB; ++o) {
            const int oc = ob * OCB + o;
            dst[t * OCB + o] = oc < group_out ? weight[(static_cast<long>(grp) * group_out + oc) * K + t] : 0.0f;
          }
      }
  }

  struct Col {
    int oh, ow, count;
  };

  // One tile: channels [oc0, oc0 + NOC) of group grp, output vectors cols[0 .. num).
  template <int NOC, int NCOL>
  static void forward_tile(const ConvGeom& g, const float* x_img, const float* wp, const float* bias, float* y_img,
                           int oc0, const Col* cols, int num) {
    const long in_plane = static_cast<long>(g.in_h) * g.in_w, out_plane = static_cast<long>(g.out_h) * g.out_w;
    const int group_in = g.in_channels / g.groups;
    typename V::reg acc[NOC][NCOL];
#pragma GCC unroll 8
    for (int o = 0; o < NOC; ++o) {
      const typename V::reg b = V::set1(bias ? bias[oc0 + o] : 0.0f);
#pragma GCC unroll 8
      for (int u = 0; u < NCOL; ++u) acc[o][u] = b;
    }
    for (int ci = 0; ci < group_in; ++ci)
      for (int kh = 0; kh < g.kernel_h; ++kh) {
        const float* rows[NCOL];
        for (int u = 0; u < NCOL; ++u) {
          const int ih = (u < num ? cols[u].oh : -1 - g.kernel_h) - g.pad_h + kh;
          rows[u] = (ih >= 0 && ih < g.in_h) ? x_img + ci * in_plane + static_cast<long>(ih) * g.in_w : nullptr;
        }
        for (int kw = 0; kw < g.kernel_w; ++kw, wp += OCB) {
          typename V::reg xv[NCOL];
#pragma GCC unroll 8
          for (int u = 0; u < NCOL; ++u)
            xv[u] = rows[u] ? load_window<V>(rows[u], cols[u].ow - g.pad_w + kw, 1, g.in_w, cols[u].count) : V::zero();
#pragma GCC unroll 8
          for (int o = 0; o < NOC; ++o) {
            const typename V::reg wv = V::set1(wp[o]);
#pragma GCC unroll 8
            for (int u = 0; u < NCOL; ++u) acc[o][u] = V::fma(wv, xv[u], acc[o][u]);
          }
        }
      }
    for (int o = 0; o < NOC; ++o)
      for (int u = 0; u < num; ++u) {
        float* dst = y_img + (oc0 + o) * out_plane + static_cast<long>(cols[u].oh) * g.out_w + cols[u].ow;
        if (cols[u].count == W)
          V::store(dst, acc[o][u]);
        else
          V::store_partial(dst, acc[o][u], cols[u].count);
      }
  }

  template <int NOC>
  static void forward_tile_noc(const ConvGeom& g, const float* x_img, const float* wp, const float* bias, float* y_img,
                               int oc0, const Col* cols, int num) {
    // Keep OCB * NCOL around 12-16 accumulators: enough FMA chains in flight, no spills.
    constexpr int NCOL = NOC >= 6 ? 2 : NOC >= 3 ? 4 : 8;
    for (int u = 0; u < num; u += NCOL)
      forward_tile<NOC, NCOL>(g, x_img, wp, bias, y_img, oc0, cols + u, min_int(NCOL, num - u));
  }

  // Parts split the (image, group, channel block, output row) units.
  static void forward_part(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                           float* scratch, int part, int parts) {
    const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
    const int K = taps(g), blocks = oc_blocks(g);
    const long in_plane = static_cast<long>(g.in_h) * g.in_w, out_plane = static_cast<long>(g.out_h) * g.out_w;
    pack_weights(g, weight, scratch);
    const long units = static_cast<long>(g.batch) * g.groups * blocks * g.out_h;
    const long begin = units * part / parts, end = units * (part + 1) / parts;
    Col cols[kMaxCols];
    for (long unit = begin; unit < end;) {
      // A unit is one output row; consecutive rows of one (image, group, block) form one batch of tiles.
      long rest = unit;
      const int oh0 = static_cast<int>(rest % g.out_h);
      rest /= g.out_h;
      const int ob = static_cast<int>(rest % blocks);
      rest /= blocks;
      const int grp = static_cast<int>(rest % g.groups);
      const int n = static_cast<int>(rest / g.groups);
      int num = 0, oh = oh0;
      for (; oh < g.out_h && unit < end; ++oh, ++unit) {
        if (num + (g.out_w + W - 1) / W > kMaxCols) break;
        for (int ow = 0; ow < g.out_w; ow += W) cols[num++] = Col{oh, ow, min_int(W, g.out_w - ow)};
      }
      const int oc0 = ob * OCB, noc = min_int(OCB, group_out - oc0);
      const float* x_img = x + (static_cast<long>(n) * g.in_channels + grp * group_in) * in_plane;
      float* y_img = y + (static_cast<long>(n) * g.out_channels + grp * group_out) * out_plane;
      const float* wp = scratch + (static_cast<long>(grp) * blocks + ob) * OCB * K;
      const float* b = bias ? bias + grp * group_out : nullptr;
      switch (noc) {
        case 1: forward_tile_noc<1>(g, x_img, wp, b, y_img, oc0, cols, num); break;
        case 2: forward_tile_noc<2>(g, x_img, wp, b, y_img, oc0, cols, num); break;
        case 3: forward_tile_noc<3>(g, x_img, wp, b, y_img, oc0, cols, num); break;
        case 4: forward_tile_noc<4>(g, x_img, wp, b, y_img, oc0, cols, num); break;
        case 5: forward_tile_noc<5>(g, x_img, wp, b, y_img, oc0, cols, num); break;
        case 6: forward_tile_noc<6>(g, x_img, wp, b, y_img, oc0, cols, num); break;
        case 7: forward_tile_noc<7>(g, x_img, wp, b, y_img, oc0, cols, num); break;
        default: forward_tile_noc<8>(g, x_img, wp, b, y_img, oc0, cols, num); break;
      }
    }
  }

  // ---- backward weight --------------------------------------------------------------------------------
  static constexpr int kOcTile = 4, kTapTile = 4;

  template <int NOC, int NT>
  static void weight_tile(const ConvGeom& g, const float* x, const float* dy, float* dweight, int grp, int oc0,
                          int tap0) {
    const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
    const int K = taps(g);
    const long in_plane = static_cast<long>(g.in_h) * g.in_w, out_plane = static_cast<long>(g.out_h) * g.out_w;
    int ci[NT], kh[NT], kw[NT];
    for (int t = 0; t < NT; ++t) {
      const int tap = tap0 + t;
      ci[t] = tap / (g.kernel_h * g.kernel_w);
      kh[t] = (tap / g.kernel_w) % g.kernel_h;
      kw[t] = tap % g.kernel_w;
    }
    typename V::reg acc[NOC][NT];
    for (int o = 0; o < NOC; ++o)
      for (int t = 0; t < NT; ++t) acc[o][t] = V::zero();
    for (int n = 0; n < g.batch; ++n) {
      const float* x_img = x + (static_cast<long>(n) * g.in_channels + grp * group_in) * in_plane;
      const float* dy_img = dy + (static_cast<long>(n) * g.out_channels + grp * group_out + oc0) * out_plane;
      for (int oh = 0; oh < g.out_h; ++oh)
        for (int ow = 0; ow < g.out_w; ow += W) {
          const int count = min_int(W, g.out_w - ow);
          typename V::reg dyv[NOC], xv[NT];
#pragma GCC unroll 4
          for (int o = 0; o < NOC; ++o) {
            const float* at = dy_img + o * out_plane + static_cast<long>(oh) * g.out_w + ow;
            dyv[o] = count == W ? V::load(at) : V::load_partial(at, count);
          }
#pragma GCC unroll 4
          for (int t = 0; t < NT; ++t) {
            const int ih = oh - g.pad_h + kh[t];
            xv[t] = (ih >= 0 && ih < g.in_h)
                        ? load_window<V>(x_img + ci[t] * in_plane + static_cast<long>(ih) * g.in_w, ow - g.pad_w + kw[t],
                                         1, g.in_w, count)
                        : V::zero();
          }
#pragma GCC unroll 4
          for (int o = 0; o < NOC; ++o)
#pragma GCC unroll 4
            for (int t = 0; t < NT; ++t) acc[o][t] = V::fma(dyv[o], xv[t], acc[o][t]);
        }
    }
    for (int o = 0; o < NOC; ++o)
      for (int t = 0; t < NT; ++t)
        dweight[(static_cast<long>(grp) * group_out + oc0 + o) * K + tap0 + t] += V::hsum(acc[o][t]);
  }

  template <int NOC>
  static void weight_tiles_noc(const ConvGeom& g, const float* x, const float* dy, float* dweight, int grp, int oc0) {
    const int K = taps(g);
    int tap0 = 0;
    for (; tap0 + kTapTile <= K; tap0 += kTapTile) weight_tile<NOC, kTapTile>(g, x, dy, dweight, grp, oc0, tap0);
    for (; tap0 < K; ++tap0) weight_tile<NOC, 1>(g, x, dy, dweight, grp, oc0, tap0);
  }

  static void backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight) {
    const int group_out = g.out_channels / g.groups;
    for (int grp = 0; grp < g.groups; ++grp) {
      int oc0 = 0;
      for (; oc0 + kOcTile <= group_out; oc0 += kOcTile) weight_tiles_noc<kOcTile>(g, x, dy, dweight, grp, oc0);
      for (; oc0 < group_out; ++oc0) weight_tiles_noc<1>(g, x, dy, dweight, grp, oc0);
    }
  }
};

}  // namespace plasmo::kernels::simd
