// The avx512 kernel table: overrides the entries that have avx512 versions (none yet: the reference runs).
#include "engine/kernels/isa_tables.h"

namespace plasmo::kernels {

void fill_avx512_table(KernelTable& table) { table.isa = "avx512"; }

}  // namespace plasmo::kernels
