#include "eval/heatmap.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/error.h"
#include "eval/colormap.h"

namespace plasmo::eval {

namespace {

void check_features(const Tensor& features, int n, const char* what) {
  if (features.rank() != 4)
    throw ShapeError(std::string(what) + ": features must be [N, C, h, w], got " + features.shape().str());
  if (n < 0 || n >= features.dim(0))
    throw ShapeError(std::string(what) + ": image " + std::to_string(n) + " is outside the batch of features " +
                     features.shape().str());
}

}  // namespace

const char* cam_method_name(CamMethod method) { return method == CamMethod::GradCam ? "Grad-CAM" : "mean activation"; }

HeatMap mean_activation_map(const Tensor& features, int n) {
  check_features(features, n, "mean_activation_map");
  const int channels = features.dim(1), height = features.dim(2), width = features.dim(3);
  HeatMap map;
  map.height = height, map.width = width, map.method = CamMethod::MeanActivation;
  map.values.assign(static_cast<size_t>(height) * width, 0.0f);
  std::vector<double> mean(map.values.size(), 0.0);
  for (int channel = 0; channel < channels; ++channel)
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) mean[static_cast<size_t>(y) * width + x] += features.at(n, channel, y, x);
  double low = INFINITY, high = -INFINITY;
  for (double& value : mean) {
    value /= channels;
    low = std::min(low, value), high = std::max(high, value);
  }
  if (!(high > low) || !std::isfinite(high - low)) return map;  // flat (or broken): no structure to show
  for (size_t i = 0; i < mean.size(); ++i) map.values[i] = static_cast<float>((mean[i] - low) / (high - low));
  return map;
}

HeatMap grad_cam(const Tensor& features, const Tensor& gradient, int n) {
  check_features(features, n, "grad_cam");
  if (gradient.shape() != features.shape())
    throw ShapeError("grad_cam: gradient " + gradient.shape().str() + " does not match features " +
                     features.shape().str());
  const int channels = features.dim(1), height = features.dim(2), width = features.dim(3);
  const size_t pixels = static_cast<size_t>(height) * width;
  std::vector<double> cam(pixels, 0.0);
  for (int channel = 0; channel < channels; ++channel) {
    double alpha = 0.0;  // 1/(h w) sum_{y,x} G[c][y][x]
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) alpha += gradient.at(n, channel, y, x);
    alpha /= static_cast<double>(pixels);
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) cam[static_cast<size_t>(y) * width + x] += alpha * features.at(n, channel, y, x);
  }
  double high = 0.0;
  bool finite = true;
  for (double& value : cam) {
    finite = finite && std::isfinite(value);
    value = std::max(value, 0.0);
    high = std::max(high, value);
  }
  if (!finite || !(high > 0.0)) return mean_activation_map(features, n);
  HeatMap map;
  map.height = height, map.width = width, map.method = CamMethod::GradCam;
  map.values.resize(pixels);
  for (size_t i = 0; i < pixels; ++i) map.values[i] = static_cast<float>(cam[i] / high);
  return map;
}

namespace {

// Source position of output index o along one axis (align_corners=False): s = (o + 0.5) in/out - 0.5,
// clamped below at 0; the two taps i0 = floor(s), i1 = min(i0 + 1, in - 1), weight of i1 = s - i0.
struct Tap {
  int i0, i1;
  float weight1;
};
Tap source_tap(int o, int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double s = std::max((o + 0.5) * scale - 0.5, 0.0);
  const int i0 = std::min(static_cast<int>(s), in_size - 1);
  const int i1 = std::min(i0 + 1, in_size - 1);
  return {i0, i1, static_cast<float>(s - i0)};
}

}  // namespace

void upsample_bilinear(const float* in, int in_height, int in_width, float* out, int out_height, int out_width) {
  if (in_height < 1 || in_width < 1 || out_height < 1 || out_width < 1)
    throw ShapeError("upsample_bilinear: sizes must be >= 1, got " + std::to_string(in_height) + "x" +
                     std::to_string(in_width) + " -> " + std::to_string(out_height) + "x" + std::to_string(out_width));
  std::vector<Tap> columns(out_width);
  for (int x = 0; x < out_width; ++x) columns[x] = source_tap(x, in_width, out_width);
  for (int y = 0; y < out_height; ++y) {
    const Tap row = source_tap(y, in_height, out_height);
    const float* row0 = in + static_cast<size_t>(row.i0) * in_width;
    const float* row1 = in + static_cast<size_t>(row.i1) * in_width;
    for (int x = 0; x < out_width; ++x) {
      const Tap& col = columns[x];
      const float top = row0[col.i0] + col.weight1 * (row0[col.i1] - row0[col.i0]);
      const float bottom = row1[col.i0] + col.weight1 * (row1[col.i1] - row1[col.i0]);
      out[static_cast<size_t>(y) * out_width + x] = top + row.weight1 * (bottom - top);
    }
  }
}

void blend_heat(const uint8_t* rgb, int height, int width, const float* heat, float alpha, uint8_t* out) {
  const size_t pixels = static_cast<size_t>(height) * width;
  for (size_t i = 0; i < pixels; ++i) {
    const Rgb colour = inferno(heat[i]);
    const uint8_t tint[3] = {colour.r, colour.g, colour.b};
    for (int c = 0; c < 3; ++c) {
      const float mixed = (1.0f - alpha) * rgb[i * 3 + c] + alpha * tint[c];
      out[i * 3 + c] = static_cast<uint8_t>(std::clamp(std::lround(mixed), 0L, 255L));
    }
  }
}

std::vector<uint8_t> render_heatmap(const uint8_t* rgb, int height, int width, const HeatMap& heat, float alpha) {
  if (heat.values.size() != static_cast<size_t>(heat.height) * heat.width || heat.values.empty())
    throw ShapeError("render_heatmap: heat map of " + std::to_string(heat.height) + "x" + std::to_string(heat.width) +
                     " holds " + std::to_string(heat.values.size()) + " values");
  std::vector<float> upsampled(static_cast<size_t>(height) * width);
  upsample_bilinear(heat.values.data(), heat.height, heat.width, upsampled.data(), height, width);
  std::vector<uint8_t> out(static_cast<size_t>(height) * width * 3);
  blend_heat(rgb, height, width, upsampled.data(), alpha, out.data());
  return out;
}

}  // namespace plasmo::eval
