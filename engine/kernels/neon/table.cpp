// The NEON kernel table (aarch64 builds only): overrides the entries that have NEON versions.
#if defined(__aarch64__)
#include "engine/kernels/isa_tables.h"

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
}

}  // namespace plasmo::kernels
#endif
