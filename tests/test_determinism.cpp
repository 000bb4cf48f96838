// Determinism (issue 2): two training runs with the same seed and thread count give bit-identical weights,
// with 1 thread and with 2. Once for a small net of engine layers (conv, BatchNorm, pooling, dropout, dense;
// SGD with momentum), once through the whole trainer (data loader, augmentation, model, checkpoint).
#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "engine/blocks.h"
#include "engine/layers/activations.h"
#include "engine/layers/batchnorm2d.h"
#include "engine/layers/conv2d.h"
#include "engine/layers/dense.h"
#include "engine/layers/dropout.h"
#include "engine/layers/flatten.h"
#include "engine/layers/pool2d.h"
#include "engine/loss.h"
#include "engine/net.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "tests/test_helpers.h"
#include "tests/test_train_util.h"
#include "train/trainer.h"

using namespace plasmo;
using plasmo::testing::ThreadCountGuard;

namespace {

// Conv(3->8) BN ReLU MaxPool Conv(8->8, stride 2) ReLU Dropout Flatten Dense(8*4*4 -> 2), on 16x16 inputs.
// The batch of 12 with 16x16 images keeps the convolutions above the size the layers keep on one thread,
// so two threads really split the work.
std::unique_ptr<Sequential> small_net(uint64_t seed) {
  auto net = std::make_unique<Sequential>();
  net->emplace<Conv2d>("conv1", 3, 8, 3, 1, 1);
  net->emplace<BatchNorm2d>("bn1", 8);
  net->emplace<ReLU>("relu1");
  net->emplace<MaxPool2d>("pool", 2, 2);
  net->emplace<Conv2d>("conv2", 8, 8, 3, 2, 1);
  net->emplace<ReLU>("relu2");
  net->emplace<Dropout>("drop", 0.25f, seed + 1);
  net->emplace<Flatten>("flat");
  net->emplace<Dense>("fc", 8 * 4 * 4, 2);
  Rng rng(seed);
  init_default(*net, rng);
  return net;
}

// Five SGD-momentum steps on a fixed random batch; returns every parameter and buffer value.
std::vector<float> train_small_net(uint64_t seed) {
  std::unique_ptr<Sequential> net = small_net(seed);
  SGDOptions options;
  options.lr = 0.05;
  options.momentum = 0.9;
  options.weight_decay = 1e-4;
  SGD sgd(collect_params(*net), options);
  const int N = 12;
  Tensor x(Shape{N, 3, 16, 16});
  Rng data_rng(seed + 7);
  for (size_t i = 0; i < x.size(); ++i) x[i] = data_rng.normal();
  std::vector<int32_t> labels(N);
  for (int n = 0; n < N; ++n) labels[static_cast<size_t>(n)] = n % 2;
  Tensor dlogits;
  for (int step = 0; step < 5; ++step) {
    sgd.zero_grad();
    softmax_cross_entropy(net->forward(x, Mode::Train), labels, dlogits);
    net->backward(dlogits);
    sgd.step();
  }
  std::vector<float> values;
  for (const Param& p : collect_params(*net))
    values.insert(values.end(), p.value->data(), p.value->data() + p.value->size());
  for (const Buffer& b : collect_buffers(*net))
    if (b.f32) values.insert(values.end(), b.f32->data(), b.f32->data() + b.f32->size());
  return values;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("determinism: a small engine net trained twice gives bit-identical weights (1 and 2 threads)") {
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    ThreadCountGuard guard(threads);
    const std::vector<float> first = train_small_net(42);
    const std::vector<float> second = train_small_net(42);
    CHECK(bit_identical(first, second));
    CHECK_FALSE(bit_identical(first, train_small_net(43)));  // the seed matters: the check can fail
  }
}

TEST_CASE("determinism: plasmo's trainer run twice gives bit-identical model files (1 and 2 threads)") {
  using namespace plasmo::train_testing;
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    ThreadCountGuard guard(threads);
    TempDir first, second;
    train::TrainRequest request = tiny_request("resnet18", synthetic_cells(32, 7), first.path());
    request.augment = "on";
    request.optimizer = "sgd";
    request.schedule = "exp:0.9";
    RecordingObserver observer;
    train::run_training(train::prepare_options(request), observer);
    request.out = second / "model.safetensors";
    train::run_training(train::prepare_options(request), observer);
    const std::vector<uint8_t> bytes = file_bytes(first / "model.safetensors");
    CHECK(bytes.size() > 1000);
    CHECK(bytes == file_bytes(second / "model.safetensors"));
  }
}
