// The convolution entries of the kernel table for one ISA: picks a path per geometry (the reasons are
// next to each choice) and sizes the scratch. Instantiated by engine/kernels/<isa>/conv2d.cpp.
//
//   depthwise 3x3 stride 1 (2: forward) on planes <= 4 vectors -> conv_dw_small.h: vectors along flattened planes
//   depthwise 3x3 stride 2 backward on planes <= 4 vectors -> conv_dw_backward_small.h: stride 1 on dy spread out
//                                                          (AVX-512: the stride-2 terms only)
//   depthwise 3x3 stride 2 padding 1 backward, rows >= half a vector -> conv_dw_backward_rows.h: parity classes
//   depthwise 3x3 padding 1, stride 1 or 2, forward, rows of 1/2 to 8 vectors -> conv_dw_forward.h
//   depthwise 3x3 padding 1 backward with the BatchNorm hand-over sums, planes >= kHandOverPlane
//                                                       -> conv_dw_backward_rows.h: per plane through L1
//   depthwise 3x3, stride 1 or 2 (masked loads)         -> conv_dw_rows.h: vectors along output rows, NCHW
//   other depthwise (1 input and 1 output channel per group) -> conv_depthwise.h: vectors along rows (NCHW
//                                                          planes) or, for small planes, along channels
//   few channels, stride 1, rows >= one vector          -> conv_direct.h: register-blocked direct conv
//     (not 1x1 on whole-vector planes with >= MR outputs: those take the in-place GEMM, see direct())
//   <= 16 batch columns (forward)                       -> conv_few.h (conv_gemm.h forward_few): MicroFew on W^T
//   1x1 stride 1 on planes of NR pixels (4x4)           -> conv_pointwise.h: packed GEMM, tiles one plane wide
//   1x1 stride 1 forward on 4-pixel planes (2x2)        -> conv_pw_data.h (ConvPointwiseForwardQuad): vectors
//                                                          of output channels over W^T panels, x broadcast
//   1x1 stride 1 weight gradient, planes >= 4 vectors   -> conv_pw_weight.h: dot products over pixels in place
//   1x1 stride 1 backward data, planes >= 4 vectors     -> conv_pw_data.h: register tiles over dy in place
//   everything else                                     -> conv_gemm.h: packed GEMM over batch columns
//
// Only the conv_gemm.h paths and ConvPointwiseForwardQuad (kQuadLayout) read pre-packed weights
// (packed_layout() is kNone for the others).
// Backward data with stride 1 is the forward convolution of dy with the weights flipped in space and
// in/out channels swapped (padding kernel-1-pad), so it reuses the forward paths (pointwise ones run
// their own transposed GEMM or in-place tiles); other strides go through GEMM + col2im.
#pragma once
#include <cstring>
#include <type_traits>

#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/conv_depthwise.h"
#include "engine/kernels/simd/conv_direct.h"
#include "engine/kernels/simd/conv_dw_backward_rows.h"
#include "engine/kernels/simd/conv_dw_backward_small.h"
#include "engine/kernels/simd/conv_dw_forward.h"
#include "engine/kernels/simd/conv_dw_rows.h"
#include "engine/kernels/simd/conv_dw_small.h"
#include "engine/kernels/simd/conv_gemm.h"
#include "engine/kernels/simd/conv_pointwise.h"
#include "engine/kernels/simd/conv_pw_data.h"
#include "engine/kernels/simd/conv_pw_weight.h"
#include "engine/kernels/simd/micro_bcast.h"  // PointwiseMicro with 16 lanes

