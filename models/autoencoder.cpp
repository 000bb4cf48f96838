// The autoencoder of DESIGN.md (the seed report's model), input 3 x S x S with S a multiple of 8:
//   encoder  enc1 Conv3x3(3->16) + ReLU, MaxPool2   enc2 Conv3x3(16->8) + ReLU, MaxPool2
//            enc3 Conv3x3(8->4) + ReLU, MaxPool2                               -> [4, S/8, S/8]
//   decoder  dec1 Conv3x3(4->4) + ReLU, Up2   dec2 Conv3x3(4->8) + ReLU, Up2
//            dec3 Conv3x3(8->16) + ReLU, Up2  dec4 Conv3x3(16->3) + Sigmoid    -> [3, S, S]
//   classifier: encoder, Flatten, fc1 Dense(4 * (S/8)^2 -> 32) + ReLU, fc2 Dense(32 -> 2)
// All convs 3x3, stride 1, padding 1, with bias. Names enc1.weight ... fc2.bias as the PyTorch twin
// (tools/torch_models.py Autoencoder). Initialisation: PyTorch's layer defaults.
// The trunk stops before the encoder's last max-pool (see models/model.h), which head and decoder each
// start with: the Grad-CAM map is then S/4 per side instead of S/8.
#include <memory>
#include <string>

#include "engine/blocks.h"
#include "engine/layers/activations.h"
#include "engine/layers/conv2d.h"
#include "engine/layers/dense.h"
#include "engine/layers/flatten.h"
#include "engine/layers/pool2d.h"
#include "engine/layers/upsample.h"
#include "models/builders.h"

namespace plasmo {

std::unique_ptr<Model> build_autoencoder(const ModelConfig& config) {
  const int side = config.input_size / 8;  // after three 2x2 max-pools

  auto trunk = std::make_unique<Sequential>();
  trunk->emplace<Conv2d>("enc1", 3, 16, 3, 1, 1);
  trunk->emplace<ReLU>("enc1_relu");
  trunk->emplace<MaxPool2d>("pool1", 2, 2);
  trunk->emplace<Conv2d>("enc2", 16, 8, 3, 1, 1);
  trunk->emplace<ReLU>("enc2_relu");
  trunk->emplace<MaxPool2d>("pool2", 2, 2);
  trunk->emplace<Conv2d>("enc3", 8, 4, 3, 1, 1);
  trunk->emplace<ReLU>("enc3_relu");
  // pool1 and pool2 compute relu(max) themselves (max and ReLU commute; engine/layers/pool2d.h): enc1_relu
  // and enc2_relu then make no pass of their own over the conv outputs (4 MB and 2 MB at batch 64). enc3_relu
  // stays a layer: its output is the trunk's, the Grad-CAM features, read by head and decoder alike.
  absorb_relus(*trunk);

  auto decoder = std::make_unique<Sequential>();
  decoder->emplace<MaxPool2d>("pool3", 2, 2);
  decoder->emplace<Conv2d>("dec1", 4, 4, 3, 1, 1);
  decoder->emplace<ReLU>("dec1_relu");
  decoder->emplace<Upsample2x>("up1");
  decoder->emplace<Conv2d>("dec2", 4, 8, 3, 1, 1);
  decoder->emplace<ReLU>("dec2_relu");
  decoder->emplace<Upsample2x>("up2");
  decoder->emplace<Conv2d>("dec3", 8, 16, 3, 1, 1);
  decoder->emplace<ReLU>("dec3_relu");
  decoder->emplace<Upsample2x>("up3");
  decoder->emplace<Conv2d>("dec4", 16, 3, 3, 1, 1);
  decoder->emplace<Sigmoid>("sigmoid");

  auto head = std::make_unique<Sequential>();
  head->emplace<MaxPool2d>("pool3", 2, 2);
  head->emplace<Flatten>("flatten");
  head->emplace<Dense>("fc1", 4 * side * side, 32);
  head->emplace<ReLU>("fc1_relu");
  head->emplace<Dense>("fc2", 32, Model::kClasses);

  // PyTorch's defaults, drawn in state_dict order: enc1..enc3, dec1..dec4, fc1, fc2.
  Rng rng(config.seed);
  init_default(*trunk, rng);
  init_default(*decoder, rng);
  init_default(*head, rng);

  ModelMeta meta;
  meta.arch = "autoencoder";
  meta.width = 1.0;
  meta.input_size = config.input_size;
  return std::make_unique<Model>(meta, std::move(trunk), std::move(head), std::move(decoder));
}

}  // namespace plasmo
