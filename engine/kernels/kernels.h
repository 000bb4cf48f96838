// The hot loops of the engine, as a table of function pointers. Every entry has a scalar reference
// implementation (engine/kernels/ref/) and may have AVX2, AVX-512 and NEON versions with the same
// signature; dispatch picks the table once at start-up (PLASMO_ISA=ref|avx2|avx512|neon forces one).
//
// Conventions shared by every kernel:
// - Plain pointers plus named dims; all tensors dense row-major (NCHW for images).
// - A kernel never allocates and never throws; the caller owns all memory, including scratch space
//   whose size the kernel table tells (conv2d_scratch_floats).
// - A kernel is single-threaded; callers split work across the thread pool (batch slices, channel
//   ranges) so results do not depend on how a kernel is scheduled.
// - "overwrites" means the output is fully written; "accumulates" means out += result.
#pragma once
#include <cstddef>
#include <cstdint>

namespace plasmo::kernels {

// Geometry of a 2-D convolution over a batch slice.
//   x [batch, in_channels, in_h, in_w], weight [out_channels, in_channels/groups, kernel_h, kernel_w],
//   bias [out_channels], y [batch, out_channels, out_h, out_w],
//   out_h = (in_h + 2*pad_h - kernel_h) / stride_h + 1 (same for w). groups == in_channels is depthwise.
struct ConvGeom {
  int batch = 1;
  int in_channels = 1, in_h = 1, in_w = 1;
  int out_channels = 1, out_h = 1, out_w = 1;
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int groups = 1;
};
// Fills out_h/out_w from the rest; the caller checks they are >= 1.
ConvGeom make_conv_geom(int batch, int in_channels, int in_h, int in_w, int out_channels, int kernel, int stride,
                        int pad, int groups);

// Geometry of 2-D pooling over batch*channels planes. Padding counts as -inf for max and as 0 (and is
// counted in the divisor, count_include_pad=True as PyTorch's default) for average.
struct PoolGeom {
  int planes = 1;  // batch * channels
  int in_h = 1, in_w = 1, out_h = 1, out_w = 1;
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  // maxpool2d_forward only: a ReLU before the pool, folded in (max and ReLU commute): y = max(window max, +0),
  // and argmax = -1 (no input gets a gradient) where that is +0.
  bool relu = false;
};
PoolGeom make_pool_geom(int planes, int in_h, int in_w, int kernel, int stride, int pad);

// Optimizer steps, elementwise over n floats, written as torch.optim 1.13 computes them on the CPU so the
// results are bit-identical to PyTorch's: every line below is one float rounding, and fma(a, b, c) is
// a*b + c rounded ONCE (std::fma; _mm*_fmadd_ps; vfmaq_f32), exactly where ATen fuses (Tensor.add with
// alpha, addcmul) and nowhere else. The scalars come precomputed in double by engine/optim.cpp and rounded
// once to float, as PyTorch rounds its Python-float scalars (1 - beta is rounded from the double, never
// computed in float from a rounded beta). d is the gradient after weight decay.
//
// SGD:      d = weight_decay != 0 ? fma(weight_decay, w, g) : g
//           momentum != 0:  buf = first ? d : fma(one_minus_dampening, d, buf*momentum)
//                           d = nesterov ? fma(momentum, buf, d) : buf
//           w = fma(-lr, d, w)
struct SGDStep {
  float lr = 0.0f, momentum = 0.0f, one_minus_dampening = 1.0f, weight_decay = 0.0f;
  bool nesterov = false;
  bool first = false;  // the first step: the buffer starts as d (buf may be null when momentum == 0)
};
// Adam:     d = (weight decay as SGD)
//           m = fma(one_minus_beta1, d, m*beta1);   v = fma(one_minus_beta2*d, d, v*beta2)
//           denom = sqrt(v)/bias_correction2_sqrt + eps
//           w = w + (-step_size*m)/denom
//           with step_size = lr/(1 - beta1^t), bias_correction2_sqrt = sqrt(1 - beta2^t), t the step (>= 1).
struct AdamStep {
  float beta1 = 0.9f, one_minus_beta1 = 0.1f, beta2 = 0.999f, one_minus_beta2 = 0.001f;
  float step_size = 0.0f, bias_correction2_sqrt = 1.0f, eps = 1e-8f, weight_decay = 0.0f;
};
// RMSprop:  d = (weight decay as SGD)
//           sq = fma(one_minus_alpha*d, d, sq*alpha);   avg = sqrt(sq) + eps
//           momentum > 0:  buf = buf*momentum + d/avg;  w = fma(-lr, buf, w)
//           else:          w = w + (-lr*d)/avg                              (buf may be null)
struct RMSpropStep {
  float lr = 0.0f, alpha = 0.99f, one_minus_alpha = 0.01f, eps = 1e-8f, weight_decay = 0.0f, momentum = 0.0f;
};

// The activation fused after a per-channel affine map (BatchNorm2d with an activation, engine/layers/batchnorm2d.h):
//   kActNone   act(t) = t                              act'(t) = 1
//   kActReLU   act(t) = t > 0 ? t : 0                  act'(t) = [t > 0]
//   kActReLU6  act(t) = t > 0 ? (t < 6 ? t : 6) : 0    act'(t) = [0 < t < 6]
// exactly as relu_forward / relu6_forward (a NaN t gives 0 and a zero mask), so act'(t) is also the mask the
// relu*_backward kernels derive from act(t).
enum Act : int { kActNone = 0, kActReLU = 1, kActReLU6 = 2 };

// The BatchNorm backward sums a convolution's backward data takes over its fresh dx
// (conv2d_backward_sums): per channel c, g = dx * act'(x * scale[c] + shift[c]) and xc = x - mean[c]
// (channel_act_grad_sums' terms), summed per image into sum_g, sum_gxc [batch, in_channels] (overwritten).
struct HandOverSums {
  const float* x = nullptr;  // [batch, in_channels, in_h, in_w]: the convolution's input
  const float* scale = nullptr;
  const float* shift = nullptr;
  const float* mean = nullptr;  // [in_channels] each
  int act = kActNone;
  float* sum_g = nullptr;
  float* sum_gxc = nullptr;
};
// Planes (in_h * in_w) from which conv2d_backward_sums' depthwise paths take the sums per plane:
// channel_act_grad_sums sums planes this large one by one (below, spans of channels, whose bits a
// per-plane call would not reproduce).
constexpr int kHandOverPlane = 256;

struct KernelTable {
  const char* isa = "ref";

