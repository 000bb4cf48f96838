// The avx2 kernel table: overrides the entries that have avx2 versions; the rest stay the reference
// (dispatch starts this table from a copy of the ref one).
#include "engine/kernels/avx2/gemm_conv.h"
#include "engine/kernels/isa_tables.h"

namespace plasmo::kernels {

void fill_avx2_table(KernelTable& table) {
  table.isa = "avx2";
  // GEMM and convolution (simd-a)
  table.sgemm = avx2::sgemm;
  table.conv2d_scratch_floats = avx2::conv2d_scratch_floats;
  table.conv2d_forward = avx2::conv2d_forward;
  table.conv2d_forward_part = avx2::conv2d_forward_part;
  table.conv2d_backward_data = avx2::conv2d_backward_data;
  table.conv2d_backward_weight = avx2::conv2d_backward_weight;
}

}  // namespace plasmo::kernels
