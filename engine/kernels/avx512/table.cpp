// The avx512 kernel table: overrides the entries that have avx512 versions; the rest stay as the AVX2
// table set them (dispatch starts this table from a copy of the avx2 one).
#include "engine/kernels/avx512/gemm_conv.h"
#include "engine/kernels/isa_tables.h"

namespace plasmo::kernels {

// Pooling, BatchNorm, elementwise and optimizer kernels (avx512/pool.cpp, channel.cpp, elementwise.cpp, optim.cpp).
void fill_avx512_pool(KernelTable& table);
void fill_avx512_channel(KernelTable& table);
void fill_avx512_elementwise(KernelTable& table);
void fill_avx512_optim(KernelTable& table);

void fill_avx512_table(KernelTable& table) {
  table.isa = "avx512";
  fill_avx512_pool(table);
  fill_avx512_channel(table);
  fill_avx512_elementwise(table);
  fill_avx512_optim(table);
  // GEMM and convolution (simd-a)
  table.sgemm = avx512::sgemm;
  table.conv2d_scratch_floats = avx512::conv2d_scratch_floats;
  table.conv2d_forward = avx512::conv2d_forward;
  table.conv2d_forward_part = avx512::conv2d_forward_part;
  table.conv2d_packed_layout = avx512::conv2d_packed_layout;
  table.conv2d_packed_floats = avx512::conv2d_packed_floats;
  table.conv2d_pack_weights = avx512::conv2d_pack_weights;
  table.conv2d_forward_packed_part = avx512::conv2d_forward_packed_part;
  table.conv2d_backward_data = avx512::conv2d_backward_data;
  table.conv2d_backward_weight = avx512::conv2d_backward_weight;
  table.conv2d_backward_sums = avx512::conv2d_backward_sums;
}

}  // namespace plasmo::kernels
