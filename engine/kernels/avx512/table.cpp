// The avx512 kernel table: overrides the entries that have avx512 versions; the rest stay as the AVX2
// table set them (dispatch starts this table from a copy of the avx2 one).
#include "engine/kernels/isa_tables.h"

namespace plasmo::kernels {

// Each of this folder's files fills the entries of one part (simd/conv_entries.h, simd/table_entries.h).
void fill_avx512_gemm(KernelTable& table);         // gemm.cpp: sgemm
void fill_avx512_conv(KernelTable& table);         // conv2d.cpp: convolution
void fill_avx512_pool(KernelTable& table);         // pool.cpp: pooling and upsample
void fill_avx512_channel(KernelTable& table);      // channel.cpp: BatchNorm
void fill_avx512_elementwise(KernelTable& table);  // elementwise.cpp
void fill_avx512_optim(KernelTable& table);        // optim.cpp: optimizer steps

void fill_avx512_table(KernelTable& table) {
  table.isa = "avx512";
  fill_avx512_gemm(table);
  fill_avx512_conv(table);
  fill_avx512_pool(table);
  fill_avx512_channel(table);
  fill_avx512_elementwise(table);
  fill_avx512_optim(table);
}

}  // namespace plasmo::kernels
