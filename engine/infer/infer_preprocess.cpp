// Image -> model input, exactly as the data loader does it (data_loader/resize.cpp, normalize.h), so
// `plasmo-infer`, the firmware and `plasmo predict` feed the network the same numbers:
//   1. resize 8-bit RGB to S x S, separably: a horizontal pass over source rows (float sums), then a
//      vertical pass over those (float sums), rounded to uint8 (+0.5, clamped). Per axis:
//        shrinking (in > out): area averaging; output o covers source [o*in/out, (o+1)*in/out), each source
//          pixel weighted by its overlap, weights normalised to sum 1 (computed in double, used as float);
//        growing (in < out): bilinear, centre-aligned (source x = (o + 0.5) * in/out - 0.5), clamped;
//        in == out: the identity (both axes equal: a plain copy).
//   2. dataset normalization: x = v * scale[c] + bias[c] with scale = 1 / (255 std[c]),
//      bias = -mean[c] / std[c] (float); or foreground normalization (model->normalize): the resized
//      values are written to `input` as floats, then foreground_normalize (foreground_norm.h, the data
//      loader's code) rewrites them in place.
// The data loader keeps weight tables and a [in_height][S][3] float buffer; here each output pixel
// recomputes its taps' weights with the same double arithmetic (bit-identical floats), so the only memory
// is the output. Cost per output pixel: O(taps_x * taps_y), as the data loader's.
#include "foreground_norm.h"
#include "infer_internal.h"

namespace plasmo_infer {

namespace {

// The source taps of output index o along one axis: [start, start + count) with their weights.
struct Taps {
  int start = 0, count = 1;
  int mode = 0;                       // 0 identity, 1 area (shrink), 2 bilinear (grow)
  double lo = 0, hi = 0, total = 1;   // area
  float first = 1.0f, second = 0.0f;  // bilinear: weights of start and start + 1

  // Area overlap of source pixel [i, i + 1) with [lo, hi).
  double overlap(int i) const {
    const double right = hi < i + 1.0 ? hi : i + 1.0;
    const double left = lo > static_cast<double>(i) ? lo : static_cast<double>(i);
    const double length = right - left;
    return length > 0.0 ? length : 0.0;
  }

  void setup(int in_size, int out_size, int o) {
    if (in_size == out_size) {
      mode = 0;
      start = o;
      count = 1;
      first = 1.0f;
      return;
    }
    const double scale = static_cast<double>(in_size) / out_size;  // source pixels per output pixel
    if (in_size > out_size) {
      mode = 1;
      lo = o * scale;
      hi = (o + 1) * scale;
      // first = floor(o * in / out), last = ceil((o + 1) * in / out) - 1, in exact integers
      const int64_t numerator = static_cast<int64_t>(o) * in_size;
      start = static_cast<int>(numerator / out_size);
      const int last = static_cast<int>((numerator + in_size + out_size - 1) / out_size) - 1;
      count = last - start + 1;
      total = 0.0;
      for (int i = start; i <= last; ++i) total += overlap(i);
      return;
    }
    mode = 2;
    const double centre = (o + 0.5) * scale - 0.5;
    int left = static_cast<int>(centre);
    if (static_cast<double>(left) > centre) --left;  // floor
    double frac = centre - left;
    if (left < 0) {
      left = 0;
      frac = 0.0;
    }
    if (left >= in_size - 1) {
      left = in_size - 1;
      frac = 0.0;
    }
    start = left;
    count = frac > 0.0 ? 2 : 1;
    first = static_cast<float>(1.0 - frac);
    second = static_cast<float>(frac);
  }

