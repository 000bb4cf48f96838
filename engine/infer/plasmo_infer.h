/* plasmo's inference core: the forward pass of the three classifiers (autoencoder, resnet18, mobilenetv2)
 * from a compact op table, for tiny binaries and firmware.
 *
 * Rules this code keeps (it is compiled with -fno-exceptions -fno-rtti and copied by `plasmo export`
 * into firmware projects):
 *   - no heap, no file system, no printf: the caller hands every buffer; results are status codes;
 *   - headers used: <stddef.h>, <stdint.h>, <string.h>, <math.h> (expf, sqrt), <stdlib.h> (strtod, only
 *     when reading a model file's metadata);
 *   - this header is C and C++: a C firmware includes it as is.
 *
 * The pieces:
 *   plan   (infer_plan.cpp)   arch + width + input size -> the op table and its tensor names; arena planning
 *   load   (infer_load.cpp)   a safetensors model file in memory -> plasmo_model (BatchNorm folded into convs)
 *   ops    (infer_ops.cpp)    convolution (+ BatchNorm-folded bias, ReLU/ReLU6, residual add, max-pool fused
 *                             row by row), global average pooling, dense
 *   run    (infer_run.cpp)    image -> preprocess -> ops -> softmax p(Parasitized)
 *   prep   (infer_preprocess.cpp)  resize (the data loader's algorithm) + normalize (dataset mean/std, or
 *                             per-image foreground: foreground_norm.h)
 *
 * Memory: a model needs model->arena_bytes of scratch per inference (activations, planned so buffers are
 * reused as soon as nothing reads them), handed in by the caller; nothing else is written.
 */
#ifndef PLASMO_INFER_H
#define PLASMO_INFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes: 0 is success, every error is negative (plasmo_classify returns them as floats). */
enum {
  PLASMO_OK = 0,
  PLASMO_ERR_ARGUMENT = -1, /* a null pointer, an image side <= 0 or above PLASMO_MAX_IMAGE_SIDE */
  PLASMO_ERR_ARENA = -2,    /* arena null, not 4-byte aligned, or smaller than the model's arena_bytes */
  PLASMO_ERR_FORMAT = -3,   /* not a valid model file: truncated, bad header, bad metadata, crc32 mismatch */
  PLASMO_ERR_ARCH = -4,     /* an architecture (or width) this code does not run, or not the expected one */
  PLASMO_ERR_INPUT = -5,    /* an input size this code does not run, or not the expected one */
  PLASMO_ERR_TENSOR = -6,   /* a tensor missing, of the wrong shape or dtype, or not finite */
  PLASMO_ERR_CAPACITY = -7  /* the model needs more ops than the caller's op storage holds */
};

/* Largest image side plasmo_run accepts (as the data loader). */
#define PLASMO_MAX_IMAGE_SIDE 8192
/* Ops of the largest model (mobilenetv2: 54); the planner refuses more. */
#define PLASMO_MAX_OPS 64
/* "No tensor here" for plasmo_op.bias and plasmo_op.residual. */
#define PLASMO_NONE 0xffffffffu

enum { PLASMO_ARCH_AUTOENCODER = 1, PLASMO_ARCH_RESNET18 = 2, PLASMO_ARCH_MOBILENETV2 = 3 };

/* plasmo_model.normalize: how pixels become inputs (the model file's `normalize` metadata).
 * DATASET (absent or "dataset"): x = (v / 255 - mean[c]) / std[c], the training set's mean and std.
 * FOREGROUND ("foreground"): per image, over the cell's pixels (r + g + b > 30):
 *   x = (v - m[c]) / max(s[c], 1) with the cell's own mean m and std s (0..255 units); background x = 0
 *   (foreground_norm.h gives the exact arithmetic). */
enum { PLASMO_NORMALIZE_DATASET = 0, PLASMO_NORMALIZE_FOREGROUND = 1 };

enum {
  PLASMO_OP_CONV = 1, /* convolution [+ bias] [+ residual] [+ activation] [+ max-pool], see below */
  PLASMO_OP_GAP = 2,  /* global average pooling: [C, H, W] -> [C, 1, 1] */
  PLASMO_OP_DENSE = 3 /* y[o] = bias[o] + sum_i W[o][i] x[i], x = the input flattened (C*H*W features) */
};

enum { PLASMO_ACT_NONE = 0, PLASMO_ACT_RELU = 1, PLASMO_ACT_RELU6 = 2 };

/* One row of the op table (48 bytes).
 * CONV:  conv[oc][y][x] = bias[oc] + sum_{ic in group(oc), kh, kw} W[oc][ic][kh][kw] * in[ic][iy][ix],
 *          iy = y * stride - padding + kh, ix = x * stride - padding + kw (outside the input: zero);
 *        then + residual[oc][y][x] (when residual != PLASMO_NONE), then the activation, then when
 *        pool_kernel > 0: out = max-pool(pool_kernel, pool_stride, pool_padding), computed row by row in
 *        `scratch` (pool_kernel conv rows) so the un-pooled activation is never stored whole.
 *        W is [out_channels][in_channels / groups][kernel][kernel], BatchNorm already folded in.
 * DENSE: in_* describe the flattened input; out_channels = out features (out_height = out_width = 1).
 * Offsets: weight / bias count floats into the model's weights; src, dst, residual, scratch count bytes
 * into the arena. */
typedef struct plasmo_op {
  uint8_t kind, activation, kernel, stride, padding, pool_kernel, pool_stride, pool_padding;
  uint16_t in_channels, in_height, in_width, groups;
  uint16_t out_channels, out_height, out_width, conv_width; /* out_* after pooling; conv_width before */
  uint32_t weight, bias;
  uint32_t src, dst, residual, scratch;
} plasmo_op;

