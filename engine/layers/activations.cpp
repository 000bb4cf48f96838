// ReLU, ReLU6, Sigmoid: the math is in activations.h and docs/math.md. Each is one elementwise kernel
// pair from the kernel table; the backward kernels read the saved output y, which tells as much as x
// for these functions (y > 0 <=> x > 0; 0 < y < 6 <=> 0 < x < 6; sigmoid' = y (1 - y)).
// Any rank is accepted ([N, C, H, W] after a conv, [N, features] after a dense layer).
#include "engine/layers/activations.h"

#include <string>

#include "engine/error.h"
#include "engine/kernels/kernels.h"
#include "engine/layers/pool2d.h"
#include "engine/layers/split.h"

namespace plasmo {

namespace {

using ForwardKernel = void (*)(size_t n, const float* x, float* y);
using BackwardKernel = void (*)(size_t n, const float* y, const float* dy, float* dx);

const Tensor& elementwise_forward(ForwardKernel kernel, const Tensor& x, Tensor& y) {
  y.resize(x.shape());
  split_floats(x.size(), [&](size_t begin, size_t end) { kernel(end - begin, x.data() + begin, y.data() + begin); });
  return y;
}

const Tensor& elementwise_backward(const char* who, BackwardKernel kernel, bool needs_input_grad, const Tensor& y,
                                   const Tensor& dy, Tensor& dx) {
  if (y.empty()) throw UsageError(std::string(who) + ": backward called before forward");
  if (dy.shape() != y.shape())
    throw ShapeError(std::string(who) + ": dy must have the output's shape " + y.shape().str() + ", got " +
                     dy.shape().str());
  if (!needs_input_grad) {
    static const Tensor none;
    return none;
  }
  dx.resize(y.shape());
  split_floats(y.size(), [&](size_t begin, size_t end) {
    kernel(end - begin, y.data() + begin, dy.data() + begin, dx.data() + begin);
  });
  return dx;
}

}  // namespace

// y = max(x, 0);  dx = dy * [y > 0]. Absorbed by the next MaxPool2d (activations.h): y is x, and the
// pool's dx comes back as it is.
const Tensor& ReLU::forward(const Tensor& x, Mode mode) {
  if (pool_) {
    x_ = &x;
    return x;
  }
  return elementwise_forward(kernels::K().relu_forward, x, y_);
}
const Tensor& ReLU::backward(const Tensor& dy) {
  if (!pool_) return elementwise_backward(kind(), kernels::K().relu_backward, needs_input_grad_, y_, dy, dx_);
  if (!x_) throw UsageError(std::string(kind()) + ": backward called before forward");
  if (pool_->relu_folded() && &dy == &pool_->input_grad()) {
    if (dy.shape() != x_->shape())
      throw ShapeError(std::string(kind()) + ": dy must have the output's shape " + x_->shape().str() + ", got " +
                       dy.shape().str());
    if (!needs_input_grad_) {
      static const Tensor none;
      return none;
    }
    return dy;  // the pool's dx: dy at each window's argmax where its max was > 0, else 0
  }
  // x in place of y: relu_backward reads only [y > 0], and [x > 0] == [relu(x) > 0].
  return elementwise_backward(kind(), kernels::K().relu_backward, needs_input_grad_, *x_, dy, dx_);
}

// y = min(max(x, 0), 6);  dx = dy * [0 < y < 6]
const Tensor& ReLU6::forward(const Tensor& x, Mode mode) {
  return elementwise_forward(kernels::K().relu6_forward, x, y_);
}
const Tensor& ReLU6::backward(const Tensor& dy) {
  return elementwise_backward(kind(), kernels::K().relu6_backward, needs_input_grad_, y_, dy, dx_);
}

// y = 1 / (1 + e^-x);  dx = dy * y * (1 - y)
const Tensor& Sigmoid::forward(const Tensor& x, Mode mode) {
  return elementwise_forward(kernels::K().sigmoid_forward, x, y_);
}
const Tensor& Sigmoid::backward(const Tensor& dy) {
  return elementwise_backward(kind(), kernels::K().sigmoid_backward, needs_input_grad_, y_, dy, dx_);
}

}  // namespace plasmo
