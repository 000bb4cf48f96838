// Dropout (inverted, as PyTorch): train: y = x * mask / (1 - p), mask ~ Bernoulli(1 - p) drawn from the
// layer's own seeded generator; eval: y = x. dx = dy * mask / (1 - p).
#pragma once
#include <cstdint>

#include "engine/layer.h"
#include "engine/rng.h"

namespace plasmo {

class Dropout : public Layer {
 public:
  explicit Dropout(float p, uint64_t seed = 0);
  const char* kind() const override { return "Dropout"; }
  std::string summary() const override;
  Shape out_shape(const Shape& in) const override { return in; }
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

  float p() const { return p_; }
  Rng& rng() { return rng_; }  // its state goes into checkpoints

 private:
  float p_;
  Rng rng_;
  bool last_train_ = false;
  Tensor mask_;  // holds 0 or 1/(1-p)
  Tensor y_, dx_;
};

}  // namespace plasmo
