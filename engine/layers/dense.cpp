// Dense (PyTorch Linear): the arithmetic is K().sgemm and K().axpy; the layer checks shapes and owns
// the buffers.
//   x [N, in_features] (trailing dims flattened), weight [out_features, in_features], bias [out_features]
//   forward:  y[n][o] = b[o] + sum_i W[o][i] * x[n][i]                    y = x W^T + b
//   backward: dx[n][i] = sum_o dy[n][o] * W[o][i]                          dx = dy W
//             dW[o][i] += sum_n dy[n][o] * x[n][i]                         dW += dy^T x
//             db[o]    += sum_n dy[n][o]
#include "engine/layers/dense.h"

#include <cmath>
#include <cstring>
#include <string>

#include "engine/error.h"
#include "engine/kernels/kernels.h"

namespace plasmo {

namespace {
const Tensor& no_input_grad() {
  static const Tensor empty;
  return empty;
}
}  // namespace

Dense::Dense(int in_features, int out_features, bool with_bias)
    : in_features_(in_features), out_features_(out_features), has_bias_(with_bias) {
  if (in_features < 1 || out_features < 1)
    throw UsageError("Dense(" + std::to_string(in_features) + "->" + std::to_string(out_features) +
                     "): feature counts must be >= 1");
  weight = Tensor({out_features, in_features});
  weight_grad = Tensor(weight.shape());
  if (has_bias_) {
    bias = Tensor({out_features});
    bias_grad = Tensor({out_features});
  }
}

std::string Dense::summary() const {
  return "Dense(" + std::to_string(in_features_) + "->" + std::to_string(out_features_) +
         (has_bias_ ? ")" : ", no bias)");
}

Shape Dense::out_shape(const Shape& in) const {
  size_t features = 1;
  for (int axis = 1; axis < in.rank; ++axis) features *= static_cast<size_t>(in.dims[axis]);
  if (in.rank < 2 || features != static_cast<size_t>(in_features_))
    throw ShapeError(summary() + ": input x is " + in.str() + ", expected [N, " + std::to_string(in_features_) +
                     "] or [N, ...] with " + std::to_string(in_features_) + " values per sample");
  return Shape{in.n(), out_features_};
}

int64_t Dense::macs(const Shape& in) const {
  out_shape(in);
  return static_cast<int64_t>(in_features_) * out_features_;
}

void Dense::params(const std::string& prefix, std::vector<Param>& out) {
  out.push_back({prefix + "weight", &weight, &weight_grad});
  if (has_bias_) out.push_back({prefix + "bias", &bias, &bias_grad});
}

void Dense::init_default(Rng& rng) {
  // kaiming_uniform_(a=sqrt(5)) gives bound 1/sqrt(fan_in); PyTorch's bias init uses the same bound.
  const float bound = 1.0f / std::sqrt(static_cast<float>(in_features_));
  for (size_t i = 0; i < weight.size(); ++i) weight[i] = rng.uniform(-bound, bound);
  if (has_bias_)
    for (size_t i = 0; i < bias.size(); ++i) bias[i] = rng.uniform(-bound, bound);
}

// y = x W^T + b: each row of y starts as b, then sgemm accumulates x [N x in] * W^T [in x out].
const Tensor& Dense::forward(const Tensor& x, Mode mode) {
  const Shape out = out_shape(x.shape());
  const int N = out.n();
  x_ = &x;
  y_.resize(out);
  if (has_bias_)
    for (int n = 0; n < N; ++n)
      std::memcpy(y_.data() + static_cast<size_t>(n) * out_features_, bias.data(), sizeof(float) * out_features_);
  kernels::K().sgemm(false, true, N, out_features_, in_features_, x.data(), in_features_, weight.data(), in_features_,
                     y_.data(), out_features_, has_bias_);
  return y_;
}

const Tensor& Dense::backward(const Tensor& dy) {
  if (x_ == nullptr) throw UsageError(summary() + ": backward called before forward");
  const Shape expected = out_shape(x_->shape());
  if (dy.shape() != expected)
    throw ShapeError(summary() + ": gradient dy is " + dy.shape().str() + ", expected " + expected.str());
  const int N = expected.n();
  const kernels::KernelTable& kt = kernels::K();
  // dW [out x in] += dy^T [out x N] * x [N x in]
  kt.sgemm(true, false, out_features_, in_features_, N, dy.data(), out_features_, x_->data(), in_features_,
           weight_grad.data(), in_features_, true);
  // db += dy[n] for each n, in order
  if (has_bias_)
    for (int n = 0; n < N; ++n)
      kt.axpy(out_features_, 1.0f, dy.data() + static_cast<size_t>(n) * out_features_, bias_grad.data());
  if (!needs_input_grad()) return no_input_grad();
  // dx [N x in] = dy [N x out] * W [out x in], shaped as x
  dx_.resize(x_->shape());
  kt.sgemm(false, false, N, in_features_, out_features_, dy.data(), out_features_, weight.data(), in_features_,
           dx_.data(), in_features_, false);
  return dx_;
}

}  // namespace plasmo
