#include "engine/blocks.h"

#include <string>

#include "engine/error.h"
#include "engine/layers/batchnorm2d.h"
#include "engine/layers/conv2d.h"
#include "engine/layers/dense.h"

namespace plasmo {

std::unique_ptr<Residual> make_basic_block(int in_planes, int planes, int stride) {
  auto body = std::make_unique<Sequential>();
  body->emplace<Conv2d>("conv1", in_planes, planes, 3, stride, 1, 1, false);
  body->emplace<BatchNorm2d>("bn1", planes, BatchNorm2d::Activation::ReLU);  // bn1 + relu, fused
  body->emplace<Conv2d>("conv2", planes, planes, 3, 1, 1, 1, false);
  body->emplace<BatchNorm2d>("bn2", planes);
  std::unique_ptr<Sequential> downsample;
  if (stride != 1 || in_planes != planes) {
    downsample = std::make_unique<Sequential>();
    downsample->emplace<Conv2d>("0", in_planes, planes, 1, stride, 0, 1, false);
    downsample->emplace<BatchNorm2d>("1", planes);
  }
  return std::make_unique<Residual>(std::move(body), std::move(downsample), true, "", "downsample");
}

std::unique_ptr<Sequential> conv_bn_relu6(int in_channels, int out_channels, int kernel, int stride, int groups) {
  auto block = std::make_unique<Sequential>();
  block->emplace<Conv2d>("0", in_channels, out_channels, kernel, stride, (kernel - 1) / 2, groups, false);
  block->emplace<BatchNorm2d>("1", out_channels, BatchNorm2d::Activation::ReLU6);  // "1" and "2" fused
  return block;
}

std::unique_ptr<Layer> make_inverted_residual(int in_channels, int out_channels, int stride, int expand_ratio) {
  if (stride != 1 && stride != 2)
    throw UsageError("InvertedResidual: stride should be 1 or 2, got " + std::to_string(stride));
  if (expand_ratio < 1)
    throw UsageError("InvertedResidual: expand_ratio should be >= 1, got " + std::to_string(expand_ratio));
  const int hidden = in_channels * expand_ratio;
  auto conv = std::make_unique<Sequential>();
  int index = 0;
  if (expand_ratio != 1) conv->add(std::to_string(index++), conv_bn_relu6(in_channels, hidden, 1, 1, 1));
  conv->add(std::to_string(index++), conv_bn_relu6(hidden, hidden, 3, stride, hidden));
  conv->emplace<Conv2d>(std::to_string(index++), hidden, out_channels, 1, 1, 0, 1, false);
  conv->emplace<BatchNorm2d>(std::to_string(index++), out_channels);

  if (stride == 1 && in_channels == out_channels)
    return std::make_unique<Residual>(std::move(conv), nullptr, false, "conv", "");
  auto plain = std::make_unique<Sequential>();
  plain->add("conv", std::move(conv));
  return plain;
}

void for_each_leaf(Layer& root, const std::function<void(Layer&)>& fn) {
  if (auto* sequential = dynamic_cast<Sequential*>(&root)) {
    for (size_t i = 0; i < sequential->size(); ++i) for_each_leaf(sequential->at(i), fn);
  } else if (auto* residual = dynamic_cast<Residual*>(&root)) {
    for_each_leaf(residual->body(), fn);
    if (residual->shortcut()) for_each_leaf(*residual->shortcut(), fn);
  } else {
    fn(root);
  }
}

namespace {

// The leaf that first reads a layer's input / last writes its output, looking into Sequentials only: a
// Residual's input also goes to its shortcut and its output is a sum, so it has neither (null).
Layer* first_leaf(Layer& layer) {
  if (auto* sequential = dynamic_cast<Sequential*>(&layer))
    return sequential->size() == 0 ? nullptr : first_leaf(sequential->at(0));
  if (dynamic_cast<Residual*>(&layer) != nullptr) return nullptr;
  return &layer;
}
Layer* last_leaf(Layer& layer) {
  if (auto* sequential = dynamic_cast<Sequential*>(&layer))
    return sequential->size() == 0 ? nullptr : last_leaf(sequential->at(sequential->size() - 1));
  if (dynamic_cast<Residual*>(&layer) != nullptr) return nullptr;
  return &layer;
}

}  // namespace

void link_batchnorm_consumers(Layer& root) {
  if (auto* sequential = dynamic_cast<Sequential*>(&root)) {
    for (size_t i = 0; i < sequential->size(); ++i) {
      link_batchnorm_consumers(sequential->at(i));
      if (i == 0) continue;
      Layer* before = last_leaf(sequential->at(i - 1));
      Layer* after = first_leaf(sequential->at(i));
      auto* bn = before ? dynamic_cast<BatchNorm2d*>(before) : nullptr;
      auto* conv = after ? dynamic_cast<Conv2d*>(after) : nullptr;
      if (bn && conv && conv->in_channels() == bn->channels()) bn->link_consumer(*conv);
    }
  } else if (auto* residual = dynamic_cast<Residual*>(&root)) {
    link_batchnorm_consumers(residual->body());
    if (residual->shortcut()) link_batchnorm_consumers(*residual->shortcut());
  }
}

void fold_batchnorms(Layer& root) {
  fold_batchnorms_only(root);
  link_batchnorm_consumers(root);
}

void fold_batchnorms_only(Layer& root) {
  if (auto* sequential = dynamic_cast<Sequential*>(&root)) {
    for (size_t i = 0; i < sequential->size(); ++i) {
      fold_batchnorms_only(sequential->at(i));
      if (i == 0) continue;
      auto* conv = dynamic_cast<Conv2d*>(&sequential->at(i - 1));
      auto* bn = dynamic_cast<BatchNorm2d*>(&sequential->at(i));
      if (conv && bn && conv->out_channels() == bn->channels()) bn->fold_into(*conv);
    }
  } else if (auto* residual = dynamic_cast<Residual*>(&root)) {
    fold_batchnorms_only(residual->body());
    if (residual->shortcut()) fold_batchnorms_only(*residual->shortcut());
  }
}

void init_default(Layer& root, Rng& rng) {
  for_each_leaf(root, [&](Layer& layer) {
    if (auto* conv = dynamic_cast<Conv2d*>(&layer))
      conv->init_default(rng);
    else if (auto* dense = dynamic_cast<Dense*>(&layer))
      dense->init_default(rng);
    else if (auto* bn = dynamic_cast<BatchNorm2d*>(&layer))
      bn->init_default(rng);
  });
}

}  // namespace plasmo
