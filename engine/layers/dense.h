// Dense (PyTorch Linear): y[n][o] = b[o] + sum_i W[o][i] * x[n][i].
// x [N, in_features] (or any [N, ...] with in_features elements per sample) -> y [N, out_features].
//   forward:  y = x W^T + b          (sgemm, rows of y start as b)
//   backward: dx = dy W  (shaped as x),  dW += dy^T x,  db += sum over n of dy[n]
// Dense layers here are small (classifier heads), so they run on the calling thread.
#pragma once
#include "engine/layer.h"
#include "engine/rng.h"

namespace plasmo {

class Dense : public Layer {
 public:
  Dense(int in_features, int out_features, bool bias = true);
  const char* kind() const override { return "Dense"; }
  std::string summary() const override;
  Shape out_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;
  void params(const std::string& prefix, std::vector<Param>& out) override;
  int64_t macs(const Shape& in) const override;

  // PyTorch's default: W, b ~ U(-1/sqrt(in_features), 1/sqrt(in_features)).
  void init_default(Rng& rng);

  int in_features() const { return in_features_; }
  int out_features() const { return out_features_; }

  Tensor weight, weight_grad;  // [out_features, in_features]
  Tensor bias, bias_grad;      // [out_features]

 private:
  int in_features_, out_features_;
  bool has_bias_;
  const Tensor* x_ = nullptr;
  Tensor y_, dx_;
};

}  // namespace plasmo