namespace plasmo::kernels::simd {

template <class V, class Micro>
struct Conv {
  using Gemm = ConvGemm<V, Micro>;
  using Depthwise = ConvDepthwise<V>;
  using Planes = ConvDepthwisePlanes<V>;
  using Rows = ConvDepthwiseRows<V>;
  using Small = ConvDepthwiseSmall<V>;
  using SmallBackward = ConvDepthwiseSmallBackward<V>;      // stride 2 on small planes (backward only)
  using Stride2Backward = ConvDepthwiseStride2Backward<V>;  // stride 2, padding 1, by rows (backward only)
  using Stride1Backward = ConvDepthwiseStride1Backward<V>;  // stride 1, padding 1, by rows (backward only)
  using DepthwiseForward = ConvDepthwiseForward<V>;
  using DepthwiseSums = ConvDepthwiseBackwardSums<V>;  // backward with the hand-over sums (backward only)
  // Pointwise convolutions on small planes: with 16 lanes, tiles 16 columns wide (one 4x4 plane per tile
  // row: stored in place) and 16 rows; otherwise the ISA's microkernel.
  using PointwiseMicro = std::conditional_t<V::width == 16, MicroBcast<V, 16, 1>, Micro>;
  using Pointwise = ConvPointwise<V, PointwiseMicro>;
  using PointwiseWeight = ConvPointwiseWeight<V>;
  using PointwiseWeightBcast = ConvPointwiseWeightBcast<V>;
  using PointwiseData = ConvPointwiseData<V>;
  using PointwiseDataQuad = ConvPointwiseDataQuad<V>;
  using PointwiseQuad = ConvPointwiseForwardQuad<V>;
  // The packed form PointwiseQuad reads (panels of W^T), besides the GEMM's layouts (Gemm::Layout).
  static constexpr int kQuadLayout = 4;
  static_assert(kQuadLayout > ConvGemm<V, Micro>::kFew, "a layout id of its own");
  // 1x1 forward on 4-pixel planes (2x2, 1x4, 4x1) with more than the few-column path's columns.
  static bool quad_forward(const ConvGeom& g) { return !Gemm::few(g) && PointwiseQuad::applies(g); }

  using Direct = ConvDirect<V>;
  // The direct path, except for pointwise convolutions whose planes are whole vectors and whose output
  // channels fill at least one microkernel tile (MobileNetV2's 32->16 at 32x32): those run the in-place
  // GEMM, which reads x where it lies. The direct path first copied each image into its padded buffer
  // (a plain copy with no padding) and reloads each input vector per 8 output channels from it:
  // 54 -> 88 GFLOP/s at batch 64 (bench-kernels), 2.2 -> 1.7 ms in the training step.
  static bool direct(const ConvGeom& g) {
    const bool pointwise_gemm = Gemm::pointwise(g) && Gemm::in_place(g) && g.out_channels / g.groups >= Micro::MR;
    return Direct::applies(g) && !pointwise_gemm;
  }

  // [begin, end) of `units` items for part `part` of `parts` (the thread pool's chunking rule).
  static void chunk(long units, int part, int parts, long& begin, long& end) {
    begin = units * part / parts;
    end = units * (part + 1) / parts;
  }

  // Depthwise: by planes (NCHW rows) where rows fill half a vector, else channels-last.
  static size_t depthwise_scratch(const ConvGeom& g) {
    if constexpr (V::has_masked_io)
      if (Small::applies(g)) return Small::scratch_floats(g);
    if (Rows::applies(g)) return Rows::scratch_floats(g);
    const size_t planes = Planes::scratch_floats(g), channels_last = Depthwise::scratch_floats(g);
    return planes > channels_last ? planes : channels_last;
  }

  // ---- forward --------------------------------------------------------------------------------------
  static size_t forward_scratch(const ConvGeom& g) {
    if constexpr (V::has_masked_io)
      if (Depthwise::applies(g) && Small::applies_strided(g))
        return Small::scratch_floats(g);  // stride 2: forward only
    if (Depthwise::applies(g)) return depthwise_scratch(g);
    if (direct(g)) return Direct::forward_scratch(g);
    if (quad_forward(g)) return PointwiseQuad::scratch_floats(g);
    // The few-column path (<= 16 batch columns) comes first, as in gemm_forward.
    if (!Gemm::few(g) && Pointwise::applies(g)) return Pointwise::scratch_floats(g);
    return Gemm::forward_scratch(g);
  }

  // Pre-packed weights (the kernel table's conv2d_packed_layout / conv2d_pack_weights): only the paths of
  // conv_gemm.h read packed panels (few-column, gathered, in-place GEMM); the depthwise and direct paths
  // read W as it is, and so does the pointwise path on 16-pixel planes (it packs W per block, with its own
  // microkernel's slivers) unless the few-column path takes the geometry first (as in gemm_forward).
  static int packed_layout(const ConvGeom& g) {
    if (Depthwise::applies(g) || direct(g)) return Gemm::kNone;
    if (!Gemm::few(g) && Pointwise::applies(g)) return Gemm::kNone;
    if (quad_forward(g)) return kQuadLayout;
    return Gemm::layout(g);
  }
  static size_t packed_floats(const ConvGeom& g) {
    const int layout = packed_layout(g);
    return layout == Gemm::kNone ? 0 : layout == kQuadLayout ? PointwiseQuad::packed_floats(g) : Gemm::packed_floats(g);
  }
  static void pack_weights(const ConvGeom& g, const float* weight, float* packed) {
    const int layout = packed_layout(g);
    if (layout == kQuadLayout)
      PointwiseQuad::pack_weights(g, weight, packed);
    else if (layout != Gemm::kNone)
      Gemm::pack_weights(g, weight, packed);
  }
  // Whether the stride-1 backward data route packs W' for the GEMM (pack_flipped) or passes W' as stored.
  static bool gemm_packed(const ConvGeom& t) {
    const int layout = packed_layout(t);
    return layout != Gemm::kNone && layout != kQuadLayout;
  }

