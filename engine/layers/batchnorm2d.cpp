// BatchNorm2d, as PyTorch's (momentum 0.1, eps 1e-5, biased variance to normalise, unbiased into
// running_var), optionally fused with the ReLU / ReLU6 after it. Per channel c over the m = N*H*W values
// x[n][c][h][w]:
//   train: mu = mean(x), var = mean((x - mu)^2), invstd = 1/sqrt(var + eps),
//          t = x * scale + shift,  scale = gamma * invstd,  shift = beta - mu * scale   (PyTorch's CPU form)
//          y = act(t);
//          running_mean = (1 - momentum) * running_mean + momentum * mu
//          running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1);  num_batches_tracked++
//   eval:  the same t with scale = gamma / sqrt(running_var + eps), shift = beta - running_mean * scale
//   backward (g = dy * act'(t), recomputed from x; xc = x - mu):
//     dbeta  += sum g
//     dgamma += sum g * xhat = invstd * sum(g * xc)
//     train: dx = gamma * invstd * (g - sum(g)/m - xhat * sum(g * xhat)/m)      (through mu and var)
//              = a * g + b * xc + k,  a = gamma * invstd,  b = -a * invstd * dgamma_c / m,  k = -a * sum(g) / m
//     eval:  dx = a * g  (the running statistics are constants)
// Memory passes (the layer is memory-bound): forward train = the statistics (one read of x; none for
// planes of at least kStatsPlane values after a convolution, which hands its output over in groups while
// in cache, see output_written) + one read-and-write pass for y; backward = one read of x and dy for the sums + one
// pass for dx. Nothing but y is stored: g and xc are recomputed from x, which the caller keeps alive until backward
// (the layer contract). xc = x - mu is one float subtraction (exact when x and mu are close), rather than sums of x, so
// |mu| >> std costs no precision. Per-channel coefficients are computed here (C values, in double); every pass over the
// data is a kernel (channel_mean_var, channel_affine_act, channel_act_grad_sums, channel_act_affine2): the per-channel
// sums split the channels across the thread pool, the elementwise passes split the batch (an element's or a channel's
// result does not depend on the split).
//
// Backward with a preceding convolution (fold_into): dx is not computed here; the convolution's backward
// calls materialize() for each group of images it is about to read (the same kernel on those images), so
// dx goes from this kernel to the convolution through cache.
//
// Backward with a following convolution (link_consumer, train mode): the sums come from the convolution's
// hand-over (input_grad_begin: the consumer's conv2d_backward_sums takes them per image from A = this
// layer's output and its fresh dx = our dy, in cache) rather than a pass over x and dy: per image
// channel_act_grad_sums' values with x' = A, scale' = 1, shift' = 0,
// mean' = c' = float(shift + mu * scale) gives sum g and sum g * (A - c'); backward folds the images in
// image order in double (the same bits for any thread count and grouping), corrects for c - c' (c in
// double) and divides by scale:  sum g * (x - mu) = (sum g * (A - c') - (c - c') * sum g) / scale.
// Error per value, relative to std: (t - c) / scale carries t's rounding (|t| / |gamma| ulps of std) and
// x * scale's (|x| * invstd ulps): at most 2^-25 * (2 |xhat| + |beta| / |gamma| + |mu| * invstd), against
// 2^-25 * |xhat| for the exact pass's x - mu. Channels whose |beta| / |gamma| + |mu| * invstd exceeds
// kHandOverRatio (64: the bound stays under ~2^-25 * (2 |xhat| + 64), ~3e-6 for |xhat| <= 10) take the exact
// pass (the same kernel on x and dy for those channels: their bits are the exact pass's).
//
// Eval-mode folding (fold_into): the preceding convolution asks folded() for
//   weight'[oc] = weight[oc] * scale[oc],  bias'[oc] = (bias[oc] - running_mean[oc]) * scale[oc] + beta[oc]
// (scale from the running statistics, in double, rounded once), computes act(conv(x, weight') + bias') and
// this layer's forward returns that output as is. The folded copies are rebuilt when parameters_version()
// moved (engine/param_version.h). A backward after a folded forward recomputes the unfolded conv output
// (Conv2d::forward_unfolded) and proceeds as the unfolded eval backward.
#include "engine/layers/batchnorm2d.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "engine/error.h"
#include "engine/kernels/kernels.h"
#include "engine/layers/split.h"
#include "engine/param_version.h"

