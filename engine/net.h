// Sequential: named children run in order. Names give PyTorch's parameter names: a child "conv1" of a
// Sequential named "layer1.0" owns "layer1.0.conv1.weight". Children without parameters (ReLU) keep
// their index names too, so torchvision's numbering ("features.0.2") lines up.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/layer.h"

namespace plasmo {

class Sequential : public Layer {
 public:
  Sequential() = default;

  // Appends a child; returns it for further set-up.
  Layer& add(std::string name, std::unique_ptr<Layer> layer);
  template <class L, class... A>
  L& emplace(std::string name, A&&... args) {
    auto layer = std::make_unique<L>(std::forward<A>(args)...);
    L& ref = *layer;
    add(std::move(name), std::move(layer));
    return ref;
  }

  size_t size() const { return children_.size(); }
  Layer& at(size_t index) { return *children_[index].layer; }
  const Layer& at(size_t index) const { return *children_[index].layer; }
  const std::string& name_at(size_t index) const { return children_[index].name; }
  Layer* find(const std::string& name);  // direct child by name, or null

  const char* kind() const override { return "Sequential"; }
  Shape out_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;
  void params(const std::string& prefix, std::vector<Param>& out) override;
  void buffers(const std::string& prefix, std::vector<Buffer>& out) override;
  int64_t macs(const Shape& in) const override;
  void describe(const std::string& name, const Shape& in, std::vector<LayerInfo>& out) const override;
  // Only the first child needs to skip its input gradient.
  void set_needs_input_grad(bool needed) override;

 private:
  struct Child {
    std::string name;
    std::unique_ptr<Layer> layer;
  };
  std::vector<Child> children_;
  const Tensor* x_ = nullptr;  // for an empty Sequential (identity)
};

// Joins a prefix and a child name: ("", "fc") -> "fc.", ("layer1.", "0") -> "layer1.0.".
std::string child_prefix(const std::string& prefix, const std::string& name);

// All parameters / buffers of a network with their full names.
std::vector<Param> collect_params(Layer& net);
std::vector<Buffer> collect_buffers(Layer& net);
// Sets every parameter gradient to zero.
void zero_grads(Layer& net);

}  // namespace plasmo
