// Flatten: [N, C, H, W] -> [N, C*H*W], same memory order (a view of the input; backward a view of dy).
#pragma once
#include "engine/layer.h"

namespace plasmo {

class Flatten : public Layer {
 public:
  const char* kind() const override { return "Flatten"; }
  Shape out_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

 private:
  Shape in_shape_;
  Tensor y_view_, dx_view_;
};

}  // namespace plasmo
