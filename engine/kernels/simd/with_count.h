// with_count: a runtime count turned into a compile-time one, so a tile or pass is compiled per count
// (constant trip counts, accumulators indexed by constants and kept in registers) without a switch
// written out per call site.
#pragma once
#include <type_traits>

namespace plasmo::kernels::simd {

// Calls fn(std::integral_constant<int, N>{}) with N = count for count in [First, Max), N = Max for any
// other count (the full tile: callers pass counts in [First, Max]).
template <int Max, int First = 1, class Fn>
inline void with_count(int count, Fn&& fn) {
  if constexpr (First < Max) {
    if (count == First) return fn(std::integral_constant<int, First>{});
    return with_count<Max, First + 1>(count, fn);
  } else {
    return fn(std::integral_constant<int, Max>{});
  }
}

}  // namespace plasmo::kernels::simd
