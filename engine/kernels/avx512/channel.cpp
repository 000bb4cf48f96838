// AVX-512 per-channel (BatchNorm) entries: simd/table_entries.h with this ISA's vector traits.
#include "engine/kernels/avx512/vec_avx512.h"  // first: it sets up the intrinsics headers

#include "engine/kernels/simd/table_entries.h"

namespace plasmo::kernels {

void fill_avx512_channel(KernelTable& table) { simd::fill_channel_entries<avx512::Vec>(table); }

}  // namespace plasmo::kernels
