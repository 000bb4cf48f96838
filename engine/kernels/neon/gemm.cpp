// NEON sgemm: the shared packed GEMM driver (simd/gemm_driver.h) with the 8 x 12 microkernel.
#if defined(__aarch64__)
#include "engine/kernels/kernels.h"
#include "engine/kernels/neon/vec.h"
#include "engine/kernels/simd/gemm_driver.h"

namespace plasmo::kernels {

void fill_neon_gemm(KernelTable& table) { table.sgemm = simd::sgemm<neon::ConvVec, neon::Micro>; }

}  // namespace plasmo::kernels
#endif  // __aarch64__
