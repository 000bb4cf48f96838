// NEON convolution entries: simd/conv_entries.h with 4-lane vectors, the 8 x 12 microkernel
// and this ISA's channel kernels for the BatchNorm hand-over sums.
#if defined(__aarch64__)
#include "engine/kernels/neon/vec.h"
#include "engine/kernels/neon/vec_neon.h"

#include "engine/kernels/simd/conv_entries.h"

namespace plasmo::kernels {

void fill_neon_conv(KernelTable& table) { simd::fill_conv_entries<neon::ConvVec, neon::Micro, neon::Vec>(table); }

}  // namespace plasmo::kernels
#endif  // __aarch64__
