// Dropout: the math and the way masks are drawn are in dropout.h and docs/math.md.
#include "engine/layers/dropout.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "engine/error.h"
#include "engine/kernels/kernels.h"
#include "engine/layers/split.h"

namespace plasmo {

Dropout::Dropout(float p, uint64_t seed) : p_(p), rng_(seed) {
  if (!(p >= 0.0f && p <= 1.0f)) throw UsageError(summary() + ": p must be in [0, 1]");
}

std::string Dropout::summary() const {
  char text[48];
  std::snprintf(text, sizeof text, "Dropout(p=%g)", static_cast<double>(p_));
  return text;
}

// train: mask[i] = [u_i >= p] / (1 - p), y = x * mask;  eval: y = x.
const Tensor& Dropout::forward(const Tensor& x, Mode mode) {
  in_shape_ = x.shape();
  last_train_ = mode == Mode::Train;
  if (!last_train_) {
    y_view_ = Tensor::view(const_cast<float*>(x.data()), x.shape());
    return y_view_;
  }
  y_.resize(x.shape());
  mask_.resize(x.shape());
  const uint64_t stream = rng_.next_u64();  // one step of rng() per training forward
  const float keep_scale = p_ < 1.0f ? 1.0f / (1.0f - p_) : 0.0f;
  const size_t count = x.size();
  const int64_t blocks = (static_cast<int64_t>(count) + kMaskBlock - 1) / kMaskBlock;
  // Blocks are fixed-size and each has its own generator, so any split over workers draws the same mask.
  split_items(blocks, kMaskBlock, [&](int64_t begin, int64_t end) {
    const size_t first = static_cast<size_t>(begin) * kMaskBlock;
    const size_t last = std::min(static_cast<size_t>(end) * kMaskBlock, count);
    for (int64_t block = begin; block < end; ++block) {
      Rng draws = Rng::derive(stream, static_cast<uint64_t>(block));
      const size_t block_first = static_cast<size_t>(block) * kMaskBlock;
      const size_t block_last = std::min(block_first + kMaskBlock, count);
      for (size_t i = block_first; i < block_last; ++i) mask_[i] = draws.uniform() >= p_ ? keep_scale : 0.0f;
    }
    kernels::K().mul(last - first, x.data() + first, mask_.data() + first, y_.data() + first);
  });
  return y_;
}

// train: dx = dy * mask;  eval: dx = dy.
const Tensor& Dropout::backward(const Tensor& dy) {
  if (in_shape_.rank == 0) throw UsageError(summary() + ": backward called before forward");
  if (dy.shape() != in_shape_)
    throw ShapeError(summary() + ": dy must have the output's shape " + in_shape_.str() + ", got " + dy.shape().str());
  if (!needs_input_grad_) {
    static const Tensor none;
    return none;
  }
  if (!last_train_) {
    dx_view_ = Tensor::view(const_cast<float*>(dy.data()), dy.shape());
    return dx_view_;
  }
  dx_.resize(dy.shape());
  split_floats(dy.size(), [&](size_t begin, size_t end) {
    kernels::K().mul(end - begin, dy.data() + begin, mask_.data() + begin, dx_.data() + begin);
  });
  return dx_;
}

}  // namespace plasmo
