// mobilenetv2: torchvision's MobileNetV2(width_mult=width, num_classes=2), input 3 x S x S (default 64):
//   features.0   Conv3x3/2 (3 -> c(32)) + BN + ReLU6
//   features.1.. InvertedResidual blocks (t expand ratio, c channels, n repeats, s first stride):
//                (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1)
//   features.18  Conv1x1 (c(320) -> last) + BN + ReLU6,  last = make_divisible(1280 * max(1, width))
//   avgpool (global), flatten, classifier = [0: Dropout(0.2), 1: Dense(last -> 2)]
// with c(n) = make_divisible(n * width) (builders.h). Width 1: 2,226,434 parameters, as torchvision.
// Initialisation as torchvision: convs kaiming_normal_(fan_out), BN 1 / 0, Linear N(0, 0.01), bias 0.
#include <algorithm>
#include <memory>
#include <string>

#include "engine/blocks.h"
#include "engine/layers/activations.h"
#include "engine/layers/batchnorm2d.h"
#include "engine/layers/conv2d.h"
#include "engine/layers/dense.h"
#include "engine/layers/dropout.h"
#include "engine/layers/flatten.h"
#include "engine/layers/pool2d.h"
#include "models/builders.h"

namespace plasmo {

int make_divisible(double value, int divisor) {
  // new_v = max(divisor, int(v + divisor / 2) // divisor * divisor); if new_v < 0.9 * v: new_v += divisor
  int rounded = static_cast<int>(value + divisor / 2.0) / divisor * divisor;
  rounded = std::max(divisor, rounded);
  if (rounded < 0.9 * value) rounded += divisor;
  return rounded;
}

namespace {

// torchvision's Conv2dNormActivation with ReLU6: [0: conv (no bias, padding (kernel-1)/2), 1: BN, 2: ReLU6].
std::unique_ptr<Sequential> conv_bn_relu6(int in_channels, int out_channels, int kernel, int stride) {
  auto block = std::make_unique<Sequential>();
  block->emplace<Conv2d>("0", in_channels, out_channels, kernel, stride, (kernel - 1) / 2, 1, false);
  block->emplace<BatchNorm2d>("1", out_channels);
  block->emplace<ReLU6>("2");
  return block;
}

struct StageSetting {
  int expand_ratio, channels, repeats, stride;
};
constexpr StageSetting kInvertedResidualSetting[] = {
    {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
};

}  // namespace

std::unique_ptr<Model> build_mobilenetv2(const ModelConfig& config) {
  const double width = config.width;
  int in_channels = make_divisible(32 * width);
  const int last_channels = make_divisible(1280 * std::max(1.0, width));

  auto features = std::make_unique<Sequential>();
  int index = 0;
  features->add(std::to_string(index++), conv_bn_relu6(3, in_channels, 3, 2));
  for (const StageSetting& stage : kInvertedResidualSetting) {
    const int out_channels = make_divisible(stage.channels * width);
    for (int repeat = 0; repeat < stage.repeats; ++repeat) {
      const int stride = repeat == 0 ? stage.stride : 1;
      features->add(std::to_string(index++),
                    make_inverted_residual(in_channels, out_channels, stride, stage.expand_ratio));
      in_channels = out_channels;
    }
  }
  features->add(std::to_string(index++), conv_bn_relu6(in_channels, last_channels, 1, 1));
  auto trunk = std::make_unique<Sequential>();
  trunk->add("features", std::move(features));

  // Dropout draws from its own stream, so changing the dropout never changes the initial weights.
  const float dropout = config.dropout < 0.0f ? 0.2f : config.dropout;
  auto classifier = std::make_unique<Sequential>();
  classifier->emplace<Dropout>("0", dropout, Rng::derive(config.seed, 0x64726f706f7574ULL /* "dropout" */).next_u64());
  classifier->emplace<Dense>("1", last_channels, Model::kClasses);
  auto head = std::make_unique<Sequential>();
  head->emplace<GlobalAvgPool>("avgpool");
  head->emplace<Flatten>("flatten");
  head->add("classifier", std::move(classifier));

  Rng rng(config.seed);
  init_mobilenetv2(*trunk, rng);
  init_mobilenetv2(*head, rng);

  ModelMeta meta;
  meta.arch = "mobilenetv2";
  meta.width = width;
  meta.input_size = config.input_size;
  return std::make_unique<Model>(meta, std::move(trunk), std::move(head));
}

}  // namespace plasmo
