// The ops: convolution with its epilogue (bias, residual, activation, fused max-pool), global average
// pooling, dense. Plain loops over named dims; the arena layout is planar [channels][height][width].
#include <string.h>

#include "infer_internal.h"

namespace plasmo_infer {

namespace {

// The arena is bytes handed in by the caller (4-byte aligned, checked) that only ever hold floats.
inline float* at(uint8_t* arena, uint32_t offset) {
  return reinterpret_cast<float*>(arena + offset);  // cppcheck-suppress invalidPointerCast
}

inline float activate(float value, int activation) {
  if (activation == PLASMO_ACT_NONE) return value;
  if (value < 0.0f) return 0.0f;  // ReLU: max(0, x); ReLU6: min(max(0, x), 6)
  if (activation == PLASMO_ACT_RELU6 && value > 6.0f) return 6.0f;
  return value;
}

// acc[x] += w * row[x * stride + shift] for x in [x_first, x_last]; acc and row never overlap (the planner
// keeps an op's output apart from its input), which lets the compiler vectorize the stride-1 case.
inline void accumulate(float* __restrict acc, const float* __restrict row, float w, int x_first, int x_last, int stride,
                       int shift) {
  if (stride == 1) {
    const float* __restrict src = row + shift;
    for (int x = x_first; x <= x_last; ++x) acc[x] += w * src[x];
  } else {
    for (int x = x_first; x <= x_last; ++x) acc[x] += w * row[x * stride + shift];
  }
}

// One output row `conv_y` of the convolution, every output channel, with the epilogue but no pooling:
//   out[oc * channel_stride + x] = act(bias[oc] + sum_{ic, kh, kw} W[oc][ic][kh][kw] * in[ic][iy][ix] +
//   res[oc][conv_y][x]) iy = conv_y * stride - padding + kh, ix = x * stride - padding + kw (taps outside the input are
//   zero padding)
// in [in_channels][in_height][in_width]; residual (or null) [out_channels][conv_height][conv_width].
void conv_row(const plasmo_op& op, const float* weights, const float* in, const float* residual, int conv_y, float* out,
              size_t channel_stride) {
  const int in_height = op.in_height, in_width = op.in_width, conv_width = op.conv_width;
  const int kernel = op.kernel, stride = op.stride, padding = op.padding;
  const int in_per_group = op.in_channels / op.groups, out_per_group = op.out_channels / op.groups;
  const size_t in_plane = static_cast<size_t>(in_height) * in_width;
  const size_t conv_height = (static_cast<size_t>(in_height) + 2 * padding - kernel) / stride + 1;
  for (int oc = 0; oc < op.out_channels; ++oc) {
    float* acc = out + oc * channel_stride;
    const float bias = op.bias == PLASMO_NONE ? 0.0f : weights[op.bias + oc];
    for (int x = 0; x < conv_width; ++x) acc[x] = bias;
    const int first_in = (oc / out_per_group) * in_per_group;
    const float* filter = weights + op.weight + static_cast<size_t>(oc) * in_per_group * kernel * kernel;
    for (int ic = 0; ic < in_per_group; ++ic) {
      const float* plane = in + (first_in + ic) * in_plane;
      for (int kh = 0; kh < kernel; ++kh) {
        const int iy = conv_y * stride - padding + kh;
        if (iy < 0 || iy >= in_height) continue;
        const float* row = plane + static_cast<size_t>(iy) * in_width;
        for (int kw = 0; kw < kernel; ++kw) {
          const float w = filter[(ic * kernel + kh) * kernel + kw];
          // ix = x * stride - padding + kw in [0, in_width)  <=>  x in [x_first, x_last]
          const int shift = kw - padding;
          const int x_first = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
          if (in_width - 1 - shift < 0) continue;
          int x_last = (in_width - 1 - shift) / stride;
          if (x_last > conv_width - 1) x_last = conv_width - 1;
          accumulate(acc, row, w, x_first, x_last, stride, shift);
        }
      }
    }
    if (residual) {
      const float* res = residual + (oc * conv_height + conv_y) * conv_width;
      for (int x = 0; x < conv_width; ++x) acc[x] += res[x];
    }
    if (op.activation != PLASMO_ACT_NONE)
      for (int x = 0; x < conv_width; ++x) acc[x] = activate(acc[x], op.activation);
  }
}

}  // namespace

// Without pooling: each conv row goes straight to the output. With pooling (kernel P, stride S, padding Q):
// pooled row py = max over conv rows [py*S - Q, py*S - Q + P) (clipped); conv row r is computed once, into
// ring slot r % P of the scratch [P][out_channels][conv_width]: a window spans at most P rows and windows
// move down monotonically, so a slot is overwritten only once its row has left every later window.
void run_conv(const plasmo_op& op, const float* weights, uint8_t* arena) {
  const float* in = at(arena, op.src);
  const float* residual = op.residual == PLASMO_NONE ? nullptr : at(arena, op.residual);
  float* out = at(arena, op.dst);
  const int conv_height = (op.in_height + 2 * op.padding - op.kernel) / op.stride + 1;
  const int conv_width = op.conv_width;
  if (!op.pool_kernel) {
    const size_t plane = static_cast<size_t>(conv_height) * conv_width;
    for (int y = 0; y < conv_height; ++y)
      conv_row(op, weights, in, residual, y, out + static_cast<size_t>(y) * conv_width, plane);
    return;
  }
  const int pool = op.pool_kernel, pool_stride = op.pool_stride, pool_padding = op.pool_padding;
  const int channels = op.out_channels, out_height = op.out_height, out_width = op.out_width;
  const size_t slot_floats = static_cast<size_t>(channels) * conv_width;
  float* ring = at(arena, op.scratch);
  int next_row = 0;  // the first conv row not computed yet
  for (int py = 0; py < out_height; ++py) {
    int row_first = py * pool_stride - pool_padding, row_last = row_first + pool - 1;
    if (row_first < 0) row_first = 0;
    if (row_last > conv_height - 1) row_last = conv_height - 1;
    for (; next_row <= row_last; ++next_row)
      conv_row(op, weights, in, residual, next_row, ring + (next_row % pool) * slot_floats, conv_width);
    for (int channel = 0; channel < channels; ++channel) {
      float* dst = out + (static_cast<size_t>(channel) * out_height + py) * out_width;
      for (int px = 0; px < out_width; ++px) {
        int col_first = px * pool_stride - pool_padding, col_last = col_first + pool - 1;
        if (col_first < 0) col_first = 0;
        if (col_last > conv_width - 1) col_last = conv_width - 1;
        float best = ring[(row_first % pool) * slot_floats + static_cast<size_t>(channel) * conv_width + col_first];
        for (int row = row_first; row <= row_last; ++row) {
          const float* src = ring + (row % pool) * slot_floats + static_cast<size_t>(channel) * conv_width;
          for (int col = col_first; col <= col_last; ++col)
            if (src[col] > best) best = src[col];
        }
        dst[px] = best;
      }
    }
  }
}

// y[c] = (1 / HW) * sum_{h, w} x[c][h][w]  (summed in order, divided once: as engine/kernels/ref/pool.cpp)
void run_gap(const plasmo_op& op, uint8_t* arena) {
  const float* in = at(arena, op.src);
  float* out = at(arena, op.dst);
  const size_t plane = static_cast<size_t>(op.in_height) * op.in_width;
  for (int channel = 0; channel < op.in_channels; ++channel) {
    float sum = 0.0f;
    for (size_t i = 0; i < plane; ++i) sum += in[channel * plane + i];
    out[channel] = sum / static_cast<float>(plane);
  }
}

// y[o] = act(b[o] + sum_i W[o][i] * x[i]), x = the input flattened in C, H, W order (PyTorch's flatten).
void run_dense(const plasmo_op& op, const float* weights, uint8_t* arena) {
  const float* in = at(arena, op.src);
  float* out = at(arena, op.dst);
  const size_t features = static_cast<size_t>(op.in_channels) * op.in_height * op.in_width;
  for (int o = 0; o < op.out_channels; ++o) {
    const float* row = weights + op.weight + o * features;
    float sum = 0.0f;
    for (size_t i = 0; i < features; ++i) sum += row[i] * in[i];
    out[o] = activate(weights[op.bias + o] + sum, op.activation);
  }
}

}  // namespace plasmo_infer
