// AVX2 pooling and upsample entries: simd/table_entries.h with this ISA's vector traits.
#include "engine/kernels/avx2/vec_avx2.h"  // first: it sets up the intrinsics headers

#include "engine/kernels/simd/table_entries.h"

namespace plasmo::kernels {

void fill_avx2_pool(KernelTable& table) { simd::fill_pool_entries<avx2::Vec>(table); }

}  // namespace plasmo::kernels
