// Conv2d: y[n][oc] = b[oc] + sum_{ci in group(oc), kh, kw} W[oc][ci][kh][kw] * x[n][ci][oh*s-p+kh][ow*s-p+kw]
// x [N, in_channels, H, W] -> y [N, out_channels, OH, OW]; weight [out, in/groups, k, k] (PyTorch layout).
// groups == in_channels == out_channels is a depthwise convolution.
//   backward:  dx = conv_transpose(dy, W);  dW[oc][ci][kh][kw] += sum_{n,oh,ow} dy[n][oc][oh][ow] * x[...];
//              db[oc] += sum_{n,oh,ow} dy[n][oc][oh][ow]
// Threads: forward runs part t of T of K().conv2d_forward_part on each worker of thread_pool() (the
// kernel splits the output; the result is bit-identical to one thread's), so one image can use every
// core. Backward splits the batch; each worker has its own kernel scratch, and workers after the first
// add their weight/bias gradients into private partial buffers that are summed into weight_grad in
// worker order afterwards (bit-identical for a given thread count).
#pragma once
#include <vector>

#include "engine/kernels/kernels.h"
#include "engine/layer.h"
#include "engine/rng.h"

namespace plasmo {

class Conv2d;

// Epilogue (engine/layers/batchnorm2d.h, BatchNorm2d::fold_into): a BatchNorm and its activation that
// follow the convolution, scheduled with it.
// - Eval forward: forward(x, Mode::Eval) computes y = act(conv(x, weight') + bias') from the folded
//   weight' and bias' the epilogue supplies (it rebuilds them when the parameters changed,
//   engine/param_version.h), and the BatchNorm passes y on untouched. A backward after such a forward is
//   still exact: the BatchNorm asks forward_unfolded() for its input.
// - Train forward, output planes of at least 256 values (stats_images > 0): y is computed a group of
//   images at a time and each group handed to the epilogue right after it is written, still in cache,
//   for the BatchNorm's statistics (otherwise a pass of their own over y: 4-25 MB at batch 64).
// - Backward (train and eval): the BatchNorm's backward computes its per-channel sums and leaves its dx
//   (this layer's dy) unfilled; this layer's backward asks for it a group of images at a time, right
//   before its data and weight passes read it, so the group stays in cache and the whole dy never goes
//   through memory (MobileNetV2's expand convolutions' dy is 10-25 MB at batch 64).
class ConvEpilogue {
 public:
  virtual ~ConvEpilogue() = default;
  struct Folded {
    // [out_channels, in_channels/groups, kernel, kernel]; its version() moves whenever its values change
    // (Conv2d keeps the weights packed for the forward on that version).
    const Tensor* weight;
    const float* bias;  // [out_channels]
    int act;            // kernels::Act
  };
  virtual Folded folded(const Conv2d& conv) = 0;
  // Train forward of output shape y: the images per group to hand over (0: none, the whole y at once),
  // and the call after each group y[first, first + count) is written (from several threads at once, for
  // disjoint groups; every image exactly once per forward).
  virtual int stats_images(const Shape& y) = 0;
  virtual void output_written(int first, int count, const float* y) = 0;
  // Whether dy is the epilogue's input gradient, left unfilled by its last backward.
  virtual bool deferred(const Tensor& dy) const = 0;
  // dy of images [first, first + count) into out (count * out_channels * out_h * out_w floats). Called
  // from several threads at once for disjoint images.
  virtual void materialize(int first, int count, float* out) = 0;
};

// Prologue (engine/layers/batchnorm2d.h, BatchNorm2d::link_consumer): the BatchNorm (+ activation) whose
// output is this convolution's input. A backward that computes dx has the BatchNorm's backward sums (this
// dx is its dy) taken with it, a group of images at a time, by kt.conv2d_backward_sums: from each
// plane in L1 on the depthwise row paths (dx never read back), else from the group's x and fresh dx right
// after they were written (in cache). So the BatchNorm's backward need not read its own input and dy again
// (MobileNetV2's expand BatchNorms: 2 x 25 MB at 32x32, batch 64).
class ConvPrologue {
 public:
  virtual ~ConvPrologue() = default;
  // ---- backward hand-over ----
  // At the start of a backward that computes dx into `dx`, on the calling thread: whether the prologue
  // takes this backward's sums (x is this convolution's input; false: input_grad_written is not called),
  // and if so `sums` for the whole batch: the coefficients, act and the [N, in_channels] outputs (sums.x is
  // set per group by the caller, the outputs offset to the group's first image).
  virtual bool input_grad_begin(const Tensor& x, const Tensor& dx, kernels::HandOverSums& sums) = 0;
  // Images [first, first + count) summed (conv2d_backward_sums ran on them). Called from several
  // threads at once for disjoint images; every image exactly once per backward.
  virtual void input_grad_written(int first, int count) = 0;

  // ---- forward deferral (BatchNorm2d's train forward; see batchnorm2d.h) ----
  // A train forward of the prologue may leave its output (this convolution's x) UNFILLED, having computed
  // only its coefficients: forward_deferred(x) says so. The convolution then either applies the prologue
  // itself, a few planes at a time (forward_apply: x's planes are written, and the same values into
  // `copy`, which the convolution reads from L1), and calls forward_finish(true) after; or calls
  // forward_finish(false) before reading x, which fills x whole. Either way x ends up filled with the
  // same bits, once.
  virtual bool forward_deferred(const Tensor& x) const = 0;
  // Channels [c_begin, c_end) of image `image` of x, and into copy ((c_end - c_begin) planes). Called from
  // several threads at once for disjoint planes; every plane exactly once per forward. `last`: the
  // calling thread's last call of this forward (its stores to x are then fenced).
  virtual void forward_apply(int image, int c_begin, int c_end, float* copy, bool last) = 0;
  virtual void forward_finish(bool applied) = 0;
};

class Conv2d : public Layer {
 public:
  Conv2d(int in_channels, int out_channels, int kernel, int stride = 1, int padding = 0, int groups = 1,
         bool bias = true);
  const char* kind() const override { return "Conv2d"; }
  std::string summary() const override;
  Shape out_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;
  void params(const std::string& prefix, std::vector<Param>& out) override;
  int64_t macs(const Shape& in) const override;

