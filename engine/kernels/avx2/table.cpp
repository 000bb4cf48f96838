// The avx2 kernel table: overrides the entries that have avx2 versions (none yet: the reference runs).
#include "engine/kernels/isa_tables.h"

namespace plasmo::kernels {

void fill_avx2_table(KernelTable& table) { table.isa = "avx2"; }

}  // namespace plasmo::kernels
