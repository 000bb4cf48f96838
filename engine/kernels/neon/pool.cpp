// NEON pooling and upsample kernels: the generic versions of engine/kernels/simd/pool.h built for NEON.
#if defined(__aarch64__)
#include "engine/kernels/neon/vec_neon.h"  // first: it sets up the intrinsics headers

#include "engine/kernels/simd/pool.h"

namespace plasmo::kernels {

void fill_neon_pool(KernelTable& table) {
  using V = neon::Vec;
  table.maxpool2d_forward = simd::maxpool2d_forward<V>;
  table.maxpool2d_backward = simd::maxpool2d_backward<V>;
  table.avgpool2d_forward = simd::avgpool2d_forward<V>;
  table.avgpool2d_backward = simd::avgpool2d_backward<V>;
  table.global_avgpool_forward = simd::global_avgpool_forward<V>;
  table.global_avgpool_backward = simd::global_avgpool_backward<V>;
  table.upsample2x_forward = simd::upsample2x_forward<V>;
  table.upsample2x_backward = simd::upsample2x_backward<V>;
}

}  // namespace plasmo::kernels
#endif
