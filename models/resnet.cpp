// resnet18: torchvision's ResNet-18 with a width multiplier, input 3 x S x S (default 64):
//   conv1 Conv7x7/2 p3 (3 -> c64, no bias), bn1, relu, maxpool 3x3/2 p1,
//   layer1..layer4: two BasicBlocks each at c64, c128, c256, c512 (the first block of layer2..4 has stride 2
//   and a downsample = conv1x1/2 + BN), avgpool (global), flatten, fc Dense(c512 -> 2),
// with cN = resnet_channels(N, width) (builders.h); width 1 is torchvision.models.resnet18(num_classes=2):
// 11,177,538 parameters. Names as torchvision (conv1.weight, layer2.0.downsample.0.weight, fc.bias).
// Initialisation as torchvision: convs kaiming_normal_(fan_out, relu), BN 1 / 0, fc PyTorch's default.
#include <cmath>
#include <memory>
#include <string>

#include "engine/blocks.h"
#include "engine/layers/activations.h"
#include "engine/layers/batchnorm2d.h"
#include "engine/layers/conv2d.h"
#include "engine/layers/dense.h"
#include "engine/layers/flatten.h"
#include "engine/layers/pool2d.h"
#include "models/builders.h"

namespace plasmo {

int resnet_channels(int base, double width) {
  const int channels = static_cast<int>(std::floor(base * width + 0.5));
  return channels < 1 ? 1 : channels;
}

std::unique_ptr<Model> build_resnet18(const ModelConfig& config) {
  const int stem = resnet_channels(64, config.width);
  const int stage_base[4] = {64, 128, 256, 512};

  auto trunk = std::make_unique<Sequential>();
  trunk->emplace<Conv2d>("conv1", 3, stem, 7, 2, 3, 1, false);
  trunk->emplace<BatchNorm2d>("bn1", stem);
  trunk->emplace<ReLU>("relu");
  trunk->emplace<MaxPool2d>("maxpool", 3, 2, 1);
  int in_planes = stem;
  for (int stage = 0; stage < 4; ++stage) {
    const int planes = resnet_channels(stage_base[stage], config.width);
    auto layer = std::make_unique<Sequential>();
    layer->add("0", make_basic_block(in_planes, planes, stage == 0 ? 1 : 2));
    layer->add("1", make_basic_block(planes, planes, 1));
    trunk->add("layer" + std::to_string(stage + 1), std::move(layer));
    in_planes = planes;
  }

  auto head = std::make_unique<Sequential>();
  head->emplace<GlobalAvgPool>("avgpool");
  head->emplace<Flatten>("flatten");
  head->emplace<Dense>("fc", in_planes, Model::kClasses);

  Rng rng(config.seed);
  init_resnet(*trunk, rng);
  init_resnet(*head, rng);

  ModelMeta meta;
  meta.arch = "resnet18";
  meta.width = config.width;
  meta.input_size = config.input_size;
  return std::make_unique<Model>(meta, std::move(trunk), std::move(head));
}

}  // namespace plasmo
