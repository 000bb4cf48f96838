// Depthwise convolution (one input and one output channel per group: MobileNetV2's 3x3, stride 1 and 2),
// computed channels-last. There is no channel sum to share a GEMM over, and MobileNetV2's planes are
// small (32x32 down to 2x2) while its channel counts are large (32..960), so vectors run along the
// channels: each image is transposed to [pixel][channel] (zero-padded in space), every window tap is then
// one vector load with no bounds checks, and the weights are vectors too:
//
//   forward          y[p][c]  = b[c] + sum_tap w[tap][c] * xpad[window(p) + tap][c]
//   backward data    dx[q][c] = sum over the taps that reach input pixel q of w[tap][c] * dypad[...][c]
//                    (each input pixel gathers from dy: no scatter, and stride 2 is just fewer taps)
//   backward weight  dw[tap][c] += sum_p dy[p][c] * xpad[window(p) + tap][c];  db[c] += sum_p dy[p][c]
//                    (lanes are channels: no reduction across lanes)
//
// Eight output pixels are in flight per tap (eight FMA chains). Channel counts are padded to whole
// vectors inside the transposed buffers.
#pragma once
#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/gemm_driver.h"

namespace plasmo::kernels::simd {

template <class V>
struct ConvDepthwise {
  using reg = typename V::reg;
  static constexpr int W = V::width;
  static constexpr int U = 8;          // output pixels per register tile
  static constexpr int kTapBlock = 9;  // weight-gradient taps accumulated at once

  static bool applies(const ConvGeom& g) { return g.in_channels / g.groups == 1 && g.out_channels / g.groups == 1; }

  static int channels_padded(const ConvGeom& g) { return round_up(g.in_channels, W); }
  static int taps(const ConvGeom& g) { return g.kernel_h * g.kernel_w; }
  // dy padded so that every tap reaching an input pixel reads inside it (backward data).
  static int dy_pad_low(int kernel, int pad, int stride) {
    return kernel - 1 - pad > 0 ? (kernel - 1 - pad) / stride : 0;
  }
  static int dy_pad_high(int in, int out, int pad, int stride) {
    const int last = (in - 1 + pad) / stride;  // largest output index an input pixel reaches
    return last > out - 1 ? last - (out - 1) : 0;
  }
  static long dy_padded_pixels(const ConvGeom& g) {
    return static_cast<long>(g.out_h + dy_pad_low(g.kernel_h, g.pad_h, g.stride_h) +
                             dy_pad_high(g.in_h, g.out_h, g.pad_h, g.stride_h)) *
           (g.out_w + dy_pad_low(g.kernel_w, g.pad_w, g.stride_w) + dy_pad_high(g.in_w, g.out_w, g.pad_w, g.stride_w));
  }

  // Scratch: transposed weights and weight sums (taps x C_pad each, plus bias sums), one padded
  // channels-last image (x or dy), one unpadded channels-last plane (y, dx or dy), one staging plane.
  static size_t scratch_floats(const ConvGeom& g) {
    const long C_pad = channels_padded(g);
    const long in_pixels = static_cast<long>(g.in_h) * g.in_w, out_pixels = static_cast<long>(g.out_h) * g.out_w;
    const long x_padded = static_cast<long>(g.in_h + 2 * g.pad_h) * (g.in_w + 2 * g.pad_w);
    const long padded = x_padded > dy_padded_pixels(g) ? x_padded : dy_padded_pixels(g);
    const long plane = in_pixels > out_pixels ? in_pixels : out_pixels;
    return static_cast<size_t>(C_pad * (2 * taps(g) + 1) + C_pad * padded + 2 * C_pad * plane) + 2 * W;
  }

  struct Buffers {
    float *wt, *sums, *bias_sums, *padded, *plane, *staging;
  };
  static Buffers buffers(const ConvGeom& g, float* scratch) {
    const long C_pad = channels_padded(g);
    const long in_pixels = static_cast<long>(g.in_h) * g.in_w, out_pixels = static_cast<long>(g.out_h) * g.out_w;
    const long x_padded = static_cast<long>(g.in_h + 2 * g.pad_h) * (g.in_w + 2 * g.pad_w);
    const long padded = x_padded > dy_padded_pixels(g) ? x_padded : dy_padded_pixels(g);
    const long plane = in_pixels > out_pixels ? in_pixels : out_pixels;
    Buffers b;
    b.wt = scratch;
    b.sums = b.wt + C_pad * taps(g);
    b.bias_sums = b.sums + C_pad * taps(g);
    b.padded = b.bias_sums + C_pad;
    b.plane = b.padded + C_pad * padded;
    b.staging = b.plane + C_pad * plane;
    return b;
  }

