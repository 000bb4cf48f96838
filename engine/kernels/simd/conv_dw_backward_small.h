// Backward of the depthwise 3x3 convolution, stride 2, padding 1, on small planes (the input plane at most
// 4 vectors: MobileNetV2's 8x8 -> 4x4 and 4x4 -> 2x2 layers), through the stride-1 geometry of
// conv_dw_small.h. With dy spread onto the input grid,
//
//   up[ih][iw] = dy[ih/2][iw/2] where ih and iw are even, else 0     (ih < in_h, iw < in_w)
//
// a stride-2, padding-1 layer's gradients are the stride-1, padding-1 ones of `up`:
//
//   backward data    dx[f]    = sum_tap w[8 - tap] * up[f + offset(tap)]      (the stride-1 transpose)
//   backward weight  dw[tap] += sum_f up[f] * x[f + offset(tap)],  db += sum_f up[f]
//
// (every term with a zero of `up` vanishes; the others are exactly the stride-2 terms: dy[oh][ow] meets
// x[2oh - 1 + kh][2ow - 1 + kw]). A plane's `up` is built in registers, one spread load (V::load_spread:
// consecutive dy values into the even lanes) per even input row, so dy is read once and never copied to
// memory for the weight pass; the data pass reads `up` back at the 9 tap offsets from a small stack
// buffer (masked loads: the lanes whose neighbour is outside the plane read nothing). 4x the FMAs of the
// stride-2 sums, on layers of ~2M multiply-adds; the paths these replace (padded dy rows for the data,
// channels-last transposes for the weights) spent 3-6x longer on the same layers at batch 64.
//
// Needs whole rows per vector (vector width a multiple of in_w), so each even row's samples land in one
// vector, and one plane per vector or more (conv_dw_small.h's G == 1).
//
// With AVX-512 (DepthwiseLanes): the data pass takes only the stride-2 terms, permuted out of the plane's
// dy vector (backward_data_direct; `up` kept in registers where dy's plane is over a vector; dx streamed
// when aligned: Small::store_dx); the weight pass takes only the stride-2 terms, the x
// values each dy lane meets permuted out of the input vectors (the forward's StridedPicks), with the
// planes of its channel-major walk prefetched ahead (Small::Lookahead). The spread above stays the AVX2
// and NEON path.
#pragma once
#include <cstdint>

#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/conv_dw_forward.h"  // DepthwiseLanes
#include "engine/kernels/simd/conv_dw_small.h"

namespace plasmo::kernels::simd {

template <class V>
struct ConvDepthwiseSmallBackward {
  using reg = typename V::reg;
  using Small = ConvDepthwiseSmall<V>;
  static constexpr int W = V::width;
  static constexpr int kMaxVectors = Small::kMaxVectors;
  static constexpr int kMaxSpreads = W / 2;  // even rows per vector (rows of width 1)

  static bool applies(const ConvGeom& g) {
    if (!V::has_masked_io || !Small::applies_strided(g)) return false;
    const int P = g.in_h * g.in_w;
    return P >= W && W % g.in_w == 0;
  }

