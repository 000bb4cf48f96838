// Flatten: [N, C, H, W] -> [N, C*H*W] (PyTorch's Flatten(start_dim=1)). Row-major memory already has
// that order, so forward is a view of x and backward a view of dy: nothing is copied or allocated.
// The views are read-only by contract (forward/backward return const references).
#include "engine/layers/flatten.h"

#include <string>

#include "engine/error.h"

namespace plasmo {

Shape Flatten::out_shape(const Shape& in) const {
  if (in.rank < 2) throw ShapeError("Flatten: input x must have a batch dim and at least one more, got " + in.str());
  int features = 1;  // C*H*W for a 4-D input
  for (int axis = 1; axis < in.rank; ++axis) features *= in[axis];
  return Shape{in.n(), features};
}

// y[n][(c*H + h)*W + w] = x[n][c][h][w]
const Tensor& Flatten::forward(const Tensor& x, Mode mode) {
  const Shape out = out_shape(x.shape());
  in_shape_ = x.shape();
  y_view_ = Tensor::view(const_cast<float*>(x.data()), out);
  return y_view_;
}

// dx = dy seen as [N, C, H, W]
const Tensor& Flatten::backward(const Tensor& dy) {
  if (in_shape_.rank == 0) throw UsageError("Flatten: backward called before forward");
  if (dy.shape() != out_shape(in_shape_))
    throw ShapeError("Flatten: dy must have the output's shape " + out_shape(in_shape_).str() + ", got " +
                     dy.shape().str());
  if (!needs_input_grad_) {
    static const Tensor none;
    return none;
  }
  dx_view_ = Tensor::view(const_cast<float*>(dy.data()), in_shape_);
  return dx_view_;
}

}  // namespace plasmo
