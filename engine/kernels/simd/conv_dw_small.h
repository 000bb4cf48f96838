// Depthwise 3x3 convolution, stride 1, padding 1, on small planes (at most 4 vectors: MobileNetV2's 8x8,
// 4x4 and 2x2 stages), with vectors along the flattened planes rather than along rows. A row of 4 or 2
// outputs would leave most lanes of a row vector idle; here a vector holds whole rows (P >= W: P / W
// vectors per plane) or several whole planes of consecutive channels (P < W: G = W / P planes). Every
// tap is one masked load at a fixed offset from the vector's own position, (kh - 1) * width + kw - 1:
// the mask, fixed per tap and position in the plane (or plane group), drops the lanes whose neighbour
// lies outside their plane, including those that would read a neighbouring plane. Units (vectors) are
// visited in memory order.
//
//   forward          y[f] = b[c] + sum_tap w[c][tap] * x[f + offset(tap)]   (masked)
//   backward data    the forward of dy with the taps reversed (stride 1, padding 1: same geometry)
//   backward weight  dw[c][tap] += sum_f dy[f] * x[f + offset(tap)];  db[c] += sum_f dy[f]
//
// The backward with AVX-512 takes the taps by lane permutes too (make_picks), prefetches the
// planes of the weight pass's channel-major walk (Lookahead) and streams dx when aligned (store_dx).
//
// With G planes per vector the lanes belong to G channels: the weights come from a table built per call
// (lane l of tap t for plane group j: w[j*G + l / P][t]) when the batch is large enough to pay for it, else
// are assembled in registers per unit (sum over g of w[j*G + g][t] times the lanes of plane g: one
// broadcast and one fma per plane; at batch 1 a 960-channel 2x2 layer takes ~4 us this way, 18 us on the
// channels-last path, 69 us with the table); the weight sums are split by lane group at the end. Needs
// channels % G == 0, so a vector never spans two images.
//
// Stride 2 (forward only: MobileNetV2's 8x8 -> 4x4 and 4x4 -> 2x2 at batch 1, 14-17 us each on the
// row and channels-last paths): y[oh][ow] is the stride-1 output at input position (2*oh, 2*ow), same
// padding, so each plane group's stride-1 vectors are computed (4x the taps, but the layer is ~50K
// multiply-adds) and the even rows' even columns copied out.
//
// Forward with AVX-512 (DepthwiseLanes in conv_dw_forward.h; the backward keeps the masked loads): a
// one-vector unit (a 4x4 plane, 4 planes of 2x2) is loaded once, aligned, and the taps permuted out of it
// with the same masks (Picks), the same values and sums; an 8x8 plane's stride-2 output comes straight
// from its 4 vectors, two permutes per tap (StridedPicks), and so does a 4x4 plane's, 4 planes per output
// vector.
// MobileNetV2@64 at batch 64 in a training step (CPU ms per layer): 4x4 0.33 -> 0.28, 0.48 -> 0.385
// (576 channels); 2x2 0.32 -> 0.22; stride 2 8x8 0.60 -> 0.49, 4x4 0.56 -> 0.38.
#pragma once
#include <cstdint>
#include <type_traits>

#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/conv_dw_forward.h"  // DepthwiseLanes
#include "engine/kernels/simd/gemm_driver.h"
#include "engine/kernels/simd/with_count.h"

namespace plasmo::kernels::simd {

template <class V>
struct ConvDepthwiseSmall {
  using reg = typename V::reg;
  using mask = typename V::mask;
  static constexpr int W = V::width;
  static constexpr int kMaxVectors = 4;  // vectors per plane
  static constexpr int U = 4;            // units in flight (independent accumulator chains)
  static constexpr int kMinBatchForTable = 8;

  static int plane(const ConvGeom& g) { return g.in_h * g.in_w; }
  // Calls fn(std::integral_constant<int, NV>{}) for a plane of `vectors` vectors (1 .. kMaxVectors; more
  // runs as kMaxVectors), so each pass is compiled per vector count.
  template <class Fn>
  static void with_vectors(int vectors, Fn&& fn) {
    with_count<kMaxVectors>(vectors, fn);
  }
  static bool applies(const ConvGeom& g) {
    if (!V::has_masked_io) return false;
    if (g.in_channels != g.groups || g.out_channels != g.groups || g.kernel_h != 3 || g.kernel_w != 3) return false;
    if (g.stride_h != 1 || g.stride_w != 1 || g.pad_h != 1 || g.pad_w != 1) return false;
    const int P = plane(g);
    if (P >= W) return P % W == 0 && P / W <= kMaxVectors;
    // Several planes per vector: weights per lane from the table (batch >= kMinBatchForTable) or
    // assembled per unit (smaller batches).
    return W % P == 0 && g.in_channels % (W / P) == 0;
  }
  // The stride-1 geometry on g's input grid.
  static ConvGeom stride1(const ConvGeom& g) {
    ConvGeom s = g;
    s.stride_h = s.stride_w = 1;
    s.out_h = g.in_h;
    s.out_w = g.in_w;
    return s;
  }
  static bool applies_strided(const ConvGeom& g) {
    return g.stride_h == 2 && g.stride_w == 2 && g.pad_h == 1 && g.pad_w == 1 && applies(stride1(g));
  }
  static bool applies_forward(const ConvGeom& g) { return applies(g) || applies_strided(g); }
  static bool use_table(const ConvGeom& g) { return plane(g) < W && g.batch >= kMinBatchForTable; }
  static size_t scratch_floats(const ConvGeom& g) {
    const int P = plane(g);
    size_t table = use_table(g) ? static_cast<size_t>(g.in_channels) / (W / P) * 9 * W : 0;
    if (applies_strided(g) && g.batch >= kMinBatchForTable && strided_table_floats(g) > table)
      table = strided_table_floats(g);
    return static_cast<size_t>(g.in_channels) * 9 + table + W;
  }

