#include "train/finite.h"

#include <cstdint>
#include <cstring>

namespace plasmo::train {

// A float is NaN or Inf exactly when its 8 exponent bits are all ones. OR-ing that test over a tensor
// has no branch in the loop and vectorizes, so checking every gradient costs about one read of them.
const Param* first_nonfinite_gradient(const std::vector<Param>& params) {
  for (const Param& param : params) {
    const float* grad = param.grad->data();
    const size_t count = param.grad->size();
    uint32_t bad = 0;
    for (size_t i = 0; i < count; ++i) {
      uint32_t bits;
      std::memcpy(&bits, grad + i, sizeof bits);
      bad |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
    }
    if (bad) return &param;
  }
  return nullptr;
}

}  // namespace plasmo::train
