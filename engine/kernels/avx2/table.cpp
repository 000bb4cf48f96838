// The avx2 kernel table: overrides the entries that have avx2 versions; the rest stay the reference
// (dispatch starts this table from a copy of the ref one).
#include "engine/kernels/avx2/gemm_conv.h"
#include "engine/kernels/isa_tables.h"

namespace plasmo::kernels {

// Pooling, BatchNorm, elementwise and optimizer kernels (avx2/pool.cpp, channel.cpp, elementwise.cpp, optim.cpp).
void fill_avx2_pool(KernelTable& table);
void fill_avx2_channel(KernelTable& table);
void fill_avx2_elementwise(KernelTable& table);
void fill_avx2_optim(KernelTable& table);

void fill_avx2_table(KernelTable& table) {
  table.isa = "avx2";
  fill_avx2_pool(table);
  fill_avx2_channel(table);
  fill_avx2_elementwise(table);
  fill_avx2_optim(table);
  // GEMM and convolution (simd-a)
  table.sgemm = avx2::sgemm;
  table.conv2d_scratch_floats = avx2::conv2d_scratch_floats;
  table.conv2d_forward = avx2::conv2d_forward;
  table.conv2d_forward_part = avx2::conv2d_forward_part;
  table.conv2d_packed_layout = avx2::conv2d_packed_layout;
  table.conv2d_packed_floats = avx2::conv2d_packed_floats;
  table.conv2d_pack_weights = avx2::conv2d_pack_weights;
  table.conv2d_forward_packed_part = avx2::conv2d_forward_packed_part;
  table.conv2d_backward_data = avx2::conv2d_backward_data;
  table.conv2d_backward_weight = avx2::conv2d_backward_weight;
  table.conv2d_backward_sums = avx2::conv2d_backward_sums;
}

}  // namespace plasmo::kernels
