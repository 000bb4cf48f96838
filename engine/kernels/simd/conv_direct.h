// Direct convolution with register blocking, for layers with few output channels per group (the
// autoencoder: 3->16, 16->8, 4->8, 8->16, 16->3 at 32x32 and 16x16). With M = group_out <= 16 a GEMM
// microkernel of 8 rows either wastes rows (16->3 fills 3 of 8) or, when it must pack, spends as long
// packing each im2col element as using it. Here each image is zero-padded once (so every window read is a
// plain vector load) and each load of a window row feeds NOC output channels.
//
//   forward          y[oc][oh][ow] = b[oc] + sum_{t = (ci,kh,kw)} W[oc][t] * xpad[ci][oh + kh][ow + kw]
//     tile: NOC output channels x NCOL output vectors (runs of <= width pixels of one row): per tap,
//     NCOL window loads and NOC weight broadcasts feed NOC*NCOL independent FMAs.
//   backward weight  dW[oc][t] += sum_{n,oh,ow} dy[n][oc][oh][ow] * xpad[n][ci][oh + kh][ow + kw]
//     tile: 4 output channels x 4 taps of vector accumulators, kept in scratch between images and
//     reduced across lanes once at the end.
//
// Stride 1 only (stride-2 layers here have many channels or are depthwise); rows of at least one vector
// (narrower planes waste lanes: the GEMM paths put several rows and images in one vector instead).
#pragma once
#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/conv_pack.h"
#include "engine/kernels/simd/gemm_driver.h"
#include "engine/kernels/simd/with_count.h"

namespace plasmo::kernels::simd {

template <class V>
struct ConvDirect {
  using reg = typename V::reg;
  static constexpr int W = V::width;
  static constexpr int OCB = 8;            // output channels per weight block
  static constexpr int kMaxGroupOut = 16;  // above this a GEMM microkernel's 8 rows are all used
  static constexpr int kMaxCols = 64;      // output vectors per batch of tiles (one row must fit)

  static bool applies(const ConvGeom& g) {
    return g.stride_h == 1 && g.stride_w == 1 && g.out_w >= W && g.out_w <= kMaxCols * W &&
           g.out_channels / g.groups <= kMaxGroupOut;
  }

  static int taps(const ConvGeom& g) { return g.in_channels / g.groups * g.kernel_h * g.kernel_w; }
  static int oc_blocks(const ConvGeom& g) { return (g.out_channels / g.groups + OCB - 1) / OCB; }
  static size_t padded_floats(const ConvGeom& g) {
    return static_cast<size_t>(g.in_channels) * padded_h(g) * padded_w(g) + 2 * W;
  }
  static size_t weight_floats(const ConvGeom& g) {
    return static_cast<size_t>(g.groups) * oc_blocks(g) * OCB * taps(g);
  }
  static size_t forward_scratch(const ConvGeom& g) {
    return round_up(static_cast<int>(weight_floats(g)), 16) + padded_floats(g);
  }

  // Weights of block (grp, ob) as [tap][OCB], zero past the group's last channel, so the broadcasts of
  // one tap read consecutive floats.
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

  static inline reg load_count(const float* p, int count) {
    return count == W ? V::load(p) : V::load_partial(p, count);
  }

  // One tile: channels [oc0, oc0 + NOC) of the group, output vectors cols[0 .. num); xpad: the group's
  // first channel of the padded image.
  template <int NOC, int NCOL>
  static void forward_tile(const ConvGeom& g, const float* xpad, const float* wp, const float* bias, float* y_img,
                           int oc0, const Col* cols, int num) {
    const int Ws = padded_w(g);
    const long plane = static_cast<long>(padded_h(g)) * Ws, out_plane = static_cast<long>(g.out_h) * g.out_w;
    const int group_in = g.in_channels / g.groups;
    reg acc[NOC][NCOL];
#pragma GCC unroll 8
    for (int o = 0; o < NOC; ++o) {
      const reg b = V::set1(bias ? bias[oc0 + o] : 0.0f);
#pragma GCC unroll 8
      for (int u = 0; u < NCOL; ++u) acc[o][u] = b;
    }
    const float* start[NCOL];
    int count[NCOL];
    for (int u = 0; u < NCOL; ++u) {
      const Col& col = cols[u < num ? u : 0];  // idle columns recompute column 0, never stored
      start[u] = xpad + static_cast<long>(col.oh) * Ws + col.ow;
      count[u] = col.count;
    }
    for (int ci = 0; ci < group_in; ++ci)
      for (int kh = 0; kh < g.kernel_h; ++kh) {
        const long row = ci * plane + static_cast<long>(kh) * Ws;
        for (int kw = 0; kw < g.kernel_w; ++kw, wp += OCB) {
          reg xv[NCOL];
#pragma GCC unroll 8
          for (int u = 0; u < NCOL; ++u) xv[u] = load_count(start[u] + row + kw, count[u]);
#pragma GCC unroll 8
          for (int o = 0; o < NOC; ++o) {
            const reg wv = V::set1(wp[o]);
#pragma GCC unroll 8
            for (int u = 0; u < NCOL; ++u) acc[o][u] = V::fma(wv, xv[u], acc[o][u]);
          }
        }
      }
      // Constant indices only (a runtime index would push acc out of registers into memory).
#pragma GCC unroll 8
    for (int o = 0; o < NOC; ++o)
#pragma GCC unroll 8
      for (int u = 0; u < NCOL; ++u) {
        if (u >= num) continue;
        float* dst = y_img + (oc0 + o) * out_plane + static_cast<long>(cols[u].oh) * g.out_w + cols[u].ow;
        if (cols[u].count == W)
          V::store(dst, acc[o][u]);
        else
          V::store_partial(dst, acc[o][u], cols[u].count);
      }
  }