  float weight(int k) const {
    if (mode == 1) return static_cast<float>(overlap(start + k) / total);
    return k == 0 ? first : second;
  }
};

constexpr int kCachedTaps = 32;

// Weights of the first kCachedTaps taps, computed once per output index (the rest on demand).
struct TapWeights {
  Taps taps;
  float cached[kCachedTaps];
  void setup(int in_size, int out_size, int o) {
    taps.setup(in_size, out_size, o);
    for (int k = 0; k < taps.count && k < kCachedTaps; ++k) cached[k] = taps.weight(k);
  }
  float operator[](int k) const { return k < kCachedTaps ? cached[k] : taps.weight(k); }
};

// Calls emit(channel, pixel, value) for every output value, pixel = oy * out_width + ox.
template <class Emit>
void resize(const uint8_t* rgb, int in_width, int in_height, int out_width, int out_height, Emit emit) {
  if (in_width == out_width && in_height == out_height) {
    const int pixels = out_width * out_height;
    for (int pixel = 0; pixel < pixels; ++pixel)
      for (int channel = 0; channel < 3; ++channel) emit(channel, pixel, rgb[pixel * 3 + channel]);
    return;
  }
  const size_t src_stride = static_cast<size_t>(in_width) * 3;
  TapWeights rows, cols;
  for (int oy = 0; oy < out_height; ++oy) {
    rows.setup(in_height, out_height, oy);
    for (int ox = 0; ox < out_width; ++ox) {
      cols.setup(in_width, out_width, ox);
      float value[3] = {0.0f, 0.0f, 0.0f};
      for (int ky = 0; ky < rows.taps.count; ++ky) {
        // The horizontal pass of source row start + ky at ox: h[c] = sum_kx w_kx * rgb[row][start + kx][c].
        const uint8_t* src =
            rgb + static_cast<size_t>(rows.taps.start + ky) * src_stride + static_cast<size_t>(cols.taps.start) * 3;
        float h[3] = {0.0f, 0.0f, 0.0f};
        for (int kx = 0; kx < cols.taps.count; ++kx) {
          const float w = cols[kx];
          h[0] += w * src[kx * 3 + 0];
          h[1] += w * src[kx * 3 + 1];
          h[2] += w * src[kx * 3 + 2];
        }
        const float w = rows[ky];
        value[0] += w * h[0];
        value[1] += w * h[1];
        value[2] += w * h[2];
      }
      const int pixel = oy * out_width + ox;
      for (int channel = 0; channel < 3; ++channel) {
        const float v = value[channel] + 0.5f;
        emit(channel, pixel, static_cast<uint8_t>(v <= 0.0f ? 0 : v >= 255.0f ? 255 : static_cast<int>(v)));
      }
    }
  }
}

}  // namespace

}  // namespace plasmo_infer

extern "C" void plasmo_resize_rgb8(const uint8_t* rgb, int in_width, int in_height, int out_width, int out_height,
                                   int planar, uint8_t* out) {
  const size_t plane = static_cast<size_t>(out_width) * out_height;
  if (planar)
    plasmo_infer::resize(rgb, in_width, in_height, out_width, out_height,
                         [out, plane](int channel, int pixel, uint8_t value) { out[channel * plane + pixel] = value; });
  else
    plasmo_infer::resize(rgb, in_width, in_height, out_width, out_height,
                         [out](int channel, int pixel, uint8_t value) { out[pixel * 3 + channel] = value; });
}

extern "C" int plasmo_preprocess(const plasmo_model* model, const uint8_t* rgb, int width, int height, float* input) {
  if (!model || !rgb || !input || width <= 0 || height <= 0 || width > PLASMO_MAX_IMAGE_SIDE ||
      height > PLASMO_MAX_IMAGE_SIDE)
    return PLASMO_ERR_ARGUMENT;
  const int side = model->input_size;
  const size_t plane = static_cast<size_t>(side) * side;
  if (model->normalize == PLASMO_NORMALIZE_FOREGROUND) {
    plasmo_infer::resize(rgb, width, height, side, side, [&](int channel, int pixel, uint8_t value) {
      input[channel * plane + pixel] = static_cast<float>(value);
    });
    plasmo_infer::foreground_normalize(input, plane);
    return PLASMO_OK;
  }
  float scale[3], bias[3];
  for (int channel = 0; channel < 3; ++channel) {
    scale[channel] = 1.0f / (255.0f * model->std[channel]);
    bias[channel] = -model->mean[channel] / model->std[channel];
  }
  plasmo_infer::resize(rgb, width, height, side, side, [&](int channel, int pixel, uint8_t value) {
    input[channel * plane + pixel] = static_cast<float>(value) * scale[channel] + bias[channel];
  });
  return PLASMO_OK;
}
