#include "engine/net.h"

#include "engine/error.h"

namespace plasmo {

std::string child_prefix(const std::string& prefix, const std::string& name) {
  if (name.empty()) return prefix;
  return prefix + name + ".";
}

Layer& Sequential::add(std::string name, std::unique_ptr<Layer> layer) {
  for (const Child& child : children_)
    if (child.name == name) throw UsageError("two children named '" + name + "' in one Sequential");
  children_.push_back({std::move(name), std::move(layer)});
  if (children_.size() == 1) children_[0].layer->set_needs_input_grad(needs_input_grad_);
  return *children_.back().layer;
}

Layer* Sequential::find(const std::string& name) {
  for (Child& child : children_)
    if (child.name == name) return child.layer.get();
  return nullptr;
}

Shape Sequential::out_shape(const Shape& in) const {
  Shape shape = in;
  for (const Child& child : children_) shape = child.layer->out_shape(shape);
  return shape;
}

const Tensor& Sequential::forward(const Tensor& x, Mode mode) {
  x_ = &x;
  const Tensor* current = &x;
  for (Child& child : children_) current = &child.layer->forward(*current, mode);
  return *current;
}

const Tensor& Sequential::backward(const Tensor& dy) {
  const Tensor* current = &dy;
  for (size_t i = children_.size(); i-- > 0;) current = &children_[i].layer->backward(*current);
  return *current;
}

void Sequential::params(const std::string& prefix, std::vector<Param>& out) {
  for (Child& child : children_) child.layer->params(child_prefix(prefix, child.name), out);
}

void Sequential::buffers(const std::string& prefix, std::vector<Buffer>& out) {
  for (Child& child : children_) child.layer->buffers(child_prefix(prefix, child.name), out);
}

int64_t Sequential::macs(const Shape& in) const {
  int64_t total = 0;
  Shape shape = in;
  for (const Child& child : children_) {
    total += child.layer->macs(shape);
    shape = child.layer->out_shape(shape);
  }
  return total;
}

void Sequential::describe(const std::string& name, const Shape& in, std::vector<LayerInfo>& out) const {
  Shape shape = in;
  for (const Child& child : children_) {
    std::string child_name = name.empty() ? child.name : (child.name.empty() ? name : name + "." + child.name);
    child.layer->describe(child_name, shape, out);
    shape = child.layer->out_shape(shape);
  }
}

void Sequential::set_needs_input_grad(bool needed) {
  needs_input_grad_ = needed;
  if (!children_.empty()) children_[0].layer->set_needs_input_grad(needed);
}

std::vector<Param> collect_params(Layer& net) {
  std::vector<Param> out;
  net.params("", out);
  return out;
}

std::vector<Buffer> collect_buffers(Layer& net) {
  std::vector<Buffer> out;
  net.buffers("", out);
  return out;
}

void zero_grads(Layer& net) {
  for (Param& p : collect_params(net)) p.grad->zero();
}

}  // namespace plasmo
