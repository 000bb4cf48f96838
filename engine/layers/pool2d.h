// Pooling over each (n, c) plane; window(oh, ow) = rows oh*stride - padding + [0, kernel), same for columns.
//   MaxPool2d: y[n][c][oh][ow] = max over the window (padding never wins);
//              dx[n][c][h][w] = sum of dy[n][c][oh][ow] over the outputs whose argmax is (h, w).
//   AvgPool2d: y = sum over the window / (kernel*kernel) (padding counts as 0: count_include_pad=True);
//              dx[h][w] = sum over the windows that contain (h, w) of dy / (kernel*kernel).
//   GlobalAvgPool: y[n][c][0][0] = mean over H*W;  dx[n][c][h][w] = dy[n][c][0][0] / (H*W).
// out = (in + 2*padding - kernel) / stride + 1 (floor, ceil_mode=False as PyTorch's default). As in
// PyTorch, padding <= kernel/2, so every window holds at least one real input.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/kernels/kernels.h"
#include "engine/layer.h"

namespace plasmo {

class ReLU;

// What MaxPool2d and AvgPool2d share: the window (kernel, stride, padding) with its argument checks,
// summary() and out_shape(), and the buffers with the checks that open each forward and backward.
class WindowPool2d : public Layer {
 public:
  std::string summary() const override;  // e.g. "MaxPool2d(k3 s2 p1)"
  Shape out_shape(const Shape& in) const override;

  int kernel() const { return kernel_; }
  int stride() const { return stride_; }
  int padding() const { return padding_; }

 protected:
  // `kind` is the derived layer's kind() (not yet callable here), for the argument check's message.
  WindowPool2d(const char* kind, int kernel, int stride, int padding);
  // Checks x, keeps its shape and sizes y_; returns the geometry of all N*C planes.
  kernels::PoolGeom begin_forward(const Tensor& x);
  // Checks dy against the last forward; false when no dx is wanted, else sizes dx_ and returns true.
  bool begin_backward(const Tensor& dy);
  // The geometry of all N*C planes of the last forward's input.
  kernels::PoolGeom geometry() const;

  int kernel_, stride_, padding_;
  Shape in_shape_;
  Tensor y_, dx_;
};

// A ReLU directly before the pool can be absorbed (absorb): the pool computes
//   y = max over the window of relu(x) = relu(max over the window of x)   (max and ReLU commute, bit for bit)
// on the pooled values (4x fewer for 2x2), and the ReLU passes its input on untouched (activations.h). The
// gradients agree: where the window max is <= 0 every relu(x) of the window is 0 and no input gets dy (the
// unfused ReLU's backward zeroes it), else the argmax is the same element (the first max, > 0, is the same
// in x and relu(x)) and gets dy, as the unfused pair gives it. Parameters and names do not change.
class MaxPool2d : public WindowPool2d {
 public:
  MaxPool2d(int kernel, int stride, int padding = 0);
  const char* kind() const override { return "MaxPool2d"; }
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

  // Takes over `relu`, which must directly precede this pool and have no other consumer. A forward folds
  // the ReLU in when its input is the tensor the ReLU passed on (relu_folded()); any other input is pooled
  // as it is.
  void absorb(ReLU& relu);
  const ReLU* absorbed() const { return relu_; }
  bool relu_folded() const { return relu_folded_; }  // the last forward computed relu(max)
  const Tensor& input_grad() const { return dx_; }   // the last backward's dx

 private:
  std::vector<int32_t> argmax_;  // per output: h*W + w of its max within the plane (-1: no gradient)
  ReLU* relu_ = nullptr;
  bool relu_folded_ = false;
};

// Has every MaxPool2d that directly follows a ReLU in a Sequential (under root, Residual bodies and
// shortcuts included) absorb it.
void absorb_relus(Layer& root);

class AvgPool2d : public WindowPool2d {
 public:
  AvgPool2d(int kernel, int stride, int padding = 0);
  const char* kind() const override { return "AvgPool2d"; }
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;
};

class GlobalAvgPool : public Layer {
 public:
  const char* kind() const override { return "GlobalAvgPool"; }
  Shape out_shape(const Shape& in) const override;  // [N, C, 1, 1]
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

 private:
  Shape in_shape_;
  Tensor y_, dx_;
};

}  // namespace plasmo
