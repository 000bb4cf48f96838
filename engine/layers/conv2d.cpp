// Conv2d: the layer owns shapes, buffers and the split of the work across threads; all arithmetic is in
// the kernel table (K().conv2d_forward / conv2d_forward_part / conv2d_backward_data /
// conv2d_backward_weight, axpy; conv2d_backward_sums when a ConvPrologue takes the BatchNorm's backward
// sums). Forward splits the output (so one image can use every core), backward splits the batch.
//
//   x [N, in_channels, H, W], weight [out_channels, in_channels/groups, kernel, kernel], bias [out_channels]
//   y [N, out_channels, OH, OW],  OH = (H + 2*padding - kernel) / stride + 1  (same for OW)
//   forward:  y  = conv(x, W) + b
//   backward: dx = conv_transpose(dy, W)                       (skipped when !needs_input_grad())
//             dW += sum over n of dy[n] (*) x[n],  db += sum over n, oh, ow of dy
#include "engine/layers/conv2d.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "engine/error.h"
#include "engine/layers/split.h"
#include "engine/param_version.h"
#include "engine/threads.h"

namespace plasmo {

namespace {

// Floats rounded up to a whole number of 64-byte lines, so workers' slices never share a cache line.
size_t round_to_line(size_t floats) { return (floats + 15) / 16 * 16; }

// What backward returns when the input gradient is not needed (the layer contract's empty tensor).
const Tensor& no_input_grad() {
  static const Tensor empty;
  return empty;
}

// Below this many multiply-accumulates per batch the batch stays on the calling thread: waking a worker
// costs 3-60 us on an idle machine (engine/layers/split.h) and up to a millisecond when the other core is
// busy, while 64K MACs of scalar convolution take about 0.1 ms forward (measured on the dev machine).
constexpr int64_t kMinMacsToSplit = 65536;

// How many workers share the batch: the pool's size when the work is worth splitting, else 1.
int batch_workers(const ThreadPool& pool, const kernels::ConvGeom& g) {
  const int64_t macs = static_cast<int64_t>(g.batch) * g.out_channels * g.out_h * g.out_w * (g.in_channels / g.groups) *
                       g.kernel_h * g.kernel_w;
  const bool split = pool.size() > 1 && g.batch > 1 && !ThreadPool::in_worker() && macs >= kMinMacsToSplit;
  return split ? pool.size() : 1;
}

// Forward (any batch, one image included): below this many multiply-accumulates per worker the layer
// runs on the calling thread. The SIMD kernels do 1M MACs in ~10-20 us on one core, about what waking
// the second worker costs when the machine is busy (engine/layers/split.h), so a split pays from there.
constexpr int64_t kMinMacsPerForwardWorker = 1 << 20;

int forward_workers(const ThreadPool& pool, const kernels::ConvGeom& g) {
  const int64_t macs = static_cast<int64_t>(g.batch) * g.out_channels * g.out_h * g.out_w * (g.in_channels / g.groups) *
                       g.kernel_h * g.kernel_w;
  if (pool.size() == 1 || ThreadPool::in_worker()) return 1;
  return macs >= kMinMacsPerForwardWorker * pool.size() ? pool.size() : 1;
}

// Calls fn(begin, end, worker) on the pool's fixed chunks of [0, batch) when workers > 1, else once
// with the whole batch as worker 0.
template <class Fn>
void for_batch(ThreadPool& pool, int batch, int workers, Fn&& fn) {
  if (workers > 1)
    pool.parallel_for(batch, fn);
  else
    fn(int64_t{0}, static_cast<int64_t>(batch), 0);
}

// Backward runs the data and weight passes on groups of this many images: one group's dy, x and dx
// (the passes' whole traffic) fit in about half of a 2 MB L2, so the weight pass reads dy and x from
// cache rather than memory (MobileNetV2's 32x32 and 16x16 stages stream 10-25 MB per tensor at batch 64).
// A group is at least large enough that the per-call work on the weights (the transposed weights of
// backward data, the weight-gradient tile sums) stays under a tenth of the group's activation traffic.
int64_t backward_sub_batch(const kernels::ConvGeom& g, size_t weight_floats) {
  constexpr double kCacheBytes = 1 << 20;
  const double image_bytes = 4.0 * (static_cast<double>(g.out_channels) * g.out_h * g.out_w +
                                    2.0 * static_cast<double>(g.in_channels) * g.in_h * g.in_w);
  const double by_cache = kCacheBytes / image_bytes, by_weights = 10.0 * 4.0 * weight_floats / image_bytes;
  const double images = std::max(1.0, std::max(by_cache, by_weights));
  return images >= g.batch ? g.batch : static_cast<int64_t>(images);
}

}  // namespace

Conv2d::Conv2d(int in_channels, int out_channels, int kernel, int stride, int padding, int groups, bool with_bias)
    : in_channels_(in_channels),
      out_channels_(out_channels),
      kernel_(kernel),
      stride_(stride),
      padding_(padding),
      groups_(groups),
      has_bias_(with_bias) {
  if (in_channels < 1 || out_channels < 1 || kernel < 1 || stride < 1 || padding < 0 || groups < 1)
    throw UsageError("Conv2d(in " + std::to_string(in_channels) + ", out " + std::to_string(out_channels) +
                     ", kernel " + std::to_string(kernel) + ", stride " + std::to_string(stride) + ", padding " +
                     std::to_string(padding) + ", groups " + std::to_string(groups) +
                     "): channels, kernel, stride and groups must be >= 1, padding >= 0");
  if (in_channels % groups != 0 || out_channels % groups != 0)
    throw UsageError("Conv2d(" + std::to_string(in_channels) + "->" + std::to_string(out_channels) + ", groups " +
                     std::to_string(groups) + "): groups must divide in_channels and out_channels");
  weight = Tensor({out_channels, in_channels / groups, kernel, kernel});
  weight_grad = Tensor(weight.shape());
  if (has_bias_) {
    bias = Tensor({out_channels});
    bias_grad = Tensor({out_channels});
  }
}

std::string Conv2d::summary() const {
  std::string text = "Conv2d(" + std::to_string(in_channels_) + "->" + std::to_string(out_channels_) + ", k" +
                     std::to_string(kernel_) + " s" + std::to_string(stride_) + " p" + std::to_string(padding_);
  if (groups_ > 1) text += groups_ == in_channels_ ? ", depthwise" : ", groups " + std::to_string(groups_);
  if (!has_bias_) text += ", no bias";
  return text + ")";
}

Shape Conv2d::out_shape(const Shape& in) const {
  if (in.rank != 4 || in.c() != in_channels_)
    throw ShapeError(summary() + ": input x is " + in.str() + ", expected [N, " + std::to_string(in_channels_) +
                     ", H, W]");
  const int padded_h = in.h() + 2 * padding_, padded_w = in.w() + 2 * padding_;
  if (padded_h < kernel_ || padded_w < kernel_)
    throw ShapeError(summary() + ": input x is " + in.str() + ", its padded plane " + std::to_string(padded_h) + "x" +
                     std::to_string(padded_w) + " is smaller than the " + std::to_string(kernel_) + "x" +
                     std::to_string(kernel_) + " kernel");
  return Shape{in.n(), out_channels_, (padded_h - kernel_) / stride_ + 1, (padded_w - kernel_) / stride_ + 1};
}

kernels::ConvGeom Conv2d::geometry(const Shape& in) const {
  out_shape(in);  // throws on a bad shape
  return kernels::make_conv_geom(in.n(), in_channels_, in.h(), in.w(), out_channels_, kernel_, stride_, padding_,
                                 groups_);
}

int64_t Conv2d::macs(const Shape& in) const {
  const Shape out = out_shape(in);
  return static_cast<int64_t>(out_channels_) * out.h() * out.w() * (in_channels_ / groups_) * kernel_ * kernel_;
}

void Conv2d::params(const std::string& prefix, std::vector<Param>& out) {
  parameters_changed();  // writable pointers handed out: folded copies of the weights are stale
  out.push_back({prefix + "weight", &weight, &weight_grad});
  if (has_bias_) out.push_back({prefix + "bias", &bias, &bias_grad});
}

void Conv2d::init_default(Rng& rng) {
  // kaiming_uniform_(a=sqrt(5)): bound = sqrt(2/(1+5)) * sqrt(3/fan_in) = 1/sqrt(fan_in); the bias uses the same.
  const int fan_in = (in_channels_ / groups_) * kernel_ * kernel_;
  const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
  for (size_t i = 0; i < weight.size(); ++i) weight[i] = rng.uniform(-bound, bound);
  if (has_bias_)
    for (size_t i = 0; i < bias.size(); ++i) bias[i] = rng.uniform(-bound, bound);
}

float* Conv2d::worker_scratch(const kernels::ConvGeom& g, int workers) {
  kernels::ConvGeom slice = g;
  slice.batch = (g.batch + workers - 1) / workers;  // the largest chunk parallel_for hands a worker
  scratch_stride_ = round_to_line(kernels::K().conv2d_scratch_floats(slice));
  return scratch_.ensure(scratch_stride_ * static_cast<size_t>(workers));
}

const float* Conv2d::packed_weights(const kernels::KernelTable& kt, const kernels::ConvGeom& g, const Tensor& w,
                                    bool several_calls) {
  const int layout = kt.conv2d_packed_layout ? kt.conv2d_packed_layout(g) : 0;
  if (layout == 0) return nullptr;
  const uint64_t version = w.version();
  if (packed_table_ != &kt || packed_layout_ != layout || packed_source_ != &w || packed_version_ != version) {
    float* packed = packed_.ensure(kt.conv2d_packed_floats(g));  // sized at first use: no allocation later
    // Packed on the second forward with the same W, not the first: a training step's forward meets
    // weights the optimizer has just changed and reads them once, and packing them ahead is an extra
    // pass over W (ResNet-18's layer4: write and re-read 9.4 MB, ~1 ms of 8.5) that the kernel's own
    // packing of each panel as it goes avoids. Same bits either way (KernelTable). A forward that calls
    // the kernel several times (forward_groups) packs at once: each call would pack W for itself.
    if (!several_calls && (seen_source_ != &w || seen_version_ != version)) {
      seen_source_ = &w;
      seen_version_ = version;
      return nullptr;
    }
    kt.conv2d_pack_weights(g, w.data(), packed);
    packed_table_ = &kt;
    packed_layout_ = layout;
    packed_source_ = &w;
    packed_version_ = version;
  }
  return packed_.data();
}

// Forward splits the output, not the batch: worker t of T runs part t of conv2d_forward_part on the whole
// batch (the kernel picks the axis: batch columns, output channels or planes), so a single image uses
// every core too, and y is bit-identical to the unsplit forward whatever T. Each worker has the scratch
// of the whole batch's geometry (the kernels' scratch does not grow with the batch). The weights are read
// packed (packed_weights): packed once per weight change, e.g. once per training step, and once for
// any number of inferences.
const Tensor& Conv2d::forward(const Tensor& x, Mode mode) {
  out_shape(x.shape());  // throws on a bad shape
  x_ = &x;
  folded_ = mode == Mode::Eval && epilogue_ != nullptr;
  const int group = mode == Mode::Train && epilogue_ != nullptr ? epilogue_->stats_images(out_shape(x.shape())) : 0;
  // ---- forward deferral: x is the prologue's output, not written yet (ConvPrologue) ----
  applied_prologue_ = false;
  if (prologue_ != nullptr && prologue_->forward_deferred(x)) {
    if (!folded_ && apply_prologue_ && takes_prologue(x.shape())) {
      forward_prologue(x, group);
      applied_prologue_ = true;
      return y_;
    }
    prologue_->forward_finish(false);  // x filled whole; then the forward below
  }
  if (folded_) {
    const ConvEpilogue::Folded f = epilogue_->folded(*this);
    run_forward(x, *f.weight, f.bias, f.act, true, y_);
  } else if (group > 0) {
    forward_groups(x, group);
  } else {
    run_forward(x, weight, has_bias_ ? std::as_const(bias).data() : nullptr, kernels::kActNone, true, y_);
  }
  return y_;
}

// Not through the packed cache: the cache holds the folded weights of the eval forward this follows.
void Conv2d::forward_unfolded(Tensor& out) {
  if (x_ == nullptr) throw UsageError(summary() + ": forward_unfolded called before forward");
  run_forward(*x_, weight, has_bias_ ? std::as_const(bias).data() : nullptr, kernels::kActNone, false, out);
}

void Conv2d::run_forward(const Tensor& x, const Tensor& w, const float* b, int act, bool cached, Tensor& out) {
  const kernels::ConvGeom g = geometry(x.shape());
  out.resize(out_shape(x.shape()));
  ThreadPool& pool = thread_pool();
  const int workers = forward_workers(pool, g);
  const kernels::KernelTable& kt = kernels::K();
  scratch_stride_ = round_to_line(kt.conv2d_scratch_floats(g));
  float* scratch = scratch_.ensure(scratch_stride_ * static_cast<size_t>(workers));
  const float* packed = cached ? packed_weights(kt, g, w) : nullptr;
  const float* w_data = w.data();
  float* y = out.data();
  const auto part = [&](int worker, int parts) {
    float* worker_scratch_base = scratch + worker * scratch_stride_;
    if (packed)
      kt.conv2d_forward_packed_part(g, x.data(), packed, b, y, worker_scratch_base, worker, parts);
    else
      kt.conv2d_forward_part(g, x.data(), w_data, b, y, worker_scratch_base, worker, parts);
  };
  if (workers > 1)
    pool.run([&](int worker) { part(worker, workers); });
  else
    part(0, 1);
  if (act == kernels::kActReLU)
    split_floats(out.size(), [&](size_t begin, size_t end) { kt.relu_forward(end - begin, y + begin, y + begin); });
  else if (act == kernels::kActReLU6)
    split_floats(out.size(), [&](size_t begin, size_t end) { kt.relu6_forward(end - begin, y + begin, y + begin); });
}

// Groups of `group` images, split across the workers (whole groups each, the pool's fixed chunks), each
// worker computing its groups one after the other and handing each to the epilogue while it is in
// cache. An image's output does not depend on the slice of the batch it is computed in (the kernels'
// contract: backward slices the batch too), so y is run_forward's, bit for bit. The packed weights serve
// the slices when their layout is the whole batch's (else W is read as it is).
// For 1x1 stride-1 and depthwise convolutions (MobileNetV2's), the group is also capped at kHandOverBytes
// of output (at least one image): the epilogue's group (about 1 MB) did not stay in the L2 the core
// shares with its sibling thread while the next one was written. MobileNetV2@64 train step (1 thread, CPU
// clock, medians of 3): its six 1x1 forwards on 32x32 and 16x16 planes 15.8 -> 14.1 ms, the depthwise
// ones with 16x16 outputs (features.2, stride 2; features.3) 4.6 -> 4.0 and 2.9 -> 2.3 ms; 128 KB and
// 64 KB gave no more. Not for the other convolutions: ResNet-18@64's 3x3 ones lost 3% of training
// images/s with the cap.
void Conv2d::forward_groups(const Tensor& x, int group) {
  const kernels::ConvGeom g = geometry(x.shape());
  if ((kernel_ == 1 && stride_ == 1) || (groups_ == in_channels_ && groups_ == out_channels_)) {
    constexpr size_t kHandOverBytes = 256 * 1024;
    const size_t image_bytes = sizeof(float) * static_cast<size_t>(out_channels_) * g.out_h * g.out_w;
    group = std::min(group, std::max(1, static_cast<int>(kHandOverBytes / image_bytes)));
  }
  y_.resize(out_shape(x.shape()));
  const int groups = (g.batch + group - 1) / group;
  ThreadPool& pool = thread_pool();
  const int workers = groups > 1 ? forward_workers(pool, g) : 1;
  const kernels::KernelTable& kt = kernels::K();
  kernels::ConvGeom slice = g;
  slice.batch = std::min(group, g.batch);
  // The kernels' path (and its scratch) can depend on the batch of the call (e.g. tables over batch
  // columns from some batch on), so the scratch covers the whole batch's, a group's and the last group's.
  kernels::ConvGeom last = g;
  last.batch = g.batch - (groups - 1) * slice.batch;
  scratch_stride_ = round_to_line(
      std::max({kt.conv2d_scratch_floats(g), kt.conv2d_scratch_floats(slice), kt.conv2d_scratch_floats(last)}));
  float* scratch = scratch_.ensure(scratch_stride_ * static_cast<size_t>(workers));
  const float* packed = packed_weights(kt, g, weight, groups > 1);
  if (packed && kt.conv2d_packed_layout(slice) != kt.conv2d_packed_layout(g)) packed = nullptr;
  const float* w = std::as_const(weight).data();
  const float* b = has_bias_ ? std::as_const(bias).data() : nullptr;
  const size_t x_image = static_cast<size_t>(in_channels_) * g.in_h * g.in_w;
  const size_t y_image = static_cast<size_t>(out_channels_) * g.out_h * g.out_w;
  const float* xs = x.data();
  float* ys = y_.data();
  for_batch(pool, groups, workers, [&](int64_t begin, int64_t end, int worker) {
    float* worker_scratch_base = scratch + worker * scratch_stride_;
    for (int64_t k = begin; k < end; ++k) {
      const int first = static_cast<int>(k * group);
      kernels::ConvGeom part = g;
      part.batch = std::min(group, g.batch - first);
      if (packed)
        kt.conv2d_forward_packed_part(part, xs + first * x_image, packed, b, ys + first * y_image, worker_scratch_base,
                                      0, 1);
      else
        kt.conv2d_forward_part(part, xs + first * x_image, w, b, ys + first * y_image, worker_scratch_base, 0, 1);
      epilogue_->output_written(first, part.batch, ys + first * y_image);
    }
  });
}

// ---- forward deferral (ConvPrologue::forward_deferred) ----
bool Conv2d::takes_prologue(const Shape& in) const {
  const bool depthwise = groups_ == in_channels_ && groups_ == out_channels_;
  return depthwise && kernel_ == 3 && padding_ == 1 && (stride_ == 1 || stride_ == 2) && in.rank == 4 &&
         in.c() == in_channels_;
}

// The BatchNorm's output x is written once, streamed (kernels.h channel_affine_act_copy), and never read
// back here: the kernel reads a chunk of kPrologueFloats (16 KB, a third of L1d) of the same values from
// the copy just written. The traffic is then x's input read + x written + y written, against one more read
// of x (4-25 MB per layer at batch 64) when the BatchNorm wrote it whole first. Each chunk is a
// convolution of batch 1 over channels [c0, c1) (weights and bias offset to c0): the depthwise kernels
// compute each plane on its own, in the same order whatever the slice (conv_dw_forward.h), so y is the
// undeferred forward's bit for bit. Images are split across workers in the pool's fixed chunks; each
// worker's streamed stores are fenced once, after its last chunk. MobileNetV2@64 train step (1 thread,
// CPU clock): the four BatchNorm + depthwise forward pairs 13.1 -> ~10.3 ms; chunks of 1024 / 8192 floats
// or whole images (in L2) were 0.2-2 ms slower.
void Conv2d::forward_prologue(const Tensor& x, int group) {
  constexpr int kPrologueFloats = 4096;
  const kernels::ConvGeom g = geometry(x.shape());
  y_.resize(out_shape(x.shape()));
  const int in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  const int chunk = std::max(1, std::min(in_channels_, kPrologueFloats / in_plane));
  kernels::ConvGeom slice = g;
  slice.batch = 1;
  slice.in_channels = slice.out_channels = slice.groups = chunk;
  ThreadPool& pool = thread_pool();
  const int workers = g.batch > 1 ? forward_workers(pool, g) : 1;
  const kernels::KernelTable& kt = kernels::K();
  scratch_stride_ = round_to_line(kt.conv2d_scratch_floats(slice));  // the largest chunk's (smaller ones need less)
  float* scratch = scratch_.ensure(scratch_stride_ * static_cast<size_t>(workers));
  const size_t copy_stride = round_to_line(static_cast<size_t>(chunk) * in_plane);
  float* copies = prologue_copy_.ensure(copy_stride * static_cast<size_t>(workers));
  const float* w = std::as_const(weight).data();
  const float* b = has_bias_ ? std::as_const(bias).data() : nullptr;
  const int taps = kernel_ * kernel_;
  const size_t y_image = static_cast<size_t>(out_channels_) * out_plane;
  float* ys = y_.data();
  for_batch(pool, g.batch, workers, [&](int64_t begin, int64_t end, int worker) {
    float* worker_scratch_base = scratch + worker * scratch_stride_;
    float* copy = copies + worker * copy_stride;
    for (int64_t n = begin; n < end; ++n) {
      float* y_n = ys + n * y_image;
      for (int c0 = 0; c0 < in_channels_; c0 += chunk) {
        const int c1 = std::min(in_channels_, c0 + chunk);
        kernels::ConvGeom part = slice;
        part.in_channels = part.out_channels = part.groups = c1 - c0;
        prologue_->forward_apply(static_cast<int>(n), c0, c1, copy, n + 1 == end && c1 == in_channels_);
        kt.conv2d_forward_part(part, copy, w + static_cast<size_t>(c0) * taps, b ? b + c0 : nullptr,
                               y_n + static_cast<size_t>(c0) * out_plane, worker_scratch_base, 0, 1);
      }
      if (group > 0) epilogue_->output_written(static_cast<int>(n), 1, y_n);
    }
  });
  prologue_->forward_finish(true);
}

// Each worker computes dx for its slice and the slice's dW, db: worker 0 adds straight into weight_grad
// and bias_grad, worker t > 0 into its zeroed partial buffer; partials are then added in worker order.
const Tensor& Conv2d::backward(const Tensor& dy) {
  if (x_ == nullptr) throw UsageError(summary() + ": backward called before forward");
  const kernels::ConvGeom g = geometry(x_->shape());
  const Shape expected = out_shape(x_->shape());
  if (dy.shape() != expected)
    throw ShapeError(summary() + ": gradient dy is " + dy.shape().str() + ", expected " + expected.str());
  const bool want_dx = needs_input_grad();
  if (want_dx) dx_.resize(x_->shape());

  ThreadPool& pool = thread_pool();
  const int workers = batch_workers(pool, g);
  float* scratch = worker_scratch(g, workers);
  // (an empty Tensor reports size 1: rank 0 is a scalar)
  const size_t weight_floats = weight.size(), bias_floats = has_bias_ ? bias.size() : 0;
  const size_t partial_stride = round_to_line(weight_floats + bias_floats);
  float* partials = partials_.ensure(partial_stride * static_cast<size_t>(workers > 1 ? workers - 1 : 0));
  if (worker_ran_.size() != static_cast<size_t>(workers)) worker_ran_.assign(static_cast<size_t>(workers), 0);
  std::fill(worker_ran_.begin(), worker_ran_.end(), 0);

  const kernels::KernelTable& kt = kernels::K();
  const size_t x_image = static_cast<size_t>(in_channels_) * g.in_h * g.in_w;
  const size_t y_image = static_cast<size_t>(out_channels_) * g.out_h * g.out_w;
  const int64_t sub_batch = backward_sub_batch(g, weight_floats);
  // A deferred dy (ConvEpilogue) is produced a group at a time into a per-worker buffer.
  const bool deferred = epilogue_ != nullptr && epilogue_->deferred(dy);
  const size_t group_stride = deferred ? round_to_line(static_cast<size_t>(sub_batch) * y_image) : 0;
  float* dy_groups = deferred ? dy_groups_.ensure(group_stride * static_cast<size_t>(workers)) : nullptr;
  // The prologue's backward sums taken with dx, a group at a time (ConvPrologue).
  kernels::HandOverSums hand_over_sums;
  const bool hand_over = want_dx && prologue_ != nullptr && prologue_->input_grad_begin(*x_, dx_, hand_over_sums);
  for_batch(pool, g.batch, workers, [&](int64_t begin, int64_t end, int worker) {
    float* worker_scratch_base = scratch + worker * scratch_stride_;
    float* dweight = weight_grad.data();
    float* dbias = has_bias_ ? bias_grad.data() : nullptr;
    if (worker > 0) {
      dweight = partials + (worker - 1) * partial_stride;
      std::memset(dweight, 0, sizeof(float) * (weight_floats + bias_floats));
      dbias = has_bias_ ? dweight + weight_floats : nullptr;
      worker_ran_[worker] = 1;
    }
    // Both passes per group of sub_batch images, so the weight pass finds dy (and x) still in cache.
    for (int64_t first = begin; first < end; first += sub_batch) {
      kernels::ConvGeom slice = g;
      slice.batch = static_cast<int>(std::min(end, first + sub_batch) - first);
      const float* dy_slice = dy.data() + first * y_image;
      if (deferred) {
        float* group = dy_groups + worker * group_stride;
        epilogue_->materialize(static_cast<int>(first), slice.batch, group);
        dy_slice = group;
      }
      if (want_dx && hand_over) {
        kernels::HandOverSums sums = hand_over_sums;
        sums.x = x_->data() + first * x_image;
        sums.sum_g += first * in_channels_;
        sums.sum_gxc += first * in_channels_;
        kt.conv2d_backward_sums(slice, dy_slice, std::as_const(weight).data(), dx_.data() + first * x_image, dweight,
                                dbias, worker_scratch_base, sums);
        prologue_->input_grad_written(static_cast<int>(first), slice.batch);
        continue;
      }
      if (want_dx)
        kt.conv2d_backward_data(slice, dy_slice, std::as_const(weight).data(), dx_.data() + first * x_image,
                                worker_scratch_base);
      kt.conv2d_backward_weight(slice, x_->data() + first * x_image, dy_slice, dweight, dbias, worker_scratch_base);
    }
  });

  // weight_grad += partial_1 + partial_2 + ... in worker order for every element, whichever thread sums
  // which range of elements, so the result depends only on the thread count.
  constexpr int64_t kReduceBlock = 16384;
  const int64_t blocks = static_cast<int64_t>((weight_floats + kReduceBlock - 1) / kReduceBlock);
  bool any_partial = false;
  for (int worker = 1; worker < workers; ++worker) any_partial = any_partial || worker_ran_[worker];
  if (any_partial) {
    split_items(blocks, kReduceBlock, [&](int64_t begin, int64_t end) {
      const size_t first = static_cast<size_t>(begin) * kReduceBlock;
      const size_t last = std::min(weight_floats, static_cast<size_t>(end) * kReduceBlock);
      for (int worker = 1; worker < workers; ++worker)
        if (worker_ran_[worker])
          kt.axpy(last - first, 1.0f, partials + (worker - 1) * partial_stride + first, weight_grad.data() + first);
    });
    if (has_bias_)
      for (int worker = 1; worker < workers; ++worker)
        if (worker_ran_[worker])
          kt.axpy(bias_floats, 1.0f, partials + (worker - 1) * partial_stride + weight_floats, bias_grad.data());
  }
  return want_dx ? dx_ : no_input_grad();
}

}  // namespace plasmo