  // PyTorch's default: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in/groups * k * k.
  void init_default(Rng& rng);

  int in_channels() const { return in_channels_; }
  int out_channels() const { return out_channels_; }
  int kernel() const { return kernel_; }
  int stride() const { return stride_; }
  int padding() const { return padding_; }
  int groups() const { return groups_; }
  bool has_bias() const { return has_bias_; }

  Tensor weight, weight_grad;  // [out_channels, in_channels/groups, kernel, kernel]
  Tensor bias, bias_grad;      // [out_channels]; empty when bias is off

  // ---- eval-mode folding (see ConvEpilogue) ----
  void set_eval_epilogue(ConvEpilogue* epilogue) {
    epilogue_ = epilogue;
    packed_source_ = nullptr;  // the packed cache may hold the previous epilogue's folded weights
    seen_source_ = nullptr;
  }
  // Whether the last forward ran the epilogue (its output is then act(BatchNorm(conv(x)))).
  bool folded_last_forward() const { return folded_; }
  const Tensor& output() const { return y_; }
  // conv(x, weight) + bias of the last forward's input, with this layer's own parameters, into `out`.
  void forward_unfolded(Tensor& out);

  // ---- backward hand-over to the layer that produced the input (see ConvPrologue) ----
  void set_prologue(ConvPrologue* prologue) { prologue_ = prologue; }
  // Whether a train forward whose x the prologue deferred applies the prologue itself (forward_prologue;
  // true by default where the geometry allows it) or has x filled first (false; for tests).
  void set_apply_prologue(bool apply) { apply_prologue_ = apply; }
  bool applied_prologue_last_forward() const { return applied_prologue_; }

 private:
  // out = act(conv(x, w) + b) with the forward's threading (act: kernels::Act); with `cached`, w is read
  // through packed_weights().
  void run_forward(const Tensor& x, const Tensor& w, const float* b, int act, bool cached, Tensor& out);
  // Train forward with an epilogue that takes the output by groups of `group` images (stats_images).
  void forward_groups(const Tensor& x, int group);
  // ---- forward deferral (ConvPrologue::forward_deferred) ----
  // Whether this convolution can apply its prologue for input shape `in`: depthwise 3x3, padding 1,
  // stride 1 or 2 (per-plane kernels, so a few channels at a time give the whole batch's bits).
  bool takes_prologue(const Shape& in) const;
  // Train forward with x deferred: per image, a few channels at a time, the prologue writes x's planes and
  // a copy in L1, and the kernel convolves the copy; each image handed to the epilogue when `group` > 0.
  void forward_prologue(const Tensor& x, int group);

  kernels::ConvGeom geometry(const Shape& in) const;  // for the whole batch; checks the shape
  // Per-worker kernel scratch for this geometry and `workers` threads; returns the base, sets the stride.
  float* worker_scratch(const kernels::ConvGeom& g, int workers);
  // The weights w packed for kt's forward of g (conv2d_pack_weights), packed again only when w (which
  // tensor, or its version), the table or the packed layout changed since the last call; null when kt's
  // forward of g reads W as it is, or when this W is met for the first time (packed at its second use,
  // or now when the caller runs the kernel several times: several_calls).
  const float* packed_weights(const kernels::KernelTable& kt, const kernels::ConvGeom& g, const Tensor& w,
                              bool several_calls = false);

  int in_channels_, out_channels_, kernel_, stride_, padding_, groups_;
  bool has_bias_;
  const Tensor* x_ = nullptr;  // input of the last forward, read by backward
  Tensor y_, dx_;
  Scratch scratch_;  // workers x scratch_stride_ floats of kernel scratch
  size_t scratch_stride_ = 0;
  Scratch partials_;              // (workers - 1) x partial_stride_: [dweight | dbias] of workers 1..T-1
  Scratch dy_groups_;             // workers x (a group of images' dy) when the epilogue deferred dy
  std::vector<char> worker_ran_;  // which workers wrote a partial in the last backward
  ConvEpilogue* epilogue_ = nullptr;
  ConvPrologue* prologue_ = nullptr;
  bool folded_ = false;
  // forward deferral
  bool apply_prologue_ = true, applied_prologue_ = false;
  Scratch prologue_copy_;  // workers x (a chunk of the BatchNorm's output planes)
  // Packed weights of `packed_source_` (weight, or the epilogue's folded weights in eval): valid for
  // packed_source_->version() == packed_version_, table packed_table_, layout packed_layout_.
  Scratch packed_;
  const kernels::KernelTable* packed_table_ = nullptr;
  const Tensor* packed_source_ = nullptr;
  uint64_t packed_version_ = 0;
  int packed_layout_ = 0;
  // The weights (tensor and version) of the last forward that ran unpacked: the next forward with the
  // same ones packs them.
  const Tensor* seen_source_ = nullptr;
  uint64_t seen_version_ = 0;
};

}  // namespace plasmo
