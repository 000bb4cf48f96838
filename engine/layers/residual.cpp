// Residual: y = post(body(x) + shortcut(x)); shortcut = identity when absent, post = ReLU or identity.
//   forward:  s = body(x) + shortcut(x);  y = relu_after ? max(s, 0) : s
//   backward: g = relu_after ? dy * [y > 0] : dy
//             dx = body^T(g) + (shortcut ? shortcut^T(g) : g)
// Arithmetic goes through the kernel table (add, relu_forward, relu_backward).
#include "engine/layers/residual.h"

#include "engine/error.h"
#include "engine/kernels/kernels.h"

namespace plasmo {

namespace {

const Tensor& no_input_grad() {
  static const Tensor empty;
  return empty;
}

// "layer1.0" + "downsample" -> "layer1.0.downsample"; an empty part drops out (describe()'s names).
std::string join_name(const std::string& name, const std::string& child) {
  if (child.empty()) return name;
  return name.empty() ? child : name + "." + child;
}

}  // namespace

Residual::Residual(std::unique_ptr<Sequential> body, std::unique_ptr<Sequential> shortcut, bool relu_after,
                   std::string body_prefix, std::string shortcut_name)
    : body_(std::move(body)),
      shortcut_(std::move(shortcut)),
      relu_after_(relu_after),
      body_prefix_(std::move(body_prefix)),
      shortcut_name_(std::move(shortcut_name)) {
  if (!body_) throw UsageError("Residual: the body is null");
  if (shortcut_ && shortcut_name_.empty())
    throw UsageError("Residual: a shortcut needs a name (torchvision calls it \"downsample\")");
}

Shape Residual::out_shape(const Shape& in) const {
  const Shape body_out = body_->out_shape(in);
  const Shape shortcut_out = shortcut_ ? shortcut_->out_shape(in) : in;
  if (body_out != shortcut_out)
    throw ShapeError("Residual: for input " + in.str() + " the body gives " + body_out.str() + " but the " +
                     (shortcut_ ? "shortcut '" + shortcut_name_ + "'" : std::string("identity shortcut")) + " gives " +
                     shortcut_out.str() + "; they must match to be added");
  return body_out;
}

const Tensor& Residual::forward(const Tensor& x, Mode mode) {
  const Shape out = out_shape(x.shape());
  x_ = &x;
  const Tensor& body_y = body_->forward(x, mode);
  const Tensor& shortcut_y = shortcut_ ? shortcut_->forward(x, mode) : x;
  const kernels::KernelTable& kt = kernels::K();
  y_.resize(out);
  if (relu_after_) {
    // s goes into grad_ (free until backward overwrites it), then y = max(s, 0).
    grad_.resize(out);
    kt.add(y_.size(), body_y.data(), shortcut_y.data(), grad_.data());
    kt.relu_forward(y_.size(), grad_.data(), y_.data());
  } else {
    kt.add(y_.size(), body_y.data(), shortcut_y.data(), y_.data());
  }
  return y_;
}

const Tensor& Residual::backward(const Tensor& dy) {
  if (x_ == nullptr) throw UsageError("Residual: backward called before forward");
  if (dy.shape() != y_.shape())
    throw ShapeError("Residual: gradient dy is " + dy.shape().str() + ", expected " + y_.shape().str());
  const kernels::KernelTable& kt = kernels::K();
  const Tensor* g = &dy;
  if (relu_after_) {
    grad_.resize(dy.shape());
    kt.relu_backward(dy.size(), y_.data(), dy.data(), grad_.data());  // g = dy * [y > 0]
    g = &grad_;
  }
  const Tensor& body_dx = body_->backward(*g);
  const Tensor* shortcut_dx = shortcut_ ? &shortcut_->backward(*g) : g;
  if (!needs_input_grad()) return no_input_grad();
  dx_.resize(x_->shape());
  kt.add(dx_.size(), body_dx.data(), shortcut_dx->data(), dx_.data());
  return dx_;
}

void Residual::params(const std::string& prefix, std::vector<Param>& out) {
  body_->params(child_prefix(prefix, body_prefix_), out);
  if (shortcut_) shortcut_->params(child_prefix(prefix, shortcut_name_), out);
}

void Residual::buffers(const std::string& prefix, std::vector<Buffer>& out) {
  body_->buffers(child_prefix(prefix, body_prefix_), out);
  if (shortcut_) shortcut_->buffers(child_prefix(prefix, shortcut_name_), out);
}

int64_t Residual::macs(const Shape& in) const { return body_->macs(in) + (shortcut_ ? shortcut_->macs(in) : 0); }

void Residual::describe(const std::string& name, const Shape& in, std::vector<LayerInfo>& out) const {
  body_->describe(join_name(name, body_prefix_), in, out);
  if (shortcut_) shortcut_->describe(join_name(name, shortcut_name_), in, out);
}

void Residual::set_needs_input_grad(bool needed) {
  needs_input_grad_ = needed;
  body_->set_needs_input_grad(needed);
  if (shortcut_) shortcut_->set_needs_input_grad(needed);
}

}  // namespace plasmo
