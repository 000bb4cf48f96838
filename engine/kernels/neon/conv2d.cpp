// NEON convolution entries: the shared paths of simd/conv.h (depthwise, direct, packed GEMM) with
// 4-lane vectors and the 8 x 12 microkernel.
#if defined(__aarch64__)
#include "engine/kernels/neon/gemm_conv.h"
#include "engine/kernels/neon/vec.h"
#include "engine/kernels/simd/conv.h"

namespace plasmo::kernels::neon {

using ConvImpl = simd::Conv<Vec, Micro>;

size_t conv2d_scratch_floats(const ConvGeom& g) { return ConvImpl::scratch_floats(g); }

void conv2d_forward(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                    float* scratch) {
  ConvImpl::forward_part(g, x, weight, nullptr, bias, y, scratch, 0, 1);
}

void conv2d_forward_part(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                         float* scratch, int part, int parts) {
  ConvImpl::forward_part(g, x, weight, nullptr, bias, y, scratch, part, parts);
}

int conv2d_packed_layout(const ConvGeom& g) { return ConvImpl::packed_layout(g); }
size_t conv2d_packed_floats(const ConvGeom& g) { return ConvImpl::packed_floats(g); }
void conv2d_pack_weights(const ConvGeom& g, const float* weight, float* packed) {
  ConvImpl::pack_weights(g, weight, packed);
}

void conv2d_forward_packed_part(const ConvGeom& g, const float* x, const float* packed, const float* bias, float* y,
                                float* scratch, int part, int parts) {
  ConvImpl::forward_part(g, x, nullptr, packed, bias, y, scratch, part, parts);
}

void conv2d_backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* scratch) {
  ConvImpl::backward_data(g, dy, weight, dx, scratch);
}

void conv2d_backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* dbias,
                            float* scratch) {
  ConvImpl::backward_weight(g, x, dy, dweight, dbias, scratch);
}

void conv2d_backward_sums(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* dweight,
                          float* dbias, float* scratch, const HandOverSums& sums) {
  ConvImpl::backward_sums(g, dy, weight, dx, dweight, dbias, scratch, sums, handover_grad_sums, handover_image_sums);
}

}  // namespace plasmo::kernels::neon
#endif  // __aarch64__
