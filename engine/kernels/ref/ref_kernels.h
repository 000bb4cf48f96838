// Scalar reference kernels: the definition of what every fast kernel must compute. Written for
// clarity (loops read like the formulas in docs/math.md), not speed. See kernels.h for the contracts.
#pragma once
#include "engine/kernels/kernels.h"

namespace plasmo::kernels::ref {

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C,
           int ldc, bool accumulate);

size_t conv2d_scratch_floats(const ConvGeom& g);
void conv2d_forward(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                    float* scratch);
void conv2d_forward_part(const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y,
                         float* scratch, int part, int parts);
// The reference's packed layout (id 1) is W itself: packing copies it, and the packed forward is the
// forward reading the copy (so the caching in Conv2d runs, and is tested, with this table too).
int conv2d_packed_layout(const ConvGeom& g);
size_t conv2d_packed_floats(const ConvGeom& g);
void conv2d_pack_weights(const ConvGeom& g, const float* weight, float* packed);
void conv2d_forward_packed_part(const ConvGeom& g, const float* x, const float* packed, const float* bias, float* y,
                                float* scratch, int part, int parts);
void conv2d_backward_data(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* scratch);
void conv2d_backward_weight(const ConvGeom& g, const float* x, const float* dy, float* dweight, float* dbias,
                            float* scratch);
// conv2d_backward_data, channel_act_grad_sums per image over dx and sums.x, conv2d_backward_weight
// (conv_handover.cpp).
void conv2d_backward_sums(const ConvGeom& g, const float* dy, const float* weight, float* dx, float* dweight,
                          float* dbias, float* scratch, const HandOverSums& sums);
// im2col for one image and one group: cols[(ci*kernel_h + kh)*kernel_w + kw][oh*out_w + ow], zero where
// the window reads padding. ci runs over the group's in_channels/groups channels starting at x.
void im2col(const ConvGeom& g, const float* x, float* cols);
// The adjoint of im2col: adds every column entry back into dx (which the caller zeroed).
void col2im(const ConvGeom& g, const float* cols, float* dx);

void maxpool2d_forward(const PoolGeom& g, const float* x, float* y, int32_t* argmax);
void maxpool2d_backward(const PoolGeom& g, const float* dy, const int32_t* argmax, float* dx);
void avgpool2d_forward(const PoolGeom& g, const float* x, float* y);
void avgpool2d_backward(const PoolGeom& g, const float* dy, float* dx);
void global_avgpool_forward(int planes, int plane_size, const float* x, float* y);
void global_avgpool_backward(int planes, int plane_size, const float* dy, float* dx);
void upsample2x_forward(int planes, int in_h, int in_w, const float* x, float* y);
void upsample2x_backward(int planes, int in_h, int in_w, const float* dy, float* dx);

void channel_mean_var(int N, int C, int HW, int c_begin, int c_end, const float* x, float* mean, float* var);
void channel_affine_act(int N, int C, int HW, const float* x, const float* scale, const float* shift, int act,
                        float* y);
void channel_act_grad_sums(int N, int C, int HW, int c_begin, int c_end, const float* dy, const float* x,
                           const float* scale, const float* shift, const float* mean, int act, float* sum_g,
                           float* sum_gxc);
void channel_act_affine2(int N, int C, int HW, const float* dy, const float* x, const float* scale, const float* shift,
                         const float* mean, int act, const float* a, const float* b, const float* k, float* dx);
void channel_affine_act_copy(int N, int C, int HW, const float* x, const float* scale, const float* shift, int act,
                             float* y, float* copy, bool fence);  // channel_prologue.cpp

void relu_forward(size_t n, const float* x, float* y);
void relu_backward(size_t n, const float* y, const float* dy, float* dx);
void relu6_forward(size_t n, const float* x, float* y);
void relu6_backward(size_t n, const float* y, const float* dy, float* dx);
void sigmoid_forward(size_t n, const float* x, float* y);
void sigmoid_backward(size_t n, const float* y, const float* dy, float* dx);
void add(size_t n, const float* a, const float* b, float* y);
void mul(size_t n, const float* a, const float* b, float* y);
void axpy(size_t n, float alpha, const float* x, float* y);
void scale(size_t n, float alpha, const float* x, float* y);
void zero(size_t n, float* y);

void sgd_step(size_t n, float* w, const float* g, float* buf, const SGDStep& step);
void adam_step(size_t n, float* w, const float* g, float* m, float* v, const AdamStep& step);
void rmsprop_step(size_t n, float* w, const float* g, float* sq, float* buf, const RMSpropStep& step);

}  // namespace plasmo::kernels::ref
