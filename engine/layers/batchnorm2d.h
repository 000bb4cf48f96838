// BatchNorm2d, as PyTorch, optionally fused with the activation that follows it (ReLU or ReLU6: one pass
// forward and two backward instead of separate layers' five). Per channel c over N*H*W values:
//   train: mu, var = batch mean and biased variance; y = act(gamma * (x - mu) / sqrt(var + eps) + beta);
//          running_mean = (1-momentum)*running_mean + momentum*mu;
//          running_var  = (1-momentum)*running_var  + momentum*var * m/(m-1)   (unbiased, m = N*H*W)
//   eval:  the same with running_mean / running_var.
// weight = gamma (init 1), bias = beta (init 0); buffers running_mean (0), running_var (1), num_batches_tracked.
// The activation has no parameters, so a fused layer keeps PyTorch's names (the BN's); act = None is plain BN.
//   backward, t = BN(x) (before the activation), g = dy * act'(t), xhat = (x - mu) * invstd, m = N*H*W:
//     dgamma += sum g * xhat,  dbeta += sum g
//     train: dx = gamma * invstd * (g - sum(g)/m - xhat * sum(g * xhat)/m)   (mu, var depend on x)
//     eval:  dx = gamma * invstd * g                                         (running stats are constants)
// Scheduled with the preceding convolution (fold_into; see ConvEpilogue in conv2d.h):
// - train forward, planes of at least kStatsPlane values: the convolution hands over its output a group
//   of images at a time as it writes it, and this layer takes each image's per-channel mean and variance
//   then (in cache), merging them in its forward instead of reading the whole x again;
// - eval forward: the convolution computes act(BN(conv(x))) itself with BN folded into its weights and
//   bias, and this layer passes it on;
// - backward: this layer computes its parameter gradients and the per-channel coefficients of dx, and
//   returns dx UNFILLED: the convolution's backward has it computed a group of images at a time
//   (materialize), right before reading it. Only that convolution may consume the returned tensor.
#pragma once
#include <atomic>

#include "engine/layer.h"
#include "engine/layers/conv2d.h"
#include "engine/rng.h"

namespace plasmo {

class BatchNorm2d : public Layer, private ConvEpilogue {
 public:
  enum class Activation { None, ReLU, ReLU6 };

  explicit BatchNorm2d(int channels, Activation act = Activation::None, float eps = 1e-5f, float momentum = 0.1f);
  const char* kind() const override { return "BatchNorm2d"; }
  std::string summary() const override;  // "BatchNorm2d(32)", "BatchNorm2d(32) + ReLU6"
  Shape out_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;
  void params(const std::string& prefix, std::vector<Param>& out) override;
  void buffers(const std::string& prefix, std::vector<Buffer>& out) override;

  // PyTorch's reset_parameters + reset_running_stats: gamma 1, beta 0, running_mean 0, running_var 1,
  // num_batches_tracked 0. The constructor already does this; draws nothing from rng (the signature
  // matches Conv2d's and Dense's so an init walk treats every parameterised layer alike).
  void init_default(Rng& rng);

  // Folds this layer into `conv` for eval mode: conv's output channels must be this layer's channels, and
  // conv must directly precede it (its output is this layer's input). Training is unaffected.
  void fold_into(Conv2d& conv);
  Conv2d* folded_into() const { return conv_; }

  static constexpr int kStatsPlane = 256;  // planes (H*W) from which the statistics are taken per image
  int channels() const { return channels_; }
  Activation activation() const { return act_; }
  float eps() const { return eps_; }
  float momentum() const { return momentum_; }

  Tensor weight, weight_grad;  // gamma [C]
  Tensor bias, bias_grad;      // beta [C]
  Tensor running_mean, running_var;
  int64_t num_batches_tracked = 0;

 private:
  // ConvEpilogue
  Folded folded(const Conv2d& conv) override;
  int stats_images(const Shape& y) override;
  void output_written(int first, int count, const float* y) override;
  void image_statistics(int first, int count, int HW, const float* images);
  bool deferred(const Tensor& dy) const override { return deferred_ && &dy == &dx_; }
  void materialize(int first, int count, float* out) override;
  void eval_coefficients();  // scale_, shift_, mean_, invstd_ from the running statistics

  int channels_;
  Activation act_;
  float eps_, momentum_;
  Mode last_mode_ = Mode::Eval;
  bool passed_through_ = false;  // the last forward was folded into conv_ (y is conv_'s output)
  const Tensor* x_ = nullptr;
  Tensor y_, dx_;
  Tensor mean_, var_, invstd_;  // statistics used by the last forward, per channel
  Tensor scale_, shift_;        // per channel: t = x * scale + shift (before the activation)
  Tensor sum_g_, sum_gxc_;      // per channel, backward
  // Train forward after conv_: per image and channel [N, C], the mean and variance of the image's plane,
  // taken as conv_ wrote each group (output_written); images_written_ counts them since conv_'s forward.
  Tensor image_mean_, image_var_;
  std::atomic<int> images_written_{0};
  Tensor work_a_, work_b_, work_k_;  // backward coefficients, per channel: dx = g*a + (x - mu)*b + k
  // eval-mode folding
  Conv2d* conv_ = nullptr;
  Tensor folded_weight_, folded_bias_;
  uint64_t folded_version_ = 0;  // parameters_version() the folded copies were built at (0: never)
  uint64_t folded_conv_weight_version_ = 0, folded_conv_bias_version_ = 0;  // conv_'s tensors' version() then
  Tensor unfolded_;        // conv_'s output without the fold, rebuilt for a backward after a folded forward
  bool deferred_ = false;  // the last backward left dx_ to materialize()
  const Tensor* deferred_dy_ = nullptr;
  const Tensor* deferred_x_ = nullptr;
};

}  // namespace plasmo