namespace plasmo {

namespace {

const Tensor& no_input_grad() {
  static const Tensor empty;
  return empty;
}

int kernel_act(BatchNorm2d::Activation act) {
  switch (act) {
    case BatchNorm2d::Activation::ReLU:
      return kernels::kActReLU;
    case BatchNorm2d::Activation::ReLU6:
      return kernels::kActReLU6;
    default:
      return kernels::kActNone;
  }
}

// fn(c_begin, c_end) over channel ranges, split across threads.
template <class Fn>
void split_channels(const Shape& shape, Fn&& fn) {
  const int64_t per_channel = static_cast<int64_t>(shape.n()) * shape.h() * shape.w();
  split_items(shape.c(), per_channel,
              [&](int64_t begin, int64_t end) { fn(static_cast<int>(begin), static_cast<int>(end)); });
}
// fn(n_begin, n_end, offset of image n_begin) over image ranges, split across threads.
template <class Fn>
void split_images(const Shape& shape, Fn&& fn) {
  const size_t image = static_cast<size_t>(shape.c()) * shape.h() * shape.w();
  split_items(shape.n(), static_cast<int64_t>(image),
              [&](int64_t begin, int64_t end) { fn(static_cast<int>(end - begin), begin * image); });
}

}  // namespace

BatchNorm2d::BatchNorm2d(int channels, Activation act, float eps, float momentum)
    : channels_(channels), act_(act), eps_(eps), momentum_(momentum) {
  if (channels < 1) throw UsageError("BatchNorm2d(" + std::to_string(channels) + "): channels must be >= 1");
  if (!(eps > 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f))
    throw UsageError("BatchNorm2d(" + std::to_string(channels) + "): eps must be > 0 and momentum in [0, 1]");
  for (Tensor* t : {&weight,  &weight_grad, &bias,   &bias_grad, &running_mean, &running_var,   &mean_,
                    &var_,    &invstd_,     &scale_, &shift_,    &sum_g_,       &sum_gxc_,      &work_a_,
                    &work_b_, &work_k_,     &ones_,  &zeros_,    &center_,      &exact_channel_})
    *t = Tensor({channels});
  ones_.fill(1.0f);
  exact_channel_.fill(1.0f);
  center_error_.assign(static_cast<size_t>(channels), 0.0);
  Rng unused;
  init_default(unused);
}

void BatchNorm2d::init_default(Rng& rng) {
  (void)rng;
  weight.fill(1.0f);
  bias.zero();
  running_mean.zero();
  running_var.fill(1.0f);
  num_batches_tracked = 0;
  parameters_changed();
}

std::string BatchNorm2d::summary() const {
  const std::string text = "BatchNorm2d(" + std::to_string(channels_) + ")";
  if (act_ == Activation::ReLU) return text + " + ReLU";
  if (act_ == Activation::ReLU6) return text + " + ReLU6";
  return text;
}

Shape BatchNorm2d::out_shape(const Shape& in) const {
  if (in.rank != 4 || in.c() != channels_)
    throw ShapeError(summary() + ": input x is " + in.str() + ", expected [N, " + std::to_string(channels_) +
                     ", H, W]");
  return in;
}

void BatchNorm2d::params(const std::string& prefix, std::vector<Param>& out) {
  parameters_changed();  // writable pointers handed out: the folded copies are stale
  out.push_back({prefix + "weight", &weight, &weight_grad});
  out.push_back({prefix + "bias", &bias, &bias_grad});
}

void BatchNorm2d::buffers(const std::string& prefix, std::vector<Buffer>& out) {
  parameters_changed();
  out.push_back({prefix + "running_mean", &running_mean, nullptr});
  out.push_back({prefix + "running_var", &running_var, nullptr});
  out.push_back({prefix + "num_batches_tracked", nullptr, &num_batches_tracked});
}

void BatchNorm2d::fold_into(Conv2d& conv) {
  if (conv.out_channels() != channels_)
    throw UsageError(summary() + ": cannot fold into " + conv.summary() + ": its output has " +
                     std::to_string(conv.out_channels()) + " channels, expected " + std::to_string(channels_));
  conv_ = &conv;
  conv.set_eval_epilogue(this);
  folded_version_ = 0;
}

void BatchNorm2d::link_consumer(Conv2d& conv) {
  if (conv.in_channels() != channels_)
    throw UsageError(summary() + ": cannot hand its backward over to " + conv.summary() + ": its input has " +
                     std::to_string(conv.in_channels()) + " channels, expected " + std::to_string(channels_));
  consumer_ = &conv;
  conv.set_prologue(this);
}

// scale = gamma * invstd, shift = beta - running_mean * scale (PyTorch's eval formula), in double.
void BatchNorm2d::eval_coefficients() {
  for (int c = 0; c < channels_; ++c) {
    const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps_);
    invstd_[c] = static_cast<float>(invstd);
    mean_[c] = running_mean[c];
    scale_[c] = static_cast<float>(weight[c] * invstd);
    shift_[c] = static_cast<float>(bias[c] - running_mean[c] * (weight[c] * invstd));
  }
}

