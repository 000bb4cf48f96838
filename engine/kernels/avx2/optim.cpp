// AVX2 optimizer updates: the generic versions of engine/kernels/simd/optim.h built for AVX2.
#include "engine/kernels/avx2/vec_avx2.h"  // first: it sets up the intrinsics headers

#include "engine/kernels/simd/optim.h"

namespace plasmo::kernels {

void fill_avx2_optim(KernelTable& table) {
  using V = avx2::Vec;
  table.sgd_step = simd::sgd_step<V>;
  table.adam_step = simd::adam_step<V>;
  table.rmsprop_step = simd::rmsprop_step<V>;
}

}  // namespace plasmo::kernels
