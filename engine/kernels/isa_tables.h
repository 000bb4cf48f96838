// Each ISA fills a table: it starts from a copy of the reference table and overrides the entries it
// has fast versions of, so a new ISA can land one kernel at a time.
#pragma once
#include "engine/kernels/kernels.h"

namespace plasmo::kernels {
void fill_ref_table(KernelTable& table);  // engine/kernels/ref/table.cpp
#if defined(__x86_64__) || defined(_M_X64)
void fill_avx2_table(KernelTable& table);    // engine/kernels/avx2/table.cpp (built with -mavx2 -mfma)
void fill_avx512_table(KernelTable& table);  // engine/kernels/avx512/table.cpp (built with -mavx512f ...)
#endif
#if defined(__aarch64__)
void fill_neon_table(KernelTable& table);  // engine/kernels/neon/table.cpp
#endif
}  // namespace plasmo::kernels
