// NEON elementwise entries: simd/table_entries.h with this ISA's vector traits.
#if defined(__aarch64__)
#include "engine/kernels/neon/vec_neon.h"  // first: it sets up the intrinsics headers

#include "engine/kernels/simd/table_entries.h"

namespace plasmo::kernels {

void fill_neon_elementwise(KernelTable& table) { simd::fill_elementwise_entries<neon::Vec>(table); }

}  // namespace plasmo::kernels
#endif  // __aarch64__