ConvEpilogue::Folded BatchNorm2d::folded(const Conv2d& conv) {
  // Also rebuilt when the convolution's own tensors changed without the parameter version moving (a write
  // through conv.weight[i]: Tensor::version sees it).
  const uint64_t version = parameters_version();
  const uint64_t conv_weight_version = conv.weight.version(), conv_bias_version = conv.bias.version();
  if (folded_version_ != version || folded_conv_weight_version_ != conv_weight_version ||
      folded_conv_bias_version_ != conv_bias_version) {
    folded_weight_.resize(conv.weight.shape());
    folded_bias_.resize(Shape{channels_});
    const size_t per_channel = conv.weight.size() / static_cast<size_t>(channels_);
    for (int c = 0; c < channels_; ++c) {
      const double scale = weight[c] / std::sqrt(static_cast<double>(running_var[c]) + eps_);
      const float* w = conv.weight.data() + c * per_channel;
      float* folded_w = folded_weight_.data() + c * per_channel;
      for (size_t i = 0; i < per_channel; ++i) folded_w[i] = static_cast<float>(w[i] * scale);
      const double conv_bias = conv.has_bias() ? conv.bias[c] : 0.0;
      folded_bias_[c] = static_cast<float>((conv_bias - running_mean[c]) * scale + bias[c]);
    }
    folded_version_ = version;
    folded_conv_weight_version_ = conv_weight_version;
    folded_conv_bias_version_ = conv_bias_version;
  }
  return Folded{&folded_weight_, std::as_const(folded_bias_).data(), kernel_act(act_)};
}

