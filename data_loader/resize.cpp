#include "data_loader/resize.h"

#include <algorithm>
#include <cmath>

namespace plasmo::data {

void Resizer::Axis::build(int in_size, int out_size) {
  if (in == in_size && out == out_size) return;
  in = in_size;
  out = out_size;
  const double scale = static_cast<double>(in_size) / out_size;  // source pixels per output pixel
  taps = in_size > out_size ? static_cast<int>(std::ceil(scale)) + 1 : 2;
  start.assign(out_size, 0);
  count.assign(out_size, 0);
  weight.assign(static_cast<size_t>(out_size) * taps, 0.0f);
  for (int o = 0; o < out_size; ++o) {
    float* w = &weight[static_cast<size_t>(o) * taps];
    if (in_size == out_size) {
      start[o] = o;
      count[o] = 1;
      w[0] = 1.0f;
    } else if (in_size > out_size) {
      // Area: overlap of source pixel [i, i+1) with [lo, hi), divided by the total (hi - lo).
      const double lo = o * scale, hi = (o + 1) * scale;
      // first = floor(o * in / out), last = ceil((o + 1) * in / out) - 1, in exact integers.
      const int64_t numerator = static_cast<int64_t>(o) * in_size;
      const int first = static_cast<int>(numerator / out_size);
      const int last = static_cast<int>((numerator + in_size + out_size - 1) / out_size) - 1;
      auto overlap = [&](int i) { return std::max(0.0, std::min(hi, i + 1.0) - std::max(lo, static_cast<double>(i))); };
      double total = 0.0;
      for (int i = first; i <= last; ++i) total += overlap(i);
      start[o] = first;
      count[o] = last - first + 1;  // <= taps: the interval spans at most ceil(scale) + 1 pixels
      for (int i = first; i <= last; ++i) w[i - first] = static_cast<float>(overlap(i) / total);
    } else {
      // Bilinear between the two nearest source centres; clamped at the borders.
      const double centre = (o + 0.5) * scale - 0.5;
      int left = static_cast<int>(std::floor(centre));
      double frac = centre - left;
      if (left < 0) {
        left = 0;
        frac = 0.0;
      }
      if (left >= in_size - 1) {
        left = in_size - 1;
        frac = 0.0;
      }
      start[o] = left;
      count[o] = frac > 0.0 ? 2 : 1;
      w[0] = static_cast<float>(1.0 - frac);
      w[1] = static_cast<float>(frac);
    }
  }
}

void Resizer::resize_to_planar(const uint8_t* rgb, int in_height, int in_width, int out_height, int out_width,
                               uint8_t* planar_out) {
  const size_t out_plane = static_cast<size_t>(out_height) * out_width;
  if (in_height == out_height && in_width == out_width) {  // identity: deinterleave only
    for (size_t p = 0; p < out_plane; ++p)
      for (int channel = 0; channel < 3; ++channel) planar_out[channel * out_plane + p] = rgb[p * 3 + channel];
    return;
  }
  rows_.build(in_height, out_height);
  cols_.build(in_width, out_width);

  // Horizontal pass: horizontal_[y][ox][c] = sum_k w_k * rgb[y][start(ox)+k][c].
  horizontal_.resize(static_cast<size_t>(in_height) * out_width * 3);
  for (int y = 0; y < in_height; ++y) {
    const uint8_t* src_row = rgb + static_cast<size_t>(y) * in_width * 3;
    float* dst_row = &horizontal_[static_cast<size_t>(y) * out_width * 3];
    for (int ox = 0; ox < out_width; ++ox) {
      const float* w = &cols_.weight[static_cast<size_t>(ox) * cols_.taps];
      const uint8_t* src = src_row + static_cast<size_t>(cols_.start[ox]) * 3;
      float r = 0.0f, g = 0.0f, b = 0.0f;
      for (int k = 0; k < cols_.count[ox]; ++k) {
        r += w[k] * src[k * 3 + 0];
        g += w[k] * src[k * 3 + 1];
        b += w[k] * src[k * 3 + 2];
      }
      dst_row[ox * 3 + 0] = r;
      dst_row[ox * 3 + 1] = g;
      dst_row[ox * 3 + 2] = b;
    }
  }
  // Vertical pass: out[c][oy][ox] = round(sum_k w_k * horizontal_[start(oy)+k][ox][c]).
  const size_t row_stride = static_cast<size_t>(out_width) * 3;
  for (int oy = 0; oy < out_height; ++oy) {
    const float* w = &rows_.weight[static_cast<size_t>(oy) * rows_.taps];
    const float* src = &horizontal_[static_cast<size_t>(rows_.start[oy]) * row_stride];
    for (int ox = 0; ox < out_width; ++ox) {
      float r = 0.0f, g = 0.0f, b = 0.0f;
      for (int k = 0; k < rows_.count[oy]; ++k) {
        const float* px = src + k * row_stride + ox * 3;
        r += w[k] * px[0];
        g += w[k] * px[1];
        b += w[k] * px[2];
      }
      const size_t p = static_cast<size_t>(oy) * out_width + ox;
      const float values[3] = {r, g, b};
      for (int channel = 0; channel < 3; ++channel) {
        const float v = values[channel] + 0.5f;
        planar_out[channel * out_plane + p] = static_cast<uint8_t>(v <= 0.0f     ? 0
                                                                   : v >= 255.0f ? 255
                                                                                 : static_cast<int>(v));
      }
    }
  }
}

}  // namespace plasmo::data
