// AVX2 sgemm: the shared packed GEMM driver (simd/gemm_driver.h) with the 6 x 16 microkernel.
#include "engine/kernels/avx2/vec.h"
#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/gemm_driver.h"

namespace plasmo::kernels {

void fill_avx2_gemm(KernelTable& table) { table.sgemm = simd::sgemm<avx2::ConvVec, avx2::Micro>; }

}  // namespace plasmo::kernels
