// Picks the kernel table once. Order of preference: PLASMO_ISA if set, else the best ISA this build
// carries and this CPU runs (avx512 > avx2 > ref on x86-64, neon > ref on aarch64).
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/error.h"
#include "engine/kernels/isa_tables.h"

namespace plasmo::kernels {

namespace {

struct Tables {
  KernelTable ref, avx2, avx512, neon;
  bool has_avx2 = false, has_avx512 = false, has_neon = false;
  Tables() {
    fill_ref_table(ref);
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();
    has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    has_avx512 = has_avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    if (has_avx2) {
      avx2 = ref;
      fill_avx2_table(avx2);
    }
    if (has_avx512) {
      avx512 = avx2;  // an AVX-512 CPU runs the AVX2 kernels the AVX-512 table does not override
      fill_avx512_table(avx512);
    }
#endif
#if defined(__aarch64__)
    has_neon = true;  // Advanced SIMD is mandatory on AArch64
    neon = ref;
    fill_neon_table(neon);
#endif
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

const KernelTable* g_selected = nullptr;

const KernelTable* best_table() {
  const char* forced = std::getenv("PLASMO_ISA");
  if (forced && *forced) {
    const KernelTable* t = table_for(forced);
    if (!t) throw UsageError(std::string("PLASMO_ISA=") + forced + " is not available on this CPU or build");
    return t;
  }
  const Tables& t = tables();
  if (t.has_avx512) return &t.avx512;
  if (t.has_avx2) return &t.avx2;
  if (t.has_neon) return &t.neon;
  return &t.ref;
}

}  // namespace

const KernelTable* table_for(const char* isa) {
  const Tables& t = tables();
  if (std::strcmp(isa, "ref") == 0) return &t.ref;
  if (std::strcmp(isa, "avx2") == 0) return t.has_avx2 ? &t.avx2 : nullptr;
  if (std::strcmp(isa, "avx512") == 0) return t.has_avx512 ? &t.avx512 : nullptr;
  if (std::strcmp(isa, "neon") == 0) return t.has_neon ? &t.neon : nullptr;
  return nullptr;
}

int available_isas(const char* names[4]) {
  const Tables& t = tables();
  int count = 0;
  names[count++] = "ref";
  if (t.has_avx2) names[count++] = "avx2";
  if (t.has_avx512) names[count++] = "avx512";
  if (t.has_neon) names[count++] = "neon";
  return count;
}

const KernelTable& K() {
  if (!g_selected) g_selected = best_table();
  return *g_selected;
}

void select_isa(const char* isa) {
  const KernelTable* t = table_for(isa);
  if (!t) throw UsageError(std::string("ISA '") + isa + "' is not available on this CPU or build");
  g_selected = t;
}

}  // namespace plasmo::kernels