const Tensor& BatchNorm2d::forward(const Tensor& x, Mode mode) {
  const Shape shape = out_shape(x.shape());
  const int N = shape.n(), C = channels_, HW = shape.h() * shape.w();
  const int64_t count = static_cast<int64_t>(N) * HW;  // m, values per channel
  const int act = kernel_act(act_);
  const kernels::KernelTable& kt = kernels::K();
  x_ = &x;
  last_mode_ = mode;
  deferred_ = false;
  forward_deferred_ = false;
  handed_dy_ = nullptr;  // a hand-over is for the backward of this forward only
  images_handed_ = 0;
  passed_through_ = mode == Mode::Eval && conv_ != nullptr && conv_->folded_last_forward() && &x == &conv_->output();
  if (passed_through_) return x;  // conv_ computed act(BN(conv(x))) already
  y_.resize(shape);

  if (mode == Mode::Eval) {
    eval_coefficients();
  } else {
    if (count < 2)
      throw ShapeError(summary() + ": input x is " + shape.str() +
                       ": training needs more than 1 value per channel (N*H*W >= 2)");
    if (HW >= kStatsPlane) {
      // Per image and channel (output_written took them as conv_ wrote x, when it handed over all N
      // images of this x; else a pass here, images split across threads), then merged in image order in
      // double (Chan et al.: each image's m2 = var * HW, its deviation from the running mean weighted in).
      // The same kernel calls and merge either way, so the statistics do not depend on the hand-over.
      const bool handed_over = conv_ != nullptr && &x == &conv_->output() && images_written_.load() == N &&
                               image_mean_.size() == static_cast<size_t>(N) * C;
      if (!handed_over) {
        image_mean_.resize(Shape{N, C});
        image_var_.resize(Shape{N, C});
        const size_t image = static_cast<size_t>(C) * HW;
        split_items(N, static_cast<int64_t>(image), [&](int64_t begin, int64_t end) {
          image_statistics(static_cast<int>(begin), static_cast<int>(end - begin), HW, x.data() + begin * image);
        });
      }
      for (int c = 0; c < C; ++c) {
        double total = 0.0, mean = 0.0, m2 = 0.0;
        for (int n = 0; n < N; ++n) {
          const size_t at = static_cast<size_t>(n) * C + c;
          const double mean_n = image_mean_[at], m2_n = static_cast<double>(image_var_[at]) * HW;
          const double merged = total + HW, delta = mean_n - mean;
          mean += delta * (HW / merged);
          m2 += m2_n + delta * delta * (total * HW / merged);
          total = merged;
        }
        mean_[c] = static_cast<float>(mean);
        var_[c] = static_cast<float>((m2 > 0.0 ? m2 : 0.0) / total);
      }
    } else {
      split_channels(shape, [&](int c_begin, int c_end) {
        kt.channel_mean_var(N, C, HW, c_begin, c_end, x.data(), mean_.data(), var_.data());
      });
    }
    images_written_ = 0;
    for (int c = 0; c < C; ++c) {
      const double invstd = 1.0 / std::sqrt(static_cast<double>(var_[c]) + eps_);
      const double scale = weight[c] * invstd;
      invstd_[c] = static_cast<float>(invstd);
      scale_[c] = static_cast<float>(scale);
      shift_[c] = static_cast<float>(bias[c] - mean_[c] * scale);
    }
    if (consumer_ != nullptr)
      for (int c = 0; c < C; ++c) {
        // The backward hand-over's center c = shift + mu * scale (t - c = (x - mu) * scale, in the floats the
        // forward uses), and whether channel c needs the exact pass (NaN or gamma == 0 included).
        const double center = static_cast<double>(shift_[c]) + static_cast<double>(mean_[c]) * scale_[c];
        center_[c] = static_cast<float>(center);
        center_error_[c] = center - center_[c];
        const double ratio =
            std::fabs(static_cast<double>(bias[c]) / weight[c]) + std::fabs(static_cast<double>(mean_[c])) * invstd_[c];
        exact_channel_[c] = scale_[c] != 0.0f && ratio <= kHandOverRatio ? 0.0f : 1.0f;
      }
    // Running statistics, in double as PyTorch's CPU kernel (its accumulate type for float).
    const double momentum = momentum_, unbias = static_cast<double>(count) / static_cast<double>(count - 1);
    for (int c = 0; c < C; ++c) {
      running_mean[c] = static_cast<float>(momentum * mean_[c] + (1.0 - momentum) * running_mean[c]);
      running_var[c] = static_cast<float>(momentum * var_[c] * unbias + (1.0 - momentum) * running_var[c]);
    }
    num_batches_tracked++;
    parameters_changed();  // the running statistics moved: folded copies are stale
    // ---- forward deferral: consumer_ (depthwise) writes y_ as it convolves it ----
    const bool depthwise_consumer = consumer_ != nullptr && consumer_->groups() == C && consumer_->out_channels() == C;
    if (defer_forward_ && depthwise_consumer && HW >= defer_min_plane_ &&
        static_cast<int64_t>(N) * C * HW >= defer_min_floats_) {
      forward_deferred_ = true;
      return y_;
    }
  }
  split_images(shape, [&](int images, size_t offset) {
    kt.channel_affine_act(images, C, HW, x.data() + offset, scale_.data(), shift_.data(), act, y_.data() + offset);
  });
  return y_;
}