/* A model ready to run: its op table, its (folded) weights and what its metadata says. */
typedef struct plasmo_model {
  int arch;       /* PLASMO_ARCH_* */
  double width;   /* width multiplier (1 for the autoencoder) */
  int input_size; /* images are resized to input_size x input_size */
  float mean[3];  /* per channel, after scaling pixels to [0, 1] (PLASMO_NORMALIZE_DATASET only) */
  float std[3];
  int normalize;           /* PLASMO_NORMALIZE_* */
  double threshold;        /* label Parasitized when p >= threshold */
  char class_names[2][32]; /* index 0 = Uninfected, 1 = Parasitized (the metadata's names) */
  const plasmo_op* ops;
  int op_count;
  const float* weights;
  uint32_t weight_count;  /* floats */
  uint32_t arena_bytes;   /* exactly what one inference touches */
  uint32_t input_offset;  /* arena byte offset of the preprocessed input [3][S][S] */
  uint32_t logits_offset; /* arena byte offset of the two logits */
} plasmo_model;

/* Why a load failed, for a human: "tensor 'enc1.weight': expected shape [16, 3, 3, 3], found [16, 3, 5, 5]". */
typedef struct plasmo_error {
  int code;
  char message[200];
} plasmo_error;

/* ---- running ------------------------------------------------------------------------------------------ */

/* image (8-bit RGB, interleaved, rows top to bottom: rgb[(y * width + x) * 3 + c]) -> p(Parasitized).
 * arena: arena_bytes >= model->arena_bytes, 4-byte aligned. logits (may be null) receives the two logits.
 * Returns PLASMO_OK, PLASMO_ERR_ARGUMENT or PLASMO_ERR_ARENA; nothing outside the arena is written. */
int plasmo_run(const plasmo_model* model, const uint8_t* rgb, int width, int height, void* arena, size_t arena_bytes,
               float* p_parasitized, float* logits);

/* The network alone, on an input tensor already written at arena + model->input_offset (normalized,
 * planar [3][S][S]); writes the two logits. For tests that feed the engine and the core the same tensor. */
int plasmo_forward(const plasmo_model* model, void* arena, size_t arena_bytes, float* logits);

/* p(Parasitized) = softmax(logits)[1] = 1 / (1 + exp(logits[0] - logits[1])). */
float plasmo_softmax_p1(const float* logits);

/* The preprocessing alone: image -> the model's input tensor ([3][S][S], normalized), as the data loader:
 * resize to S x S (uint8, plasmo_resize_rgb8), then x = v / (255 std[c]) - mean[c] / std[c], or the
 * per-image foreground normalization when model->normalize is PLASMO_NORMALIZE_FOREGROUND (computed in
 * place in `input`: no other memory). */
int plasmo_preprocess(const plasmo_model* model, const uint8_t* rgb, int width, int height, float* input);

/* The data loader's resize (data_loader/resize.h), without its tables: per axis, area averaging when
 * shrinking, bilinear with centres aligned (clamped) when growing, the identity at equal size; rows first,
 * then columns, rounded to uint8. Writes planar [3][out_height][out_width] (planar = 1) or interleaved
 * [out_height][out_width][3] (planar = 0). Uses no scratch memory. */
void plasmo_resize_rgb8(const uint8_t* rgb, int in_width, int in_height, int out_width, int out_height, int planar,
                        uint8_t* out);

/* ---- loading a safetensors model file held in memory ----------------------------------------------------- */

/* Step 1: reads the header and metadata (arch, width, input, normalize, mean, std, threshold, classes), plans the op
 * table into ops[max_ops] and the arena; fills every field of `model` but weights. Checks the tensors'
 * names, dtypes and shapes (and the file's crc32 when present) without copying anything.
 * Returns PLASMO_OK or an error (details in `error`, which may be null). */
int plasmo_load_plan(const uint8_t* file, size_t file_size, plasmo_model* model, plasmo_op* ops, int max_ops,
                     plasmo_error* error);

/* Step 2: copies the weights into weights[model->weight_count] (F16/BF16 widened), folding each
 * BatchNorm into the convolution before it: W' = W * g, b' = beta + (b - mean) * g, g = gamma / sqrt(var + eps),
 * eps = 1e-5. Sets model->weights. Refuses non-finite values (PLASMO_ERR_TENSOR). */
int plasmo_load_weights(const uint8_t* file, size_t file_size, plasmo_model* model, float* weights,
                        plasmo_error* error);

/* Both steps for a model file that must match `expected` (e.g. the model a firmware was exported with, whose op
 * table is compiled in): refuses another architecture or width (PLASMO_ERR_ARCH) or input size
 * (PLASMO_ERR_INPUT) before touching any tensor, then checks and loads the weights into
 * weights[expected->weight_count]. On success `model` is `expected` with the file's weights and metadata
 * (normalize, mean, std, threshold, class names) and shares expected's op table. Uses about 8 KB of stack
 * (planning). */
int plasmo_load_matching(const uint8_t* file, size_t file_size, const plasmo_model* expected, float* weights,
                         plasmo_model* model, plasmo_error* error);

/* The model of (arch, width, input size) without a file: op table and arena (dataset normalization with
 * mean 0, std 1, threshold 0.5, no weights; weight_count tells how many floats they take).
 * arch: "autoencoder", "resnet18", "mobilenetv2". */
int plasmo_plan_arch(const char* arch, double width, int input_size, plasmo_model* model, plasmo_op* ops, int max_ops,
                     plasmo_error* error);

/* The name of PLASMO_ARCH_*, or "?". */
const char* plasmo_arch_name(int arch);

#ifdef __cplusplus
}
#endif

#endif /* PLASMO_INFER_H */
