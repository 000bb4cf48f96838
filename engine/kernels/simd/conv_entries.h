// The convolution entries of a kernel table (contracts: kernels.h), written once for every ISA. Each
// ISA's conv2d.cpp fills its table in one line, fill_conv_entries<ConvVec, Micro, Vec>, in a file built
// with that ISA's flags only; the instantiations take the ISA's own types, so no two ISAs share a symbol.
//   ConvV, Micro: the convolution (and GEMM) traits and microkernel shape (<isa>/vec.h);
//   ChannelV: the channel kernels' traits (<isa>/vec_<isa>.h), for the BatchNorm hand-over sums that
//   conv2d_backward_sums runs over dx: simd/channel.h's channel_act_grad_sums built with the same traits
//   and flags as the table's channel_act_grad_sums (<isa>/channel.cpp), so the same bits.
// Include after both traits headers.
#pragma once
#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/channel.h"
#include "engine/kernels/simd/conv.h"
#include "engine/kernels/simd/handover_sums.h"

namespace plasmo::kernels::simd {
namespace {

// conv_dw_backward_rows.h calls the hand-over grad sums per plane (N = 1, C = 1) on planes of at least
// kHandOverPlane values, for the bits of a per-image call: simd/channel.h sums such planes one by one, in
// kSumBlock blocks.
static_assert(kHandOverPlane >= kSumBlock, "per-plane sums would not reproduce the per-image call's bits");

// The table's signatures where Conv's (simd/conv.h) differ: the forward entries are forward_part with or
// without packed weights, and backward_sums takes this ISA's hand-over sums.
template <class ConvV, class Micro, class ChannelV>
struct ConvEntries {
  using Impl = Conv<ConvV, Micro>;

  static void forward(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                      float* scratch) {
    Impl::forward_part(g, x, weight, nullptr, bias, y, scratch, 0, 1);
  }
  static void forward_part(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                           float* scratch, int part, int parts) {
    Impl::forward_part(g, x, weight, nullptr, bias, y, scratch, part, parts);
  }
  static void forward_packed_part(const ConvGeom& g, const float* x, const float* packed, const float* bias, float* y,
                                  float* scratch, int part, int parts) {
    Impl::forward_part(g, x, nullptr, packed, bias, y, scratch, part, parts);
  }
  static void backward_sums(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* dweight,
                            float* dbias, float* scratch, const HandOverSums& sums) {
    Impl::backward_sums(g, dy, weight, dx, dweight, dbias, scratch, sums, channel_act_grad_sums<ChannelV>,
                        image_grad_sums<ChannelV>);
  }
};

template <class ConvV, class Micro, class ChannelV>
void fill_conv_entries(KernelTable& table) {
  using Impl = Conv<ConvV, Micro>;
  using Entries = ConvEntries<ConvV, Micro, ChannelV>;
  table.conv2d_scratch_floats = Impl::scratch_floats;
  table.conv2d_forward = Entries::forward;
  table.conv2d_forward_part = Entries::forward_part;
  table.conv2d_packed_layout = Impl::packed_layout;
  table.conv2d_packed_floats = Impl::packed_floats;
  table.conv2d_pack_weights = Impl::pack_weights;
  table.conv2d_forward_packed_part = Entries::forward_packed_part;
  table.conv2d_backward_data = Impl::backward_data;
  table.conv2d_backward_weight = Impl::backward_weight;
  table.conv2d_backward_sums = Entries::backward_sums;
}

}  // namespace
}  // namespace plasmo::kernels::simd
