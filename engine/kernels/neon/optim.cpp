// NEON optimizer updates: the generic versions of engine/kernels/simd/optim.h built for NEON.
#if defined(__aarch64__)
#include "engine/kernels/neon/vec_neon.h"  // first: it sets up the intrinsics headers

#include "engine/kernels/simd/optim.h"

namespace plasmo::kernels {

void fill_neon_optim(KernelTable& table) {
  using V = neon::Vec;
  table.sgd_step = simd::sgd_step<V>;
  table.adam_step = simd::adam_step<V>;
  table.rmsprop_step = simd::rmsprop_step<V>;
}

}  // namespace plasmo::kernels
#endif
