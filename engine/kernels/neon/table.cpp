// The NEON kernel table (aarch64 builds only): overrides the entries that have NEON versions.
#if defined(__aarch64__)
#include "engine/kernels/isa_tables.h"

namespace plasmo::kernels {

void fill_neon_table(KernelTable& table) { table.isa = "neon"; }

}  // namespace plasmo::kernels
#endif
