// BatchNorm2d, as PyTorch: per channel c over N*H*W values,
//   train: mu, var = batch mean and biased variance; y = gamma * (x - mu) / sqrt(var + eps) + beta;
//          running_mean = (1-momentum)*running_mean + momentum*mu;
//          running_var  = (1-momentum)*running_var  + momentum*var * m/(m-1)   (unbiased, m = N*H*W)
//   eval:  the same with running_mean / running_var.
// weight = gamma (init 1), bias = beta (init 0); buffers running_mean (0), running_var (1), num_batches_tracked.
//   backward, xhat = (x - mu) * invstd, m = N*H*W values per channel (x - mu is kept from the forward):
//     dgamma += sum dy * xhat,  dbeta += sum dy
//     train: dx = gamma * invstd * (dy - sum(dy)/m - xhat * sum(dy * xhat)/m)   (mu, var depend on x)
//     eval:  dx = gamma * invstd * dy                                           (running stats are constants)
#pragma once
#include "engine/layer.h"
#include "engine/rng.h"

namespace plasmo {

class BatchNorm2d : public Layer {
 public:
  explicit BatchNorm2d(int channels, float eps = 1e-5f, float momentum = 0.1f);
  const char* kind() const override { return "BatchNorm2d"; }
  std::string summary() const override;
  Shape out_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;
  void params(const std::string& prefix, std::vector<Param>& out) override;
  void buffers(const std::string& prefix, std::vector<Buffer>& out) override;

  // PyTorch's reset_parameters + reset_running_stats: gamma 1, beta 0, running_mean 0, running_var 1,
  // num_batches_tracked 0. The constructor already does this; draws nothing from rng (the signature
  // matches Conv2d's and Dense's so an init walk treats every parameterised layer alike).
  void init_default(Rng& rng);

  int channels() const { return channels_; }
  float eps() const { return eps_; }
  float momentum() const { return momentum_; }

  Tensor weight, weight_grad;  // gamma [C]
  Tensor bias, bias_grad;      // beta [C]
  Tensor running_mean, running_var;
  int64_t num_batches_tracked = 0;

 private:
  int channels_;
  float eps_, momentum_;
  Mode last_mode_ = Mode::Eval;
  const Tensor* x_ = nullptr;
  Tensor y_, dx_;
  Tensor centered_;                  // x - mu (train: by forward; eval: by backward, mu = running_mean)
  Tensor mean_, var_, invstd_;       // statistics used by the last forward, per channel
  Tensor ones_, neg_mean_;           // per channel: centered = x * 1 + (-mu)
  Tensor scale_, shift_;             // per channel: the affine map that gives y
  Tensor sum_dy_, sum_dy_centered_;  // per channel, backward
  Tensor work_a_, work_b_, work_k_;  // backward coefficients, per channel: dx = dy*a + centered*b + k
};

}  // namespace plasmo
