// AVX2 channel_act_grad_sums for the convolution's backward data with the BatchNorm hand-over sums
// (conv2d.cpp: conv2d_backward_sums). A copy of channel.cpp's instantiation of simd/channel.h (the same
// template and flags: the same bits), in a file of its own because simd/channel.h's vector traits
// (vec_avx2.h) and simd/conv.h's (vec.h) both define avx2::Vec and cannot meet in one file.
#include "engine/kernels/avx2/vec_avx2.h"  // first: it sets up the intrinsics headers

#include "engine/kernels/avx2/gemm_conv.h"
#include "engine/kernels/simd/channel.h"
#include "engine/kernels/simd/handover_sums.h"

namespace plasmo::kernels::avx2 {

// conv_dw_backward_rows.h calls this per plane (N = 1, C = 1) on planes of at least kHandOverPlane values,
// for the bits of a per-image call: simd/channel.h sums such planes one by one, in kSumBlock blocks.
static_assert(kHandOverPlane >= simd::kSumBlock, "per-plane sums would not reproduce the per-image call's bits");

void handover_grad_sums(int N, int C, int HW, int c_begin, int c_end, const float* dy, const float* x,
                        const float* scale, const float* shift, const float* mean, int act, float* sum_g,
                        float* sum_gxc) {
  simd::channel_act_grad_sums<Vec>(N, C, HW, c_begin, c_end, dy, x, scale, shift, mean, act, sum_g, sum_gxc);
}

void handover_image_sums(int N, int C, int HW, const float* dy, const float* x, const float* scale, const float* shift,
                         const float* mean, int act, float* sum_g, float* sum_gxc) {
  simd::image_grad_sums<Vec>(N, C, HW, dy, x, scale, shift, mean, act, sum_g, sum_gxc);
}

}  // namespace plasmo::kernels::avx2
