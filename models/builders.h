// The per-arch builders behind make_model (models/model.h) and the channel rules they use. The builders
// take a validated config (registry.cpp checks names, widths and sizes) and return an initialised model.
#pragma once
#include <memory>

#include "engine/layer.h"
#include "engine/rng.h"
#include "models/model.h"

namespace plasmo {

std::unique_ptr<Model> build_autoencoder(const ModelConfig& config);
std::unique_ptr<Model> build_resnet18(const ModelConfig& config);
std::unique_ptr<Model> build_mobilenetv2(const ModelConfig& config);

// resnet18's channels for torchvision's base (64, 128, 256, 512): max(1, floor(base * width + 0.5)),
// i.e. rounded to nearest, halves up. Exact for widths 1, 0.5, 0.25 (64 -> 64, 32, 16). The stem's 64
// scales the same way. (tools/torch_models.py resnet_channels is the same rule.)
int resnet_channels(int base, double width);

// torchvision's _make_divisible(v, divisor): the multiple of divisor nearest to v (halves up), at least
// divisor, and bumped by one divisor if that rounding lost more than 10% of v.
int make_divisible(double value, int divisor = 8);

// Initialisation rules, applied to every leaf under root in forward order with one generator:
// torchvision's ResNet: Conv2d weight ~ N(0, 2 / fan_out) (kaiming_normal_, mode fan_out, ReLU gain),
// fan_out = out_channels * kernel * kernel; BatchNorm 1 / 0; Dense PyTorch's default.
void init_resnet(Layer& root, Rng& rng);
// torchvision's MobileNetV2: Conv2d weight ~ N(0, 2 / fan_out), bias 0; BatchNorm 1 / 0;
// Dense weight ~ N(0, 0.01^2), bias 0.
void init_mobilenetv2(Layer& root, Rng& rng);

}  // namespace plasmo
