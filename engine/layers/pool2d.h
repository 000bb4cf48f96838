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
#include <vector>

#include "engine/kernels/kernels.h"
#include "engine/layer.h"

namespace plasmo {

class MaxPool2d : public Layer {
 public:
  MaxPool2d(int kernel, int stride, int padding = 0);
  const char* kind() const override { return "MaxPool2d"; }
  std::string summary() const override;  // "MaxPool2d(k3 s2 p1)"
  Shape out_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

  int kernel() const { return kernel_; }
  int stride() const { return stride_; }
  int padding() const { return padding_; }

 private:
  int kernel_, stride_, padding_;
  Shape in_shape_;
  std::vector<int32_t> argmax_;  // per output: h*W + w of its max within the plane
  Tensor y_, dx_;
};

class AvgPool2d : public Layer {
 public:
  AvgPool2d(int kernel, int stride, int padding = 0);
  const char* kind() const override { return "AvgPool2d"; }
  std::string summary() const override;  // "AvgPool2d(k3 s2 p1)"
  Shape out_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

  int kernel() const { return kernel_; }
  int stride() const { return stride_; }
  int padding() const { return padding_; }

 private:
  int kernel_, stride_, padding_;
  Shape in_shape_;
  Tensor y_, dx_;
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
