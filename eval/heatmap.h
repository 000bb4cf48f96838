// Class-activation heatmaps: where in a cell the network's Parasitized evidence lies.
//
// Grad-CAM (Selvaraju et al. 2017) on the last conv stage's output A [C, h, w] of one image and the
// gradient G = d z_Parasitized / dA of the Parasitized logit (the model's features() / features_grad()
// after a backward of dlogits = (0, 1) per image):
//   alpha_c  = 1/(h w) sum_{y,x} G[c][y][x]                 (channel weight: the spatially averaged gradient)
//   cam[y][x] = max(0, sum_c alpha_c A[c][y][x])           (ReLU: only evidence for Parasitized)
//   heat = cam / max(cam)                                  (in [0, 1])
// When cam is zero everywhere (no positive evidence, typical of a confident Uninfected cell) or not
// finite, the fallback is the mean activation map (the seed report's view):
//   mean[y][x] = 1/C sum_c A[c][y][x],  heat = (mean - min) / (max - min)   (all 0 when flat)
// The heat map is then upsampled bilinearly to the cell image's size (pixel centres aligned, edges
// clamped: PyTorch's interpolate(mode="bilinear", align_corners=False)), coloured (colormap.h) and
// alpha-blended over the cell: out = (1 - alpha) pixel + alpha colour(heat), rounded.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace plasmo::eval {

enum class CamMethod { GradCam, MeanActivation };
const char* cam_method_name(CamMethod method);  // "Grad-CAM" / "mean activation"

// A heat map in [0, 1], row-major [height][width].
struct HeatMap {
  int height = 0, width = 0;
  std::vector<float> values;
  CamMethod method = CamMethod::GradCam;
};

// Image `n` of features [N, C, h, w] and gradient (same shape; ShapeError otherwise, naming both shapes).
// Sums run in double. Falls back to the mean activation map as above.
HeatMap grad_cam(const Tensor& features, const Tensor& gradient, int n);
// The fallback alone (also what a caller without a gradient can use).
HeatMap mean_activation_map(const Tensor& features, int n);

// in [in_height][in_width] -> out [out_height][out_width], bilinear, align_corners=False. Sizes >= 1.
void upsample_bilinear(const float* in, int in_height, int in_width, float* out, int out_height, int out_width);

// rgb and out: interleaved 8-bit RGB [height][width][3] (out may be rgb); heat: [height][width] in [0, 1].
void blend_heat(const uint8_t* rgb, int height, int width, const float* heat, float alpha, uint8_t* out);

constexpr float kHeatAlpha = 0.5f;

// upsample_bilinear to the image size, then blend_heat: the heatmap image of one cell, [height][width][3].
std::vector<uint8_t> render_heatmap(const uint8_t* rgb, int height, int width, const HeatMap& heat,
                                    float alpha = kHeatAlpha);

}  // namespace plasmo::eval
