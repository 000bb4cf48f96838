// Pooling over each (n, c) plane.
//   MaxPool2d: y = max over the window (padding never wins); backward routes dy to the argmax.
//   AvgPool2d: y = sum over the window / (kernel*kernel) (padding counts as 0: count_include_pad=True).
//   GlobalAvgPool: y[n][c][0][0] = mean over H*W.
// out = (in + 2*padding - kernel) / stride + 1 (floor, ceil_mode=False as PyTorch's default).
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
  std::string summary() const override;
  Shape out_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

 private:
  int kernel_, stride_, padding_;
  Shape in_shape_;
  std::vector<int32_t> argmax_;
  Tensor y_, dx_;
};

class AvgPool2d : public Layer {
 public:
  AvgPool2d(int kernel, int stride, int padding = 0);
  const char* kind() const override { return "AvgPool2d"; }
  std::string summary() const override;
  Shape out_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

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
