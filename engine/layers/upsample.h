// Upsample2x (nearest): y[n][c][2h+i][2w+j] = x[n][c][h][w]; dx[h][w] = sum of the four dy it fed.
#pragma once
#include "engine/layer.h"

namespace plasmo {

class Upsample2x : public Layer {
 public:
  const char* kind() const override { return "Upsample"; }
  std::string summary() const override { return "Upsample(nearest, x2)"; }
  Shape out_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

 private:
  Shape in_shape_;
  Tensor y_, dx_;
};

}  // namespace plasmo