  // Part `part` of `parts`: each part writes a disjoint piece of y, and every element is computed by the
  // same operations whatever the split, so the union equals the unsplit forward bit for bit. `packed`:
  // the weights packed by pack_weights for this layout, or null (the paths then pack per block).
  static void forward_part(const ConvGeom& g, const float* x, const float* weight, const float* packed,
                           const float* bias, float* y, float* scratch, int part, int parts) {
    long begin, end;
    if (Depthwise::applies(g)) {
      if constexpr (V::has_masked_io)
        if (Small::applies_forward(g)) {
          chunk(Small::units(g), part, parts, begin, end);
          Small::forward(g, x, weight, bias, y, scratch, begin, end);
          return;
        }
      if constexpr (V::has_masked_io)
        if (DepthwiseForward::applies(g)) {
          chunk(static_cast<long>(g.batch) * g.out_channels, part, parts, begin, end);
          DepthwiseForward::forward(g, x, weight, bias, y, begin, end);
          return;
        }
      if (Rows::applies(g)) {
        chunk(static_cast<long>(g.batch) * g.out_channels, part, parts, begin, end);
        Rows::forward(g, x, weight, bias, y, begin, end);
      } else if (Planes::applies_forward(g)) {
        chunk(static_cast<long>(g.batch) * g.out_channels, part, parts, begin, end);
        Planes::forward(g, x, weight, bias, y, scratch, begin, end);
      } else {
        Depthwise::forward_part(g, x, weight, bias, y, scratch, part, parts);
      }
      return;
    }
    if (direct(g)) {
      Direct::forward_part(g, x, weight, bias, y, scratch, part, parts);
      return;
    }
    if (quad_forward(g)) {
      PointwiseQuad::forward(g, x, weight, packed, bias, y, scratch, part, parts);
      return;
    }
    // GEMM: split the batch columns in whole slivers when each part gets at least two of them; else
    // (one small image) split the output channels in whole slivers of the packed weights (MR rows for
    // the A operand, NR output channels for the transposed one). The few-column path always splits rows.
    const long columns = static_cast<long>(g.batch) * g.out_h * g.out_w;
    const long slivers = (columns + Micro::NR - 1) / Micro::NR;
    const int group_out = g.out_channels / g.groups;
    if (!Gemm::few(g) && (parts == 1 || slivers >= 2L * parts)) {
      chunk(slivers, part, parts, begin, end);
      begin *= Micro::NR;
      end = end * Micro::NR < columns ? end * Micro::NR : columns;
      if (begin < end) gemm_forward(g, x, weight, packed, bias, y, scratch, begin, end, 0, group_out);
    } else {
      const int unit = Gemm::layout(g) != Gemm::kRows ? Micro::NR : Micro::MR;
      chunk((group_out + unit - 1) / unit, part, parts, begin, end);
      begin *= unit;
      end = min_int(static_cast<int>(end * unit), group_out);
      if (begin < end)
        gemm_forward(g, x, weight, packed, bias, y, scratch, 0, columns, static_cast<int>(begin),
                     static_cast<int>(end));
    }
  }
  // Few columns (<= 16: single-image inference on small planes) -> MicroFew on packed W^T slivers; else
  // pointwise on 16-pixel planes -> conv_pointwise.h (packs W itself, per block); else the gathered or
  // in-place GEMM of conv_gemm.h. packed_layout() follows the same order.
  static void gemm_forward(const ConvGeom& g, const float* x, const float* weight, const float* packed,
                           const float* bias, float* y, float* scratch, long col_begin, long col_end, int row_begin,
                           int row_end) {
    if (Gemm::few(g))
      Gemm::forward_few(g, x, weight, packed, bias, y, scratch, row_begin, row_end);
    else if (Pointwise::applies(g))
      Pointwise::forward(g, x, weight, bias, y, scratch, col_begin, col_end, row_begin, row_end);
    else if (Gemm::gathered(g))
      Gemm::forward_gather(g, x, weight, packed, bias, y, scratch, col_begin, col_end, row_begin, row_end);
    else
      Gemm::forward(g, x, weight, packed, bias, y, scratch, col_begin, col_end, row_begin, row_end);
  }

