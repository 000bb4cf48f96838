// AVX-512 convolution entries: simd/conv_entries.h with 16-lane vectors, the 8 x 32 microkernel
// and this ISA's channel kernels for the BatchNorm hand-over sums.
#include "engine/kernels/avx512/vec.h"  // first: it includes the intrinsics with GCC 12's false warnings off
#include "engine/kernels/avx512/vec_avx512.h"

#include "engine/kernels/simd/conv_entries.h"

namespace plasmo::kernels {

void fill_avx512_conv(KernelTable& table) {
  simd::fill_conv_entries<avx512::ConvVec, avx512::Micro, avx512::Vec>(table);
}

}  // namespace plasmo::kernels