  // ---- matrix multiply --------------------------------------------------------------------------
  // C[M x N] = op(A)[M x K] * op(B)[K x N]  (+ C when accumulate); op(X) = X^T when trans_x.
  // Row-major with leading dimensions lda/ldb/ldc (of A and B as stored, before op).
  void (*sgemm)(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda, const float* B, int ldb,
                float* C, int ldc, bool accumulate) = nullptr;

  // ---- convolution (any kernel/stride/padding/groups) ---------------------------------------------
  // Scratch floats the three conv entries below need for this geometry (0 allowed).
  size_t (*conv2d_scratch_floats)(const ConvGeom& g) = nullptr;
  // y = conv(x, weight) + bias (bias may be null). Overwrites y.
  void (*conv2d_forward)(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                         float* scratch) = nullptr;
  // Part `part` of `parts` (0 <= part < parts) of conv2d_forward on the same slice: the kernel splits y
  // into `parts` disjoint pieces (along an axis of its choosing, fixed by g and parts) and writes piece
  // `part`. Running every part (concurrently, each with its own scratch of conv2d_scratch_floats(g))
  // gives exactly conv2d_forward's y, bit for bit: the Conv2d layer can spread one image over the pool.
  void (*conv2d_forward_part)(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                              float* scratch, int part, int parts) = nullptr;
  // dx = conv_transpose(dy, weight). Overwrites dx.
  void (*conv2d_backward_data)(const ConvGeom& g, const float* dy, const float* weight, float* dx,
                               float* scratch) = nullptr;
  // dweight += sum over the batch of dy (*) x; dbias += sum of dy over batch and space (dbias may be null).
  void (*conv2d_backward_weight)(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* dbias,
                                 float* scratch) = nullptr;

