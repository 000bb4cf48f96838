// The AVX2 GEMM and convolution entries of the kernel table (contracts: engine/kernels/kernels.h).
#pragma once
#include "engine/kernels/kernels.h"

namespace plasmo::kernels::avx2 {

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C,
           int ldc, bool accumulate);

size_t conv2d_scratch_floats(const ConvGeom& g);
void conv2d_forward(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                    float* scratch);
void conv2d_forward_part(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                         float* scratch, int part, int parts);
int conv2d_packed_layout(const ConvGeom& g);
size_t conv2d_packed_floats(const ConvGeom& g);
void conv2d_pack_weights(const ConvGeom& g, const float* weight, float* packed);
void conv2d_forward_packed_part(const ConvGeom& g, const float* x, const float* packed, const float* bias, float* y,
                                float* scratch, int part, int parts);
void conv2d_backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* scratch);
void conv2d_backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* dbias,
                            float* scratch);
// conv2d_backward_sums (kernels.h), and this ISA's channel_act_grad_sums it calls (conv_handover.cpp).
void conv2d_backward_sums(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* dweight,
                          float* dbias, float* scratch, const HandOverSums& sums);
void handover_grad_sums(int N, int C, int HW, int c_begin, int c_end, const float* dy, const float* x,
                        const float* scale, const float* shift, const float* mean, int act, float* sum_g,
                        float* sum_gxc);
// Per image n of [0, N), sum_g / sum_gxc [N, C] = handover_grad_sums(1, C, HW, 0, C, image n ...)'s values,
// one call for a group of images (simd/handover_sums.h).
void handover_image_sums(int N, int C, int HW, const float* dy, const float* x, const float* scale, const float* shift,
                         const float* mean, int act, float* sum_g, float* sum_gxc);

}  // namespace plasmo::kernels::avx2