  // ---- backward data ----------------------------------------------------------------------------------
  // The stride-1 backward data as a forward convolution: x' = dy, y' = dx, weights W' = flip(W)^T.
  static ConvGeom transposed_geom(const ConvGeom& g) {
    ConvGeom t = g;
    t.in_channels = g.out_channels;
    t.in_h = g.out_h;
    t.in_w = g.out_w;
    t.out_channels = g.in_channels;
    t.out_h = g.in_h;
    t.out_w = g.in_w;
    t.pad_h = g.kernel_h - 1 - g.pad_h;  // may be negative (pad > kernel-1): the windows just crop
    t.pad_w = g.kernel_w - 1 - g.pad_w;
    return t;
  }
  static bool backward_data_as_forward(const ConvGeom& g) { return g.stride_h == 1 && g.stride_w == 1; }
  static size_t weight_floats(const ConvGeom& g) {
    return static_cast<size_t>(g.out_channels) * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
  }

  // Scratch of the stride-1 route: the GEMM paths get W' packed straight from W (pack_flipped), the
  // direct path W' itself (flip); then the forward's own scratch.
  static size_t backward_data_scratch(const ConvGeom& g) {
    if (Depthwise::applies(g)) return depthwise_scratch(g);
    if (Pointwise::applies(g)) return Pointwise::scratch_floats(g);
    if (PointwiseData::applies(g)) return PointwiseData::scratch_floats(g);
    if (PointwiseDataQuad::applies(g)) return PointwiseDataQuad::scratch_floats(g);
    if (backward_data_as_forward(g)) {
      const ConvGeom t = transposed_geom(g);
      const size_t weights = gemm_packed(t) ? packed_floats(t) : weight_floats(g);
      return round_up(static_cast<int>(weights), 16) + forward_scratch(t);
    }
    return Gemm::backward_data_scratch(g);
  }

  // W'[grp*group_in + ci][co][kh][kw] = W[grp*group_out + co][ci][kernel_h-1-kh][kernel_w-1-kw], as a tensor.
  static void flip(const ConvGeom& g, const float* weight, float* flipped) {
    const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
    const int taps = g.kernel_h * g.kernel_w;
    // In 16 x 16 (co, ci) blocks, so both sides of this transpose stay in L1.
    constexpr int B = 16;
    for (int grp = 0; grp < g.groups; ++grp) {
      const float* w_grp = weight + static_cast<long>(grp) * group_out * group_in * taps;
      float* f_grp = flipped + static_cast<long>(grp) * group_in * group_out * taps;
      if (taps == 1) {  // 1x1: a plain transpose
        transpose_copy<V>(w_grp, group_in, group_out, group_in, f_grp, group_out);
        continue;
      }
      for (int co0 = 0; co0 < group_out; co0 += B)
        for (int ci0 = 0; ci0 < group_in; ci0 += B)
          for (int ci = ci0; ci < min_int(group_in, ci0 + B); ++ci)
            for (int co = co0; co < min_int(group_out, co0 + B); ++co) {
              const float* src = w_grp + (static_cast<long>(co) * group_in + ci) * taps;
              float* dst = f_grp + (static_cast<long>(ci) * group_out + co) * taps;
              for (int tap = 0; tap < taps; ++tap) dst[tap] = src[taps - 1 - tap];
            }
    }
  }

