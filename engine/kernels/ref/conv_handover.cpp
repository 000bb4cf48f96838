// Reference conv2d_backward_sums (kernels.h): the definition, three kernels in a row: dx, per image the
// BatchNorm hand-over sums over dx (as dy) and the convolution's input x, then the weight gradient.
#include "engine/kernels/ref/ref_kernels.h"

namespace plasmo::kernels::ref {

void conv2d_backward_sums(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* dweight,
                          float* dbias, float* scratch, const HandOverSums& sums) {
  conv2d_backward_data(g, dy, weight, dx, scratch);
  const int C = g.in_channels, HW = g.in_h * g.in_w;
  const size_t image = static_cast<size_t>(C) * HW;
  for (int n = 0; n < g.batch; ++n)
    channel_act_grad_sums(1, C, HW, 0, C, dx + n * image, sums.x + n * image, sums.scale, sums.shift, sums.mean,
                          sums.act, sums.sum_g + static_cast<size_t>(n) * C, sums.sum_gxc + static_cast<size_t>(n) * C);
  conv2d_backward_weight(g, sums.x, dy, dweight, dbias, scratch);
}

}  // namespace plasmo::kernels::ref