  struct Layout {
    int P, G, vectors;  // plane size; planes per vector (P < W) or 1; vectors per plane (P >= W) or 1
    long offset[9];
    mask m[kMaxVectors][9];
    bool any[9];  // some lane of some vector reads tap t (a 1x1 plane reads only the centre)
  };
  static Layout layout(const ConvGeom& g) {
    Layout L;
    const int H = g.in_h, Wd = g.in_w;
    L.P = H * Wd;
    L.G = L.P < W ? W / L.P : 1;
    L.vectors = L.P >= W ? L.P / W : 1;
    for (int t = 0; t < 9; ++t) {
      L.offset[t] = static_cast<long>(t / 3 - 1) * Wd + (t % 3 - 1);
      L.any[t] = false;
    }
    for (int v = 0; v < L.vectors; ++v)
      for (int t = 0; t < 9; ++t) {
        unsigned bits = 0;
        for (int l = 0; l < W; ++l) {
          const int f = L.P >= W ? v * W + l : l % L.P;  // index within the lane's plane
          const int r = f / Wd + t / 3 - 1, c = f % Wd + t % 3 - 1;
          if (r >= 0 && r < H && c >= 0 && c < Wd) bits |= 1u << l;
        }
        L.m[v][t] = V::mask_from_bits(bits);
        L.any[t] = L.any[t] || bits != 0;
      }
    return L;
  }
  // Forward with DepthwiseLanes (AVX-512), G == 1: each vector of x is loaded once (aligned) and the
  // other 8 taps taken from it and its neighbours in registers, a two-source lane permute with the tap's
  // mask, instead of masked loads across cache lines (make_picks, picked_tap); the masked lanes (outside
  // the plane) read nothing. Needs every unmasked read within the neighbour vectors.
  struct Picks {
    alignas(64) int32_t index[9][W];
  };
  static constexpr bool picks_available = DepthwiseLanes<W>::available;
  static bool use_picks(const ConvGeom& g, const Layout& L) {
    // Planes of several vectors (8x8 with 16 lanes) would work too (|offset| <= in_w + 1 <= W) but were
    // no faster in the model (0.60 ms per layer either way): they keep the masked loads.
    return picks_available && L.G == 1 && L.vectors == 1;
  }
  // Lane l of tap t picks lane l + offset[t] of the vector pair (previous, this) for the taps before the
  // centre (offsets <= 0), of (this, next) after it (offsets >= 0), so the pair is known at compile time
  // in the unrolled tap loops (a runtime test of the offset's sign per tap and vector cost a branch each).
  static void make_picks(const Layout& L, Picks& p) {
    for (int t = 0; t < 9; ++t)
      for (int l = 0; l < W; ++l) {
        const long at = l + L.offset[t] + (t < 4 ? W : 0);
        p.index[t][l] = static_cast<int32_t>(at & (2 * W - 1));
      }
  }
  // Tap t of a vector `self` whose neighbours in its plane are `previous` and `next` (0 past the plane's
  // ends, or for a plane group alone in its vector), by make_picks' index `at` and the tap's mask m: the
  // centre is the vector itself (every lane reads itself), the other taps one permute of their vector
  // pair (0 in the lanes outside the plane). Shared by every picked pass, forward and backward, and
  // inlined into their unrolled tap loops (t compile-time there).
  template <class Lanes>
  [[gnu::always_inline]] static inline reg picked_tap(int t, reg previous, reg self, reg next, typename Lanes::index at,
                                                      mask m) {
    if (t == 4) return self;
    if (t < 4) return Lanes::pick(previous, self, at, m);
    return Lanes::pick(self, next, at, m);
  }

  // Forward work items: vectors (stride 1) or plane groups (stride 2: G planes, or one plane of vectors).
  static long units(const ConvGeom& g) {
    if (applies_strided(g)) {
      const long planes = static_cast<long>(g.batch) * g.in_channels, P = plane(g);
      return P >= W ? planes : planes / (W / P);
    }
    const long planes = static_cast<long>(g.batch) * g.in_channels, P = plane(g);
    return P >= W ? planes * (P / W) : planes / (W / P);
  }

  // The accumulator's start for plane group j: lane l holds the bias of channel j*G + l/P (zero without bias).
  static reg group_bias(const Layout& L, const float* bias, long j) {
    if (!bias) return V::zero();
    alignas(64) float lanes[W];
    for (int l = 0; l < W; ++l) lanes[l] = bias[j * L.G + l / L.P];
    return V::load(lanes);
  }

  // table[(j * 9 + t) * W + l] = w[(j * G + l / P) * 9 + t] for the C / G plane groups j.
  static void weight_table(const Layout& L, int C, const float* w, float* table) {
    for (int j = 0; j < C / L.G; ++j)
      for (int t = 0; t < 9; ++t) {
        float* lanes = table + (static_cast<long>(j) * 9 + t) * W;
        for (int plane_in_group = 0; plane_in_group < L.G; ++plane_in_group) {
          const float value = w[(j * L.G + plane_in_group) * 9 + t];
          for (int p = 0; p < L.P; ++p) lanes[plane_in_group * L.P + p] = value;
        }
      }
  }

