// The NEON kernel table (aarch64 builds only): overrides the entries that have NEON versions.
#if defined(__aarch64__)
#include "engine/kernels/isa_tables.h"
#include "engine/kernels/neon/gemm_conv.h"

namespace plasmo::kernels {

// Pooling, BatchNorm, elementwise and optimizer kernels (neon/pool.cpp, channel.cpp, elementwise.cpp, optim.cpp).
void fill_neon_pool(KernelTable& table);
void fill_neon_channel(KernelTable& table);
void fill_neon_elementwise(KernelTable& table);
void fill_neon_optim(KernelTable& table);

void fill_neon_table(KernelTable& table) {
  table.isa = "neon";
  fill_neon_pool(table);
  fill_neon_channel(table);
  fill_neon_elementwise(table);
  fill_neon_optim(table);
  // GEMM and convolution (simd-a)
  table.sgemm = neon::sgemm;
  table.conv2d_scratch_floats = neon::conv2d_scratch_floats;
  table.conv2d_forward = neon::conv2d_forward;
  table.conv2d_forward_part = neon::conv2d_forward_part;
  table.conv2d_packed_layout = neon::conv2d_packed_layout;
  table.conv2d_packed_floats = neon::conv2d_packed_floats;
  table.conv2d_pack_weights = neon::conv2d_pack_weights;
  table.conv2d_forward_packed_part = neon::conv2d_forward_packed_part;
  table.conv2d_backward_data = neon::conv2d_backward_data;
  table.conv2d_backward_weight = neon::conv2d_backward_weight;
  table.conv2d_backward_sums = neon::conv2d_backward_sums;
}

}  // namespace plasmo::kernels
#endif