  // wt[tap][c] = w[c][tap] for channels [c0, c1).
  static void transpose_weights(const ConvGeom& g, const float* weight, int c0, int c1, float* wt) {
    const int C_pad = channels_padded(g);
    transpose_copy<V>(weight + static_cast<long>(c0) * taps(g), taps(g), c1 - c0, taps(g), wt + c0, C_pad);
    for (int tap = 0; tap < taps(g); ++tap)
      for (int c = g.in_channels; c < C_pad; ++c) wt[static_cast<long>(tap) * C_pad + c] = 0.0f;
  }

  // Channels [c0, c1) of one NCHW image (H x Wd) into out[((pt + h) * Ws + pl + w) * C_pad + c], zero in the
  // border of the Hs x Ws padded plane. Planes narrower than a vector go through `staging` (a plain
  // [pixel][channel] transpose of the whole plane) so the register transposes still apply.
  static void to_channels_last(const float* x, int H, int Wd, int c0, int c1, int pt, int pl, int Hs, int Ws, int C_pad,
                               float* staging, float* out) {
    const long HW = static_cast<long>(H) * Wd;
    const int cv0 = c0, cv1 = round_up(c1, W) < C_pad ? round_up(c1, W) : C_pad;  // whole vectors of channels
    auto zero_pixel = [&](long pixel) {
      for (int c = cv0; c < cv1; c += W) V::store(out + pixel * C_pad + c, V::zero());
    };
    for (int sh = 0; sh < Hs; ++sh)
      for (int sw = 0; sw < Ws; ++sw)
        if (sh < pt || sh >= pt + H || sw < pl || sw >= pl + Wd) zero_pixel(static_cast<long>(sh) * Ws + sw);
    // Lanes past the last channel are computed with but never stored: keep them 0 (not stale scratch,
    // which could hold denormals or NaNs and slow the FMAs).
    if (c1 < cv1)
      for (long pixel = 0; pixel < static_cast<long>(Hs) * Ws; ++pixel)
        for (int c = c1; c < cv1; ++c) out[pixel * C_pad + c] = 0.0f;
    if (Wd >= W || (pt == 0 && pl == 0 && Ws == Wd)) {
      if (pt == 0 && pl == 0 && Ws == Wd) {
        transpose_copy<V>(x + c0 * HW, HW, c1 - c0, static_cast<int>(HW), out + c0, C_pad);
        return;
      }
      for (int h = 0; h < H; ++h)
        transpose_copy<V>(x + c0 * HW + static_cast<long>(h) * Wd, HW, c1 - c0, Wd,
                          out + ((static_cast<long>(pt) + h) * Ws + pl) * C_pad + c0, C_pad);
      return;
    }
    transpose_copy<V>(x + c0 * HW, HW, c1 - c0, static_cast<int>(HW), staging + c0, C_pad);
    for (int h = 0; h < H; ++h)
      for (int w = 0; w < Wd; ++w) {
        const float* src = staging + (static_cast<long>(h) * Wd + w) * C_pad;
        float* dst = out + ((static_cast<long>(pt) + h) * Ws + pl + w) * C_pad;
        for (int c = cv0; c < cv1; c += W) V::store(dst + c, V::load(src + c));
      }
  }

  // y[c][p] (one NCHW image) = yt[p][c] for channels [c0, c1).
  static void from_channels_last(const float* yt, long pixels, int C_pad, int c0, int c1, float* y) {
    transpose_copy<V>(yt + c0, C_pad, static_cast<int>(pixels), c1 - c0, y + c0 * pixels, pixels);
  }

  static reg load_channels(const float* p, int c, int c_end) {
    return c + W <= c_end ? V::load(p + c) : V::load_partial(p + c, c_end - c);
  }

