// End-to-end learning (issue 2): a small conv net of engine layers learns a separable synthetic task.
// Task: 3x8x8 images of noise with one bright 3x3 square; class 1 when the square lies in the left half,
// class 0 in the right half (position and brightness random). Separable, but only through where the
// square is: the net must learn spatial features. Criterion: the loss over the training set falls at least
// 10x, and the net classifies new images from the same distribution.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "engine/blocks.h"
#include "engine/layers/activations.h"
#include "engine/layers/conv2d.h"
#include "engine/layers/dense.h"
#include "engine/layers/flatten.h"
#include "engine/layers/pool2d.h"
#include "engine/loss.h"
#include "engine/net.h"
#include "engine/optim.h"
#include "engine/rng.h"

using namespace plasmo;

namespace {

constexpr int kSide = 8;

// N images [N, 3, 8, 8] and labels, drawn from `rng`.
void make_squares(int N, Rng& rng, Tensor& images, std::vector<int32_t>& labels) {
  images.resize(Shape{N, 3, kSide, kSide});
  labels.resize(static_cast<size_t>(N));
  for (int n = 0; n < N; ++n) {
    const int label = static_cast<int>(rng.below(2));
    labels[static_cast<size_t>(n)] = label;
    // Left half: x in [0, 1] (the square spans x..x+2 < 4); right half: x in [4, 5].
    const int left = static_cast<int>(rng.below(2)) + (label == 1 ? 0 : 4);
    const int top = static_cast<int>(rng.below(kSide - 2));
    const float brightness = rng.uniform(0.7f, 1.3f);
    for (int c = 0; c < 3; ++c)
      for (int h = 0; h < kSide; ++h)
        for (int w = 0; w < kSide; ++w) {
          const bool inside = h >= top && h < top + 3 && w >= left && w < left + 3;
          images.at(n, c, h, w) = 0.2f * rng.normal() + (inside ? brightness : 0.0f);
        }
  }
}

double dataset_loss(Sequential& net, const Tensor& images, const std::vector<int32_t>& labels) {
  return softmax_cross_entropy(net.forward(images, Mode::Eval), labels);
}

}  // namespace

TEST_CASE("learning: a small conv net learns a separable synthetic task (loss falls 10x)") {
  Sequential net;
  net.emplace<Conv2d>("conv", 3, 6, 3, 1, 1);
  net.emplace<ReLU>("relu");
  net.emplace<MaxPool2d>("pool", 2, 2);
  net.emplace<Flatten>("flat");
  net.emplace<Dense>("fc", 6 * 4 * 4, 2);
  Rng init(3);
  init_default(net, init);

  Rng data_rng(11);
  Tensor train_images, test_images;
  std::vector<int32_t> train_labels, test_labels;
  make_squares(128, data_rng, train_images, train_labels);
  make_squares(256, data_rng, test_images, test_labels);

  const double initial = dataset_loss(net, train_images, train_labels);
  AdamOptions options;
  options.lr = 0.01;
  Adam adam(collect_params(net), options);
  const int batch = 32;
  Tensor x, dlogits;
  std::vector<int32_t> y(batch);
  for (int epoch = 0; epoch < 40; ++epoch)
    for (int first = 0; first < 128; first += batch) {
      x.resize(Shape{batch, 3, kSide, kSide});
      std::copy(train_images.data() + static_cast<size_t>(first) * 3 * kSide * kSide,
                train_images.data() + static_cast<size_t>(first + batch) * 3 * kSide * kSide, x.data());
      std::copy(train_labels.begin() + first, train_labels.begin() + first + batch, y.begin());
      adam.zero_grad();
      softmax_cross_entropy(net.forward(x, Mode::Train), y, dlogits);
      net.backward(dlogits);
      adam.step();
    }
  const double final_loss = dataset_loss(net, train_images, train_labels);
  MESSAGE("training-set loss " << initial << " -> " << final_loss);
  CHECK(initial > 0.5);  // chance level is ln 2 = 0.69
  CHECK(final_loss * 10.0 <= initial);

  Tensor probability;
  class_probability(net.forward(test_images, Mode::Eval), 1, probability);
  int correct = 0;
  for (int n = 0; n < 256; ++n)
    correct += (probability[static_cast<size_t>(n)] >= 0.5f) == (test_labels[static_cast<size_t>(n)] == 1);
  CHECK(correct >= 245);  // > 95% on images it never saw
}
