// NEON pooling and upsample entries: simd/table_entries.h with this ISA's vector traits.
#if defined(__aarch64__)
#include "engine/kernels/neon/vec_neon.h"  // first: it sets up the intrinsics headers

#include "engine/kernels/simd/table_entries.h"

namespace plasmo::kernels {

void fill_neon_pool(KernelTable& table) { simd::fill_pool_entries<neon::Vec>(table); }

}  // namespace plasmo::kernels
#endif  // __aarch64__