  // W' packed for the forward of transposed_geom(g) (what Gemm::pack_weights(t, flip(W)) writes) in one
  // pass over W: written in packed order, each sliver row gathers its R input channels of one (co, tap)
  // at stride taps. Flipping W into a tensor first and packing that took 4x as long (ResNet's layer4:
  // 2.9 + 1.0 ms against 0.7 ms per backward, with 9.4 MB of W).
  static void pack_flipped(const ConvGeom& g, const float* weight, float* packed) {
    const ConvGeom t = transposed_geom(g);
    const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
    const int taps = g.kernel_h * g.kernel_w, K = group_out * taps;  // W'_g: group_in rows x K
    const bool cols = Gemm::layout(t) != Gemm::kRows;
    // kFew: one block over the whole of K (conv_few.h); else KC blocks.
    const int KB = Gemm::layout(t) == Gemm::kFew ? max_int(K, 1) : Gemm::KC;
    const int R = cols ? V::width : Micro::MR;  // rows per sliver
    const int padded = cols ? Gemm::cols_padded(t) : Gemm::rows_padded(t);
    for (int grp = 0; grp < g.groups; ++grp) {
      const float* w_grp = weight + static_cast<long>(grp) * group_out * group_in * taps;
      for (int pc = 0; pc < K; pc += KB) {
        const int kc = min_int(KB, K - pc);
        float* block = packed + static_cast<long>(grp) * padded * K + static_cast<long>(pc) * padded;
        for (int s = 0; s < padded; s += R) {
          float* d = block + static_cast<long>(s) * kc;  // element (kk, i) = W'[s + i][pc + kk] at d[kk*R + i]
          const int rows = max_int(0, min_int(R, group_in - s));
          int co = pc / taps, tap = pc % taps;
          for (int kk = 0; kk < kc; ++kk, d += R) {
            const float* src = w_grp + (static_cast<long>(co) * group_in + s) * taps + (taps - 1 - tap);
            int i = 0;
            for (; i < rows; ++i) d[i] = src[static_cast<long>(i) * taps];
            for (; i < R; ++i) d[i] = 0.0f;
            if (++tap == taps) {
              tap = 0;
              ++co;
            }
          }
        }
      }
    }
  }

  static void backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* scratch) {
    if (Depthwise::applies(g)) {
      if constexpr (V::has_masked_io) {
        if (Small::applies(g)) {
          Small::backward_data(g, dy, weight, dx, scratch);
          return;
        }
        if (SmallBackward::applies(g)) {
          SmallBackward::backward_data(g, dy, weight, dx);
          return;
        }
        if (Stride2Backward::applies(g)) {
          Stride2Backward::backward_data(g, dy, weight, dx);
          return;
        }
        if (Stride1Backward::applies(g)) {
          Stride1Backward::backward_data(g, dy, weight, dx);
          return;
        }
      }
      if (Rows::applies(g))
        Rows::backward_data(g, dy, weight, dx, scratch);
      else if (Planes::applies_backward_data(g))
        Planes::backward_data(g, dy, weight, dx, scratch);
      else
        Depthwise::backward_data(g, dy, weight, dx, scratch);
      return;
    }
    if (Pointwise::applies(g)) {
      Pointwise::backward_data(g, dy, weight, dx, scratch);
      return;
    }
    if (PointwiseData::applies(g)) {
      PointwiseData::backward_data(g, dy, weight, dx, scratch);
      return;
    }
    if (PointwiseDataQuad::applies(g)) {
      PointwiseDataQuad::backward_data(g, dy, weight, dx, scratch);
      return;
    }
    if (backward_data_as_forward(g)) {
      const ConvGeom t = transposed_geom(g);
      if (gemm_packed(t)) {
        // Packed once for the whole slice (the GEMM paths would otherwise pack W' per chunk of images).
        const size_t weights = packed_floats(t);
        pack_flipped(g, weight, scratch);
        forward_part(t, dy, nullptr, scratch, nullptr, dx, scratch + round_up(static_cast<int>(weights), 16), 0, 1);
      } else {
        flip(g, weight, scratch);
        forward_part(t, dy, scratch, nullptr, nullptr, dx, scratch + round_up(static_cast<int>(weight_floats(g)), 16),
                     0, 1);
      }
      return;
    }
    Gemm::backward_data(g, dy, weight, dx, scratch);
  }

  // ---- backward weight ------------------------------------------------------------------------------
  static size_t backward_weight_scratch(const ConvGeom& g) {
    if (Depthwise::applies(g)) return depthwise_scratch(g);
    if (PointwiseWeightBcast::applies(g)) return PointwiseWeightBcast::scratch_floats(g);
    if (PointwiseWeight::applies(g)) return PointwiseWeight::scratch_floats(g);
    if (Pointwise::applies_weight(g)) return Pointwise::scratch_floats(g);
    if (Direct::applies(g)) return Direct::backward_weight_scratch(g);
    return Gemm::backward_weight_scratch(g);
  }

