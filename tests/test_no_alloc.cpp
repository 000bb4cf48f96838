// No allocation after the first batch: a small network using every layer kind (Conv2d plain, strided,
// 1x1 and depthwise, BatchNorm2d, ReLU, ReLU6, Sigmoid, MaxPool2d 3x3/2, AvgPool2d, Upsample2x,
// GlobalAvgPool, Flatten, Dropout, Dense, Residual with and without a downsample shortcut), softmax
// cross-entropy, and each optimizer (SGD with momentum, Adam, RMSprop) runs one warm-up training step;
// the next steps (forward + loss + backward + optimizer step + zero_grad) and a second inference batch
// must not allocate at all, on any thread of the pool.
//
// How allocations are counted: this file defines malloc, calloc, realloc, aligned_alloc, posix_memalign
// and memalign for the whole test binary (the executable's definitions take precedence over libc's for
// every caller, libstdc++'s operator new and std::aligned_alloc in Tensor included). They forward to
// glibc's __libc_* entry points and, while a window is open, count calls. Nothing else in the binary
// notices. Under AddressSanitizer or ThreadSanitizer (which own malloc) and on a non-glibc libc the
// interposition is left out and the test case is skipped; doctest's own allocations stay outside the
// window (no assertion inside it).
#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
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
#include "engine/layers/residual.h"
#include "engine/layers/upsample.h"
#include "engine/loss.h"
#include "engine/net.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "engine/threads.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define PLASMO_SANITIZED_MALLOC 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PLASMO_SANITIZED_MALLOC 1
#endif
#if defined(__GLIBC__) && !defined(PLASMO_SANITIZED_MALLOC)
#define PLASMO_COUNT_ALLOCATIONS 1
#endif

namespace {

// Constant-initialized, so usable by the allocator before main and from every thread.
std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};

inline void note_allocation() {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

#if PLASMO_COUNT_ALLOCATIONS
extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* pointer, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void __libc_free(void* pointer);

void* malloc(size_t size) noexcept {
  note_allocation();
  return __libc_malloc(size);
}
void* calloc(size_t count, size_t size) noexcept {
  note_allocation();
  return __libc_calloc(count, size);
}
void* realloc(void* pointer, size_t size) noexcept {
  note_allocation();
  return __libc_realloc(pointer, size);
}
void* aligned_alloc(size_t alignment, size_t size) noexcept {
  note_allocation();
  return __libc_memalign(alignment, size);
}
void* memalign(size_t alignment, size_t size) noexcept {
  note_allocation();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
  note_allocation();
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  void* pointer = __libc_memalign(alignment, size);
  if (!pointer) return ENOMEM;
  *out = pointer;
  return 0;
}
void free(void* pointer) noexcept { __libc_free(pointer); }
}
#endif

using namespace plasmo;

namespace {

// Counts the allocations made by fn() on any thread.
template <class Fn>
int64_t allocations_during(Fn&& fn) {
  g_allocations.store(0);
  g_counting.store(true);
  fn();
  g_counting.store(false);
  return g_allocations.load();
}

std::unique_ptr<Sequential> conv_bn(int in_channels, int out_channels, int kernel, int stride, int padding, bool relu,
                                    Rng& rng, int groups = 1) {
  auto block = std::make_unique<Sequential>();
  block->emplace<Conv2d>("0", in_channels, out_channels, kernel, stride, padding, groups, false).init_default(rng);
  block->emplace<BatchNorm2d>("1", out_channels);
  if (relu) block->emplace<ReLU>("2");
  return block;
}

// [N, 3, 16, 16] -> logits [N, 2], every layer kind on the way.
// absorbed: the MaxPool2d absorbs the ReLU before it (absorb_relus, engine/layers/pool2d.h).
std::unique_ptr<Sequential> every_layer_net(Rng& rng, bool absorbed = false) {
  auto net = std::make_unique<Sequential>();
  net->emplace<Conv2d>("conv1", 3, 8, 3, 1, 1).init_default(rng);
  net->emplace<BatchNorm2d>("bn1", 8);
  net->emplace<ReLU>("relu");
  net->emplace<MaxPool2d>("maxpool", 3, 2, 1);  // 16 -> 8
  {
    auto body = std::make_unique<Sequential>();
    body->add("a", conv_bn(8, 8, 3, 1, 1, true, rng));
    body->add("b", conv_bn(8, 8, 3, 1, 1, false, rng));
    net->emplace<Residual>("layer1", std::move(body), nullptr, true);
  }
  {
    auto body = std::make_unique<Sequential>();
    body->add("a", conv_bn(8, 16, 3, 2, 1, true, rng));  // 8 -> 4
    body->add("b", conv_bn(16, 16, 3, 1, 1, false, rng));
    net->emplace<Residual>("layer2", std::move(body), conv_bn(8, 16, 1, 2, 0, false, rng), true);
  }
  net->emplace<Conv2d>("depthwise", 16, 16, 3, 1, 1, 16).init_default(rng);
  net->emplace<ReLU6>("relu6");
  net->emplace<Upsample2x>("up");            // 4 -> 8
  net->emplace<AvgPool2d>("avgpool", 2, 2);  // 8 -> 4
  net->emplace<Sigmoid>("sigmoid");
  net->emplace<GlobalAvgPool>("gap");
  net->emplace<Flatten>("flatten");
  net->emplace<Dropout>("dropout", 0.25f, 7);
  net->emplace<Dense>("fc", 16, 2).init_default(rng);
  if (absorbed) absorb_relus(*net);
  return net;
}

}  // namespace