  template <int NOC>
  static void forward_tile_noc(const ConvGeom& g, const float* xpad, const float* wp, const float* bias, float* y_img,
                               int oc0, const Col* cols, int num) {
    // 12-16 accumulators: enough FMA chains in flight, no spills, loads <= FMAs.
    constexpr int NCOL = NOC >= 6 ? 2 : NOC >= 3 ? 4 : 8;
    for (int u = 0; u < num; u += NCOL)
      forward_tile<NOC, NCOL>(g, xpad, wp, bias, y_img, oc0, cols + u, min_int(NCOL, num - u));
  }

  // Parts split the (image, group, channel block, output row) units.
  static void forward_part(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                           float* scratch, int part, int parts) {
    const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
    const int K = taps(g), blocks = oc_blocks(g);
    const long plane = static_cast<long>(padded_h(g)) * padded_w(g), out_plane = static_cast<long>(g.out_h) * g.out_w;
    float* packed = scratch;
    float* xpad = scratch + round_up(static_cast<int>(weight_floats(g)), 16);
    pack_weights(g, weight, packed);
    const long units = static_cast<long>(g.batch) * g.groups * blocks * g.out_h;
    const long begin = units * part / parts, end = units * (part + 1) / parts;
    Col cols[kMaxCols];
    int padded_image = -1;
    for (long unit = begin; unit < end;) {
      // A unit is one output row; consecutive rows of one (image, group, block) form one batch of tiles.
      long rest = unit;
      const int oh0 = static_cast<int>(rest % g.out_h);
      rest /= g.out_h;
      const int ob = static_cast<int>(rest % blocks);
      rest /= blocks;
      const int grp = static_cast<int>(rest % g.groups);
      const int n = static_cast<int>(rest / g.groups);
      if (n != padded_image) {
        pad_images<V>(g, x, n, 1, xpad);
        padded_image = n;
      }
      int num = 0;
      for (int oh = oh0; oh < g.out_h && unit < end; ++oh, ++unit) {
        if (num + (g.out_w + W - 1) / W > kMaxCols) break;
        for (int ow = 0; ow < g.out_w; ow += W) cols[num++] = Col{oh, ow, min_int(W, g.out_w - ow)};
      }
      const int oc0 = ob * OCB, noc = min_int(OCB, group_out - oc0);
      const float* x_grp = xpad + grp * group_in * plane;
      float* y_img = y + (static_cast<long>(n) * g.out_channels + grp * group_out) * out_plane;
      const float* wp = packed + (static_cast<long>(grp) * blocks + ob) * OCB * K;
      const float* b = bias ? bias + grp * group_out : nullptr;
      with_count<OCB>(noc, [&](auto channels) {
        forward_tile_noc<decltype(channels)::value>(g, x_grp, wp, b, y_img, oc0, cols, num);
      });
    }
  }

  // ---- backward weight --------------------------------------------------------------------------------
  static constexpr int OCT = 4, TT = 4;  // tile: output channels x taps
  static int oc_tiles(const ConvGeom& g) { return (g.out_channels / g.groups + OCT - 1) / OCT; }
  static int tap_tiles(const ConvGeom& g) { return (taps(g) + TT - 1) / TT; }
  static size_t backward_weight_scratch(const ConvGeom& g) {
    const size_t sums = static_cast<size_t>(g.groups) * oc_tiles(g) * tap_tiles(g) * OCT * TT * W;
    return round_up(static_cast<int>(sums), 16) + padded_floats(g) + taps(g);  // + tap offsets
  }

