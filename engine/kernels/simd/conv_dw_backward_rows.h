// Backward of the depthwise 3x3 convolution, stride 2, padding 1, by rows (NCHW planes, vectors along the
// rows): MobileNetV2's 32x32 -> 16x16 and 16x16 -> 8x8 layers. The stride splits dx into four classes
// by the parity of (ih, iw), and each class takes a fixed set of taps:
//
//   dx[2k  ][2t  ] = w11 dy[k][t]
//   dx[2k  ][2t+1] = w10 dy[k][t+1] + w12 dy[k][t]
//   dx[2k+1][2t  ] = w01 dy[k+1][t] + w21 dy[k][t]
//   dx[2k+1][2t+1] = w00 dy[k+1][t+1] + w02 dy[k+1][t] + w20 dy[k][t+1] + w22 dy[k][t]
//
// (dy = 0 outside its plane), so per dy row two vectors, dy[k][t..] and dy[k][t+1..], serve four dx
// vectors (two rows, even and odd columns interleaved by zip_lo / zip_hi): 9 multiply-adds per 4 dx
// vectors, every register named at compile time. The weight gradient walks dy rows with the three taps
// of each input row kept for the next dy row (input row 2oh+1 is tap row 2 of oh and tap row 0 of oh+1):
//
//   dw[kh][kw] += sum dy[oh][ow] * x[2oh - 1 + kh][2ow - 1 + kw],   db += sum dy[oh][ow]
//
// with the stride-2 columns read by V::load_even_lanes (lanes outside the row read nothing and count
// as 0). conv_dw_rows.h's stride-2 backward (any padding) spent 2-3x as long on these layers: its
// accumulators, indexed by runtime parities, lived on the stack.
//
// Below, the stride-1, padding-1 backward data (MobileNetV2's 32x32 and 16x16 layers) by rows. Both write
// dx with streaming stores when a layer's dx is large (stream_dx). Other paddings: conv_dw_rows.h.
#pragma once
#include <cstdint>
#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/conv_dw_rows.h"

namespace plasmo::kernels::simd {

template <class V>
struct ConvDepthwiseStride2Backward {
  using reg = typename V::reg;
  using mask = typename V::mask;
  using Rows = ConvDepthwiseRows<V>;
  static constexpr int W = V::width;

  static bool applies(const ConvGeom& g) { return Rows::applies(g) && g.stride_h == 2 && g.pad_h == 1; }

  // Streaming (non-temporal) stores for dx when a layer's dx is large: MobileNetV2's 32x32 -> 16x16 layer
  // writes 393 KB of dx per image, 25 MB at batch 64, far more than the caches keep until the previous
  // layer's backward reads it, so reading each line in before writing it (what a plain store does) only
  // doubled the traffic: 6.4 -> 5.0 ms per backward in the model. The 32x32 and 16x16 stride-1 layers (131
  // and 147 KB per image, 8-9 MB at batch 64) gain ~0.3 ms each, and the layers that read their dx next
  // measured no slower. x86 only (the other ISAs store plainly).
  static constexpr long kStreamBytes = 128 * 1024;  // dx per image from which dx is streamed
  static bool stream_dx(const ConvGeom& g) { return 4L * g.in_channels * g.in_h * g.in_w >= kStreamBytes; }
  // A whole vector to an aligned address (dst % 64 bytes == 0 for streaming: the tensors are 64-byte
  // aligned, and so are the rows when in_w is a multiple of 16).
  static void store_vector(float* dst, reg v, bool stream) {
    if (stream && (reinterpret_cast<uintptr_t>(dst) & (4 * W - 1)) == 0)
      V::stream(dst, v);
    else
      V::store(dst, v);
  }
  // Streaming stores are weakly ordered: visible to the next reader (another thread) after this.
  static void stream_fence() { V::stream_fence(); }

  // dx[row][0 .. count) from the even and odd column classes of a block of 2W columns.
  static void store_row(float* dst, reg even, reg odd, int count, bool stream) {
    const reg first = V::zip_lo(even, odd), second = V::zip_hi(even, odd);
    if (count >= 2 * W) {
      store_vector(dst, first, stream);
      store_vector(dst + W, second, stream);
    } else if (count > W) {
      V::store(dst, first);
      V::store_partial(dst + W, second, count - W);
    } else {
      V::store_partial(dst, first, count);
    }
  }

