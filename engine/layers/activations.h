// Elementwise activations; backward reads the saved output y.
//   ReLU:    y = max(x, 0)            dx = dy * [y > 0]
//   ReLU6:   y = min(max(x, 0), 6)    dx = dy * [0 < y < 6]
//   Sigmoid: y = 1 / (1 + e^-x)       dx = dy * y * (1 - y)
#pragma once
#include "engine/layer.h"

namespace plasmo {

class MaxPool2d;

// A ReLU right before a MaxPool2d can be absorbed by it (MaxPool2d::absorb, engine/layers/pool2d.h; the
// models call absorb_relus): the pool then computes max(0, window max) itself (max and ReLU commute) and
// this layer does no pass of its own over the tensor:
// - forward returns x untouched (its output is not relu(x): only that pool may consume it);
// - backward, given the pool's dx of a forward that folded the ReLU in, returns it untouched (it is already
//   0 wherever x <= 0); given any other dy it computes dy * [x > 0] ([x > 0] == [relu(x) > 0]).
class ReLU : public Layer {
 public:
  const char* kind() const override { return "ReLU"; }
  Shape out_shape(const Shape& in) const override { return in; }
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

  const MaxPool2d* absorbed_by() const { return pool_; }
  // The last forward's input when absorbed (its output was that tensor), else null.
  const Tensor* passed_through() const { return x_; }

 private:
  friend class MaxPool2d;  // absorb() sets pool_
  const MaxPool2d* pool_ = nullptr;
  const Tensor* x_ = nullptr;
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
