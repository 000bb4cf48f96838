// Residual: y = post(body(x) + shortcut(x)), shortcut = identity when absent, post = ReLU or nothing.
//   backward: g = post'(dy); dx = body^T(g) + shortcut^T(g)   (identity shortcut: + g)
// ResNet's BasicBlock is a Residual with post = ReLU; MobileNetV2's inverted residual has no post.
// Parameter names: the body's children are named under `body_prefix` ("" puts them straight in the
// block, as torchvision's BasicBlock: conv1, bn1, ...; "conv" gives conv.0.0 ... as InvertedResidual),
// the shortcut's under `shortcut_name` ("downsample").
#pragma once
#include <memory>
#include <string>

#include "engine/layer.h"
#include "engine/net.h"

namespace plasmo {

class Residual : public Layer {
 public:
  Residual(std::unique_ptr<Sequential> body, std::unique_ptr<Sequential> shortcut, bool relu_after,
           std::string body_prefix = "", std::string shortcut_name = "downsample");
  const char* kind() const override { return "Residual"; }
  Shape out_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;
  void params(const std::string& prefix, std::vector<Param>& out) override;
  void buffers(const std::string& prefix, std::vector<Buffer>& out) override;
  int64_t macs(const Shape& in) const override;
  void describe(const std::string& name, const Shape& in, std::vector<LayerInfo>& out) const override;
  // Passes the flag to the body and the shortcut: without dx neither needs its input gradient.
  void set_needs_input_grad(bool needed) override;

  Sequential& body() { return *body_; }
  Sequential* shortcut() { return shortcut_.get(); }  // null for identity
  bool relu_after() const { return relu_after_; }

 private:
  std::unique_ptr<Sequential> body_, shortcut_;
  bool relu_after_;
  std::string body_prefix_, shortcut_name_;
  const Tensor* x_ = nullptr;
  Tensor y_, grad_, dx_;  // grad_ = dy masked by the ReLU after the add
};

}  // namespace plasmo
