// MaxPool2d, AvgPool2d, GlobalAvgPool: the math is in pool2d.h and docs/math.md. The loops are the
// kernel table's (kernels::K()); this file checks shapes, owns the buffers and splits the (n, c) planes
// over the thread pool (planes are independent, so the split never changes the result).
#include "engine/layers/pool2d.h"

#include <string>

#include "engine/error.h"
#include "engine/layers/activations.h"
#include "engine/layers/residual.h"
#include "engine/layers/split.h"
#include "engine/net.h"

namespace plasmo {

namespace {

const Tensor& no_input_grad() {
  static const Tensor none;
  return none;
}

std::string window_text(const char* kind, int kernel, int stride, int padding) {
  return std::string(kind) + "(k" + std::to_string(kernel) + " s" + std::to_string(stride) + " p" +
         std::to_string(padding) + ")";
}

void check_window_args(const std::string& who, int kernel, int stride, int padding) {
  if (kernel < 1 || stride < 1 || padding < 0)
    throw UsageError(who + ": kernel and stride must be >= 1 and padding >= 0");
  if (2 * padding > kernel)
    throw UsageError(who + ": padding must be at most half the kernel (as PyTorch), so no window is all padding");
}

// The checks below run every batch: they name the layer (layer.summary(), a new string) only when they
// throw, so forward and backward allocate nothing after the first batch.
void require_4d(const Layer& layer, const Shape& in) {
  if (in.rank != 4) throw ShapeError(layer.summary() + ": input x must be 4-D [N, C, H, W], got " + in.str());
  if (in.h() < 1 || in.w() < 1) throw ShapeError(layer.summary() + ": input x has an empty plane, got " + in.str());
}

// out = (in + 2*padding - kernel) / stride + 1 per axis; the window must fit the padded input.
Shape pooled_shape(const Layer& layer, const Shape& in, int kernel, int stride, int padding) {
  require_4d(layer, in);
  if (in.h() + 2 * padding < kernel || in.w() + 2 * padding < kernel)
    throw ShapeError(layer.summary() + ": window " + std::to_string(kernel) + "x" + std::to_string(kernel) +
                     " is larger than the padded input: x is " + in.str() + ", padded plane " +
                     std::to_string(in.h() + 2 * padding) + "x" + std::to_string(in.w() + 2 * padding));
  return Shape{in.n(), in.c(), (in.h() + 2 * padding - kernel) / stride + 1,
               (in.w() + 2 * padding - kernel) / stride + 1};
}

void require_forward_done(const Layer& layer, const Shape& in_shape) {
  if (in_shape.rank == 0) throw UsageError(layer.summary() + ": backward called before forward");
}

void require_dy_shape(const Layer& layer, const Tensor& dy, const Shape& expected) {
  if (dy.shape() != expected)
    throw ShapeError(layer.summary() + ": dy must have the output's shape " + expected.str() + ", got " +
                     dy.shape().str());
}

// Splits the planes of g over the thread pool: body(geometry of planes [begin, end), index of their first
// input float, index of their first output float). Planes are independent, so the split never changes
// the result.
template <class Body>
void split_planes(const kernels::PoolGeom& g, Body&& body) {
  const size_t in_plane = static_cast<size_t>(g.in_h) * g.in_w, out_plane = static_cast<size_t>(g.out_h) * g.out_w;
  split_items(g.planes, static_cast<int64_t>(in_plane), [&](int64_t begin, int64_t end) {
    kernels::PoolGeom part = g;
    part.planes = static_cast<int>(end - begin);
    body(part, begin * in_plane, begin * out_plane);
  });
}

}  // namespace

// ---- WindowPool2d (MaxPool2d, AvgPool2d) -------------------------------------------------------------

WindowPool2d::WindowPool2d(const char* kind, int kernel, int stride, int padding)
    : kernel_(kernel), stride_(stride), padding_(padding) {
  check_window_args(window_text(kind, kernel, stride, padding), kernel, stride, padding);
}

std::string WindowPool2d::summary() const { return window_text(kind(), kernel_, stride_, padding_); }

Shape WindowPool2d::out_shape(const Shape& in) const { return pooled_shape(*this, in, kernel_, stride_, padding_); }

kernels::PoolGeom WindowPool2d::begin_forward(const Tensor& x) {
  const Shape out = out_shape(x.shape());
  in_shape_ = x.shape();
  y_.resize(out);
  return geometry();
}

bool WindowPool2d::begin_backward(const Tensor& dy) {
  require_forward_done(*this, in_shape_);
  require_dy_shape(*this, dy, y_.shape());
  if (!needs_input_grad_) return false;
  dx_.resize(in_shape_);
  return true;
}

kernels::PoolGeom WindowPool2d::geometry() const {
  return kernels::make_pool_geom(in_shape_.n() * in_shape_.c(), in_shape_.h(), in_shape_.w(), kernel_, stride_,
                                 padding_);
}

// ---- MaxPool2d ----------------------------------------------------------------------------------------

MaxPool2d::MaxPool2d(int kernel, int stride, int padding) : WindowPool2d("MaxPool2d", kernel, stride, padding) {}

void MaxPool2d::absorb(ReLU& relu) {
  if (relu.pool_ && relu.pool_ != this) throw UsageError(summary() + ": this ReLU is absorbed by another MaxPool2d");
  relu_ = &relu;
  relu.pool_ = this;
}

// x [N, C, H, W] -> y [N, C, OH, OW]; argmax_[o] = h*W + w of the input that won output o. With the ReLU
// folded in: y = max(0, window max), argmax_ = -1 where that is 0.
const Tensor& MaxPool2d::forward(const Tensor& x, Mode mode) {
  kernels::PoolGeom g = begin_forward(x);
  argmax_.resize(y_.shape().numel());
  relu_folded_ = relu_ != nullptr && relu_->passed_through() == &x;
  g.relu = relu_folded_;
  split_planes(g, [&](const kernels::PoolGeom& part, size_t in_at, size_t out_at) {
    kernels::K().maxpool2d_forward(part, x.data() + in_at, y_.data() + out_at, argmax_.data() + out_at);
  });
  return y_;
}

// dx[n][c][h][w] = sum of dy[n][c][o] over the outputs o with argmax_[o] == h*W + w (a scatter).
const Tensor& MaxPool2d::backward(const Tensor& dy) {
  if (!begin_backward(dy)) return no_input_grad();
  split_planes(geometry(), [&](const kernels::PoolGeom& part, size_t in_at, size_t out_at) {
    kernels::K().maxpool2d_backward(part, dy.data() + out_at, argmax_.data() + out_at, dx_.data() + in_at);
  });
  return dx_;
}

// ---- AvgPool2d ----------------------------------------------------------------------------------------

AvgPool2d::AvgPool2d(int kernel, int stride, int padding) : WindowPool2d("AvgPool2d", kernel, stride, padding) {}

// y[n][c][oh][ow] = (1 / kernel^2) * sum over the window of x (padding contributes 0, still counted).
const Tensor& AvgPool2d::forward(const Tensor& x, Mode mode) {
  split_planes(begin_forward(x), [&](const kernels::PoolGeom& part, size_t in_at, size_t out_at) {
    kernels::K().avgpool2d_forward(part, x.data() + in_at, y_.data() + out_at);
  });
  return y_;
}

// dx[h][w] = (1 / kernel^2) * sum of dy over the windows that contain (h, w).
const Tensor& AvgPool2d::backward(const Tensor& dy) {
  if (!begin_backward(dy)) return no_input_grad();
  split_planes(geometry(), [&](const kernels::PoolGeom& part, size_t in_at, size_t out_at) {
    kernels::K().avgpool2d_backward(part, dy.data() + out_at, dx_.data() + in_at);
  });
  return dx_;
}

// ---- GlobalAvgPool ------------------------------------------------------------------------------------

Shape GlobalAvgPool::out_shape(const Shape& in) const {
  require_4d(*this, in);
  return Shape{in.n(), in.c(), 1, 1};
}

// y[n][c][0][0] = (1 / (H*W)) * sum over h, w of x[n][c][h][w].
const Tensor& GlobalAvgPool::forward(const Tensor& x, Mode mode) {
  const Shape out = out_shape(x.shape());
  in_shape_ = x.shape();
  y_.resize(out);
  const int plane_size = in_shape_.h() * in_shape_.w();
  split_items(out.n() * out.c(), plane_size, [&](int64_t begin, int64_t end) {
    kernels::K().global_avgpool_forward(static_cast<int>(end - begin), plane_size, x.data() + begin * plane_size,
                                        y_.data() + begin);
  });
  return y_;
}

// dx[n][c][h][w] = dy[n][c][0][0] / (H*W).
const Tensor& GlobalAvgPool::backward(const Tensor& dy) {
  require_forward_done(*this, in_shape_);
  require_dy_shape(*this, dy, y_.shape());
  if (!needs_input_grad_) return no_input_grad();
  dx_.resize(in_shape_);
  const int plane_size = in_shape_.h() * in_shape_.w();
  split_items(in_shape_.n() * in_shape_.c(), plane_size, [&](int64_t begin, int64_t end) {
    kernels::K().global_avgpool_backward(static_cast<int>(end - begin), plane_size, dy.data() + begin,
                                         dx_.data() + begin * plane_size);
  });
  return dx_;
}

// ---- ReLU + MaxPool2d pairing ------------------------------------------------------------------------

void absorb_relus(Layer& root) {
  if (auto* sequential = dynamic_cast<Sequential*>(&root)) {
    for (size_t i = 0; i < sequential->size(); ++i) {
      absorb_relus(sequential->at(i));
      if (i == 0) continue;
      auto* relu = dynamic_cast<ReLU*>(&sequential->at(i - 1));
      auto* pool = dynamic_cast<MaxPool2d*>(&sequential->at(i));
      if (relu && pool) pool->absorb(*relu);
    }
  } else if (auto* residual = dynamic_cast<Residual*>(&root)) {
    absorb_relus(residual->body());
    if (residual->shortcut()) absorb_relus(*residual->shortcut());
  }
}

}  // namespace plasmo
