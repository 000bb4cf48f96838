// Small helpers many tests share: a tensor from literal values, elementwise value checks, equality of
// two tensors' values, a convolution's train step on a given thread count, a guard that sets the thread
// pool's size for one test and restores the default, and loops over the kernel tables and thread counts.
#pragma once
#include <doctest/doctest.h>

#include <cstddef>
#include <vector>

#include "engine/kernels/kernels.h"
#include "engine/layers/conv2d.h"
#include "engine/tensor.h"
#include "engine/threads.h"

namespace plasmo::testing {

// A tensor of `shape` holding `values` in order; their counts must agree.
inline Tensor from_values(const Shape& shape, const std::vector<float>& values) {
  Tensor t(shape);
  REQUIRE(t.size() == values.size());
  for (size_t i = 0; i < values.size(); ++i) t[i] = values[i];
  return t;
}

// One CHECK per element: got[i] equal to expected[i] within a relative `tolerance` (doctest::Approx's
// epsilon), or exactly when tolerance is 0.
inline void check_values(const float* got, size_t count, const std::vector<float>& expected, double tolerance) {
  REQUIRE(count == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    if (tolerance == 0.0)
      CHECK(got[i] == expected[i]);
    else
      CHECK(got[i] == doctest::Approx(expected[i]).epsilon(tolerance));
  }
}
inline void check_values(const Tensor& got, const std::vector<float>& expected, double tolerance = 1e-6) {
  check_values(got.data(), got.size(), expected, tolerance);
}
inline void check_values(const std::vector<float>& got, const std::vector<float>& expected, double tolerance = 1e-6) {
  check_values(got.data(), got.size(), expected, tolerance);
}

// Every element equal as floats (bit-for-bit results: same code, same data, same thread count); unlike
// tensor_bits.h's same_bits, 0.0 equals -0.0 and a NaN equals nothing.
inline bool same_values(const Tensor& a, const Tensor& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

// One train-mode forward and backward of conv on `threads` threads, its parameter gradients zeroed first:
// what the thread-count contract compares (dbias empty without a bias). Leaves the pool at `threads`.
struct ConvStep {
  Tensor y, dx, dweight, dbias;
};
inline ConvStep conv_step_on_threads(Conv2d& conv, const Tensor& x, const Tensor& dy, int threads) {
  set_thread_count(threads);
  REQUIRE(thread_pool().size() == threads);
  conv.weight_grad.zero();
  if (conv.has_bias()) conv.bias_grad.zero();
  ConvStep step;
  step.y = conv.forward(x, Mode::Train).clone();
  step.dx = conv.backward(dy).clone();
  step.dweight = conv.weight_grad.clone();
  if (conv.has_bias()) step.dbias = conv.bias_grad.clone();
  return step;
}

// Sets the pool's thread count for one test and restores the default (0) after it, even on failure.
struct ThreadCountGuard {
  explicit ThreadCountGuard(int threads) { set_thread_count(threads); }
  ~ThreadCountGuard() { set_thread_count(0); }
  ThreadCountGuard(const ThreadCountGuard&) = delete;
  ThreadCountGuard& operator=(const ThreadCountGuard&) = delete;
};

// Runs body(isa) with each kernel table this machine can run selected in turn (ref, avx2, avx512 / neon),
// the isa captured for a failure's message; the table in use before is selected again afterwards, even
// when a REQUIRE ends the test.
template <class Body>
void for_each_isa(const Body& body) {
  struct Restore {
    const char* isa;
    ~Restore() { kernels::select_isa(isa); }
  } restore{kernels::K().isa};
  const char* names[4];
  const int count = kernels::available_isas(names);
  for (int i = 0; i < count; ++i) {
    CAPTURE(names[i]);
    kernels::select_isa(names[i]);
    body(names[i]);
  }
}

// For 1, 2 and 3 threads, a fresh make_layer()'s train forward of x equals y_ref and its backward of dy
// equals dx_ref, value for value: a layer that splits its work over threads gives what one kernel call
// over everything gives.
template <class MakeLayer>
void check_threads_match_reference(const MakeLayer& make_layer, const Tensor& x, const Tensor& dy,
                                   const std::vector<float>& y_ref, const std::vector<float>& dx_ref) {
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    ThreadCountGuard guard(threads);
    auto layer = make_layer();
    const Tensor& y = layer.forward(x, Mode::Train);
    size_t mismatches = 0;
    for (size_t i = 0; i < y_ref.size(); ++i) mismatches += y[i] != y_ref[i];
    const Tensor& dx = layer.backward(dy);
    for (size_t i = 0; i < dx_ref.size(); ++i) mismatches += dx[i] != dx_ref[i];
    CHECK(mismatches == 0);
  }
}

}  // namespace plasmo::testing
