// The avx512 kernel table: overrides the entries that have avx512 versions (none yet: the reference runs).
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
}

}  // namespace plasmo::kernels
