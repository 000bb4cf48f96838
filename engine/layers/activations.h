// Elementwise activations; backward reads the saved output y.
//   ReLU:    y = max(x, 0)            dx = dy * [y > 0]
//   ReLU6:   y = min(max(x, 0), 6)    dx = dy * [0 < y < 6]
//   Sigmoid: y = 1 / (1 + e^-x)       dx = dy * y * (1 - y)
#pragma once
#include "engine/layer.h"

namespace plasmo {

class ReLU : public Layer {
 public:
  const char* kind() const override { return "ReLU"; }
  Shape out_shape(const Shape& in) const override { return in; }
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

 private:
  Tensor y_, dx_;
};

class ReLU6 : public Layer {
 public:
  const char* kind() const override { return "ReLU6"; }
  Shape out_shape(const Shape& in) const override { return in; }
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

 private:
  Tensor y_, dx_;
};

class Sigmoid : public Layer {
 public:
  const char* kind() const override { return "Sigmoid"; }
  Shape out_shape(const Shape& in) const override { return in; }
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

 private:
  Tensor y_, dx_;
};

}  // namespace plasmo
