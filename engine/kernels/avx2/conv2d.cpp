// AVX2 convolution entries: simd/conv_entries.h with 8-lane vectors, the 6 x 16 microkernel
// and this ISA's channel kernels for the BatchNorm hand-over sums.
#include "engine/kernels/avx2/vec.h"
#include "engine/kernels/avx2/vec_avx2.h"

#include "engine/kernels/simd/conv_entries.h"

namespace plasmo::kernels {

void fill_avx2_conv(KernelTable& table) { simd::fill_conv_entries<avx2::ConvVec, avx2::Micro, avx2::Vec>(table); }

}  // namespace plasmo::kernels