  // ---- backward data ----------------------------------------------------------------------------------
  static void backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx) {
    const long planes = static_cast<long>(g.batch) * g.in_channels;
    const long in_plane = static_cast<long>(g.in_h) * g.in_w, out_plane = static_cast<long>(g.out_h) * g.out_w;
    const bool stream = stream_dx(g);
    for (long plane = 0; plane < planes; ++plane)
      backward_plane(g, dy + plane * out_plane, weight + (plane % g.in_channels) * 9, dx + plane * in_plane, stream);
    if (stream) stream_fence();
  }

  // One plane: dxp (in_h x in_w) from dyp (out_h x out_w) and the channel's 9 taps w.
  static void backward_plane(const ConvGeom& g, const float* dyp, const float* w, float* dxp, bool stream) {
    const int H = g.in_h, Wi = g.in_w, OH = g.out_h, OW = g.out_w;
    const reg w00 = V::set1(w[0]), w01 = V::set1(w[1]), w02 = V::set1(w[2]);
    const reg w10 = V::set1(w[3]), w11 = V::set1(w[4]), w12 = V::set1(w[5]);
    const reg w20 = V::set1(w[6]), w21 = V::set1(w[7]), w22 = V::set1(w[8]);
    for (int t0 = 0; t0 < OW; t0 += W) {
      // a: dy[k][t0 + lane], b: dy[k][t0 + 1 + lane] (0 past the row); dx columns [2 t0, 2 t0 + count)
      const mask ma = V::make_mask(0, OW - t0), mb = V::make_mask(0, OW - t0 - 1);
      const int count = min_int(2 * W, Wi - 2 * t0);
      reg a = V::load_masked(dyp + t0, ma), b = V::load_masked(dyp + t0 + 1, mb);
      for (int k = 0; 2 * k < H; ++k) {
        reg a1 = V::zero(), b1 = V::zero();  // dy row k + 1
        if (k + 1 < OH) {
          const float* row = dyp + static_cast<long>(k + 1) * OW + t0;
          a1 = V::load_masked(row, ma);
          b1 = V::load_masked(row + 1, mb);
        }
        float* dst = dxp + static_cast<long>(2 * k) * Wi + 2 * t0;
        store_row(dst, V::mul(w11, a), V::fma(w12, a, V::mul(w10, b)), count, stream);
        if (2 * k + 1 < H)
          store_row(dst + Wi, V::fma(w21, a, V::mul(w01, a1)),
                    V::fma(w22, a, V::fma(w20, b, V::fma(w02, a1, V::mul(w00, b1)))), count, stream);
        a = a1;
        b = b1;
      }
    }
  }

