// AVX-512 sgemm: the shared packed GEMM driver (simd/gemm_driver.h) with the 8 x 32 microkernel.
#include "engine/kernels/avx512/vec.h"
#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/gemm_driver.h"

namespace plasmo::kernels {

void fill_avx512_gemm(KernelTable& table) { table.sgemm = simd::sgemm<avx512::ConvVec, avx512::Micro>; }

}  // namespace plasmo::kernels
