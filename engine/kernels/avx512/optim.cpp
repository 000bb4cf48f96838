// AVX-512 optimizer updates: the generic versions of engine/kernels/simd/optim.h built for AVX-512.
#include "engine/kernels/avx512/vec_avx512.h"  // first: it sets up the intrinsics headers

#include "engine/kernels/simd/optim.h"

namespace plasmo::kernels {

void fill_avx512_optim(KernelTable& table) {
  using V = avx512::Vec;
  table.sgd_step = simd::sgd_step<V>;
  table.adam_step = simd::adam_step<V>;
  table.rmsprop_step = simd::rmsprop_step<V>;
}

}  // namespace plasmo::kernels
