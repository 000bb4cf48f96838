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
// Scheduled with the following convolution (link_consumer; see ConvPrologue in conv2d.h), train mode:
// - backward: the convolution that reads this layer's output A = act(t) hands over each group of images'
//   A and dx (this layer's dy) right after computing dx, and this layer takes each image's per-channel
//   sums of g and g * (x - mu) from them (in cache) instead of reading x and dy again. Where act'(t) != 0,
//   A == t exactly and t - c = (x - mu) * scale (c = shift + mu * scale, per channel), so
//     sum g = sum over [act'(A) != 0] of dy,  sum g * (x - mu) = sum over that mask of dy * (A - c) / scale.
//   This is not the exact pass's bits (A is t rounded: per value at most 2^-25 * (2 |xhat| + |beta| / |gamma|
//   + |mu| * invstd) of std, see batchnorm2d.cpp); channels with |beta| / |gamma| + |mu| * invstd >
//   kHandOverRatio (tiny gamma: the division amplifies the rounding; gamma shrinks under weight decay) take
//   the exact pass over x and dy. Planes of kHandOverMinPlane (64) values and more take the hand-over; on
//   planes below kStatsPlane (the 8x8 stage) the consumer takes a group of images' per-image sums in one
//   kernel call (simd/handover_sums.h). Smaller planes keep the exact pass: measured in the MobileNetV2@64
//   step, the 4x4 layers' consumers took +0.33-0.57 ms each for 0.27-0.44 ms saved here (the per-image
//   horizontal sums of one vector per plane), 2x2 more still.
// - forward (forward deferral): when the consumer is a depthwise convolution and the output is large
//   (at least kDeferFloats values, planes of at least kStatsPlane), this layer's train forward computes
//   the statistics and coefficients and returns its output UNFILLED; the convolution writes it a few
//   planes at a time (forward_apply, the same kernel values as channel_affine_act) while convolving those
//   planes from L1, so the output is written once and never read back by the forward. A convolution that
//   cannot has it filled whole first (forward_finish(false)). Only that convolution may consume it; a
//   backward after a deferred forward that the convolution did not run on throws UsageError.
#pragma once
#include <atomic>
#include <vector>

#include "engine/layer.h"
#include "engine/layers/conv2d.h"
#include "engine/rng.h"

namespace plasmo {

class BatchNorm2d : public Layer, private ConvEpilogue, private ConvPrologue {
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

  // Links this layer to `conv`, whose input is this layer's output (conv directly follows it): conv's
  // backward hands over its dx for this layer's backward sums (see above). conv's in_channels must be
  // this layer's channels.
  void link_consumer(Conv2d& conv);
  Conv2d* consumer() const { return consumer_; }
  // Channels with |beta| / |gamma| + |mu| * invstd above this take the exact sums pass (see above): the
  // hand-over's error then stays under 2^-25 * (2 |xhat| + 64), ~3e-6 for |xhat| <= 10, of sum g * xc's
  // scale sqrt(m * sum g^2 * var).
  static constexpr double kHandOverRatio = 64.0;
  // Planes (H*W) from which the backward takes the hand-over (see input_grad_begin in batchnorm2d.cpp).
  static constexpr int kHandOverMinPlane = 64;  // 8x8
  // Backward statistics, for tests: backwards that took the hand-over, and channels of the last backward
  // that ran the exact sums pass (all C without the hand-over).
  int64_t handed_over_backwards() const { return handed_over_backwards_; }
  int last_exact_channels() const { return last_exact_channels_; }

  // ---- forward deferral (see above) ----
  // Outputs from this many values (as channel_affine_act's streaming threshold: smaller ones stay in L2
  // for the consumer anyway).
  static constexpr int64_t kDeferFloats = int64_t{1} << 20;
  // Tests: off, or on from smaller outputs and planes.
  void set_forward_deferral(bool enabled, int64_t min_floats = kDeferFloats, int min_plane = kStatsPlane) {
    defer_forward_ = enabled;
    defer_min_floats_ = min_floats;
    defer_min_plane_ = min_plane;
  }
  // Train forwards whose output the consumer wrote (forward_apply) / had filled whole (forward_finish(false)).
  int64_t applied_forwards() const { return applied_forwards_; }
  int64_t materialized_forwards() const { return materialized_forwards_; }

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
  // ConvPrologue
  bool input_grad_begin(const Tensor& x, const Tensor& dx, kernels::HandOverSums& sums) override;
  void input_grad_written(int first, int count) override;
  // The channels [c_begin, c_end) of sum_g_, sum_gxc_ from the hand-over (image_sum_g_, image_sum_gxc_) or,
  // for channels with exact_channel_[c] != 0 (all of them when !handed), the exact pass over x and dy.
  void backward_sums(const Tensor& dy, const Tensor& x, bool handed);
  // ConvPrologue, forward deferral
  bool forward_deferred(const Tensor& x) const override { return forward_deferred_ && &x == &y_; }
  void forward_apply(int image, int c_begin, int c_end, float* copy, bool last) override;
  void forward_finish(bool applied) override;

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
  // Backward hand-over from consumer_ (train forward only): per channel the center c' = float(shift + mu * scale)
  // (the kernel's "mean" for A), its rounding error c - c' in double, exact_channel_ (1: exact pass); per image
  // and channel [N, C] the sums of the handed images; handed_dy_ is the consumer's dx of the backward in
  // progress (null: none since this layer's forward), images_handed_ its images handed so far.
  Conv2d* consumer_ = nullptr;
  Tensor ones_, zeros_, center_, exact_channel_;
  std::vector<double> center_error_;
  Tensor image_sum_g_, image_sum_gxc_;
  const Tensor* handed_dy_ = nullptr;
  std::atomic<int> images_handed_{0};
  int64_t handed_over_backwards_ = 0;
  int last_exact_channels_ = 0;
  // eval-mode folding
  Conv2d* conv_ = nullptr;
  Tensor folded_weight_, folded_bias_;
  uint64_t folded_version_ = 0;  // parameters_version() the folded copies were built at (0: never)
  uint64_t folded_conv_weight_version_ = 0, folded_conv_bias_version_ = 0;  // conv_'s tensors' version() then
  Tensor unfolded_;        // conv_'s output without the fold, rebuilt for a backward after a folded forward
  bool deferred_ = false;  // the last backward left dx_ to materialize()
  const Tensor* deferred_dy_ = nullptr;
  const Tensor* deferred_x_ = nullptr;
  // forward deferral: y_ is left for consumer_'s forward (forward_apply / forward_finish)
  bool forward_deferred_ = false;
  bool defer_forward_ = true;
  int64_t defer_min_floats_ = kDeferFloats;
  int defer_min_plane_ = kStatsPlane;
  int64_t applied_forwards_ = 0, materialized_forwards_ = 0;
};

}  // namespace plasmo