const Tensor& BatchNorm2d::backward(const Tensor& dy) {
  if (x_ == nullptr) throw UsageError(summary() + ": backward called before forward");
  // The last train forward left its output to consumer_'s forward, which did not run on it: the output
  // (and a backward through it) would be unwritten memory.
  if (forward_deferred_)
    throw UsageError(summary() + ": backward after a train forward whose output was left for " + consumer_->summary() +
                     " to write, and that convolution's forward did not run on it");
  deferred_ = false;
  const Shape shape = x_->shape();
  if (dy.shape() != shape)
    throw ShapeError(summary() + ": gradient dy is " + dy.shape().str() + ", expected " + shape.str());
  const int N = shape.n(), C = channels_, HW = shape.h() * shape.w();
  const double count = static_cast<double>(N) * HW;
  const kernels::KernelTable& kt = kernels::K();

  // x: the input of the BatchNorm. After a folded forward x_ is the convolution's folded output, so the
  // unfolded one is recomputed (rare: eval-mode gradients, e.g. saliency).
  const Tensor* x = x_;
  if (passed_through_) {
    conv_->forward_unfolded(unfolded_);
    eval_coefficients();
    x = &unfolded_;
  }
  // The consumer's hand-over serves only its dx of this forward's output, every image of it.
  const bool handed = handed_dy_ == &dy && !passed_through_ && last_mode_ == Mode::Train &&
                      images_handed_.load() == N && image_sum_g_.size() == static_cast<size_t>(N) * C;
  handed_dy_ = nullptr;
  backward_sums(dy, *x, handed);
  // dgamma = invstd * sum(g * xc), dbeta = sum(g); work_b_ holds dgamma for now.
  for (int c = 0; c < C; ++c) work_b_[c] = static_cast<float>(static_cast<double>(invstd_[c]) * sum_gxc_[c]);
  kt.axpy(static_cast<size_t>(C), 1.0f, work_b_.data(), weight_grad.data());
  kt.axpy(static_cast<size_t>(C), 1.0f, sum_g_.data(), bias_grad.data());
  if (!needs_input_grad()) return no_input_grad();

  dx_.resize(shape);
  // train: a = gamma * invstd, b = -a * invstd^2 * sum(g * xc) / m, k = -a * sum(g) / m;  eval: b = k = 0.
  for (int c = 0; c < C; ++c) {
    const double invstd = invstd_[c], a = static_cast<double>(weight[c]) * invstd;
    work_a_[c] = static_cast<float>(a);
    work_b_[c] = last_mode_ == Mode::Eval ? 0.0f : static_cast<float>(-a * invstd * invstd * sum_gxc_[c] / count);
    work_k_[c] = last_mode_ == Mode::Eval ? 0.0f : static_cast<float>(-a * sum_g_[c] / count);
  }
  deferred_dy_ = &dy;
  deferred_x_ = x;
  deferred_ = conv_ != nullptr;
  if (deferred_) return dx_;  // conv_'s backward materializes it a group of images at a time
  split_images(shape, [&](int images, size_t offset) {
    kt.channel_act_affine2(images, C, HW, dy.data() + offset, x->data() + offset, scale_.data(), shift_.data(),
                           mean_.data(), kernel_act(act_), work_a_.data(), work_b_.data(), work_k_.data(),
                           dx_.data() + offset);
  });
  return dx_;
}

