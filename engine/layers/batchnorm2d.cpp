// BatchNorm2d, as PyTorch's (momentum 0.1, eps 1e-5, biased variance to normalise, unbiased into
// running_var). Per channel c over the m = N*H*W values x[n][c][h][w]:
//   train: mu = mean(x), var = mean((x - mu)^2), invstd = 1/sqrt(var + eps), xhat = (x - mu) * invstd,
//          y = gamma * xhat + beta;
//          running_mean = (1 - momentum) * running_mean + momentum * mu
//          running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1);  num_batches_tracked++
//   eval:  y = x * scale + shift,  scale = gamma / sqrt(running_var + eps),  shift = beta - running_mean * scale
//   backward (xc = x - mu, kept from the forward):
//     dbeta  += sum dy
//     dgamma += sum dy * xhat = invstd * sum(dy * xc)
//     train: dx = gamma * invstd * (dy - sum(dy)/m - xhat * sum(dy * xhat)/m)      (through mu and var)
//              = a * dy + b * xc + k,  a = gamma * invstd,  b = -a * invstd * dgamma_c / m,  k = -a * sum(dy) / m
//     eval:  dx = a * dy  (the running statistics are constants)
// Keeping xc = x - mu (one rounding, exact when x and mu are close) rather than x avoids the cancellation of
// sum(dy * x) - mu * sum(dy) when |mu| >> std. Per-channel coefficients are computed here (C values, in
// double); every pass over the data is a kernel (channel_mean_var, channel_affine, channel_grad_sums,
// channel_affine2), the elementwise ones with the batch split across the thread pool by split_items (an
// image's result does not depend on the split).
#include "engine/layers/batchnorm2d.h"

#include <cmath>
#include <string>

#include "engine/error.h"
#include "engine/kernels/kernels.h"
#include "engine/layers/split.h"

namespace plasmo {

namespace {

const Tensor& no_input_grad() {
  static const Tensor empty;
  return empty;
}

// y = x * scale[c] + shift[c], the batch split across threads.
void affine_parallel(const Shape& shape, const float* x, const float* scale, const float* shift, float* y) {
  const int C = shape.c(), HW = shape.h() * shape.w();
  const size_t image = static_cast<size_t>(C) * HW;
  const kernels::KernelTable& kt = kernels::K();
  split_items(shape.n(), static_cast<int64_t>(image), [&](int64_t begin, int64_t end) {
    kt.channel_affine(static_cast<int>(end - begin), C, HW, x + begin * image, scale, shift, y + begin * image);
  });
}

}  // namespace

BatchNorm2d::BatchNorm2d(int channels, float eps, float momentum)
    : channels_(channels), eps_(eps), momentum_(momentum) {
  if (channels < 1) throw UsageError("BatchNorm2d(" + std::to_string(channels) + "): channels must be >= 1");
  if (!(eps > 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f))
    throw UsageError("BatchNorm2d(" + std::to_string(channels) + "): eps must be > 0 and momentum in [0, 1]");
  for (Tensor* t : {&weight, &weight_grad, &bias, &bias_grad, &running_mean, &running_var, &mean_, &var_, &invstd_,
                    &ones_, &neg_mean_, &scale_, &shift_, &sum_dy_, &sum_dy_centered_, &work_a_, &work_b_, &work_k_})
    *t = Tensor({channels});
  ones_.fill(1.0f);
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
}

std::string BatchNorm2d::summary() const { return "BatchNorm2d(" + std::to_string(channels_) + ")"; }

Shape BatchNorm2d::out_shape(const Shape& in) const {
  if (in.rank != 4 || in.c() != channels_)
    throw ShapeError(summary() + ": input x is " + in.str() + ", expected [N, " + std::to_string(channels_) +
                     ", H, W]");
  return in;
}

void BatchNorm2d::params(const std::string& prefix, std::vector<Param>& out) {
  out.push_back({prefix + "weight", &weight, &weight_grad});
  out.push_back({prefix + "bias", &bias, &bias_grad});
}

void BatchNorm2d::buffers(const std::string& prefix, std::vector<Buffer>& out) {
  out.push_back({prefix + "running_mean", &running_mean, nullptr});
  out.push_back({prefix + "running_var", &running_var, nullptr});
  out.push_back({prefix + "num_batches_tracked", nullptr, &num_batches_tracked});
}

const Tensor& BatchNorm2d::forward(const Tensor& x, Mode mode) {
  const Shape shape = out_shape(x.shape());
  const int N = shape.n(), C = channels_, HW = shape.h() * shape.w();
  const int64_t count = static_cast<int64_t>(N) * HW;  // m, values per channel
  x_ = &x;
  last_mode_ = mode;
  y_.resize(shape);

  if (mode == Mode::Eval) {
    // scale = gamma * invstd, shift = beta - running_mean * scale (PyTorch's eval formula).
    for (int c = 0; c < C; ++c) {
      const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps_);
      invstd_[c] = static_cast<float>(invstd);
      mean_[c] = running_mean[c];
      scale_[c] = static_cast<float>(weight[c] * invstd);
      shift_[c] = static_cast<float>(bias[c] - running_mean[c] * (weight[c] * invstd));
    }
    affine_parallel(shape, x.data(), scale_.data(), shift_.data(), y_.data());
    return y_;
  }

