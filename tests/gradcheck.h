// The finite-difference gradient checker every layer and loss test uses.
//   L(x, params) = sum_i y_i * r_i  for a fixed random r (accumulated in double),
//   numeric dL/dv = (L(v + eps) - L(v - eps)) / (2 eps)  for each checked element v of x and of every
//   parameter, compared with the analytic gradient from backward(r):
//   |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|).
// It also checks that backward ADDS into parameter gradients (a second backward doubles them).
//
// Kinks: inside a block (conv-BN-ReLU-...) a step of eps can move some activation across ReLU's kink,
// and then the central difference is wrong, not the gradient. With kink_retries = R, an entry that misses
// is retried with the one-sided differences of the same step (a kink on one side leaves the other clean),
// then the same with eps/10, eps/100, ... (R times); step k allows atol * sqrt(10)^k, since float
// rounding in L grows as the step shrinks. A wrong gradient is wrong at every step and still fails; to keep the
// retries from hiding a bug, at most max_retried_fraction of the checked entries may need one.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "engine/layer.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace plasmo::testing {

struct GradCheckOptions {
  double eps = 1e-2;
  double atol = 2e-3;
  double rtol = 1e-2;
  Mode mode = Mode::Train;
  int max_checks_per_tensor = 128;  // larger tensors are sampled (a fixed random subset)
  bool check_input = true;
  bool check_params = true;
  bool check_accumulation = true;
  std::function<void()> before_forward;  // e.g. reset a Dropout's generator so every forward draws one mask
  int kink_retries = 0;                  // see above; 0 for layers that are smooth (or linear) around x
  double max_retried_fraction = 0.2;
};

struct GradCheckReport {
  int checked = 0;
  int failed = 0;
  int retried = 0;  // entries that matched only at a smaller step (kink_retries)
  double max_abs_error = 0.0;
  std::string worst;  // "x[17]: analytic 0.1 numeric 0.2"
};

// Runs the check; reports failures through doctest CHECKs naming the tensor and element.
GradCheckReport check_layer_gradients(Layer& layer, const Tensor& x, const GradCheckOptions& options = {},
                                      uint64_t seed = 1);

// Input helpers.
void fill_uniform(Tensor& t, Rng& rng, float lo, float hi);
// Values with |v| in [margin, 1], random sign: keeps ReLU-like kinks away from +-eps.
void fill_away_from_zero(Tensor& t, Rng& rng, float margin);
// All values distinct and at least `spacing` apart (a shuffled ramp): for max-pooling.
void fill_distinct(Tensor& t, Rng& rng, float spacing);

}  // namespace plasmo::testing