  // ---- forward --------------------------------------------------------------------------------------
  // Units are (image, channel block) pairs; part `part` of `parts` takes a contiguous range of them.
  static void forward_part(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                           float* scratch, int part, int parts) {
    const int C = g.in_channels, C_pad = channels_padded(g), blocks = C_pad / W;
    const int Hs = g.in_h + 2 * g.pad_h, Ws = g.in_w + 2 * g.pad_w;
    const long in_plane = static_cast<long>(g.in_h) * g.in_w, P = static_cast<long>(g.out_h) * g.out_w;
    const Buffers b = buffers(g, scratch);
    const long units = static_cast<long>(g.batch) * blocks;
    const long begin = units * part / parts, end = units * (part + 1) / parts;
    if (begin >= end) return;
    transpose_weights(g, weight, 0, C, b.wt);
    for (long unit = begin; unit < end;) {
      const int n = static_cast<int>(unit / blocks), first_block = static_cast<int>(unit % blocks);
      const long last_unit = (static_cast<long>(n) + 1) * blocks < end ? (static_cast<long>(n) + 1) * blocks : end;
      const int c0 = first_block * W, c1 = min_int(C, static_cast<int>(last_unit - static_cast<long>(n) * blocks) * W);
      to_channels_last(x + static_cast<long>(n) * C * in_plane, g.in_h, g.in_w, c0, c1, g.pad_h, g.pad_w, Hs, Ws, C_pad,
                       b.staging, b.padded);
      for (int c = c0; c < c1; c += W) forward_block(g, b.wt, bias, b.padded, Ws, C_pad, c, c1, b.plane);
      from_channels_last(b.plane, P, C_pad, c0, c1, y + static_cast<long>(n) * C * P);
      unit = last_unit;
    }
  }

  // One channel vector [c, c + W) of one image: yt[p][c..] from xpad.
  static void forward_block(const ConvGeom& g, const float* wt, const float* bias, const float* xpad, int Ws, int C_pad,
                            int c, int c_end, float* yt) {
    const reg b = bias ? load_channels(bias, c, c_end) : V::zero();
    const int kh_n = g.kernel_h, kw_n = g.kernel_w, sh = g.stride_h, sw = g.stride_w;
    for (int oh = 0; oh < g.out_h; ++oh)
      for (int ow0 = 0; ow0 < g.out_w; ow0 += U) {
        const int count = min_int(U, g.out_w - ow0);
        const float* at[U];
#pragma GCC unroll 8
        for (int u = 0; u < U; ++u)  // idle lanes of the tile recompute pixel ow0 (never stored)
          at[u] = xpad + (static_cast<long>(oh) * sh * Ws + (ow0 + (u < count ? u : 0)) * sw) * C_pad + c;
        reg acc[U];
#pragma GCC unroll 8
        for (int u = 0; u < U; ++u) acc[u] = b;
        for (int kh = 0; kh < kh_n; ++kh)
          for (int kw = 0; kw < kw_n; ++kw) {
            const reg w = V::load(wt + (kh * kw_n + kw) * C_pad + c);
            const long offset = (static_cast<long>(kh) * Ws + kw) * C_pad;
#pragma GCC unroll 8
            for (int u = 0; u < U; ++u) acc[u] = V::fma(w, V::load(at[u] + offset), acc[u]);
          }
        float* dst = yt + (static_cast<long>(oh) * g.out_w + ow0) * C_pad + c;
#pragma GCC unroll 8
        for (int u = 0; u < U; ++u)
          if (u < count) V::store(dst + u * C_pad, acc[u]);
      }
  }

  // ---- backward data ----------------------------------------------------------------------------------
  static void backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* scratch) {
    const int C = g.in_channels, C_pad = channels_padded(g);
    const int pl_h = dy_pad_low(g.kernel_h, g.pad_h, g.stride_h), pl_w = dy_pad_low(g.kernel_w, g.pad_w, g.stride_w);
    const int Hd = g.out_h + pl_h + dy_pad_high(g.in_h, g.out_h, g.pad_h, g.stride_h);
    const int Wd = g.out_w + pl_w + dy_pad_high(g.in_w, g.out_w, g.pad_w, g.stride_w);
    const long in_plane = static_cast<long>(g.in_h) * g.in_w, P = static_cast<long>(g.out_h) * g.out_w;
    const Buffers b = buffers(g, scratch);
    transpose_weights(g, weight, 0, C, b.wt);
    for (int n = 0; n < g.batch; ++n) {
      to_channels_last(dy + static_cast<long>(n) * C * P, g.out_h, g.out_w, 0, C, pl_h, pl_w, Hd, Wd, C_pad, b.staging,
                       b.padded);
      for (int c = 0; c < C; c += W) backward_data_block(g, b.wt, b.padded, pl_h, pl_w, Wd, C_pad, c, b.plane);
      from_channels_last(b.plane, in_plane, C_pad, 0, C, dx + static_cast<long>(n) * C * in_plane);
    }
  }

