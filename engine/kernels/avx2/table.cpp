// The avx2 kernel table: overrides the entries that have avx2 versions; the rest stay the reference
// (dispatch starts this table from a copy of the ref one).
#include "engine/kernels/isa_tables.h"

namespace plasmo::kernels {

// Each of this folder's files fills the entries of one part (simd/conv_entries.h, simd/table_entries.h).
void fill_avx2_gemm(KernelTable& table);         // gemm.cpp: sgemm
void fill_avx2_conv(KernelTable& table);         // conv2d.cpp: convolution
void fill_avx2_pool(KernelTable& table);         // pool.cpp: pooling and upsample
void fill_avx2_channel(KernelTable& table);      // channel.cpp: BatchNorm
void fill_avx2_elementwise(KernelTable& table);  // elementwise.cpp
void fill_avx2_optim(KernelTable& table);        // optim.cpp: optimizer steps

void fill_avx2_table(KernelTable& table) {
  table.isa = "avx2";
  fill_avx2_gemm(table);
  fill_avx2_conv(table);
  fill_avx2_pool(table);
  fill_avx2_channel(table);
  fill_avx2_elementwise(table);
  fill_avx2_optim(table);
}

}  // namespace plasmo::kernels