  static void backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* dbias,
                              float* scratch) {
    if (Depthwise::applies(g)) {
      if constexpr (V::has_masked_io) {
        if (Small::applies(g)) {
          Small::backward_weight(g, x, dy, dweight, dbias);
          return;
        }
        if (SmallBackward::applies(g)) {
          SmallBackward::backward_weight(g, x, dy, dweight, dbias);
          return;
        }
        if (Stride2Backward::applies(g)) {
          Stride2Backward::backward_weight(g, x, dy, dweight, dbias);
          return;
        }
        if (Stride1Backward::applies(g)) {
          Stride1Backward::backward_weight(g, x, dy, dweight, dbias);
          return;
        }
      }
      if (Rows::applies(g))
        Rows::backward_weight(g, x, dy, dweight, dbias);
      else if (Planes::applies_forward(g))
        Planes::backward_weight(g, x, dy, dweight, dbias, scratch);
      else
        Depthwise::backward_weight(g, x, dy, dweight, dbias, scratch);
      return;
    }
    if (PointwiseWeightBcast::applies(g))
      PointwiseWeightBcast::backward_weight(g, x, dy, dweight, scratch);
    else if (PointwiseWeight::applies(g))
      PointwiseWeight::backward_weight(g, x, dy, dweight, scratch);
    else if (Pointwise::applies_weight(g))
      Pointwise::backward_weight(g, x, dy, dweight, scratch);
    else if (Direct::applies(g))
      Direct::backward_weight(g, x, dy, dweight, scratch);
    else
      Gemm::backward_weight(g, x, dy, dweight, scratch);
    if (dbias) add_bias_grad(g, dy, dbias);
  }

  // db[oc] += sum over images and pixels of dy[n][oc][p].
  static void add_bias_grad(const ConvGeom& g, const float* dy, float* dbias) {
    constexpr int W = V::width;
    const int P = g.out_h * g.out_w;
    for (int oc = 0; oc < g.out_channels; ++oc) {
      typename V::reg acc = V::zero();
      for (int n = 0; n < g.batch; ++n) {
        const float* row = dy + (static_cast<long>(n) * g.out_channels + oc) * P;
        int p = 0;
        for (; p + W <= P; p += W) acc = V::add(acc, V::load(row + p));
        if (p < P) acc = V::add(acc, V::load_partial(row + p, P - p));
      }
      dbias[oc] += V::hsum(acc);
    }
  }

  static size_t scratch_floats(const ConvGeom& g) {
    size_t need = forward_scratch(g);
    const size_t data = backward_data_scratch(g), weight = backward_weight_scratch(g);
    if (data > need) need = data;
    if (weight > need) need = weight;
    if constexpr (V::has_masked_io)  // backward_sums' plane buffer
      if (Depthwise::applies(g) && DepthwiseSums::applies(g) && DepthwiseSums::scratch_floats(g) > need)
        need = DepthwiseSums::scratch_floats(g);
    return need;
  }

  // ---- backward with the BatchNorm hand-over sums (kernels.h: conv2d_backward_sums) ------------------------
  // grad_sums: this ISA's channel_act_grad_sums. The depthwise row kernels run the data pass, the sums and
  // the weight pass per plane through L1 (conv_dw_backward_rows.h); every other path writes dx, runs the
  // sums per image over it, then the weight pass.
  // image_sums: the same per-image values for a group of images in one call (simd/handover_sums.h).
  using ImageSums = void (*)(int N, int C, int HW, const float* dy, const float* x, const float* scale,
                             const float* shift, const float* mean, int act, float* sum_g, float* sum_gxc);
  static void backward_sums(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* dweight,
                            float* dbias, float* scratch, const HandOverSums& sums,
                            decltype(KernelTable::channel_act_grad_sums) grad_sums, ImageSums image_sums) {
    if constexpr (V::has_masked_io)
      if (Depthwise::applies(g) && DepthwiseSums::applies(g)) {
        DepthwiseSums::backward_sums(g, dy, weight, dx, dweight, dbias, scratch, sums, grad_sums);
        return;
      }
    backward_data(g, dy, weight, dx, scratch);
    image_sums(g.batch, g.in_channels, g.in_h * g.in_w, dx, sums.x, sums.scale, sums.shift, sums.mean, sums.act,
               sums.sum_g, sums.sum_gxc);
    backward_weight(g, sums.x, dy, dweight, dbias, scratch);
  }
};

}  // namespace plasmo::kernels::simd