#if PLASMO_COUNT_ALLOCATIONS
constexpr bool kCannotCount = false;
#else
constexpr bool kCannotCount = true;  // sanitizer or non-glibc build: see the header comment
#endif

TEST_CASE("No allocation: the counting allocator sees malloc, operator new and Tensor" * doctest::skip(kCannotCount)) {
  // The counter itself must work, or the test below could not fail.
  std::vector<float>* vector = nullptr;
  const int64_t by_new = allocations_during([&] { vector = new std::vector<float>(100); });
  delete vector;
  CHECK(by_new == 2);  // the vector object and its buffer
  std::unique_ptr<Tensor> tensor;
  const int64_t by_tensor = allocations_during([&] { tensor = std::make_unique<Tensor>(Shape{2, 3}); });
  CHECK(by_tensor >= 2);  // the object and its aligned buffer
  void* raw = nullptr;
  const int64_t by_malloc = allocations_during([&] { raw = std::malloc(10); });
  std::free(raw);
  CHECK(by_malloc == 1);
}

TEST_CASE("No allocation: training steps (SGD, Adam, RMSprop) and inference after the first batch" *
          doctest::skip(kCannotCount)) {
  for (int optimizer_kind = 0; optimizer_kind < 4; ++optimizer_kind) {
    CAPTURE(optimizer_kind);
    Rng rng(12345);
    // 3: SGD again, with the ReLU absorbed by the MaxPool2d after it.
    std::unique_ptr<Sequential> net = every_layer_net(rng, optimizer_kind == 3);
    std::unique_ptr<Optimizer> optimizer;
    if (optimizer_kind == 0 || optimizer_kind == 3) {
      SGDOptions options;
      options.lr = 0.01;
      options.momentum = 0.9;
      options.nesterov = true;
      options.weight_decay = 1e-4;
      optimizer = std::make_unique<SGD>(collect_params(*net), options);
    } else if (optimizer_kind == 1) {
      AdamOptions options;
      options.weight_decay = 1e-4;
      optimizer = std::make_unique<Adam>(collect_params(*net), options);
    } else {
      RMSpropOptions options;
      options.momentum = 0.9;
      optimizer = std::make_unique<RMSprop>(collect_params(*net), options);
    }
    const int batch = 4;
    Tensor x(Shape{batch, 3, 16, 16}), dlogits;
    for (size_t i = 0; i < x.size(); ++i) x[i] = rng.normal();
    const std::vector<int32_t> labels = {0, 1, 1, 0};
    double loss = 0.0;
    auto train_step = [&] {
      const Tensor& logits = net->forward(x, Mode::Train);
      loss += softmax_cross_entropy(logits, labels, dlogits);
      net->backward(dlogits);
      optimizer->step();
      optimizer->zero_grad();
    };
    float probe = 0.0f;
    auto inference = [&] { probe += net->forward(x, Mode::Eval)[0]; };

    train_step();  // warm-up: buffers, optimizer state and per-worker partials are allocated here
    inference();
    CHECK(allocations_during([&] {
            train_step();
            train_step();
          }) == 0);
    CHECK(allocations_during(inference) == 0);
    CHECK(std::isfinite(loss));
    CHECK(std::isfinite(probe));
    CHECK(optimizer->step_count() == 3);
  }
}

// ---- BatchNorm2d's forward deferred to its depthwise consumer (test_layer_batchnorm_deferral.cpp) ----
TEST_CASE("No allocation: training steps with the BatchNorm forward deferred to the depthwise convolution" *
          doctest::skip(kCannotCount)) {
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    set_thread_count(threads);
    Rng rng(77);
    Sequential net;
    net.emplace<Conv2d>("0", 3, 8, 3, 1, 1, 1, false).init_default(rng);
    BatchNorm2d& bn = net.emplace<BatchNorm2d>("1", 8, BatchNorm2d::Activation::ReLU6);
    net.emplace<Conv2d>("2", 8, 8, 3, 2, 1, 8, false).init_default(rng);
    net.emplace<BatchNorm2d>("3", 8);
    fold_batchnorms(net);
    bn.set_forward_deferral(true, 0, 1);
    Tensor x(Shape{5, 3, 17, 17}), dy(Shape{5, 8, 9, 9});
    for (size_t i = 0; i < x.size(); ++i) x[i] = rng.normal();
    for (size_t i = 0; i < dy.size(); ++i) dy[i] = rng.normal();
    auto train_step = [&] {
      net.forward(x, Mode::Train);
      net.backward(dy);
    };
    train_step();  // warm-up
    CHECK(allocations_during([&] {
            train_step();
            train_step();
          }) == 0);
    CHECK(bn.applied_forwards() == 3);
  }
  set_thread_count(0);
}
