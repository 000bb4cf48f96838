// The NEON kernel table (aarch64 builds only): overrides the entries that have NEON versions.
#if defined(__aarch64__)
#include "engine/kernels/isa_tables.h"

namespace plasmo::kernels {

// Each of this folder's files fills the entries of one part (simd/conv_entries.h, simd/table_entries.h).
void fill_neon_gemm(KernelTable& table);         // gemm.cpp: sgemm
void fill_neon_conv(KernelTable& table);         // conv2d.cpp: convolution
void fill_neon_pool(KernelTable& table);         // pool.cpp: pooling and upsample
void fill_neon_channel(KernelTable& table);      // channel.cpp: BatchNorm
void fill_neon_elementwise(KernelTable& table);  // elementwise.cpp
void fill_neon_optim(KernelTable& table);        // optim.cpp: optimizer steps

void fill_neon_table(KernelTable& table) {
  table.isa = "neon";
  fill_neon_gemm(table);
  fill_neon_conv(table);
  fill_neon_pool(table);
  fill_neon_channel(table);
  fill_neon_elementwise(table);
  fill_neon_optim(table);
}

}  // namespace plasmo::kernels
#endif
