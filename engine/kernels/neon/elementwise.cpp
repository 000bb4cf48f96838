// NEON elementwise kernels: the generic versions of engine/kernels/simd/elementwise.h built for NEON.
#if defined(__aarch64__)
#include "engine/kernels/neon/vec_neon.h"  // first: it sets up the intrinsics headers

#include "engine/kernels/simd/elementwise.h"

namespace plasmo::kernels {

void fill_neon_elementwise(KernelTable& table) {
  using V = neon::Vec;
  table.relu_forward = simd::relu_forward<V>;
  table.relu_backward = simd::relu_backward<V>;
  table.relu6_forward = simd::relu6_forward<V>;
  table.relu6_backward = simd::relu6_backward<V>;
  table.sigmoid_forward = simd::sigmoid_forward<V>;
  table.sigmoid_backward = simd::sigmoid_backward<V>;
  table.add = simd::add<V>;
  table.mul = simd::mul<V>;
  table.axpy = simd::axpy<V>;
  table.scale = simd::scale<V>;
  table.zero = simd::zero<V>;
}

}  // namespace plasmo::kernels
#endif
