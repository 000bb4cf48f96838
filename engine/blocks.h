// Composite blocks built from engine layers, named exactly as torchvision names them, so a torchvision
// state_dict loads as is:
//   make_basic_block        ResNet BasicBlock:  conv1, bn1, relu, conv2, bn2 (+ downsample.0 conv1x1, .1 BN)
//   make_inverted_residual  MobileNetV2 InvertedResidual:  conv.0.0 ... conv.N (see below)
// A BatchNorm directly followed by its ReLU / ReLU6 is one BatchNorm2d with that activation fused (the
// activation has no parameters, so the names stay torchvision's; `plasmo info` shows one row
// "BatchNorm2d(C) + ReLU6" under the BatchNorm's name).
// Layers are built with zero conv weights and identity BatchNorms: call init_default(block, rng) (PyTorch's
// default rule) or a model's own scheme before use.
#pragma once
#include <functional>
#include <memory>

#include "engine/layer.h"
#include "engine/layers/residual.h"
#include "engine/net.h"
#include "engine/rng.h"

namespace plasmo {

// torchvision.models.resnet.BasicBlock(in_planes, planes, stride, downsample):
//   y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))
//   conv1 3x3/stride pad 1, conv2 3x3/1 pad 1, both without bias (bn1 carries the first relu, fused); shortcut =
//   identity, or when stride != 1 or in_planes != planes, downsample = [0: conv1x1/stride no bias, 1:
//   BatchNorm2d(planes)].
std::unique_ptr<Residual> make_basic_block(int in_planes, int planes, int stride);

// torchvision.models.mobilenetv2.InvertedResidual(in, out, stride, expand_ratio), hidden = in * expand_ratio:
//   expand_ratio != 1: conv.0 = [0: conv1x1 in->hidden, 1: BN + ReLU6], conv.1 = [0: dw3x3/stride,
//                      1: BN + ReLU6], conv.2 = conv1x1 hidden->out, conv.3 = BN
//   expand_ratio == 1: conv.0 = [0: dw3x3/stride, 1: BN + ReLU6], conv.1 = conv1x1, conv.2 = BN
//   (torchvision's ReLU6 modules ".2" are fused into the BatchNorms ".1")
//   All convs without bias. y = x + conv(x) when stride == 1 and in == out (a Residual), else conv(x)
//   (a Sequential whose one child is "conv", so the names still start with "conv.").
std::unique_ptr<Layer> make_inverted_residual(int in_channels, int out_channels, int stride, int expand_ratio);

// torchvision's Conv2dNormActivation(in, out, kernel, stride, groups, ReLU6): [0: conv (no bias,
// padding (kernel-1)/2), 1: BatchNorm2d + ReLU6 (torchvision's "2", fused)].
std::unique_ptr<Sequential> conv_bn_relu6(int in_channels, int out_channels, int kernel, int stride, int groups = 1);

// Eval-mode folding: every BatchNorm2d directly after a Conv2d in a Sequential under root (recursing into
// Sequential and Residual) is folded into it (BatchNorm2d::fold_into): in eval mode the convolution then
// computes act(BN(conv(x))) with folded weights, and the BatchNorm passes its output on. The models call
// this once after building. It also links the BatchNorms to the convolutions that read their outputs
// (link_batchnorm_consumers); fold_batchnorms_only does the folding alone.
void fold_batchnorms(Layer& root);
void fold_batchnorms_only(Layer& root);

// Backward hand-over (BatchNorm2d::link_consumer): every BatchNorm2d whose output is the input of a Conv2d
// (the BatchNorm last in one child of a Sequential, the Conv2d first in the next, looking into nested
// Sequentials but never into a Residual, whose input also feeds its shortcut) hands its backward sums over
// to that convolution's backward.
void link_batchnorm_consumers(Layer& root);

// Calls fn on every leaf layer under root in forward order (recursing into Sequential and Residual:
// body first, then shortcut).
void for_each_leaf(Layer& root, const std::function<void(Layer&)>& fn);

// PyTorch's default initialisation for every Conv2d, Dense and BatchNorm2d under root, in forward order.
void init_default(Layer& root, Rng& rng);

}  // namespace plasmo