  // Input pixels (ih, iw = q + s*t) of one column class q share their taps: kh with (ih + p - kh) % s == 0
  // and kw with (q + p - kw) % s == 0, reading dy at oh = (ih + p - kh)/s, ow = (q + p - kw)/s + t.
  static void backward_data_block(const ConvGeom& g, const float* wt, const float* dypad, int pl_h, int pl_w, int Wd,
                                  int C_pad, int c, float* dxt) {
    const int sh = g.stride_h, sw = g.stride_w;
    for (int ih = 0; ih < g.in_h; ++ih)
      for (int q = 0; q < sw && q < g.in_w; ++q) {
        const int class_len = (g.in_w - q + sw - 1) / sw;
        for (int t0 = 0; t0 < class_len; t0 += U) {
          const int count = min_int(U, class_len - t0);
          reg acc[U];
#pragma GCC unroll 8
          for (int u = 0; u < U; ++u) acc[u] = V::zero();
          for (int kh = 0; kh < g.kernel_h; ++kh) {
            const int rows = ih + g.pad_h - kh;  // = oh * sh
            if (((rows % sh) + sh) % sh) continue;
            const int oh = (rows >= 0 ? rows / sh : -((-rows) / sh)) + pl_h;  // padded row, in [0, Hd)
            for (int kw = 0; kw < g.kernel_w; ++kw) {
              const int cols = q + g.pad_w - kw;  // = ow * sw at t = 0
              if (((cols % sw) + sw) % sw) continue;
              const int ow = (cols >= 0 ? cols / sw : -((-cols) / sw)) + pl_w + t0;
              const reg w = V::load(wt + (kh * g.kernel_w + kw) * C_pad + c);
              const float* at = dypad + (static_cast<long>(oh) * Wd + ow) * C_pad + c;
#pragma GCC unroll 8
              for (int u = 0; u < U; ++u) acc[u] = V::fma(w, V::load(at + (u < count ? u : 0) * C_pad), acc[u]);
            }
          }
          float* dst = dxt + (static_cast<long>(ih) * g.in_w + q + static_cast<long>(t0) * sw) * C_pad + c;
#pragma GCC unroll 8
          for (int u = 0; u < U; ++u)
            if (u < count) V::store(dst + static_cast<long>(u) * sw * C_pad, acc[u]);
        }
      }
  }

  // ---- backward weight --------------------------------------------------------------------------------
  static void backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* dbias,
                              float* scratch) {
    const int C = g.in_channels, C_pad = channels_padded(g), T = taps(g);
    const int Hs = g.in_h + 2 * g.pad_h, Ws = g.in_w + 2 * g.pad_w;
    const long in_plane = static_cast<long>(g.in_h) * g.in_w, P = static_cast<long>(g.out_h) * g.out_w;
    const Buffers b = buffers(g, scratch);
    for (long i = 0; i < static_cast<long>(T) * C_pad; ++i) b.sums[i] = 0.0f;
    for (int c = 0; c < C_pad; ++c) b.bias_sums[c] = 0.0f;
    for (int n = 0; n < g.batch; ++n) {
      to_channels_last(x + static_cast<long>(n) * C * in_plane, g.in_h, g.in_w, 0, C, g.pad_h, g.pad_w, Hs, Ws, C_pad,
                       b.staging, b.padded);
      to_channels_last(dy + static_cast<long>(n) * C * P, g.out_h, g.out_w, 0, C, 0, 0, g.out_h, g.out_w, C_pad,
                       b.staging, b.plane);
      for (int c = 0; c < C; c += W)
        for (int tap0 = 0; tap0 < T; tap0 += kTapBlock) weight_block(g, b.padded, Ws, b.plane, C_pad, c, tap0, b);
    }
    // dw[c][tap] += sums[tap][c]; db[c] += bias_sums[c]
    for (int c = 0; c < C; ++c) {
      for (int tap = 0; tap < T; ++tap)
        dweight[static_cast<long>(c) * T + tap] += b.sums[static_cast<long>(tap) * C_pad + c];
      if (dbias) dbias[c] += b.bias_sums[c];
    }
  }

  // sums[tap0 .. tap0 + 9)[c..] += sum_p dyt[p][c..] * xpad[window(p) + tap][c..] for one image.
  static void weight_block(const ConvGeom& g, const float* xpad, int Ws, const float* dyt, int C_pad, int c, int tap0,
                           const Buffers& b) {
    const int T = taps(g), block = min_int(kTapBlock, T - tap0);
    long offset[kTapBlock];
#pragma GCC unroll 9
    for (int t = 0; t < kTapBlock; ++t) {
      const int tap = tap0 + (t < block ? t : 0);
      offset[t] = (static_cast<long>(tap / g.kernel_w) * Ws + tap % g.kernel_w) * C_pad;
    }
    reg acc[kTapBlock];
#pragma GCC unroll 9
    for (int t = 0; t < kTapBlock; ++t)
      acc[t] = t < block ? V::load(b.sums + static_cast<long>(tap0 + t) * C_pad + c) : V::zero();
    reg bias_acc = V::load(b.bias_sums + c);
    for (int oh = 0; oh < g.out_h; ++oh)
      for (int ow = 0; ow < g.out_w; ++ow) {
        const reg d = V::load(dyt + (static_cast<long>(oh) * g.out_w + ow) * C_pad + c);
        const float* at = xpad + (static_cast<long>(oh) * g.stride_h * Ws + ow * g.stride_w) * C_pad + c;
        bias_acc = V::add(bias_acc, d);
#pragma GCC unroll 9
        for (int t = 0; t < kTapBlock; ++t) acc[t] = V::fma(d, V::load(at + offset[t]), acc[t]);
      }
#pragma GCC unroll 9
    for (int t = 0; t < kTapBlock; ++t)
      if (t < block) V::store(b.sums + static_cast<long>(tap0 + t) * C_pad + c, acc[t]);
    if (tap0 == 0) V::store(b.bias_sums + c, bias_acc);
  }
};

