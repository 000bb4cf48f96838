// Bit-for-bit equality of tensors, for the tests of determinism and of fused or deferred paths: the same
// shape and the same bytes (so -0.0 differs from 0.0, and a NaN equals itself).
#pragma once
#include <cstring>

#include "engine/tensor.h"

namespace plasmo::testing {

inline bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  return a.size() == 0 || std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0;
}

}  // namespace plasmo::testing