  // One tile over one image: sums[o][t] (vectors in scratch) += dy[oc0 + o] * window(tap0 + t).
  template <int NOC, int NT>
  static void weight_tile(const ConvGeom& g, const float* xpad, const float* dy_img, int oc0, int tap0, float* sums,
                          const int* offsets) {
    const int Ws = padded_w(g);
    const long out_plane = static_cast<long>(g.out_h) * g.out_w;
    long tap_offset[NT];
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) tap_offset[t] = offsets[tap0 + t];
    reg acc[NOC][NT];  // every loop over it fully unrolled: constant indices keep it in registers
#pragma GCC unroll 4
    for (int o = 0; o < NOC; ++o)
#pragma GCC unroll 4
      for (int t = 0; t < NT; ++t) acc[o][t] = V::load(sums + (o * TT + t) * W);
    for (int oh = 0; oh < g.out_h; ++oh) {
      const float* x_row = xpad + static_cast<long>(oh) * Ws;
      const float* dy_row = dy_img + static_cast<long>(oc0) * out_plane + static_cast<long>(oh) * g.out_w;
      for (int ow = 0; ow < g.out_w; ow += W) {
        const int count = min_int(W, g.out_w - ow);
        reg dyv[NOC], xv[NT];
#pragma GCC unroll 4
        for (int o = 0; o < NOC; ++o) dyv[o] = load_count(dy_row + o * out_plane + ow, count);
#pragma GCC unroll 4
        for (int t = 0; t < NT; ++t) xv[t] = load_count(x_row + tap_offset[t] + ow, count);
#pragma GCC unroll 4
        for (int o = 0; o < NOC; ++o)
#pragma GCC unroll 4
          for (int t = 0; t < NT; ++t) acc[o][t] = V::fma(dyv[o], xv[t], acc[o][t]);
      }
    }
#pragma GCC unroll 4
    for (int o = 0; o < NOC; ++o)
#pragma GCC unroll 4
      for (int t = 0; t < NT; ++t) V::store(sums + (o * TT + t) * W, acc[o][t]);
  }

  template <int NOC>
  static void weight_tiles_noc(const ConvGeom& g, const float* xpad, const float* dy_img, int oc0, int ot, float* sums,
                               const int* offsets) {
    const int K = taps(g), tiles = tap_tiles(g);
    for (int tt = 0; tt < tiles; ++tt) {
      float* s = sums + (static_cast<long>(ot) * tiles + tt) * OCT * TT * W;
      const int tap0 = tt * TT;
      with_count<TT>(min_int(TT, K - tap0), [&](auto tile_taps) {
        weight_tile<NOC, decltype(tile_taps)::value>(g, xpad, dy_img, oc0, tap0, s, offsets);
      });
    }
  }

  static void backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* scratch) {
    const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups, K = taps(g);
    const int otiles = oc_tiles(g), ttiles = tap_tiles(g);
    const long per_group = static_cast<long>(otiles) * ttiles * OCT * TT * W;
    const long plane = static_cast<long>(padded_h(g)) * padded_w(g), out_plane = static_cast<long>(g.out_h) * g.out_w;
    float* sums = scratch;
    float* xpad = scratch + round_up(static_cast<int>(g.groups * per_group), 16);
    // Offset of each tap (ci, kh, kw) in the padded image, once per call; kept in the scratch's tail.
    int* offsets = reinterpret_cast<int*>(xpad + padded_floats(g));
    for (int tap = 0; tap < K; ++tap) {
      const int ci = tap / (g.kernel_h * g.kernel_w), kh = (tap / g.kernel_w) % g.kernel_h, kw = tap % g.kernel_w;
      offsets[tap] = static_cast<int>(ci * plane + static_cast<long>(kh) * padded_w(g) + kw);
    }
    for (long i = 0; i < g.groups * per_group; ++i) sums[i] = 0.0f;
    for (int n = 0; n < g.batch; ++n) {
      pad_images<V>(g, x, n, 1, xpad);
      for (int grp = 0; grp < g.groups; ++grp) {
        const float* x_grp = xpad + grp * group_in * plane;
        const float* dy_img = dy + (static_cast<long>(n) * g.out_channels + grp * group_out) * out_plane;
        for (int ot = 0; ot < otiles; ++ot) {
          const int oc0 = ot * OCT;
          float* s = sums + grp * per_group;
          with_count<OCT>(min_int(OCT, group_out - oc0), [&](auto channels) {
            weight_tiles_noc<decltype(channels)::value>(g, x_grp, dy_img, oc0, ot, s, offsets);
          });
        }
      }
    }
    // dW[oc][tap] += sum of the lanes of its accumulator.
    for (int grp = 0; grp < g.groups; ++grp)
      for (int oc = 0; oc < group_out; ++oc)
        for (int tap = 0; tap < K; ++tap) {
          const int ot = oc / OCT, tt = tap / TT;
          const float* s = sums + grp * per_group + (static_cast<long>(ot) * ttiles + tt) * OCT * TT * W +
                           ((oc % OCT) * TT + tap % TT) * W;
          dweight[(static_cast<long>(grp) * group_out + oc) * K + tap] += V::hsum(V::load(s));
        }
  }
};

}  // namespace plasmo::kernels::simd