// Depthwise convolution plane by plane (NCHW), vectors along output rows, for planes whose rows fill
// at least half a vector (MobileNetV2's 32x32, 16x16 and, with AVX2/NEON, 8x8 stages). Channels-last
// (above) would spend as long transposing as computing there: a depthwise conv does only kernel_h *
// kernel_w multiply-adds per element. Each plane is zero-padded once (plain vector loads, or even-lane
// loads for stride 2), the taps' weights are broadcast once per plane, and eight output vectors are in
// flight per tap.
//   forward          y[c][oh][ow] = b[c] + sum_tap w[c][tap] * xpad[c][oh*s + kh][ow*s + kw]
//   backward data    stride 1 only: the forward of dy with the taps reversed (padding kernel - 1 - pad)
//   backward weight  dw[c][tap] += sum dy[c][p] * xpad[c][window(p) + tap], reduced across lanes per call
template <class V>
struct ConvDepthwisePlanes {
  using reg = typename V::reg;
  static constexpr int W = V::width;
  static constexpr int U = 8;          // output vectors in flight
  static constexpr int kTapBlock = 9;  // weight-gradient taps accumulated at once

  static bool applies_forward(const ConvGeom& g) { return 2 * g.out_w >= W; }
  static bool applies_backward_data(const ConvGeom& g) {
    return g.stride_h <= 2 && g.stride_w <= 2 && g.kernel_h <= 16 && g.kernel_w <= 16 && 2 * g.in_w >= W;
  }
  static int taps(const ConvGeom& g) { return g.kernel_h * g.kernel_w; }
  static int padded_h(const ConvGeom& g) { return g.in_h + 2 * g.pad_h; }
  static int padded_w(const ConvGeom& g) { return g.in_w + 2 * g.pad_w; }
  static size_t plane_floats(const ConvGeom& g) {
    // the padded plane of g, of backward data's transposed geometry (stride 1: padding kernel - 1 - pad)
    // and of the padded dy (stride 2)
    const long own = static_cast<long>(padded_h(g)) * padded_w(g);
    const long transposed =
        static_cast<long>(g.out_h + 2 * (g.kernel_h - 1 - g.pad_h)) * (g.out_w + 2 * (g.kernel_w - 1 - g.pad_w));
    const long dy_rows =
        g.out_h + dy_pad_low(g.kernel_h, g.pad_h, g.stride_h) + dy_pad_high(g.in_h, g.out_h, g.pad_h, g.stride_h);
    const long dy_cols = g.out_w + dy_pad_low(g.kernel_w, g.pad_w, g.stride_w) +
                         dy_pad_high(g.in_w, g.out_w, g.pad_w, g.stride_w) + W;  // + a vector read past a row
    long most = own > transposed ? own : transposed;
    if (dy_rows * dy_cols > most) most = dy_rows * dy_cols;
    return static_cast<size_t>(most) + 4 * W;
  }
  static size_t scratch_floats(const ConvGeom& g) {
    return plane_floats(g) + static_cast<size_t>(g.in_channels) * taps(g);  // + reversed weights
  }

