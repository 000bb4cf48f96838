// Resizing 8-bit RGB to the model's H x W, separably (rows, then columns), per axis:
//   downscale (in > out): area averaging. Output pixel o covers the source interval
//     [o * in/out, (o + 1) * in/out); each source pixel is weighted by its overlap with that interval,
//     weights normalized to sum 1. Every source pixel contributes, so detail finer than the output grid
//     averages out instead of aliasing (a 1-px checkerboard becomes flat grey).
//   upscale (in < out): bilinear, pixel centres aligned (source x = (o + 0.5) * in/out - 0.5),
//     clamped at the borders (PyTorch's align_corners=False).
//   in == out: the identity, bit for bit.
// The aspect ratio is not kept: a 77 x 80 crop fills the whole S x S (as Keras and torchvision's
// Resize((S, S)) do). Results are rounded to uint8, so training (which caches uint8) and prediction
// see the same numbers.
#pragma once
#include <cstdint>
#include <vector>

namespace plasmo::data {

class Resizer {
 public:
  // rgb: interleaved [in_height][in_width][3]; planar_out: [3][out_height][out_width].
  // Reuses its tables and scratch between calls (no allocation once sizes repeat or shrink).
  void resize_to_planar(const uint8_t* rgb, int in_height, int in_width, int out_height, int out_width,
                        uint8_t* planar_out);

 private:
  // For each output index o: the contributing source indices [start[o], start[o] + count[o]) and
  // their weights weight[o * taps + k].
  struct Axis {
    int in = -1, out = -1, taps = 0;
    std::vector<int> start, count;
    std::vector<float> weight;
    void build(int in_size, int out_size);
  };
  Axis rows_, cols_;
  std::vector<float> horizontal_;  // [in_height][out_width][3], rows after the horizontal pass
};

}  // namespace plasmo::data
