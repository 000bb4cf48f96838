#include "engine/kernels/isa_tables.h"
#include "engine/kernels/ref/ref_kernels.h"

namespace plasmo::kernels {

void fill_ref_table(KernelTable& t) {
  t.isa = "ref";
  t.sgemm = ref::sgemm;
  t.conv2d_scratch_floats = ref::conv2d_scratch_floats;
  t.conv2d_forward = ref::conv2d_forward;
  t.conv2d_forward_part = ref::conv2d_forward_part;
  t.conv2d_packed_layout = ref::conv2d_packed_layout;
  t.conv2d_packed_floats = ref::conv2d_packed_floats;
  t.conv2d_pack_weights = ref::conv2d_pack_weights;
  t.conv2d_forward_packed_part = ref::conv2d_forward_packed_part;
  t.conv2d_backward_data = ref::conv2d_backward_data;
  t.conv2d_backward_weight = ref::conv2d_backward_weight;
  t.conv2d_backward_sums = ref::conv2d_backward_sums;
  t.maxpool2d_forward = ref::maxpool2d_forward;
  t.maxpool2d_backward = ref::maxpool2d_backward;
  t.avgpool2d_forward = ref::avgpool2d_forward;
  t.avgpool2d_backward = ref::avgpool2d_backward;
  t.global_avgpool_forward = ref::global_avgpool_forward;
  t.global_avgpool_backward = ref::global_avgpool_backward;
  t.upsample2x_forward = ref::upsample2x_forward;
  t.upsample2x_backward = ref::upsample2x_backward;
  t.channel_mean_var = ref::channel_mean_var;
  t.channel_affine_act = ref::channel_affine_act;
  t.channel_act_grad_sums = ref::channel_act_grad_sums;
  t.channel_act_affine2 = ref::channel_act_affine2;
  t.channel_affine_act_copy = ref::channel_affine_act_copy;
  t.relu_forward = ref::relu_forward;
  t.relu_backward = ref::relu_backward;
  t.relu6_forward = ref::relu6_forward;
  t.relu6_backward = ref::relu6_backward;
  t.sigmoid_forward = ref::sigmoid_forward;
  t.sigmoid_backward = ref::sigmoid_backward;
  t.add = ref::add;
  t.mul = ref::mul;
  t.axpy = ref::axpy;
  t.scale = ref::scale;
  t.zero = ref::zero;
  t.sgd_step = ref::sgd_step;
  t.adam_step = ref::adam_step;
  t.rmsprop_step = ref::rmsprop_step;
}

}  // namespace plasmo::kernels
