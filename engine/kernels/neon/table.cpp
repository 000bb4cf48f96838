// The NEON kernel table (aarch64 builds only): overrides the entries that have NEON versions.
#if defined(__aarch64__)
#include "engine/kernels/isa_tables.h"
#include "engine/kernels/neon/gemm_conv.h"

namespace plasmo::kernels {

void fill_neon_table(KernelTable& table) {
  table.isa = "neon";
  // GEMM and convolution (simd-a)
  table.sgemm = neon::sgemm;
  table.conv2d_scratch_floats = neon::conv2d_scratch_floats;
  table.conv2d_forward = neon::conv2d_forward;
  table.conv2d_forward_part = neon::conv2d_forward_part;
  table.conv2d_backward_data = neon::conv2d_backward_data;
  table.conv2d_backward_weight = neon::conv2d_backward_weight;
}

}  // namespace plasmo::kernels
#endif