  // G > 1 without a weight table: vectors whose lane l holds the value of its channel, assembled from the
  // G channels' values (values[p * stride] for plane p of the vector): one broadcast and one multiply-add
  // per plane against one_hot[p] (1 in the lanes of plane p, 0 elsewhere; p < G <= W).
  struct GroupLanes {
    int G;
    reg one_hot[W];
    explicit GroupLanes(const Layout& L) : G(L.G) {
      alignas(64) float ones[W];
      for (int l = 0; l < W; ++l) ones[l] = 1.0f;
      for (int p = 0; p < L.G; ++p) one_hot[p] = V::load_lanes(ones, p * L.P, (p + 1) * L.P);
    }
    [[gnu::always_inline]] reg of(const float* values, int stride) const {
      reg v = V::mul(V::set1(values[0]), one_hot[0]);
      for (int p = 1; p < G; ++p) v = V::fma(V::set1(values[p * stride]), one_hot[p], v);
      return v;
    }
  };
  // The forward of one such vector (xu: its first element) of plane group j: acc = bias (0 without),
  // then the taps in order, the weights assembled per tap.
  [[gnu::always_inline]] static inline reg assembled_unit(const Layout& L, const GroupLanes& lanes, const float* xu,
                                                          const float* weight, const float* bias, long j) {
    const float* w = weight + j * L.G * 9;  // the G channels' 9 taps, one channel after another
    reg acc = bias ? lanes.of(bias + j * L.G, 1) : V::zero();
    for (int t = 0; t < 9; ++t)
      if (L.any[t]) acc = V::fma(lanes.of(w + t, 9), V::load_masked(xu + L.offset[t], L.m[0][t]), acc);
    return acc;
  }
  // Without a table (G > 1): forward_units_assembled, weights per unit in registers.
  static void forward_units_assembled(const ConvGeom& g, const Layout& L, const float* x, const float* weight,
                                      const float* bias, float* y, long unit_begin, long unit_end) {
    const long groups = g.in_channels / L.G;
    const GroupLanes lanes(L);
    for (long u = unit_begin; u < unit_end; ++u)
      V::store(y + u * W, assembled_unit(L, lanes, x + u * W, weight, bias, u % groups));
  }

  // ---- forward (also backward data, with reversed taps) ------------------------------------------------
  // Units [unit_begin, unit_end); `table` is the weight table when G > 1 (built by the caller).
  static void forward_units(const ConvGeom&, const Layout& L, int C, const float* x, const float* weight,
                            const float* table, const float* bias, float* y, long unit_begin, long unit_end) {
    const long groups = C / L.G;  // plane groups per image (G > 1)
    for (long u0 = unit_begin; u0 < unit_end; u0 += U) {
      const int count = static_cast<int>(unit_end - u0 < U ? unit_end - u0 : U);
      reg acc[U];
      const float* w9[U];
      int v_of[U];
#pragma GCC unroll 4
      for (int i = 0; i < U; ++i) {
        const long u = u0 + (i < count ? i : 0);  // idle slots redo unit u0 (never stored)
        v_of[i] = static_cast<int>(u % L.vectors);
        if (L.G == 1) {
          const int c = static_cast<int>((u / L.vectors) % C);
          w9[i] = weight + static_cast<long>(c) * 9;
          acc[i] = V::set1(bias ? bias[c] : 0.0f);
        } else {
          const long j = u % groups;
          w9[i] = table + j * 9 * W;
          acc[i] = group_bias(L, bias, j);
        }
      }
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) {
#pragma GCC unroll 4
        for (int i = 0; i < U; ++i) {
          const long u = u0 + (i < count ? i : 0);
          const reg wv = L.G == 1 ? V::set1(w9[i][t]) : V::load(w9[i] + t * W);
          acc[i] = V::fma(wv, V::load_masked(x + u * W + L.offset[t], L.m[v_of[i]][t]), acc[i]);
        }
      }
#pragma GCC unroll 4
      for (int i = 0; i < U; ++i)
        if (i < count) V::store(y + (u0 + i) * W, acc[i]);
    }
  }