// sum_g_, sum_gxc_ (per channel) from the hand-over where it applies, else the exact pass over x and dy.
void BatchNorm2d::backward_sums(const Tensor& dy, const Tensor& x, bool handed) {
  const Shape shape = x.shape();
  const int N = shape.n(), C = channels_, HW = shape.h() * shape.w();
  const kernels::KernelTable& kt = kernels::K();
  const int act = kernel_act(act_);
  int exact = C;
  if (handed) {
    exact = 0;
    const float* image_g = std::as_const(image_sum_g_).data();
    const float* image_gxc = std::as_const(image_sum_gxc_).data();
    for (int c = 0; c < C; ++c) {
      if (exact_channel_[c] != 0.0f) {
        ++exact;
        continue;
      }
      double s_g = 0.0, s_gac = 0.0;  // sum g, sum g * (A - c')
      for (int n = 0; n < N; ++n) {
        s_g += image_g[static_cast<size_t>(n) * C + c];
        s_gac += image_gxc[static_cast<size_t>(n) * C + c];
      }
      sum_g_[c] = static_cast<float>(s_g);
      sum_gxc_[c] = static_cast<float>((s_gac - center_error_[c] * s_g) / scale_[c]);
    }
    ++handed_over_backwards_;
  }
  last_exact_channels_ = exact;
  if (exact == 0) return;
  const float* exact_channel = std::as_const(exact_channel_).data();
  split_channels(shape, [&](int c_begin, int c_end) {
    for (int c = c_begin; c < c_end;) {
      if (handed && exact_channel[c] == 0.0f) {
        ++c;
        continue;
      }
      int run_end = c + 1;  // a run of channels for the exact pass
      while (run_end < c_end && (!handed || exact_channel[run_end] != 0.0f)) ++run_end;
      kt.channel_act_grad_sums(N, C, HW, c, run_end, dy.data(), x.data(), scale_.data(), shift_.data(), mean_.data(),
                               act, sum_g_.data(), sum_gxc_.data());
      c = run_end;
    }
  });
}

bool BatchNorm2d::input_grad_begin(const Tensor& x, const Tensor& dx, kernels::HandOverSums& sums) {
  handed_dy_ = nullptr;
  images_handed_ = 0;
  // Planes of at least kHandOverMinPlane values (batchnorm2d.h). Small planes (8x8) get their per-image sums from one
  // kernel call per group of images the consumer processes (simd/handover_sums.h: the span coefficients
  // expanded once per group; a call per image, which expands them again for each image, cost the
  // consumer's backward +4.7 ms for 2.5 ms saved, 576 channels at 8x8, batch 64).
  const Shape shape = y_.shape();
  if (consumer_ == nullptr || last_mode_ != Mode::Train || passed_through_ || &x != &y_ ||
      shape.h() * shape.w() < kHandOverMinPlane)
    return false;
  image_sum_g_.resize(Shape{shape.n(), channels_});
  image_sum_gxc_.resize(Shape{shape.n(), channels_});
  handed_dy_ = &dx;
  // Per image, the sums over A (x there, this layer's output) and dx (our dy) with x' = A, scale' = 1,
  // shift' = 0, mean' = c': sum g and sum g * (A - c') into image_sum_g_[n], image_sum_gxc_[n].
  sums.scale = std::as_const(ones_).data();
  sums.shift = std::as_const(zeros_).data();
  sums.mean = std::as_const(center_).data();
  sums.act = kernel_act(act_);
  sums.sum_g = image_sum_g_.data();
  sums.sum_gxc = image_sum_gxc_.data();
  return true;
}

