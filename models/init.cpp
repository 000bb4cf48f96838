// torchvision's initialisation schemes (see builders.h), on top of the layers' PyTorch defaults.
#include <cmath>

#include "engine/blocks.h"
#include "engine/layers/batchnorm2d.h"
#include "engine/layers/conv2d.h"
#include "engine/layers/dense.h"
#include "models/builders.h"

namespace plasmo {

namespace {

// kaiming_normal_(w, mode="fan_out", nonlinearity="relu"): w ~ N(0, std^2), std = gain / sqrt(fan_out),
// gain = sqrt(2), fan_out = weight.size(0) * kernel * kernel = out_channels * kernel^2 (PyTorch's
// _calculate_fan_in_and_fan_out does not divide by groups, so a depthwise conv has fan_out = C * 9).
void kaiming_normal_fan_out(Conv2d& conv, Rng& rng) {
  const double fan_out = static_cast<double>(conv.out_channels()) * conv.kernel() * conv.kernel();
  const float std_dev = static_cast<float>(std::sqrt(2.0 / fan_out));
  Tensor& w = conv.weight;
  for (size_t i = 0; i < w.size(); ++i) w[i] = std_dev * rng.normal();
}

}  // namespace

void init_resnet(Layer& root, Rng& rng) {
  for_each_leaf(root, [&rng](Layer& layer) {
    if (auto* conv = dynamic_cast<Conv2d*>(&layer)) {
      kaiming_normal_fan_out(*conv, rng);
      if (conv->has_bias()) conv->bias.zero();  // torchvision's ResNet convs have none
    } else if (auto* bn = dynamic_cast<BatchNorm2d*>(&layer)) {
      bn->init_default(rng);  // gamma 1, beta 0, running statistics reset
    } else if (auto* dense = dynamic_cast<Dense*>(&layer)) {
      dense->init_default(rng);  // nn.Linear's own reset_parameters: U(+-1/sqrt(in_features))
    }
  });
}

void init_mobilenetv2(Layer& root, Rng& rng) {
  for_each_leaf(root, [&rng](Layer& layer) {
    if (auto* conv = dynamic_cast<Conv2d*>(&layer)) {
      kaiming_normal_fan_out(*conv, rng);
      if (conv->has_bias()) conv->bias.zero();
    } else if (auto* bn = dynamic_cast<BatchNorm2d*>(&layer)) {
      bn->init_default(rng);
    } else if (auto* dense = dynamic_cast<Dense*>(&layer)) {
      for (size_t i = 0; i < dense->weight.size(); ++i) dense->weight[i] = 0.01f * rng.normal();
      dense->bias.zero();
    }
  });
}

}  // namespace plasmo