  // ---- backward weight --------------------------------------------------------------------------------
  // Per channel: 9 tap accumulators and a bias accumulator over every image's plane, reduced once.
  static void backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* dbias) {
    const long in_plane = static_cast<long>(g.in_h) * g.in_w, out_plane = static_cast<long>(g.out_h) * g.out_w;
    Rows::weight_by_channel(
        g.in_channels, g.batch, dweight,
        dbias, [&](long plane, reg* acc, reg& bias_acc) __attribute__((always_inline)) {
          weight_plane(g, x + plane * in_plane, dy + plane * out_plane, acc, bias_acc);
        });
  }

  // acc[kh * 3 + kw] += dy (*) x taps, bias_acc += dy over one plane (xp: in_h x in_w, dyp: out_h x out_w).
  [[gnu::always_inline]] static inline void weight_plane(const ConvGeom& g, const float* xp, const float* dyp, reg* acc,
                                                         reg& bias_acc) {
    const int H = g.in_h, Wi = g.in_w, OH = g.out_h, OW = g.out_w;
    for (int ow0 = 0; ow0 < OW; ow0 += W) {
      const int count = min_int(W, OW - ow0);
      const mask md = V::make_mask(0, count);
      // Tap column kw of lane l: x column 2 (ow0 + l) - 1 + kw (padding 1), 0 outside the row.
      const typename Rows::template Columns<2> columns(ow0, count, 1, Wi);
      const auto taps = [&](int ih, reg* v) { columns.load(xp + static_cast<long>(ih) * Wi, v); };
      reg above[3] = {V::zero(), V::zero(), V::zero()};  // x row 2 oh - 1 (-1: the padding)
      for (int oh = 0; oh < OH; ++oh) {
        const reg d = V::load_masked(dyp + static_cast<long>(oh) * OW + ow0, md);
        bias_acc = V::add(bias_acc, d);
        reg middle[3], below[3] = {V::zero(), V::zero(), V::zero()};
        taps(2 * oh, middle);  // 2 oh <= H - 1
        if (2 * oh + 1 < H) taps(2 * oh + 1, below);
#pragma GCC unroll 3
        for (int kw = 0; kw < 3; ++kw) {
          acc[kw] = V::fma(d, above[kw], acc[kw]);
          acc[3 + kw] = V::fma(d, middle[kw], acc[3 + kw]);
          acc[6 + kw] = V::fma(d, below[kw], acc[6 + kw]);
          above[kw] = below[kw];
        }
      }
    }
  }
};

// Backward data of the depthwise 3x3 convolution, stride 1, padding 1, by rows: the forward of dy with
// the taps reversed (dx[ih][iw] = sum w[2-a][2-b] dy[ih-1+a][iw-1+b]), each dy row loaded once per column
// block as three column-shifted vectors (masked at the row ends) that serve dx rows ih-1, ih and ih+1,
// and dx streamed past the caches on large layers as in the stride-2 kernel above.
template <class V>
struct ConvDepthwiseStride1Backward {
  using reg = typename V::reg;
  using mask = typename V::mask;
  using Stride2 = ConvDepthwiseStride2Backward<V>;
  static constexpr int W = V::width;

  static bool applies(const ConvGeom& g) { return ConvDepthwiseRows<V>::applies(g) && g.stride_h == 1 && g.pad_h == 1; }