  // Stride 2: plane groups [group_begin, group_end), each as its stride-1 vectors (acc = bias, then the
  // taps in order, as forward_units) subsampled into y.
  // Stride 2 with DepthwiseLanes (AVX-512): each output vector straight from its planes' input vectors,
  // each tap two lane permutes (output lanes [0, W/2) from input vectors (a, a + 1), lanes [W/2, W) from
  // (b, b + 1)), instead of the 4x stride-1 vectors and a scalar subsample. An output vector is one plane
  // (8x8 -> 4x4 with 16 lanes) or G_out = W / P_out planes of consecutive channels (4x4 -> 2x2: 4 planes,
  // weights per lane from a table in the scratch, as forward_units'). Per output: bias, then the taps in
  // order, each product of the same values: the same bits as the stride-1 route.
  struct StridedPicks {
    alignas(64) int32_t index[9][W];
    int source[9][2];  // per tap and half: the first of the two input vectors (from the unit's first)
    mask keep[9][2];   // per tap and half: the output lanes of the half that read inside their plane
    int planes;        // G_out: planes per output vector
  };
  // Tap t of the output vector whose input vectors start at xp (`sources` of them): each half's lanes
  // picked from two consecutive input vectors, the lanes outside their plane zero.
  template <class Lanes>
  static reg strided_tap(const StridedPicks& p, const typename Lanes::index* at, int t, const float* xp, int sources) {
    reg tap = V::zero();
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const int src = p.source[t][h];
      const float* a = xp + src * W;
      const float* b = src + 1 < sources ? a + W : a;  // lanes read only a then
      tap = Lanes::merge(tap, Lanes::pick(V::load(a), V::load(b), at[t], p.keep[t][h]));
    }
    return tap;
  }
  static int strided_planes(const ConvGeom& g) {
    const int P_out = g.out_h * g.out_w;
    return P_out <= W && W % P_out == 0 && g.in_channels % (W / P_out) == 0 ? W / P_out : 0;
  }
  static size_t strided_table_floats(const ConvGeom& g) {
    const int G_out = strided_planes(g);
    return picks_available && G_out > 1 ? static_cast<size_t>(g.in_channels) / G_out * 9 * W : 0;
  }
  static bool make_strided_picks(const ConvGeom& g, const Layout& L, StridedPicks& p) {
    const int G_out = strided_planes(g), P_out = g.out_h * g.out_w, P_in = L.vectors * W;
    // Several planes per vector need the weight table: built per call, it pays from kMinBatchForTable
    // images on (at batch 1, 576 channels of 4x4 -> 2x2 would build 83 KB for 36 output vectors).
    if (!picks_available || L.G != 1 || G_out == 0 || (G_out > 1 && g.batch < kMinBatchForTable)) return false;
    p.planes = G_out;
    for (int t = 0; t < 9; ++t)
      for (int h = 0; h < 2; ++h) {
        int lo = G_out * L.vectors, hi = -1;
        unsigned bits = 0;
        int element[W];  // from the unit's first input element
        for (int q = h * W / 2; q < (h + 1) * W / 2; ++q) {
          const int i = q / P_out, at = q % P_out;
          const int r = 2 * (at / g.out_w) - 1 + t / 3, c = 2 * (at % g.out_w) - 1 + t % 3;
          p.index[t][q] = 0;
          if (r < 0 || r >= g.in_h || c < 0 || c >= g.in_w) continue;
          element[q] = i * P_in + r * g.in_w + c;
          const int vec = element[q] / W;
          lo = vec < lo ? vec : lo;
          hi = vec > hi ? vec : hi;
          bits |= 1u << q;
        }
        if (hi - lo > 1) return false;
        p.source[t][h] = bits ? lo : 0;
        p.keep[t][h] = V::mask_from_bits(bits);
        for (int q = h * W / 2; q < (h + 1) * W / 2; ++q)
          if (bits >> q & 1u) p.index[t][q] = element[q] - p.source[t][h] * W;
      }
    return true;
  }
  // Planes [plane_begin, plane_end); output vectors cut by the range are computed whole and stored in part.
  static void forward_strided_picked(const ConvGeom& g, const Layout& L, const StridedPicks& p, const float* x,
                                     const float* weight, const float* bias, float* y, float* table, long plane_begin,
                                     long plane_end) {
    using Lanes = DepthwiseLanes<W>;
    typename Lanes::index at[9];
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) at[t] = Lanes::load_index(p.index[t]);
    const int C = g.in_channels, G_out = p.planes, P_out = g.out_h * g.out_w;
    const int sources = G_out * L.vectors;  // input vectors per output vector
    if (G_out > 1) {
      Layout lanes_of = L;  // lane l of plane group j: channel j * G_out + l / P_out
      lanes_of.G = G_out;
      lanes_of.P = P_out;
      weight_table(lanes_of, C, weight, table);
    }
    for (long o = plane_begin / G_out; o * G_out < plane_end; ++o) {
      const long first = o * G_out;  // its first plane
      const int c0 = static_cast<int>(first % C);
      const float* xp = x + first * L.vectors * W;
      const float* w = G_out > 1 ? table + static_cast<long>(c0 / G_out) * 9 * W : weight + static_cast<long>(c0) * 9;
      reg acc = V::zero();
      if (bias) {
        alignas(64) float lanes[W];
        for (int l = 0; l < W; ++l) lanes[l] = bias[c0 + l / P_out];
        acc = G_out > 1 ? V::load(lanes) : V::set1(bias[c0]);
      }
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) {
        const reg tap = strided_tap<Lanes>(p, at, t, xp, sources);
        acc = V::fma(G_out > 1 ? V::load(w + t * W) : V::set1(w[t]), tap, acc);
      }
      if (first >= plane_begin && first + G_out <= plane_end) {
        V::store(y + first * P_out, acc);
      } else {  // the planes of the range only
        alignas(64) float out[W];
        V::store(out, acc);
        for (long plane = first; plane < first + G_out; ++plane)
          if (plane >= plane_begin && plane < plane_end)
            for (int k = 0; k < P_out; ++k) y[plane * P_out + k] = out[(plane - first) * P_out + k];
      }
    }
  }

  static void forward_strided(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                              float* scratch, long group_begin, long group_end) {
    const Layout L = layout(stride1(g));
    if constexpr (picks_available) {
      StridedPicks picks;
      if (make_strided_picks(g, L, picks)) {
        forward_strided_picked(g, L, picks, x, weight, bias, y, scratch + static_cast<long>(g.in_channels) * 9 + W,
                               group_begin, group_end);
        return;
      }
    }
    const int C = g.in_channels, in_w = g.in_w, P_out = g.out_h * g.out_w;
    const long groups = C / L.G;  // plane groups per image (G > 1)
    // Subsamples plane group pg (its first plane: pg * G; plane i of it at in + i * P_in) into y.
    const auto subsample = [&](long pg, const float* in) {
      for (int i = 0; i < L.G; ++i) {
        float* out = y + (pg * L.G + i) * P_out;
        const float* plane_in = in + i * L.P;
        for (int oh = 0; oh < g.out_h; ++oh)
          for (int ow = 0; ow < g.out_w; ++ow) out[oh * g.out_w + ow] = plane_in[2 * oh * in_w + 2 * ow];
      }
    };
    alignas(64) float buffer[U * W];
    static_assert(U >= kMaxVectors, "a plane of vectors fits the buffer");
    if (L.G == 1) {
      // U planes of one vector, or one plane of 2..4 vectors, per forward_planes call.
      const long per_call = L.vectors == 1 ? U : 1;
      Picks picks;
      const bool picked = use_picks(stride1(g), L);
      if (picked) make_picks(L, picks);
      for (long pg = group_begin; pg < group_end; pg += per_call) {
        const long count = group_end - pg < per_call ? group_end - pg : per_call;
        forward_planes_any(L, C, static_cast<int>(pg % C), x + pg * L.vectors * W, weight, bias, buffer, count,
                           picked ? &picks : nullptr);
        for (long k = 0; k < count; ++k) subsample(pg + k, buffer + k * L.vectors * W);
      }
      return;
    }
    const GroupLanes lanes(L);
    for (long pg = group_begin; pg < group_end; ++pg) {  // one vector per plane group
      V::store(buffer, assembled_unit(L, lanes, x + pg * W, weight, bias, pg % groups));
      subsample(pg, buffer);
    }
  }

  // G == 1: `planes` whole planes of NV vectors from x_planes into y_planes (both at the first plane; the
  // first is channel c): forward_units' operations (acc = bias, then the 9 taps in order, masked loads)
  // with each plane's 9 weights broadcast once, masks indexed at compile time and 4 chains in flight
  // (4 planes of one vector, or one plane of 2..4 vectors). 4x4 planes at batch 1: 4.0 -> 2.4 us for 384
  // channels; 8x8: 8.7 -> 5.3 us for 192.
  template <int NV>
  static void forward_planes(const Layout& L, int C, int c, const float* x_planes, const float* weight,
                             const float* bias, float* y_planes, long planes) {
    constexpr int PL = NV == 1 ? U : 1;  // planes per step
    for (long pl = 0; pl < planes; pl += PL) {
      const int count = static_cast<int>(planes - pl < PL ? planes - pl : PL);
      reg acc[PL][NV];
      const float* w[PL];
      const float* xp[PL];
#pragma GCC unroll 4
      for (int i = 0; i < PL; ++i) {
        const int ci = i < count ? c : (c == 0 ? C - 1 : c - 1);  // idle slots redo the step's last plane
        const long pi = i < count ? pl + i : pl + count - 1;
        w[i] = weight + static_cast<long>(ci) * 9;
        xp[i] = x_planes + pi * NV * W;
        const reg b = V::set1(bias ? bias[ci] : 0.0f);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = b;
        if (i < count && ++c == C) c = 0;
      }
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) {
#pragma GCC unroll 4
        for (int i = 0; i < PL; ++i) {
          const reg wt = V::set1(w[i][t]);
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v)
            acc[i][v] = V::fma(wt, V::load_masked(xp[i] + v * W + L.offset[t], L.m[v][t]), acc[i][v]);
        }
      }
