// The avx2 kernel table: overrides the entries that have avx2 versions (none yet: the reference runs).
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
}

}  // namespace plasmo::kernels