  // ---- backward with the BatchNorm hand-over sums (engine/layers/batchnorm2d.h, ConvPrologue) ------------
  // conv2d_backward_data's dx and conv2d_backward_weight(g, sums.x, dy, dweight, dbias)'s accumulation,
  // bit for bit, and for every image n of the slice and channel c < in_channels, with dx as dy and
  // sums.x (this convolution's input: the BatchNorm's output A) as x:
  //   sum_g[n * in_channels + c], sum_gxc[n * in_channels + c] = channel c of
  //   channel_act_grad_sums(1, in_channels, HW, 0, in_channels, dx_n, x_n, scale, shift, mean, act)
  // (the same table's kernel, the same bits). The depthwise 3x3 row kernels (stride 1 or 2, padding 1) on
  // planes of at least kHandOverPlane values run the three per plane: dx into an L1 buffer, its sums,
  // the plane streamed out, then the plane's weight-gradient taps while its x and dy are in L1, so dx is
  // never read back from memory (MobileNetV2's 32x32 and 16x16 stages: 8-25 MB per layer at batch 64);
  // every other geometry runs the data pass, the sums per image, then the weight pass.
  // Needs conv2d_scratch_floats(g) of scratch.
  void (*conv2d_backward_sums)(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* dweight,
                               float* dbias, float* scratch, const HandOverSums& sums) = nullptr;

  // ---- pre-packed convolution weights (engine/layers/conv2d.cpp keeps them) ------------------------
  // A table's forward may read W as packed panels. conv2d_packed_layout(g) names the packed form the
  // forward of g reads (0: none; geometries with the same id share one packing of the same W), and
  // conv2d_pack_weights writes it (conv2d_packed_floats(g) floats). A caller that packs once and reuses
  // the panels while W is unchanged saves a pass over W per call (ResNet-18's layer4 at batch 1 streams
  // 9.4 MB of weights per convolution and does little else). A W used once (a training step's forward,
  // between optimizer steps) is better read unpacked: Conv2d packs on the second forward with the same W.
  int (*conv2d_packed_layout)(const ConvGeom& g) = nullptr;
  size_t (*conv2d_packed_floats)(const ConvGeom& g) = nullptr;
  void (*conv2d_pack_weights)(const ConvGeom& g, const float* weight, float* packed) = nullptr;
  // conv2d_forward_part reading W from `packed` (conv2d_pack_weights of W for a geometry with the same
  // layout id): the same y, bit for bit.
  void (*conv2d_forward_packed_part)(const ConvGeom& g, const float* x, const float* packed, const float* bias,
                                     float* y, float* scratch, int part, int parts) = nullptr;

  // ---- pooling and resampling (planes = batch * channels) ---------------------------------------------
  // argmax[o] = index h*in_w + w (within its plane) of the max feeding output o; first max wins on ties
  // (g.relu: -1 where y is +0). Backward skips outputs whose argmax is -1.
  void (*maxpool2d_forward)(const PoolGeom& g, const float* x, float* y, int32_t* argmax) = nullptr;
  void (*maxpool2d_backward)(const PoolGeom& g, const float* dy, const int32_t* argmax,
                             float* dx) = nullptr;  // overwrites dx
  void (*avgpool2d_forward)(const PoolGeom& g, const float* x, float* y) = nullptr;
  void (*avgpool2d_backward)(const PoolGeom& g, const float* dy, float* dx) = nullptr;  // overwrites dx
  // y[p] = mean of plane p (plane_size = H*W).
  void (*global_avgpool_forward)(int planes, int plane_size, const float* x, float* y) = nullptr;
  void (*global_avgpool_backward)(int planes, int plane_size, const float* dy, float* dx) = nullptr;  // overwrites
  // Nearest-neighbour x2: y[2h+i][2w+j] = x[h][w]; backward sums the four.
  void (*upsample2x_forward)(int planes, int in_h, int in_w, const float* x, float* y) = nullptr;
  void (*upsample2x_backward)(int planes, int in_h, int in_w, const float* dy, float* dx) = nullptr;  // overwrites