  // Where each vector of `up` takes its dy values: spread s of vector v loads dy[at .. at + out_w) into
  // the even lanes from 2 * lo (lane 2 * (lo + m) = dy[at + lo + m], V::load_spread's convention).
  struct Spreads {
    int vectors;
    int count[kMaxVectors];
    int at[kMaxVectors][kMaxSpreads], lo[kMaxVectors][kMaxSpreads];
  };
  static Spreads spreads(const ConvGeom& g) {
    Spreads s;
    s.vectors = g.in_h * g.in_w / W;
    for (int v = 0; v < s.vectors; ++v) s.count[v] = 0;
    for (int oh = 0; oh < g.out_h; ++oh) {
      const int first = 2 * oh * g.in_w;          // flat index of up[2 oh][0]
      const int v = first / W, lane = first % W;  // even: 2 oh * in_w
      const int i = s.count[v]++;
      s.lo[v][i] = lane / 2;
      s.at[v][i] = oh * g.out_w - lane / 2;
    }
    return s;
  }
  template <int NV>
  static void spread(const Spreads& s, const float* dyp, int out_w, reg* up) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      reg u = V::zero();
      for (int i = 0; i < s.count[v]; ++i) {
        // load_spread reads dyp[at + lo .. at + lo + out_w): the row's own values (at + lo = oh * out_w)
        const float* p = dyp + s.at[v][i];
        u = V::add(u, V::load_spread(p, 0, s.lo[v][i], s.lo[v][i] + out_w));
      }
      up[v] = u;
    }
  }

  // ---- backward data ----------------------------------------------------------------------------------
  static void backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx) {
    if constexpr (Small::picks_available) {
      if (g.out_h * g.out_w <= W) {  // a plane of dy fits one vector: dx straight from it
        Small::with_vectors(g.in_h * g.in_w / W,
                            [&](auto vectors) { backward_data_direct<decltype(vectors)::value>(g, dy, weight, dx); });
        return;
      }
      const ConvGeom s1 = Small::stride1(g);
      const typename Small::Layout L = Small::layout(s1);
      if (Small::picks_reach(s1, L)) {
        Small::with_vectors(
            L.vectors, [&](auto vectors) { backward_data_picked<decltype(vectors)::value>(g, L, dy, weight, dx); });
        return;
      }
    }
    Small::with_vectors(g.in_h * g.in_w / W,
                        [&](auto vectors) { backward_data_planes<decltype(vectors)::value>(g, dy, weight, dx); });
  }
  // Planes in blocks of K: every plane's `up` of a block is stored before any is read back. A masked load
  // of data just stored cannot be forwarded from the store: it waits until the store has left the core,
  // which with one plane at a time serialized every plane (~100 cycles per 4x4 plane).
  template <int NV>
  static void backward_data_planes(const ConvGeom& g, const float* dy, const float* weight, float* dx) {
    constexpr int K = 16 / NV;  // planes per block
    const typename Small::Layout L = Small::layout(Small::stride1(g));
    const Spreads s = spreads(g);
    const int C = g.in_channels, out_w = g.out_w;
    const long planes = static_cast<long>(g.batch) * C, in_plane = L.P, out_plane = static_cast<long>(g.out_h) * out_w;
    // Plane k of a block at buffer + W + k * NV * W (a vector of slack on either side: the masked loads'
    // addresses stay inside).
    alignas(64) float buffer[(K * NV + 2) * W];
    for (long first = 0; first < planes; first += K) {
      const int count = static_cast<int>(planes - first < K ? planes - first : K);
      for (int k = 0; k < count; ++k) {
        reg up[NV];
        spread<NV>(s, dy + (first + k) * out_plane, out_w, up);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) V::store(buffer + W + (k * NV + v) * W, up[v]);
      }
      for (int k = 0; k < count; ++k) {
        const long plane = first + k;
        const float* w = weight + (plane % C) * 9;
        const float* up_mem = buffer + W + k * NV * W;
        reg acc[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[v] = V::zero();
#pragma GCC unroll 9
        for (int t = 0; t < 9; ++t) {
          const reg wt = V::set1(w[8 - t]);
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v)
            acc[v] = V::fma(wt, V::load_masked(up_mem + v * W + L.offset[t], L.m[v][t]), acc[v]);
        }
        float* dxp = dx + plane * in_plane;
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) V::store(dxp + v * W, acc[v]);
      }
    }
  }

  // With DepthwiseLanes (AVX-512): each plane's `up` stays in registers and the taps are permuted out of
  // it (Small::Picks of the stride-1 layout) instead of stored and read back by masked loads: the same
  // values and sums. One call on 14 images (a layer's backward group), warm caches, per plane: 8x8
  // 29.2 -> 25.8 ns, 4x4 10.6 -> 9.3 ns (the spread loads now dominate).
  template <int NV>
  static void backward_data_picked(const ConvGeom& g, const typename Small::Layout& L, const float* dy,
                                   const float* weight, float* dx) {
    if constexpr (Small::picks_available) {
      using Lanes = DepthwiseLanes<W>;
      typename Small::Picks picks;
      Small::make_picks(L, picks);
      typename Lanes::index at[9];
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) at[t] = Lanes::load_index(picks.index[t]);
      const Spreads s = spreads(g);
      const int C = g.in_channels, out_w = g.out_w;
      const long planes = static_cast<long>(g.batch) * C, in_plane = L.P;
      const long out_plane = static_cast<long>(g.out_h) * out_w;
      const bool stream = Small::stream_dx(dx);
      int c = 0;  // the plane's channel, counted along (a 64-bit division per plane cost ~2 ns of ~9)
      for (long plane = 0; plane < planes; ++plane) {
        reg up[NV + 2];  // up[v + 1]: vector v of the plane's spread dy; 0 around
        up[0] = up[NV + 1] = V::zero();
        spread<NV>(s, dy + plane * out_plane, out_w, up + 1);
        const float* w = weight + static_cast<long>(c) * 9;
        if (++c == C) c = 0;
        reg acc[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[v] = V::zero();
#pragma GCC unroll 9
        for (int t = 0; t < 9; ++t) {
          const reg wt = V::set1(w[8 - t]);
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v)
            acc[v] =
                V::fma(wt, Small::template picked_tap<Lanes>(t, up[v], up[v + 1], up[v + 2], at[t], L.m[v][t]), acc[v]);
        }
        float* dxp = dx + plane * in_plane;
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) Small::store_dx(stream, dxp + v * W, acc[v]);
      }
      Small::store_dx_done(stream);
    }
  }

  // Backward data with AVX-512 where a plane of dy fits one vector (8x8 -> 4x4 and 4x4 -> 2x2 with 16
  // lanes): only the stride-2 terms, no spread. dx[ih][iw] = sum over taps (kh, kw) in order of
  // w[kh][kw] * dy[(ih + 1 - kh) / 2][(iw + 1 - kw) / 2] where both halves are whole and inside dy: per
  // input vector v and tap t one permute of the plane's dy vector (lane l: dy lane index[v][t][l], 0
  // where keep[v][t] has no bit) and one FMA. PL planes in flight share each index vector. One call on 14
  // images, warm caches, per plane: 8x8 -> 4x4 25.8 -> 14.2 ns, 4x4 -> 2x2 9.3 -> 3.2 ns (against the
  // spread kept in registers, backward_data_picked, which stays for planes of dy over one vector).
  struct Direct {
    alignas(64) int32_t index[kMaxVectors][9][W];
    typename V::mask keep[kMaxVectors][9];
  };
  template <int NV>
  static void backward_data_direct(const ConvGeom& g, const float* dy, const float* weight, float* dx) {
    if constexpr (Small::picks_available) {
      using Lanes = DepthwiseLanes<W>;
      Direct d;
      for (int v = 0; v < NV; ++v)
        for (int t = 0; t < 9; ++t) {
          unsigned bits = 0;
          for (int l = 0; l < W; ++l) {
            const int f = v * W + l, ih = f / g.in_w, iw = f % g.in_w;
            const int rows = ih + 1 - t / 3, cols = iw + 1 - t % 3;  // 2 oh, 2 ow
            d.index[v][t][l] = 0;
            if (rows < 0 || cols < 0 || rows % 2 != 0 || cols % 2 != 0 || rows / 2 >= g.out_h || cols / 2 >= g.out_w)
              continue;
            d.index[v][t][l] = rows / 2 * g.out_w + cols / 2;
            bits |= 1u << l;
          }
          d.keep[v][t] = V::mask_from_bits(bits);
        }
      constexpr int PL = NV == 1 ? 4 : 2;  // planes per step
      const int C = g.in_channels, P_out = g.out_h * g.out_w;
      const long planes = static_cast<long>(g.batch) * C, in_plane = static_cast<long>(NV) * W;
      const bool stream = Small::stream_dx(dx);
      int c = 0;  // the channel of the step's first plane, counted along
      for (long pl = 0; pl < planes; pl += PL) {
        const int count = static_cast<int>(planes - pl < PL ? planes - pl : PL);
        reg dv[PL], acc[PL][NV];
        const float* w[PL];
#pragma GCC unroll 4
        for (int i = 0; i < PL; ++i) {
          const long pi = i < count ? pl + i : pl + count - 1;  // idle slots redo the step's last plane
          w[i] = weight + static_cast<long>(i < count ? c : (c == 0 ? C - 1 : c - 1)) * 9;
          dv[i] = P_out == W ? V::load(dy + pi * P_out) : V::load_partial(dy + pi * P_out, P_out);
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
          if (i < count && ++c == C) c = 0;
        }
#pragma GCC unroll 9
        for (int t = 0; t < 9; ++t)
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) {
            const typename Lanes::index at = Lanes::load_index(d.index[v][t]);
#pragma GCC unroll 4
            for (int i = 0; i < PL; ++i)
              acc[i][v] = V::fma(V::set1(w[i][t]), Lanes::pick(dv[i], dv[i], at, d.keep[v][t]), acc[i][v]);
          }
#pragma GCC unroll 4
        for (int i = 0; i < PL; ++i)
          if (i < count)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) Small::store_dx(stream, dx + (pl + i) * in_plane + v * W, acc[i][v]);
      }
      Small::store_dx_done(stream);
    }
  }

  // ---- backward weight --------------------------------------------------------------------------------
  static void backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* dbias) {
    if constexpr (Small::picks_available) {
      // The forward's strided picks (conv_dw_small.h): its batch condition is about the forward's weight
      // table, which this pass does not build, so it is asked with a batch that passes it.
      ConvGeom asked = g;
      if (asked.batch < Small::kMinBatchForTable) asked.batch = Small::kMinBatchForTable;
      const typename Small::Layout L = Small::layout(Small::stride1(g));
      typename Small::StridedPicks picks;
      if (Small::make_strided_picks(asked, L, picks)) {
        backward_weight_picked(g, L, picks, x, dy, dweight, dbias);
        return;
      }
    }
    Small::with_vectors(g.in_h * g.in_w / W, [&](auto vectors) {
      backward_weight_channels<decltype(vectors)::value>(g, x, dy, dweight, dbias);
    });
  }
  // Per channel: 9 tap accumulators and a bias accumulator over every image's plane, reduced once.
  template <int NV>
  static void backward_weight_channels(const ConvGeom& g, const float* x, const float* dy, float* dweight,
                                       float* dbias) {
    const typename Small::Layout L = Small::layout(Small::stride1(g));
    const Spreads s = spreads(g);
    const int C = g.in_channels, out_w = g.out_w;
    const long in_plane = L.P, out_plane = static_cast<long>(g.out_h) * out_w;
    // The walk's planes asked for ahead (Small::Lookahead: channel-major over strided planes).
    typename Small::Lookahead ahead(C, g.batch, in_plane, Small::prefetch_steps(in_plane), out_plane);
    for (int c = 0; c < C; ++c) {
      reg acc[9], bias_acc = V::zero();
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) acc[t] = V::zero();
      for (int n = 0; n < g.batch; ++n) {
        ahead.prefetch(x, dy, C * in_plane, C * out_plane);
        const long plane = static_cast<long>(n) * C + c;
        reg up[NV];
        spread<NV>(s, dy + plane * out_plane, out_w, up);
        const float* xp = x + plane * in_plane;
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          bias_acc = V::add(bias_acc, up[v]);
#pragma GCC unroll 9
          for (int t = 0; t < 9; ++t)
            acc[t] = V::fma(up[v], V::load_masked(xp + v * W + L.offset[t], L.m[v][t]), acc[t]);
        }
      }
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) dweight[static_cast<long>(c) * 9 + t] += V::hsum(acc[t]);
      if (dbias) dbias[c] += V::hsum(bias_acc);
    }
  }

  // With DepthwiseLanes (AVX-512): only the stride-2 terms. Per output vector (one plane of dy, or
  // G_out = W / P_out planes of consecutive channels) and tap, the x values its lanes meet,
  // x[2oh - 1 + kh][2ow - 1 + kw] (0 outside the plane), come from the input vectors by two permutes
  // (Small::StridedPicks, as the forward's), one FMA with dy per tap: a quarter of the spread's FMAs and
  // no masked loads. Lanes of several planes are split by channel at the end (Small::add_sums).
  // One call on 14 images, warm caches, per plane: 8x8 -> 4x4 37.5 -> 22.7 ns, 4x4 -> 2x2 12.3 -> 6.6 ns.
  static void backward_weight_picked(const ConvGeom& g, const typename Small::Layout& L,
                                     const typename Small::StridedPicks& p, const float* x, const float* dy,
                                     float* dweight, float* dbias) {
    if constexpr (Small::picks_available) {
      using Lanes = DepthwiseLanes<W>;
      typename Lanes::index at[9];
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) at[t] = Lanes::load_index(p.index[t]);
      const int C = g.in_channels, G_out = p.planes, P_out = g.out_h * g.out_w;
      const int sources = G_out * L.vectors;  // input vectors per output vector
      typename Small::Layout lanes_of = L;    // lane l of column j: channel j * G_out + l / P_out
      lanes_of.G = G_out;
      lanes_of.P = P_out;
      const long columns = C / G_out;
      const long x_image = static_cast<long>(C) * L.P, dy_image = static_cast<long>(C) * P_out;
      typename Small::Lookahead ahead(columns, g.batch, static_cast<long>(sources) * W,
                                      Small::prefetch_steps(static_cast<long>(sources) * W), W);
      for (long j = 0; j < columns; ++j) {
        reg acc[9], bias_acc = V::zero();
#pragma GCC unroll 9
        for (int t = 0; t < 9; ++t) acc[t] = V::zero();
        for (int n = 0; n < g.batch; ++n) {
          ahead.prefetch(x, dy, x_image, dy_image);
          const float* xp = x + n * x_image + j * sources * W;
          const reg d = V::load(dy + n * dy_image + j * W);
          bias_acc = V::add(bias_acc, d);
#pragma GCC unroll 9
          for (int t = 0; t < 9; ++t) {
            acc[t] = V::fma(d, Small::template strided_tap<Lanes>(p, at, t, xp, sources), acc[t]);
          }
        }
        Small::add_sums(lanes_of, j, acc, bias_acc, dweight, dbias);
      }
    }
  }
};

}  // namespace plasmo::kernels::simd