  // Asks for the next plane while this one is computed: at batch 64 a layer's input comes from DRAM
  // (x of MobileNetV2's first depthwise layer is 8 MB), and a depthwise layer has too few flops per
  // element to hide the wait.
  static void prefetch_plane(const float* plane, long floats) {
    for (long i = 0; i < floats; i += 16) __builtin_prefetch(plane + i);
  }

  // out[sh][sw] = plane[sh - pad_h][sw - pad_w], 0 outside (pad may be negative: a crop).
  static void pad_plane(const ConvGeom& g, const float* plane, float* out) {
    pad_plane_to(g, plane, padded_h(g), padded_w(g), out);
  }
  // The same into an Hs x Ws plane (the padding on the high side is whatever is left over).
  static void pad_plane_to(const ConvGeom& g, const float* plane, int Hs, int Ws, float* out) {
    const int col_lo = max_int(0, g.pad_w), col_hi = min_int(Ws, g.in_w + g.pad_w);
    for (int sh = 0; sh < Hs; ++sh, out += Ws) {
      const int ih = sh - g.pad_h;
      const bool inside = ih >= 0 && ih < g.in_h && col_lo < col_hi;
      if (V::has_masked_io && inside) {
        const float* row = plane + static_cast<long>(ih) * g.in_w - g.pad_w;  // row[sw] = x[ih][sw - pad_w]
        for (int c0 = 0; c0 < Ws; c0 += W) {
          const reg v = V::load_lanes(row + c0, col_lo - c0, col_hi - c0);
          if (c0 + W <= Ws)
            V::store(out + c0, v);
          else
            V::store_partial(out + c0, v, Ws - c0);
        }
        continue;
      }
      for (int sw = 0; sw < Ws; ++sw)
        out[sw] = inside && sw >= col_lo && sw < col_hi ? plane[static_cast<long>(ih) * g.in_w + sw - g.pad_w] : 0.0f;
    }
  }

  static reg load_window(const float* p, int stride, int count) {
    if (stride == 1) return count == W ? V::load(p) : V::load_partial(p, count);
    if (count == W) return V::load_even(p);
    if (V::has_masked_io) return V::load_even_lanes(p, 0, count);
    alignas(64) float lanes[W] = {};
    for (int i = 0; i < count; ++i) lanes[i] = p[2 * i];
    return V::load(lanes);
  }

  // Planes [plane_begin, plane_end) of the batch (plane = n * channels + c); w[c][tap] (already reversed
  // for backward data).
  static void forward(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y, float* xpad,
                      long plane_begin, long plane_end) {
    const int C = g.out_channels, T = taps(g), Ws = padded_w(g), sh = g.stride_h, sw = g.stride_w;
    const long in_plane = static_cast<long>(g.in_h) * g.in_w, out_plane = static_cast<long>(g.out_h) * g.out_w;
    const int row_vectors = (g.out_w + W - 1) / W;
    const long vectors = static_cast<long>(g.out_h) * row_vectors;
    for (long plane = plane_begin; plane < plane_end; ++plane) {
      const int c = static_cast<int>(plane % C);
      pad_plane(g, x + plane * in_plane, xpad);
      if (plane + 1 < plane_end) prefetch_plane(x + (plane + 1) * in_plane, in_plane);
      const float* w = weight + static_cast<long>(c) * T;
      const reg b = V::set1(bias ? bias[c] : 0.0f);
      float* yp = y + plane * out_plane;
      for (long v0 = 0; v0 < vectors; v0 += U) {
        const float* at[U];
        float* dst[U];
        int count[U];
#pragma GCC unroll 8
        for (int u = 0; u < U; ++u) {
          const long v = v0 + u < vectors ? v0 + u : v0;  // idle slots redo v0, never stored
          const int oh = static_cast<int>(v / row_vectors), ow = static_cast<int>(v % row_vectors) * W;
          at[u] = xpad + static_cast<long>(oh) * sh * Ws + static_cast<long>(ow) * sw;
          dst[u] = yp + static_cast<long>(oh) * g.out_w + ow;
          count[u] = min_int(W, g.out_w - ow);
        }
        reg acc[U];
#pragma GCC unroll 8
        for (int u = 0; u < U; ++u) acc[u] = b;
        for (int kh = 0; kh < g.kernel_h; ++kh)
          for (int kw = 0; kw < g.kernel_w; ++kw) {
            const reg wv = V::set1(w[kh * g.kernel_w + kw]);
            const long offset = static_cast<long>(kh) * Ws + kw;
#pragma GCC unroll 8
            for (int u = 0; u < U; ++u) acc[u] = V::fma(wv, load_window(at[u] + offset, sw, count[u]), acc[u]);
          }
#pragma GCC unroll 8
        for (int u = 0; u < U; ++u) {
          if (v0 + u >= vectors) continue;
          if (count[u] == W)
            V::store(dst[u], acc[u]);
          else
            V::store_partial(dst[u], acc[u], count[u]);
        }
      }
    }
  }