  // ---- per-channel ops over [N, C, HW]: BatchNorm and the activation fused after it ----------------------
  // act(t) and its derivative mask, for an Act (see the enum below); t = x * scale[c] + shift[c] is a
  // multiply then an add, never fused, in every ISA (the forward and backward kernels recompute the same t,
  // so the mask always matches the forward's output).
  // Channels [c_begin, c_end) only: mean[c] and biased var[c] over the N*HW values of channel c (one read
  // of x). Entries outside the range are not touched, and a channel's result does not depend on the range.
  void (*channel_mean_var)(int N, int C, int HW, int c_begin, int c_end, const float* x, float* mean,
                           float* var) = nullptr;
  // y = act(x * scale[c] + shift[c])   (overwrites y; y may be x)
  void (*channel_affine_act)(int N, int C, int HW, const float* x, const float* scale, const float* shift, int act,
                             float* y) = nullptr;
  // ---- BatchNorm forward applied by its depthwise consumer (BatchNorm2d's forward deferral) ----
  // y = act(x * scale[c] + shift[c]) and copy = the same values: channel_affine_act's bits in both. y is
  // written with non-temporal stores where the ISA has them (the BatchNorm's output, read again only by
  // the backward), copy with normal ones (a few planes the convolution reads next, from L1). fence: order
  // the streamed stores before any later store (x86 sfence), for the calling thread's last call; other
  // threads may read y only after a call with fence.
  void (*channel_affine_act_copy)(int N, int C, int HW, const float* x, const float* scale, const float* shift, int act,
                                  float* y, float* copy, bool fence) = nullptr;
  // Channels [c_begin, c_end) only, with g = dy * act'(x * scale[c] + shift[c]) and xc = x - mean[c] (one
  // float subtraction):  sum_g[c] = sum g,  sum_gxc[c] = sum g * xc   (overwrite; results independent of the range)
  void (*channel_act_grad_sums)(int N, int C, int HW, int c_begin, int c_end, const float* dy, const float* x,
                                const float* scale, const float* shift, const float* mean, int act, float* sum_g,
                                float* sum_gxc) = nullptr;
  // dx = (g * a[c] + xc * b[c]) + k[c], g and xc as above, evaluated left to right (overwrites dx)
  void (*channel_act_affine2)(int N, int C, int HW, const float* dy, const float* x, const float* scale,
                              const float* shift, const float* mean, int act, const float* a, const float* b,
                              const float* k, float* dx) = nullptr;

  // ---- elementwise over n floats ------------------------------------------------------------------
  void (*relu_forward)(size_t n, const float* x, float* y) = nullptr;                        // y = max(x, 0)
  void (*relu_backward)(size_t n, const float* y, const float* dy, float* dx) = nullptr;     // dx = dy * [y > 0]
  void (*relu6_forward)(size_t n, const float* x, float* y) = nullptr;                       // y = min(max(x,0),6)
  void (*relu6_backward)(size_t n, const float* y, const float* dy, float* dx) = nullptr;    // dx = dy*[0<y<6]
  void (*sigmoid_forward)(size_t n, const float* x, float* y) = nullptr;                     // y = 1/(1+e^-x)
  void (*sigmoid_backward)(size_t n, const float* y, const float* dy, float* dx) = nullptr;  // dx = dy*y*(1-y)
  void (*add)(size_t n, const float* a, const float* b, float* y) = nullptr;                 // y = a + b
  void (*mul)(size_t n, const float* a, const float* b, float* y) = nullptr;                 // y = a * b
  void (*axpy)(size_t n, float alpha, const float* x, float* y) = nullptr;                   // y += alpha * x
  void (*scale)(size_t n, float alpha, const float* x, float* y) = nullptr;                  // y = alpha * x
  void (*zero)(size_t n, float* y) = nullptr;  // y = 0 (large n: past the caches, see simd/elementwise.h)

  // ---- optimizer updates (PyTorch's rules; see engine/optim.h and the *Step structs above) -------------
  void (*sgd_step)(size_t n, float* w, const float* g, float* buf, const SGDStep& step) = nullptr;
  void (*adam_step)(size_t n, float* w, const float* g, float* m, float* v, const AdamStep& step) = nullptr;
  void (*rmsprop_step)(size_t n, float* w, const float* g, float* sq, float* buf, const RMSpropStep& step) = nullptr;
};

// The table in use: chosen on first call from the CPU's features or PLASMO_ISA, then fixed.
const KernelTable& K();
// Tables by name, for tests and benchmarks: "ref", "avx2", "avx512", "neon". Returns null when this
// build or this CPU cannot run it.
const KernelTable* table_for(const char* isa);
// Names of the ISAs this build can run on this CPU, best last (always starts with "ref").
int available_isas(const char* names[4]);
// Forces the table (tests, --isa); throws UsageError for an unavailable ISA.
void select_isa(const char* isa);

}  // namespace plasmo::kernels