#pragma GCC unroll 4
      for (int i = 0; i < PL; ++i)
        if (i < count)
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) V::store(y_planes + ((pl + i) * NV + v) * W, acc[i][v]);
    }
  }
  // G == 1, forward and backward data, with the taps permuted out of each plane's vectors (Picks):
  // `planes` whole planes of NV vectors from in_planes into out_planes (both at the first plane; the first
  // is channel c), PL planes in flight (4 of one vector, 2 of several: at least 4 independent accumulator
  // chains of 9 taps each), each plane's 9 weights broadcast once, acc = bias (0 without) then the taps in
  // order: forward_planes' values and sums. The forward passes x, w, bias -> y; the backward data dy, the
  // reversed w, no bias -> dx, streamed when `stream` (store_dx; the caller fences).
  template <int NV>
  static void planes_picked(const Layout& L, int C, int c, const float* in_planes, const float* weight,
                            const float* bias, float* out_planes, long planes, const Picks& picks, bool stream) {
    if constexpr (picks_available) {
      using Lanes = DepthwiseLanes<W>;
      typename Lanes::index at[9];
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) at[t] = Lanes::load_index(picks.index[t]);
      constexpr int PL = NV == 1 ? U : 2;  // planes per step
      for (long pl = 0; pl < planes; pl += PL) {
        const int count = static_cast<int>(planes - pl < PL ? planes - pl : PL);
        reg acc[PL][NV], around[PL][NV + 2];  // around[i][v + 1]: vector v of plane i; 0 around
        const float* w[PL];
#pragma GCC unroll 4
        for (int i = 0; i < PL; ++i) {
          const int ci = i < count ? c : (c == 0 ? C - 1 : c - 1);  // idle slots redo the step's last plane
          const long pi = i < count ? pl + i : pl + count - 1;
          w[i] = weight + static_cast<long>(ci) * 9;
          const reg b = bias ? V::set1(bias[ci]) : V::zero();
          around[i][0] = around[i][NV + 1] = V::zero();
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) {
            acc[i][v] = b;
            around[i][v + 1] = V::load(in_planes + (pi * NV + v) * W);
          }
          if (i < count && ++c == C) c = 0;
        }
#pragma GCC unroll 9
        for (int t = 0; t < 9; ++t) {
#pragma GCC unroll 4
          for (int i = 0; i < PL; ++i) {
            const reg wt = V::set1(w[i][t]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v)
              acc[i][v] =
                  V::fma(wt, picked_tap<Lanes>(t, around[i][v], around[i][v + 1], around[i][v + 2], at[t], L.m[v][t]),
                         acc[i][v]);
          }
        }
#pragma GCC unroll 4
        for (int i = 0; i < PL; ++i)
          if (i < count)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) store_dx(stream, out_planes + ((pl + i) * NV + v) * W, acc[i][v]);
      }
    }
  }

  // `picks`: null (masked loads), or the permutes of use_picks.
  static void forward_planes_any(const Layout& L, int C, int c, const float* x_planes, const float* weight,
                                 const float* bias, float* y_planes, long planes, const Picks* picks = nullptr) {
    if constexpr (picks_available)
      if (picks) {
        planes_picked<1>(L, C, c, x_planes, weight, bias, y_planes, planes, *picks, false);  // use_picks
        return;
      }
    with_vectors(L.vectors, [&](auto vectors) {
      forward_planes<decltype(vectors)::value>(L, C, c, x_planes, weight, bias, y_planes, planes);
    });
  }

  static void forward(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                      float* scratch, long unit_begin, long unit_end) {
    if (applies_strided(g)) {
      forward_strided(g, x, weight, bias, y, scratch, unit_begin, unit_end);
      return;
    }
    const Layout L = layout(g);
    if (L.G == 1) {
      // Units up to a plane boundary, whole planes, the rest.
      const long first = (unit_begin + L.vectors - 1) / L.vectors, last = unit_end / L.vectors;
      if (first >= last) {
        forward_units(g, L, g.in_channels, x, weight, nullptr, bias, y, unit_begin, unit_end);
        return;
      }
      forward_units(g, L, g.in_channels, x, weight, nullptr, bias, y, unit_begin, first * L.vectors);
      const long at = first * L.vectors * W;
      Picks picks;
      const bool picked = use_picks(g, L);
      if (picked) make_picks(L, picks);
      forward_planes_any(L, g.in_channels, static_cast<int>(first % g.in_channels), x + at, weight, bias, y + at,
                         last - first, picked ? &picks : nullptr);
      forward_units(g, L, g.in_channels, x, weight, nullptr, bias, y, last * L.vectors, unit_end);
      return;
    }
    if (L.G > 1 && !use_table(g)) {
      forward_units_assembled(g, L, x, weight, bias, y, unit_begin, unit_end);
      return;
    }
    float* table = scratch + static_cast<long>(g.in_channels) * 9 + W;
    if (L.G > 1) weight_table(L, g.in_channels, weight, table);
    if constexpr (picks_available) {
      Picks picks;
      make_picks(L, picks);
      forward_groups_picked(L, g.in_channels, x, table, bias, y, unit_begin, unit_end, picks);
      return;
    }
    forward_units(g, L, g.in_channels, x, weight, table, bias, y, unit_begin, unit_end);
  }

  // forward_units for G > 1 (one vector per unit: G whole planes) with the weight table, the taps
  // permuted from the unit's aligned vector (Picks: every unmasked lane reads inside the vector) and the
  // plane group counted along instead of divided out per unit. The same values and sums.
  static void forward_groups_picked(const Layout& L, int C, const float* x, const float* table, const float* bias,
                                    float* y, long unit_begin, long unit_end, const Picks& picks) {
    using Lanes = DepthwiseLanes<W>;
    typename Lanes::index at[9];
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) at[t] = Lanes::load_index(picks.index[t]);
    const long groups = C / L.G;   // plane groups per image
    long j = unit_begin % groups;  // the plane group of unit u0
    for (long u0 = unit_begin; u0 < unit_end; u0 += U) {
      const int count = static_cast<int>(unit_end - u0 < U ? unit_end - u0 : U);
      reg acc[U], xv[U];
      const float* w9[U];
#pragma GCC unroll 4
      for (int i = 0; i < U; ++i) {
        const int k = i < count ? i : 0;  // idle slots redo unit u0 (never stored)
        long ji = j + k;                  // the plane group of unit u0 + k
        while (ji >= groups) ji -= groups;
        w9[i] = table + ji * 9 * W;
        xv[i] = V::load(x + (u0 + k) * W);
        acc[i] = group_bias(L, bias, ji);
      }
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) {
#pragma GCC unroll 4
        for (int i = 0; i < U; ++i) {
          const reg tap = picked_tap<Lanes>(t, V::zero(), xv[i], V::zero(), at[t], L.m[0][t]);  // the unit alone
          acc[i] = V::fma(V::load(w9[i] + t * W), tap, acc[i]);
        }
      }