  // Stride 2: per input row ih and column class q (iw = q + 2t), the taps with matching parity read dy at
  // ow = (q + p - kw)/2 + t, contiguous in t; the two classes' vectors are interleaved into the dx row.
  // dy is padded (as in the channels-last version) so every read is in bounds.
  static int dy_pad_low(int kernel, int pad, int stride) {
    return kernel - 1 - pad > 0 ? (kernel - 1 - pad) / stride : 0;
  }
  static int dy_pad_high(int in, int out, int pad, int stride) {
    const int last = (in - 1 + pad) / stride;
    return last > out - 1 ? last - (out - 1) : 0;
  }
  static void backward_data_strided(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* dypad) {
    const int C = g.in_channels, T = taps(g), sh = g.stride_h, sw = g.stride_w;
    const int pl_h = dy_pad_low(g.kernel_h, g.pad_h, sh), pl_w = dy_pad_low(g.kernel_w, g.pad_w, sw);
    const int Hd = g.out_h + pl_h + dy_pad_high(g.in_h, g.out_h, g.pad_h, sh);
    const int Wd = g.out_w + pl_w + dy_pad_high(g.in_w, g.out_w, g.pad_w, sw);
    const long in_plane = static_cast<long>(g.in_h) * g.in_w, out_plane = static_cast<long>(g.out_h) * g.out_w;
    ConvGeom pg = g;  // pad_plane's view: the dy plane padded by (pl_h, pl_w) into Hd x Wd
    pg.in_h = g.out_h;
    pg.in_w = g.out_w;
    pg.pad_h = pl_h;
    pg.pad_w = pl_w;
    const int class_len = (g.in_w + sw - 1) / sw;  // class 0 is the longest
    // The taps reaching each input row and column class do not depend on the plane: list them once.
    // row_taps[ih]: (padded dy row, kh); class_taps[q]: (padded dy column at t = 0, kw).
    constexpr int kMaxKernel = 16;
    struct Tap {
      int at, k;
    };
    Tap class_taps[2][kMaxKernel];
    int class_count[2] = {0, 0};
    for (int q = 0; q < sw; ++q)
      for (int kw = 0; kw < g.kernel_w; ++kw) {
        const int cols = q + g.pad_w - kw;  // = ow * sw at t = 0
        if (((cols % sw) + sw) % sw) continue;
        class_taps[q][class_count[q]++] = Tap{(cols >= 0 ? cols / sw : -((-cols) / sw)) + pl_w, kw};
      }
    for (long plane = 0; plane < static_cast<long>(g.batch) * C; ++plane) {
      const int c = static_cast<int>(plane % C);
      pad_plane_to(pg, dy + plane * out_plane, Hd, Wd, dypad);
      const float* w = weight + static_cast<long>(c) * T;
      float* dxp = dx + plane * in_plane;
      for (int ih = 0; ih < g.in_h; ++ih) {
        Tap row_taps[kMaxKernel];
        int rows_count = 0;
        for (int kh = 0; kh < g.kernel_h; ++kh) {
          const int rows = ih + g.pad_h - kh;  // = oh * sh
          if (((rows % sh) + sh) % sh) continue;
          row_taps[rows_count++] = Tap{(rows >= 0 ? rows / sh : -((-rows) / sh)) + pl_h, kh};
        }
        float* dx_row = dxp + static_cast<long>(ih) * g.in_w;
        for (int t0 = 0; t0 < class_len; t0 += W) {
          reg acc[2] = {V::zero(), V::zero()};
#pragma GCC unroll 2
          for (int q = 0; q < 2; ++q) {
            if (q >= sw) continue;
            for (int r = 0; r < rows_count; ++r) {
              const float* dy_row = dypad + static_cast<long>(row_taps[r].at) * Wd + t0;
              const float* w_row = w + row_taps[r].k * g.kernel_w;
              for (int i = 0; i < class_count[q]; ++i)
                acc[q] = V::fma(V::set1(w_row[class_taps[q][i].k]), V::load(dy_row + class_taps[q][i].at), acc[q]);
            }
          }
          // dx[ih][q + sw*t] for t in [t0, t0 + W)
          const int first = sw * t0, count = min_int(sw * W, g.in_w - first);
          if (sw == 1) {
            if (count >= W)
              V::store(dx_row + first, acc[0]);
            else
              V::store_partial(dx_row + first, acc[0], count);
          } else {
            const reg lo = V::zip_lo(acc[0], acc[1]), hi = V::zip_hi(acc[0], acc[1]);
            if (count >= 2 * W) {
              V::store(dx_row + first, lo);
              V::store(dx_row + first + W, hi);
            } else if (count > W) {
              V::store(dx_row + first, lo);
              V::store_partial(dx_row + first + W, hi, count - W);
            } else {
              V::store_partial(dx_row + first, lo, count);
            }
          }
        }
      }
    }
  }

