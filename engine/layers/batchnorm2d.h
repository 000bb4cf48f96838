// BatchNorm2d, as PyTorch: per channel c over N*H*W values,
//   train: mu, var = batch mean and biased variance; y = gamma * (x - mu) / sqrt(var + eps) + beta;
//          running_mean = (1-momentum)*running_mean + momentum*mu;
//          running_var  = (1-momentum)*running_var  + momentum*var * m/(m-1)   (unbiased, m = N*H*W)
//   eval:  the same with running_mean / running_var.
// weight = gamma (init 1), bias = beta (init 0); buffers running_mean (0), running_var (1), num_batches_tracked.
#pragma once
#include "engine/layer.h"

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

  int channels() const { return channels_; }
  float eps() const { return eps_; }

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
  Tensor mean_, invstd_;  // statistics used by the last forward, per channel
  Tensor scale_, shift_;  // y = x * scale + shift, per channel
  Tensor work_a_, work_b_, work_k_;  // backward coefficients, per channel
};

}  // namespace plasmo
