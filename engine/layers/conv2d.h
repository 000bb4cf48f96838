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

 private:
  kernels::ConvGeom geometry(const Shape& in) const;  // for the whole batch; checks the shape
  // Per-worker kernel scratch for this geometry and `workers` threads; returns the base, sets the stride.
  float* worker_scratch(const kernels::ConvGeom& g, int workers);
  // The weights packed for kt's forward of g (conv2d_pack_weights), packed again only when weight,
  // the table or the packed layout changed since the last call; null when kt's forward of g reads W as it is.
  const float* packed_weights(const kernels::KernelTable& kt, const kernels::ConvGeom& g);

  int in_channels_, out_channels_, kernel_, stride_, padding_, groups_;
  bool has_bias_;
  const Tensor* x_ = nullptr;  // input of the last forward, read by backward
  Tensor y_, dx_;
  Scratch scratch_;  // workers x scratch_stride_ floats of kernel scratch
  size_t scratch_stride_ = 0;
  Scratch partials_;              // (workers - 1) x partial_stride_: [dweight | dbias] of workers 1..T-1
  std::vector<char> worker_ran_;  // which workers wrote a partial in the last backward
  // Packed weights: valid for weight.version() == packed_version_, table packed_table_, layout packed_layout_.
  Scratch packed_;
  const kernels::KernelTable* packed_table_ = nullptr;
  uint64_t packed_version_ = 0;
  int packed_layout_ = 0;
};

}  // namespace plasmo
