// The layer contract (see docs/design.md):
// - forward(x, mode) computes y into a buffer the layer owns and keeps what backward needs (including
//   a pointer to x: the caller keeps x alive and unchanged until backward returns).
// - backward(dy) returns dx (a buffer the layer owns) and ADDS into its parameters' gradients.
// - out_shape(in) is known before the first batch; buffers are resized per batch size, so after the
//   first batch of a given size nothing is allocated.
// - Parameters are {name, value, grad}; optimizer state lives in the optimizer, keyed by parameter.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace plasmo {

enum class Mode { Train, Eval };

struct Param {
  std::string name;  // PyTorch-style, e.g. "layer1.0.conv1.weight"
  Tensor* value;
  Tensor* grad;
};

// State saved with a model but not trained by gradients (BatchNorm running statistics). Exactly one of
// f32 / i64 is set; i64 is a single value (num_batches_tracked).
struct Buffer {
  std::string name;
  Tensor* f32 = nullptr;
  int64_t* i64 = nullptr;
};

// One row of `plasmo info`: a leaf layer with its output shape and costs for one image.
struct LayerInfo {
  std::string name;     // "layer1.0.conv1"
  std::string summary;  // "Conv2d(64->64, k3 s1 p1, no bias)"
  Shape out_shape;      // for a batch of 1
  int64_t params = 0;
  int64_t macs = 0;  // multiply-accumulates of conv and dense layers, per image
};

class Layer {
 public:
  virtual ~Layer() = default;

  virtual const char* kind() const = 0;  // "Conv2d"
  virtual std::string summary() const { return kind(); }

  virtual Shape out_shape(const Shape& in) const = 0;
  virtual const Tensor& forward(const Tensor& x, Mode mode) = 0;
  virtual const Tensor& backward(const Tensor& dy) = 0;

  // Appends this layer's parameters / buffers with names prefix + "weight" etc. (prefix is "" or ends in ".").
  virtual void params(const std::string& prefix, std::vector<Param>& out) { (void)prefix, (void)out; }
  virtual void buffers(const std::string& prefix, std::vector<Buffer>& out) { (void)prefix, (void)out; }

  // Multiply-accumulates per image for input shape `in` (batch dim ignored); conv and dense only.
  virtual int64_t macs(const Shape& in) const {
    (void)in;
    return 0;
  }
  // Appends one LayerInfo per leaf layer (containers recurse). `name` is this layer's full name.
  virtual void describe(const std::string& name, const Shape& in, std::vector<LayerInfo>& out) const;

  // When false, backward may skip computing dx (the first layer of a network) and returns an empty tensor.
  virtual void set_needs_input_grad(bool needed) { needs_input_grad_ = needed; }
  bool needs_input_grad() const { return needs_input_grad_; }

 protected:
  bool needs_input_grad_ = true;
};

}  // namespace plasmo