  static void backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx) {
    const long planes = static_cast<long>(g.batch) * g.in_channels, plane_floats = static_cast<long>(g.in_h) * g.in_w;
    const bool stream = Stride2::stream_dx(g);
    for (long plane = 0; plane < planes; ++plane)
      backward_plane(g, dy + plane * plane_floats, weight + (plane % g.in_channels) * 9, dx + plane * plane_floats,
                     stream);
    if (stream) Stride2::stream_fence();
  }

  // A plane (H rows of Wd) as a window sliding down its rows, per block of `count` columns from ow0:
  // use_rows(ih, above, middle, below) sees rows ih - 1, ih, ih + 1 as three column-shifted vectors each
  // (lane l of shift b: column ow0 + l - 1 + b; 0 outside the plane and past count), each row loaded
  // once. The data pass slides over dy, the weight pass over x.
  template <class UseRows>
  [[gnu::always_inline]] static inline void slide_rows(const float* plane, int H, int Wd, int ow0, int count,
                                                       UseRows&& use_rows) {
    const mask m0 = V::make_mask(ow0 == 0 ? 1 : 0, min_int(count, Wd - ow0 + 1)), m1 = V::make_mask(0, count),
               m2 = V::make_mask(0, min_int(count, Wd - ow0 - 1));
    const auto load_row = [&](int ih, reg* v) {
      const float* row = plane + static_cast<long>(ih) * Wd + ow0;
      v[0] = V::load_masked(row - 1, m0);
      v[1] = V::load_masked(row, m1);
      v[2] = V::load_masked(row + 1, m2);
    };
    reg above[3] = {V::zero(), V::zero(), V::zero()}, middle[3], below[3];
    load_row(0, middle);
    for (int ih = 0; ih < H; ++ih) {
      below[0] = below[1] = below[2] = V::zero();
      if (ih + 1 < H) load_row(ih + 1, below);
      use_rows(ih, above, middle, below);
#pragma GCC unroll 3
      for (int b = 0; b < 3; ++b) {
        above[b] = middle[b];
        middle[b] = below[b];
      }
    }
  }

  // One plane: dxp from dyp (both in_h x in_w) and the channel's 9 taps w.
  static void backward_plane(const ConvGeom& g, const float* dyp, const float* w, float* dxp, bool stream) {
    const int H = g.in_h, Wd = g.in_w;  // stride 1, padding 1: out_h x out_w = H x Wd
    reg wr[9];                          // wr[a * 3 + b] = w[2 - a][2 - b]
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) wr[t] = V::set1(w[8 - t]);
    for (int ow0 = 0; ow0 < Wd; ow0 += W) {
      const int count = min_int(W, Wd - ow0);
      slide_rows(
          dyp, H, Wd, ow0,
          count, [&](int ih, const reg* above, const reg* middle, const reg* below) __attribute__((always_inline)) {
            // one chain per dy row, then summed: 3 dependent FMAs rather than 9
            reg r0 = V::mul(wr[0], above[0]), r1 = V::mul(wr[3], middle[0]), r2 = V::mul(wr[6], below[0]);
#pragma GCC unroll 2
            for (int b = 1; b < 3; ++b) {
              r0 = V::fma(wr[b], above[b], r0);
              r1 = V::fma(wr[3 + b], middle[b], r1);
              r2 = V::fma(wr[6 + b], below[b], r2);
            }
            const reg sum = V::add(V::add(r0, r1), r2);
            float* dst = dxp + static_cast<long>(ih) * Wd + ow0;
            if (count == W)
              Stride2::store_vector(dst, sum, stream);
            else
              V::store_partial(dst, sum, count);
          });
    }
  }

  // dw[a][b] += sum dy[oh][ow] * x[oh - 1 + a][ow - 1 + b], db += sum dy: per channel, 9 tap accumulators
  // over every image's plane; each x row loaded once per column block (three column-shifted vectors)
  // serves dy rows oh + 1, oh and oh - 1.
  static void backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* dbias) {
    const long plane_floats = static_cast<long>(g.in_h) * g.in_w;
    ConvDepthwiseRows<V>::weight_by_channel(
        g.in_channels, g.batch, dweight,
        dbias, [&](long plane, reg* acc, reg& bias_acc) __attribute__((always_inline)) {
          weight_plane(g, x + plane * plane_floats, dy + plane * plane_floats, acc, bias_acc);
        });
  }

  // acc[a * 3 + b] += dy (*) x taps, bias_acc += dy over one plane (xp, dyp: in_h x in_w).
  [[gnu::always_inline]] static inline void weight_plane(const ConvGeom& g, const float* xp, const float* dyp, reg* acc,
                                                         reg& bias_acc) {
    const int H = g.in_h, Wd = g.in_w;
    for (int ow0 = 0; ow0 < Wd; ow0 += W) {
      const int count = min_int(W, Wd - ow0);
      const mask md = V::make_mask(0, count);
      slide_rows(
          xp, H, Wd, ow0,
          count, [&](int oh, const reg* above, const reg* middle, const reg* below) __attribute__((always_inline)) {
            const reg d = V::load_masked(dyp + static_cast<long>(oh) * Wd + ow0, md);
            bias_acc = V::add(bias_acc, d);
#pragma GCC unroll 3
            for (int b = 0; b < 3; ++b) {
              acc[b] = V::fma(d, above[b], acc[b]);
              acc[3 + b] = V::fma(d, middle[b], acc[3 + b]);
              acc[6 + b] = V::fma(d, below[b], acc[6 + b]);
            }
          });
    }
  }
};

