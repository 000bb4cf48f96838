// Dropout (inverted, as PyTorch):
//   train: y = x * mask,  mask = [u >= p] / (1 - p) with u ~ U[0, 1) per element (kept with probability 1 - p);
//          dx = dy * mask.
//   eval:  y = x, dx = dy (views, no copy).
// The draws come from the layer's own generator: each training forward takes one value `stream` from
// rng() and element i uses the generator Rng::derive(stream, i / kMaskBlock) (its i % kMaskBlock-th draw).
// So the mask depends only on the seed and the number of training forwards so far, never on the thread
// count, and saving/restoring rng().state() (checkpoints) replays the same masks.
#pragma once
#include <cstdint>

#include "engine/layer.h"
#include "engine/rng.h"

namespace plasmo {

class Dropout : public Layer {
 public:
  static constexpr int64_t kMaskBlock = 4096;  // elements drawn from one derived generator

  explicit Dropout(float p, uint64_t seed = 0);  // 0 <= p <= 1 (p = 1 drops everything: y = 0)
  const char* kind() const override { return "Dropout"; }
  std::string summary() const override;  // "Dropout(p=0.5)"
  Shape out_shape(const Shape& in) const override { return in; }
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

  float p() const { return p_; }
  Rng& rng() { return rng_; }  // its state goes into checkpoints

 private:
  float p_;
  Rng rng_;
  bool last_train_ = false;
  Shape in_shape_;  // of the last forward (rank 0 before any)
  Tensor mask_;     // holds 0 or 1/(1-p)
  Tensor y_, dx_;
  Tensor y_view_, dx_view_;  // eval: views of x and dy
};

}  // namespace plasmo
