// NEON per-channel (BatchNorm) kernels: the generic versions of engine/kernels/simd/channel.h built for NEON.
#if defined(__aarch64__)
#include "engine/kernels/neon/vec_neon.h"  // first: it sets up the intrinsics headers

#include "engine/kernels/simd/channel.h"
#include "engine/kernels/simd/channel_prologue.h"

namespace plasmo::kernels {

void fill_neon_channel(KernelTable& table) {
  using V = neon::Vec;
  table.channel_mean_var = simd::channel_mean_var<V>;
  table.channel_affine_act = simd::channel_affine_act<V>;
  table.channel_act_grad_sums = simd::channel_act_grad_sums<V>;
  table.channel_act_affine2 = simd::channel_act_affine2<V>;
  table.channel_affine_act_copy = simd::channel_affine_act_copy<V>;
}

}  // namespace plasmo::kernels
#endif
