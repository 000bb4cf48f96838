#!/usr/bin/env bash
# usage: scripts/check_isa_symbols.sh BUILD_DIR
# Fails when a weak function (an inline function or a template instance: nm type W) is defined both by
# an ISA kernel object (engine/kernels/avx2/, avx512/: compiled with -mavx2 / -mavx512*) and by any
# object compiled without those flags. The linker keeps one copy of such a symbol for every caller, so an
# AVX-512 copy could run on a CPU without AVX-512 (SIGILL), whichever table was selected at run time.
# Code shared by the ISA files must be templates over the ISA's vector type, or have internal linkage.
# Weak data (nm V, u: e.g. the exception personality's DW.ref.__gxx_personality_v0 in a SAN build) holds
# the same bytes whatever the flags, and clang's __clang_call_terminate only calls std::terminate: both
# are left out.
set -euo pipefail
build=${1:?usage: scripts/check_isa_symbols.sh BUILD_DIR}
weak_symbols() { nm --defined-only "$@" | awk '$2 == "W" && $3 != "__clang_call_terminate" { print $3 }' | sort -u; }
status=0
for isa in avx2 avx512; do
  dir=$build/obj/engine/kernels/$isa
  compgen -G "$dir/*.o" > /dev/null || continue
  mapfile -t others < <(find "$build/obj" -name '*.o' ! -path "$dir/*" | sort)
  shared=$(comm -12 <(weak_symbols "$dir"/*.o) <(weak_symbols "${others[@]}"))
  if [ -n "$shared" ]; then
    echo "plasmo: error: weak functions compiled with $isa flags are also defined by other objects (one copy is linked for all):" >&2
    c++filt <<< "$shared" | sed 's/^/  /' >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "isa-symbols: no weak function shared between ISA-flagged and other objects"
exit $status