  static void backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* scratch) {
    if (g.stride_h != 1 || g.stride_w != 1) {
      backward_data_strided(g, dy, weight, dx, scratch);
      return;
    }
    const int C = g.in_channels, T = taps(g);
    float* reversed = scratch + plane_floats(g);
    for (int c = 0; c < C; ++c)
      for (int t = 0; t < T; ++t) reversed[static_cast<long>(c) * T + t] = weight[static_cast<long>(c) * T + T - 1 - t];
    ConvGeom t = g;  // x' = dy, y' = dx
    t.in_h = g.out_h;
    t.in_w = g.out_w;
    t.out_h = g.in_h;
    t.out_w = g.in_w;
    t.pad_h = g.kernel_h - 1 - g.pad_h;
    t.pad_w = g.kernel_w - 1 - g.pad_w;
    forward(t, dy, reversed, nullptr, dx, scratch, 0, static_cast<long>(g.batch) * C);
  }

  static void backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* dbias,
                              float* xpad) {
    const int C = g.in_channels, T = taps(g), Ws = padded_w(g), sh = g.stride_h, sw = g.stride_w;
    const long in_plane = static_cast<long>(g.in_h) * g.in_w, out_plane = static_cast<long>(g.out_h) * g.out_w;
    for (int c = 0; c < C; ++c)
      for (int tap0 = 0; tap0 < T; tap0 += kTapBlock) {
        const int block = min_int(kTapBlock, T - tap0);
        long offset[kTapBlock];
#pragma GCC unroll 9
        for (int t = 0; t < kTapBlock; ++t) {
          const int tap = tap0 + (t < block ? t : 0);
          offset[t] = static_cast<long>(tap / g.kernel_w) * Ws + tap % g.kernel_w;
        }
        reg acc[kTapBlock], bias_acc = V::zero();
#pragma GCC unroll 9
        for (int t = 0; t < kTapBlock; ++t) acc[t] = V::zero();
        for (int n = 0; n < g.batch; ++n) {
          const long plane = static_cast<long>(n) * C + c;
          pad_plane(g, x + plane * in_plane, xpad);
          const float* dyp = dy + plane * out_plane;
          if (n + 1 < g.batch) {
            prefetch_plane(x + (plane + C) * in_plane, in_plane);
            prefetch_plane(dy + (plane + C) * out_plane, out_plane);
          }
          for (int oh = 0; oh < g.out_h; ++oh)
            for (int ow = 0; ow < g.out_w; ow += W) {
              const int count = min_int(W, g.out_w - ow);
              const float* d_at = dyp + static_cast<long>(oh) * g.out_w + ow;
              const reg d = count == W ? V::load(d_at) : V::load_partial(d_at, count);
              const float* at = xpad + static_cast<long>(oh) * sh * Ws + static_cast<long>(ow) * sw;
              if (tap0 == 0) bias_acc = V::add(bias_acc, d);
#pragma GCC unroll 9
              for (int t = 0; t < kTapBlock; ++t) acc[t] = V::fma(d, load_window(at + offset[t], sw, count), acc[t]);
            }
        }
#pragma GCC unroll 9
        for (int t = 0; t < kTapBlock; ++t)
          if (t < block) dweight[static_cast<long>(c) * T + tap0 + t] += V::hsum(acc[t]);
        if (tap0 == 0 && dbias) dbias[c] += V::hsum(bias_acc);
      }
  }
};

}  // namespace plasmo::kernels::simd
