// Upsample2x (nearest): the math is in upsample.h and docs/math.md; the loops are the kernel table's,
// split over (n, c) planes on the thread pool (planes are independent).
#include "engine/layers/upsample.h"

#include <string>

#include "engine/error.h"
#include "engine/kernels/kernels.h"
#include "engine/layers/split.h"

namespace plasmo {

Shape Upsample2x::out_shape(const Shape& in) const {
  if (in.rank != 4) throw ShapeError(summary() + ": input x must be 4-D [N, C, H, W], got " + in.str());
  return Shape{in.n(), in.c(), 2 * in.h(), 2 * in.w()};
}

// y[n][c][2h+i][2w+j] = x[n][c][h][w] for i, j in {0, 1}.
const Tensor& Upsample2x::forward(const Tensor& x, Mode mode) {
  const Shape out = out_shape(x.shape());
  in_shape_ = x.shape();
  y_.resize(out);
  const int in_h = in_shape_.h(), in_w = in_shape_.w();
  const size_t in_plane = static_cast<size_t>(in_h) * in_w;
  split_items(out.n() * out.c(), static_cast<int64_t>(4 * in_plane), [&](int64_t begin, int64_t end) {
    kernels::K().upsample2x_forward(static_cast<int>(end - begin), in_h, in_w, x.data() + begin * in_plane,
                                    y_.data() + begin * 4 * in_plane);
  });
  return y_;
}

// dx[n][c][h][w] = sum over i, j in {0, 1} of dy[n][c][2h+i][2w+j].
const Tensor& Upsample2x::backward(const Tensor& dy) {
  if (in_shape_.rank == 0) throw UsageError(summary() + ": backward called before forward");
  if (dy.shape() != y_.shape())
    throw ShapeError(summary() + ": dy must have the output's shape " + y_.shape().str() + ", got " + dy.shape().str());
  if (!needs_input_grad_) {
    static const Tensor none;
    return none;
  }
  dx_.resize(in_shape_);
  const int in_h = in_shape_.h(), in_w = in_shape_.w();
  const size_t in_plane = static_cast<size_t>(in_h) * in_w;
  split_items(in_shape_.n() * in_shape_.c(), static_cast<int64_t>(4 * in_plane), [&](int64_t begin, int64_t end) {
    kernels::K().upsample2x_backward(static_cast<int>(end - begin), in_h, in_w, dy.data() + begin * 4 * in_plane,
                                     dx_.data() + begin * in_plane);
  });
  return dx_;
}

}  // namespace plasmo