#pragma GCC unroll 4
      for (int i = 0; i < U; ++i)
        if (i < count) V::store(y + (u0 + i) * W, acc[i]);
      j += count;
      while (j >= groups) j -= groups;
    }
  }

  static void backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* scratch) {
    const Layout L = layout(g);
    float* reversed = scratch;
    float* table = scratch + static_cast<long>(g.in_channels) * 9 + W;
    for (int c = 0; c < g.in_channels; ++c)
      for (int t = 0; t < 9; ++t) reversed[static_cast<long>(c) * 9 + t] = weight[static_cast<long>(c) * 9 + 8 - t];
    const long planes = static_cast<long>(g.batch) * g.in_channels;
    if (L.G == 1) {  // whole planes, each plane's taps broadcast once (forward_planes)
      if constexpr (picks_available) {
        // The taps permuted out of each plane's vectors (planes_picked): the same values as the
        // masked loads, the same sums. One call on 14 images (a layer's backward group), warm caches, per
        // plane: 4x4 6.3 -> 3.6 ns, 8x8 21.9 -> 14.6 ns.
        if (picks_reach(g, L)) {
          Picks picks;
          make_picks(L, picks);
          const bool stream = stream_dx(dx);
          with_vectors(L.vectors, [&](auto vectors) {
            planes_picked<decltype(vectors)::value>(L, g.in_channels, 0, dy, reversed, nullptr, dx, planes, picks,
                                                    stream);
          });
          store_dx_done(stream);
          return;
        }
      }
      forward_planes_any(L, g.in_channels, 0, dy, reversed, nullptr, dx, planes);
      return;
    }
    (void)table;
    backward_data_groups(g, L, dy, reversed, dx);
  }

  // dx's vectors: plain stores, or (kStreamDx, dx aligned to the vector) non-temporal ones where the ISA
  // has them (AVX-512). In the training step a layer's dx (1.5-2.4 MB at batch 64) is written to memory
  // long before the layers below read it, and a plain store first reads each line in: the 13 small-plane
  // layers' data passes took ~0.9 ms less per MobileNetV2@64 step streamed, the layers reading dx next
  // (BatchNorm, the expand convolution's materialized dy) ~0.1-0.3 ms more (medians of 3, CPU clock).
  static constexpr bool kStreamDx = true;
  static bool stream_dx(const float* dx) { return kStreamDx && (reinterpret_cast<uintptr_t>(dx) & (4 * W - 1)) == 0; }
  static void store_dx(bool stream, float* p, reg v) {
    if (W == 16 && stream)  // AVX-512 only: measured there
      V::stream(p, v);
    else
      V::store(p, v);
  }
  static void store_dx_done(bool stream) {
    if (W == 16 && stream) V::stream_fence();
  }
  // G > 1 planes per vector: plane group j's 9 tap vectors (lane l: w[j*G + l/P][t], GroupLanes: assembled from
  // broadcasts as in forward_units_assembled) stay in registers while the group's vector of every image
  // is computed. The per-unit weights of forward_units (a table row per tap and unit: 138 KB for 960
  // channels, rebuilt per call) took 4x as long on MobileNetV2's 2x2 layers.
  static void backward_data_groups(const ConvGeom& g, const Layout& L, const float* dy, const float* reversed,
                                   float* dx) {
    const long groups = g.in_channels / L.G;
    const GroupLanes lanes(L);
    if constexpr (picks_available) {
      backward_data_groups_picked(g, L, lanes, dy, reversed, dx);
      return;
    }
    for (long j = 0; j < groups; ++j) {
      const float* w = reversed + j * L.G * 9;  // the G channels' 9 taps, one channel after another
      reg wt[9];
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) wt[t] = lanes.of(w + t, 9);
      for (int n = 0; n < g.batch; ++n) {
        const long u = n * groups + j;
        reg acc = V::zero();
#pragma GCC unroll 9
        for (int t = 0; t < 9; ++t) acc = V::fma(wt[t], V::load_masked(dy + u * W + L.offset[t], L.m[0][t]), acc);
        V::store(dx + u * W, acc);
      }
    }
  }

  // backward_data_groups with the taps permuted out of the unit's own vector (every lane reads inside its
  // plane), the plane group's images walked with the planes asked for ahead (Lookahead): the same values
  // and sums as the masked loads.
  static void backward_data_groups_picked(const ConvGeom& g, const Layout& L, const GroupLanes& lanes, const float* dy,
                                          const float* reversed, float* dx) {
    using Lanes = DepthwiseLanes<W>;
    Picks picks;
    make_picks(L, picks);
    typename Lanes::index at[9];
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) at[t] = Lanes::load_index(picks.index[t]);
    const long groups = g.in_channels / L.G;
    Lookahead ahead(groups, g.batch, W, prefetch_steps(W));
    for (long j = 0; j < groups; ++j) {
      const float* w = reversed + j * L.G * 9;  // the G channels' 9 taps, one channel after another
      reg wt[9];
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) wt[t] = lanes.of(w + t, 9);
      for (int n = 0; n < g.batch; ++n) {
        ahead.prefetch(dy, dx, groups * W, groups * W);
        const long u = n * groups + j;
        const reg d = V::load(dy + u * W);
        reg acc = V::zero();
#pragma GCC unroll 9
        for (int t = 0; t < 9; ++t)  // the unit alone in its vector: 0 on either side
          acc = V::fma(wt[t], picked_tap<Lanes>(t, V::zero(), d, V::zero(), at[t], L.m[0][t]), acc);
        V::store(dx + u * W, acc);
      }
    }
  }

  // ---- backward weight --------------------------------------------------------------------------------
  // The weight passes walk one channel (plane group) through every image, then the next: one short plane
  // per image, a whole image apart, lines the hardware prefetchers do not follow (a 4 KB page holds a
  // few of them at most), so without help every plane waited for L3 or DRAM (x of a training step's
  // backward was last touched in the forward). Lookahead asks for the planes of the walk's step
  // `steps` on (the same channel `steps` images later, or the next channel's first images).
  static int prefetch_steps(long plane_floats) {
    const long lines = (plane_floats + 15) / 16;
    return lines >= 4 ? 8 : static_cast<int>(16 / lines);
  }
  struct Lookahead {
    long channels, batch, x_plane, dy_plane;  // walk size; floats per plane (x, dy) for the prefetches
    long channel = 0, image = 0;              // the step to prefetch next
    Lookahead(long walk_channels, long images, long x_floats, int steps, long dy_floats = -1)
        : channels(walk_channels), batch(images), x_plane(x_floats), dy_plane(dy_floats < 0 ? x_floats : dy_floats) {
      for (int s = 0; s < steps; ++s) advance();
    }
    void advance() {
      if (++image == batch) {
        image = 0;
        ++channel;
      }
    }
    // x_image, dy_image: floats per image; plane (image, channel) at image * x_image + channel * x_plane.
    void prefetch(const float* x, const float* dy, long x_image, long dy_image) {
      if (channel >= channels) return;
      const float* xp = x + image * x_image + channel * x_plane;
      const float* dp = dy + image * dy_image + channel * dy_plane;
      for (long i = -16; i < x_plane + 16; i += 16) __builtin_prefetch(xp + i);
      for (long i = 0; i < dy_plane; i += 16) __builtin_prefetch(dp + i);
      advance();
    }
  };
  // Per channel (G == 1) or plane group (G > 1): 9 tap accumulators and a bias accumulator over every
  // image's units; with G > 1 the lanes are split by channel at the end.
  // With DepthwiseLanes (AVX-512) the taps of x are permuted out of the plane's own vectors (Picks, as the
  // forward's) instead of 8 masked loads across cache lines per vector: the same values (0 in the masked
  // lanes) into the same accumulators in the same order, so the same bits. One call on 14 images (a
  // layer's backward group), warm caches, per plane: 4x4 8.4 -> 4.9 ns, 8x8 29.6 -> 19.7 ns, 2x2 (4 per
  // vector) 3.2 -> 2.5 ns.
  static void backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* dbias) {
    const Layout L = layout(g);
    if constexpr (picks_available) {
      if (picks_reach(g, L)) {
        Picks picks;
        make_picks(L, picks);
        with_vectors(L.vectors, [&](auto vectors) {
          backward_weight_picked<decltype(vectors)::value>(g, L, picks, x, dy, dweight, dbias);
        });
        return;
      }
    }
    const int C = g.in_channels;
    const long groups = C / L.G;
    const long image_units = groups * L.vectors;  // units per image
    Lookahead ahead(groups, g.batch, L.vectors * W, prefetch_steps(L.vectors * W));
    for (long j = 0; j < groups; ++j) {
      reg acc[9], bias_acc = V::zero();
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) acc[t] = V::zero();
      for (int n = 0; n < g.batch; ++n) {
        ahead.prefetch(x, dy, image_units * W, image_units * W);
        for (int v = 0; v < L.vectors; ++v) {
          const long u = n * image_units + j * L.vectors + v;
          const reg d = V::load(dy + u * W);
          bias_acc = V::add(bias_acc, d);
#pragma GCC unroll 9
          for (int t = 0; t < 9; ++t) acc[t] = V::fma(d, V::load_masked(x + u * W + L.offset[t], L.m[v][t]), acc[t]);
        }
      }
      add_sums(L, j, acc, bias_acc, dweight, dbias);
    }
  }

  // Every lane a tap reads (mask bit set) lies in the vector pair a pick takes it from: (previous, this)
  // for the taps before the centre, (this, next) after it; within its own vector when G > 1 (its own
  // plane).
  static bool picks_reach(const ConvGeom& g, const Layout& L) {
    for (int v = 0; v < L.vectors; ++v)
      for (int t = 0; t < 9; ++t)
        for (int l = 0; l < W; ++l) {
          const int f = L.P >= W ? v * W + l : l % L.P;
          const int r = f / g.in_w + t / 3 - 1, c = f % g.in_w + t % 3 - 1;
          if (r < 0 || r >= g.in_h || c < 0 || c >= g.in_w) continue;
          const long at = l + L.offset[t];
          if (L.G > 1 ? at < 0 || at >= W : (t < 4 ? at < -W || at >= W : at < 0 || at >= 2 * W)) return false;
        }
    return true;
  }

  // dweight[c][t] += the lanes of acc[t] (bias: bias_acc) of channel c, for the channels of unit column j.
  static void add_sums(const Layout& L, long j, const reg* acc, reg bias_acc, float* dweight, float* dbias) {
    if (L.G == 1) {
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) dweight[j * 9 + t] += V::hsum(acc[t]);
      if (dbias) dbias[j] += V::hsum(bias_acc);
      return;
    }
    // Lane sums per plane of the group, from a copy: indexing acc[t] in a loop that is not unrolled kept
    // all ten accumulators on the stack for the whole image loop (a store and a reload per FMA).
    alignas(64) float lanes[10][W];
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) V::store(lanes[t], acc[t]);
    V::store(lanes[9], bias_acc);
    for (int t = 0; t < 10; ++t) {
      if (t == 9 && !dbias) break;
      for (int p = 0; p < L.G; ++p) {
        float sum = 0.0f;
        for (int i = 0; i < L.P; ++i) sum += lanes[t][p * L.P + i];
        if (t < 9)
          dweight[(j * L.G + p) * 9 + t] += sum;
        else
          dbias[j * L.G + p] += sum;
      }
    }
  }

  // backward_weight with the taps of x permuted from the unit column's NV vectors (NV == 1 when G > 1).
  template <int NV>
  static void backward_weight_picked(const ConvGeom& g, const Layout& L, const Picks& picks, const float* x,
                                     const float* dy, float* dweight, float* dbias) {
    if constexpr (picks_available) {
      using Lanes = DepthwiseLanes<W>;
      typename Lanes::index at[9];
#pragma GCC unroll 9
      for (int t = 0; t < 9; ++t) at[t] = Lanes::load_index(picks.index[t]);
      const long columns = g.in_channels / L.G;  // channels (G == 1) or plane groups per image
      const long image = columns * NV * W;       // floats per image
      Lookahead ahead(columns, g.batch, NV * W, prefetch_steps(NV * W));
      for (long j = 0; j < columns; ++j) {
        reg acc[9], bias_acc = V::zero();
#pragma GCC unroll 9
        for (int t = 0; t < 9; ++t) acc[t] = V::zero();
        for (int n = 0; n < g.batch; ++n) {
          ahead.prefetch(x, dy, image, image);
          const long base = n * image + j * NV * W;
          reg xv[NV + 2];  // xv[v + 1]: vector v of the column; 0 around
          xv[0] = xv[NV + 1] = V::zero();
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) xv[v + 1] = V::load(x + base + v * W);
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) {
            const reg d = V::load(dy + base + v * W);
            bias_acc = V::add(bias_acc, d);
#pragma GCC unroll 9
            for (int t = 0; t < 9; ++t)
              acc[t] = V::fma(d, picked_tap<Lanes>(t, xv[v], xv[v + 1], xv[v + 2], at[t], L.m[v][t]), acc[t]);
          }
        }
        add_sums(L, j, acc, bias_acc, dweight, dbias);
      }
    }
  }
};

}  // namespace plasmo::kernels::simd