// ---- backward with the BatchNorm hand-over sums (kernels.h: conv2d_backward_sums) ----------------------------
// The two kernels above, one plane at a time: dx into an L1 buffer, the plane's hand-over sums from the
// buffer and the plane of x (read from memory once), the buffer copied to dx (streamed as backward_data
// streams it), then the plane's weight-gradient taps from x and dy, both still in L1. Without this, the
// BatchNorm's hand-over read every streamed dx plane back from memory (8-25 MB per layer at batch 64) and
// the weight pass read x and dy again from L2. The planes go channel by channel, each channel's images
// in order: the tap accumulators see the planes in backward_weight's order (the same dweight bits).
// dx is backward_data's (the same per-plane code); the sums are the ISA's channel_act_grad_sums on one
// plane (N = 1, C = 1, the channel's coefficients), which for planes of at least kHandOverPlane values
// gives the bits of its per-image call on the whole image (static_assert in simd/conv_entries.h).
template <class V>
struct ConvDepthwiseBackwardSums {
  using reg = typename V::reg;
  using Rows = ConvDepthwiseRows<V>;
  using Stride1 = ConvDepthwiseStride1Backward<V>;
  using Stride2 = ConvDepthwiseStride2Backward<V>;
  using GradSums = decltype(KernelTable::channel_act_grad_sums);  // the ISA's channel_act_grad_sums
  static constexpr int W = V::width;
  // Planes ahead whose x and dy are requested while a plane is copied out (measured 1, 2, 4 planes and
  // 8 or 16 KB ahead, MobileNetV2's four layers: 4 planes the best, ~1 ms per layer at batch 64).
  static constexpr long kPrefetchPlanes = 4;

  static bool applies(const ConvGeom& g) {
    return (Stride1::applies(g) || Stride2::applies(g)) && g.in_h * g.in_w >= kHandOverPlane;
  }
  static size_t scratch_floats(const ConvGeom& g) { return static_cast<size_t>(g.in_h) * g.in_w + W; }

  static void backward_sums(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* dweight,
                            float* dbias, float* scratch, const HandOverSums& sums, GradSums grad_sums) {
    const int C = g.in_channels, HW = g.in_h * g.in_w, N = g.batch;
    const long planes = static_cast<long>(N) * C, out_plane = static_cast<long>(g.out_h) * g.out_w;
    const bool stride1 = Stride1::applies(g), stream = Stride2::stream_dx(g);
    float* buffer = scratch;
    long step = 0;  // planes visited so far, in (channel, image) order
    for (int c = 0; c < C; ++c) {
      const float* w = weight + static_cast<long>(c) * 9;
      reg acc[9], bias_acc = V::zero();
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) acc[t] = V::zero();
      for (int n = 0; n < N; ++n, ++step) {
        const long plane = static_cast<long>(n) * C + c;
        const float* dyp = dy + plane * out_plane;
        const float* xp = sums.x + plane * HW;
        if (stride1)
          Stride1::backward_plane(g, dyp, w, buffer, false);
        else
          Stride2::backward_plane(g, dyp, w, buffer, false);
        grad_sums(1, 1, HW, 0, 1, buffer, xp, sums.scale + c, sums.shift + c, sums.mean + c, sums.act,
                  sums.sum_g + plane, sums.sum_gxc + plane);
        // The plane kPrefetchPlanes ahead in this order: x and dy requested while this one is copied out.
        const long next = step + kPrefetchPlanes;
        const bool ahead = next < planes;
        const long next_plane = ahead ? (next % N) * C + next / N : 0;
        const float* x_ahead = ahead ? sums.x + next_plane * HW : nullptr;
        const float* dy_ahead = ahead ? dy + next_plane * out_plane : nullptr;
        float* dst = dx + plane * HW;
        int i = 0;
        for (; i + W <= HW; i += W) {
          if (ahead && i % 16 == 0) {
            __builtin_prefetch(x_ahead + i);
            if (i < out_plane) __builtin_prefetch(dy_ahead + i);
          }
          Stride2::store_vector(dst + i, V::load(buffer + i), stream);
        }
        if (i < HW) V::store_partial(dst + i, V::load_partial(buffer + i, HW - i), HW - i);
        if (stride1)
          Stride1::weight_plane(g, xp, dyp, acc, bias_acc);
        else
          Stride2::weight_plane(g, xp, dyp, acc, bias_acc);
      }
      Rows::reduce_weight(acc, bias_acc, dweight + static_cast<long>(c) * 9, dbias ? dbias + c : nullptr);
    }
    if (stream) Stride2::stream_fence();
  }
};

}  // namespace plasmo::kernels::simd
