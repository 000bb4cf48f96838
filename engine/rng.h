// Deterministic random numbers: one generator, the same on every platform and compiler (no
// std::distribution, whose output is implementation-defined). State is one 64-bit word, so a
// checkpoint can save and restore it exactly.
#pragma once
#include <cstdint>

namespace plasmo {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : state_(seed) {}

  // A generator for a sub-stream, e.g. (seed, epoch, image index) for augmentation: the same keys give
  // the same stream whatever happened before.
  static Rng derive(uint64_t seed, uint64_t key1, uint64_t key2 = 0);

  uint64_t next_u64();  // SplitMix64 step
  uint32_t next_u32() { return static_cast<uint32_t>(next_u64() >> 32); }
  float uniform();  // [0, 1), 24 random bits
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  uint32_t below(uint32_t bound);  // [0, bound), unbiased (Lemire's method)
  float normal();                  // mean 0, std 1 (Box-Muller, one value per call)
  bool bernoulli(float p) { return uniform() < p; }

  uint64_t state() const { return state_; }
  void set_state(uint64_t state) { state_ = state; }

 private:
  uint64_t state_;
};

}  // namespace plasmo
