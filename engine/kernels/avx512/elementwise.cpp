// AVX-512 elementwise kernels: the generic versions of engine/kernels/simd/elementwise.h built for AVX-512.
#include "engine/kernels/avx512/vec_avx512.h"  // first: it sets up the intrinsics headers

#include "engine/kernels/simd/elementwise.h"

namespace plasmo::kernels {

void fill_avx512_elementwise(KernelTable& table) {
  using V = avx512::Vec;
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