  if (count < 2)
    throw ShapeError(summary() + ": input x is " + shape.str() +
                     ": training needs more than 1 value per channel (N*H*W >= 2)");
  kernels::K().channel_mean_var(N, C, HW, x.data(), mean_.data(), var_.data());
  // xc = x - mu; y = xc * (gamma * invstd) + beta.
  for (int c = 0; c < C; ++c) {
    const double invstd = 1.0 / std::sqrt(static_cast<double>(var_[c]) + eps_);
    invstd_[c] = static_cast<float>(invstd);
    neg_mean_[c] = -mean_[c];
    scale_[c] = static_cast<float>(weight[c] * invstd);
  }
  centered_.resize(shape);
  affine_parallel(shape, x.data(), ones_.data(), neg_mean_.data(), centered_.data());
  affine_parallel(shape, centered_.data(), scale_.data(), bias.data(), y_.data());

  // Running statistics, in double as PyTorch's CPU kernel (its accumulate type for float).
  const double momentum = momentum_, unbias = static_cast<double>(count) / static_cast<double>(count - 1);
  for (int c = 0; c < C; ++c) {
    running_mean[c] = static_cast<float>(momentum * mean_[c] + (1.0 - momentum) * running_mean[c]);
    running_var[c] = static_cast<float>(momentum * var_[c] * unbias + (1.0 - momentum) * running_var[c]);
  }
  num_batches_tracked++;
  return y_;
}

const Tensor& BatchNorm2d::backward(const Tensor& dy) {
  if (x_ == nullptr) throw UsageError(summary() + ": backward called before forward");
  const Shape shape = x_->shape();
  if (dy.shape() != shape)
    throw ShapeError(summary() + ": gradient dy is " + dy.shape().str() + ", expected " + shape.str());
  const int N = shape.n(), C = channels_, HW = shape.h() * shape.w();
  const double count = static_cast<double>(N) * HW;
  const kernels::KernelTable& kt = kernels::K();

  if (last_mode_ == Mode::Eval) {  // xc = x - running_mean, which the forward folded into its shift
    for (int c = 0; c < C; ++c) neg_mean_[c] = -mean_[c];
    centered_.resize(shape);
    affine_parallel(shape, x_->data(), ones_.data(), neg_mean_.data(), centered_.data());
  }
  kt.channel_grad_sums(N, C, HW, dy.data(), centered_.data(), sum_dy_.data(), sum_dy_centered_.data());
  // dgamma = invstd * sum(dy * xc), dbeta = sum(dy); work_b_ holds dgamma for now.
  for (int c = 0; c < C; ++c) work_b_[c] = static_cast<float>(static_cast<double>(invstd_[c]) * sum_dy_centered_[c]);
  kt.axpy(static_cast<size_t>(C), 1.0f, work_b_.data(), weight_grad.data());
  kt.axpy(static_cast<size_t>(C), 1.0f, sum_dy_.data(), bias_grad.data());
  if (!needs_input_grad()) return no_input_grad();

  dx_.resize(shape);
  if (last_mode_ == Mode::Eval) {
    for (int c = 0; c < C; ++c) {
      work_a_[c] = static_cast<float>(static_cast<double>(weight[c]) * invstd_[c]);
      work_k_[c] = 0.0f;
    }
    affine_parallel(shape, dy.data(), work_a_.data(), work_k_.data(), dx_.data());  // dx = a * dy
    return dx_;
  }
  // dx = a * dy + b * xc + k: a = gamma * invstd, b = -a * invstd^2 * sum(dy * xc) / m, k = -a * sum(dy) / m.
  for (int c = 0; c < C; ++c) {
    const double invstd = invstd_[c], a = static_cast<double>(weight[c]) * invstd;
    work_a_[c] = static_cast<float>(a);
    work_b_[c] = static_cast<float>(-a * invstd * invstd * sum_dy_centered_[c] / count);
    work_k_[c] = static_cast<float>(-a * sum_dy_[c] / count);
  }
  const size_t image = static_cast<size_t>(C) * HW;
  split_items(N, static_cast<int64_t>(image), [&](int64_t begin, int64_t end) {
    kt.channel_affine2(static_cast<int>(end - begin), C, HW, dy.data() + begin * image,
                       centered_.data() + begin * image, work_a_.data(), work_b_.data(), work_k_.data(),
                       dx_.data() + begin * image);
  });
  return dx_;
}

}  // namespace plasmo
