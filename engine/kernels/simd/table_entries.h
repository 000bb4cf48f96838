// The pooling, BatchNorm, elementwise and optimizer entries of a kernel table, written once for every
// ISA: each ISA's pool.cpp, channel.cpp, elementwise.cpp and optim.cpp fills its part of the table in one
// line, fill_*_entries<Vec> with the vector traits of <isa>/vec_<isa>.h, in a file built with that ISA's
// flags only (those traits live in an unnamed namespace, so every instantiation stays in its own file).
// Include after the vector traits.
#pragma once
#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/channel.h"
#include "engine/kernels/simd/channel_prologue.h"
#include "engine/kernels/simd/elementwise.h"
#include "engine/kernels/simd/optim.h"
#include "engine/kernels/simd/pool.h"

namespace plasmo::kernels::simd {
namespace {

template <class V>
void fill_pool_entries(KernelTable& table) {
  table.maxpool2d_forward = maxpool2d_forward<V>;
  table.maxpool2d_backward = maxpool2d_backward<V>;
  table.avgpool2d_forward = avgpool2d_forward<V>;
  table.avgpool2d_backward = avgpool2d_backward<V>;
  table.global_avgpool_forward = global_avgpool_forward<V>;
  table.global_avgpool_backward = global_avgpool_backward<V>;
  table.upsample2x_forward = upsample2x_forward<V>;
  table.upsample2x_backward = upsample2x_backward<V>;
}

template <class V>
void fill_channel_entries(KernelTable& table) {
  table.channel_mean_var = channel_mean_var<V>;
  table.channel_affine_act = channel_affine_act<V>;
  table.channel_act_grad_sums = channel_act_grad_sums<V>;
  table.channel_act_affine2 = channel_act_affine2<V>;
  table.channel_affine_act_copy = channel_affine_act_copy<V>;
}

template <class V>
void fill_elementwise_entries(KernelTable& table) {
  table.relu_forward = relu_forward<V>;
  table.relu_backward = relu_backward<V>;
  table.relu6_forward = relu6_forward<V>;
  table.relu6_backward = relu6_backward<V>;
  table.sigmoid_forward = sigmoid_forward<V>;
  table.sigmoid_backward = sigmoid_backward<V>;
  table.add = add<V>;
  table.mul = mul<V>;
  table.axpy = axpy<V>;
  table.scale = scale<V>;
  table.zero = zero<V>;
}

template <class V>
void fill_optim_entries(KernelTable& table) {
  table.sgd_step = sgd_step<V>;
  table.adam_step = adam_step<V>;
  table.rmsprop_step = rmsprop_step<V>;
}

}  // namespace
}  // namespace plasmo::kernels::simd