void BatchNorm2d::input_grad_written(int first, int count) { images_handed_ += count; }

// Whole images of at least kStatsPlane values per plane (the statistics kernel's large-plane path sums
// each plane on its own, so a call per image costs no more than the pass over the batch), in groups of
// about 1 MB of output (a part of L2, so the group is still there when the statistics read it).
// Called at the start of each train forward of conv_: the counter restarts and the per-image buffers fit.
int BatchNorm2d::stats_images(const Shape& y) {
  images_written_ = 0;
  if (y.rank != 4 || y.c() != channels_ || y.h() * y.w() < kStatsPlane) return 0;
  image_mean_.resize(Shape{y.n(), channels_});
  image_var_.resize(Shape{y.n(), channels_});
  const double image_bytes = 4.0 * channels_ * y.h() * y.w();
  const int images = static_cast<int>((1 << 20) / image_bytes);
  return images < 1 ? 1 : images;
}

// image_mean_[n], image_var_[n] (per channel) for images [first, first + count) of conv_'s output,
// counted in images_written_; forward() uses them when all N images came.
void BatchNorm2d::output_written(int first, int count, const float* y) {
  const Shape shape = conv_->output().shape();
  image_statistics(first, std::min(count, shape.n() - first), shape.h() * shape.w(), y);
  images_written_ += count;
}

// image_mean_[n], image_var_[n] for images [first, first + count), whose planes of HW values start at
// images (image `first`): one statistics call per image, so an image's values do not depend on its group.
void BatchNorm2d::image_statistics(int first, int count, int HW, const float* images) {
  const int C = channels_;
  const size_t image = static_cast<size_t>(C) * HW;
  const kernels::KernelTable& kt = kernels::K();
  for (int i = 0; i < count; ++i) {
    const size_t at = static_cast<size_t>(first + i) * C;
    kt.channel_mean_var(1, C, HW, 0, C, images + i * image, image_mean_.data() + at, image_var_.data() + at);
  }
}

// ---- forward deferral ----
// Planes [c_begin, c_end) of image `image`: y_ streamed and copy, both channel_affine_act's values.
void BatchNorm2d::forward_apply(int image, int c_begin, int c_end, float* copy, bool last) {
  const Shape shape = y_.shape();
  const int C = channels_, HW = shape.h() * shape.w();
  const size_t offset = (static_cast<size_t>(image) * C + c_begin) * HW;
  kernels::K().channel_affine_act_copy(1, c_end - c_begin, HW, x_->data() + offset,
                                       std::as_const(scale_).data() + c_begin, std::as_const(shift_).data() + c_begin,
                                       kernel_act(act_), y_.data() + offset, copy, last);
}

void BatchNorm2d::forward_finish(bool applied) {
  if (!forward_deferred_) return;
  forward_deferred_ = false;
  if (applied) {
    ++applied_forwards_;
    return;
  }
  ++materialized_forwards_;
  const Shape shape = y_.shape();
  const kernels::KernelTable& kt = kernels::K();
  split_images(shape, [&](int images, size_t offset) {
    kt.channel_affine_act(images, channels_, shape.h() * shape.w(), x_->data() + offset, scale_.data(), shift_.data(),
                          kernel_act(act_), y_.data() + offset);
  });
}

void BatchNorm2d::materialize(int first, int count, float* out) {
  const Shape shape = deferred_x_->shape();
  const int C = channels_, HW = shape.h() * shape.w();
  const size_t offset = static_cast<size_t>(first) * C * HW;
  kernels::K().channel_act_affine2(count, C, HW, deferred_dy_->data() + offset, deferred_x_->data() + offset,
                                   scale_.data(), shift_.data(), mean_.data(), kernel_act(act_), work_a_.data(),
                                   work_b_.data(), work_k_.data(), out);
}

}  // namespace plasmo
