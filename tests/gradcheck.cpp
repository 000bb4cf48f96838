#include "tests/gradcheck.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

#include "engine/net.h"
#include "engine/param_version.h"

namespace plasmo::testing {

namespace {

double projected_loss(Layer& layer, const Tensor& x, const Tensor& r, const GradCheckOptions& options) {
  parameters_changed();  // parameters are perturbed through kept pointers: caches built from them are stale
  if (options.before_forward) options.before_forward();
  const Tensor& y = layer.forward(x, options.mode);
  REQUIRE(y.size() == r.size());
  double sum = 0.0;
  for (size_t i = 0; i < y.size(); ++i) sum += static_cast<double>(y[i]) * r[i];
  return sum;
}

std::vector<size_t> sample_indices(size_t count, int max_checks, Rng& rng) {
  std::vector<size_t> indices(count);
  for (size_t i = 0; i < count; ++i) indices[i] = i;
  if (count > static_cast<size_t>(max_checks)) {
    for (size_t i = 0; i < static_cast<size_t>(max_checks); ++i)
      std::swap(indices[i], indices[i + rng.below(static_cast<uint32_t>(count - i))]);
    indices.resize(static_cast<size_t>(max_checks));
  }
  return indices;
}

bool within(double analytic, double numeric, double atol, double rtol) {
  return std::abs(analytic - numeric) <= atol + rtol * std::max(std::abs(analytic), std::abs(numeric));
}

void record(const std::string& name, size_t index, double analytic, double numeric, bool ok, GradCheckReport& report) {
  const double error = std::abs(analytic - numeric);
  report.checked++;
  char text[160];
  std::snprintf(text, sizeof text, "%s[%zu]: analytic %.6g numeric %.6g", name.c_str(), index, analytic, numeric);
  if (error > report.max_abs_error) {
    report.max_abs_error = error;
    report.worst = text;
  }
  if (!ok) {
    report.failed++;
    if (report.failed <= 5) FAIL_CHECK(text);
  }
}

// Central differences of L in v (an element of x or of a parameter). With options.kink_retries > 0, a
// miss is retried: first with the one-sided differences of the same step (a kink on one side leaves the
// other side clean), then the same at eps/10, eps/100, ... Records the first match, else the first miss.
// Writes go through t[index] every time (not a kept reference): each write bumps t's version, which a
// layer's cache derived from the values (Conv2d's packed weights) checks.
void check_entry(Layer& layer, const Tensor& x, const Tensor& r, Tensor& t, const std::string& name, size_t index,
                 double analytic, const GradCheckOptions& options, GradCheckReport& report) {
  const float saved = std::as_const(t)[index];
  const double at_saved = options.kink_retries > 0 ? projected_loss(layer, x, r, options) : 0.0;
  double step = options.eps, atol = options.atol, first_numeric = 0.0;
  for (int attempt = 0; attempt <= options.kink_retries; ++attempt) {
    const float up = static_cast<float>(saved + step), down = static_cast<float>(saved - step);
    t[index] = up;
    const double plus = projected_loss(layer, x, r, options);
    t[index] = down;
    const double minus = projected_loss(layer, x, r, options);
    t[index] = saved;
    // Divide by the steps actually taken in float, so the quotient is exact for a linear function.
    const double central = (plus - minus) / (static_cast<double>(up) - down);
    if (attempt == 0) first_numeric = central;
    double numeric = central;
    bool ok = within(analytic, central, atol, options.rtol);
    if (!ok && options.kink_retries > 0) {
      const double forward = (plus - at_saved) / (static_cast<double>(up) - saved);
      const double backward = (at_saved - minus) / (static_cast<double>(saved) - down);
      if (within(analytic, forward, atol, options.rtol)) {
        ok = true;
        numeric = forward;
      } else if (within(analytic, backward, atol, options.rtol)) {
        ok = true;
        numeric = backward;
      }
    }
    if (ok) {
      if (numeric != central || attempt > 0) report.retried++;
      record(name, index, analytic, numeric, true, report);
      return;
    }
    step /= 10.0;
    atol *= std::sqrt(10.0);
  }
  record(name, index, analytic, first_numeric, false, report);
}

}  // namespace

GradCheckReport check_layer_gradients(Layer& layer, const Tensor& x_in, const GradCheckOptions& options,
                                      uint64_t seed) {
  GradCheckReport report;
  Rng rng(seed);
  Tensor x = x_in.clone();
  std::vector<Param> params;
  layer.params("", params);

  // The projection r and the analytic gradients.
  const Shape out = layer.out_shape(x.shape());
  Tensor r(out);
  fill_uniform(r, rng, -1.0f, 1.0f);
  for (Param& p : params) p.grad->zero();
  if (options.before_forward) options.before_forward();
  const Tensor& y = layer.forward(x, options.mode);
  REQUIRE_MESSAGE(y.shape() == out, "forward gave " << y.shape().str() << ", out_shape said " << out.str());
  const Tensor& dx_ref = layer.backward(r);
  Tensor dx;
  if (options.check_input) {
    REQUIRE_MESSAGE(dx_ref.shape() == x.shape(), "dx is " << dx_ref.shape().str() << ", x is " << x.shape().str());
    dx = dx_ref.clone();
  }
  std::vector<Tensor> grads;
  for (Param& p : params) grads.push_back(p.grad->clone());

  if (options.check_accumulation && !params.empty()) {
    if (options.before_forward) options.before_forward();
    layer.forward(x, options.mode);
    layer.backward(r);
    for (size_t k = 0; k < params.size(); ++k)
      for (size_t i = 0; i < grads[k].size(); ++i) {
        const double expected = 2.0 * grads[k][i];
        const double got = (*params[k].grad)[i];
        if (std::abs(got - expected) > 1e-4 + 1e-4 * std::abs(expected)) {
          FAIL_CHECK(params[k].name << "[" << i << "]: second backward gave " << got << ", expected twice "
                                    << grads[k][i] << " (backward must add into gradients)");
          break;
        }
      }
  }

  if (options.check_input) {
    for (size_t i : sample_indices(x.size(), options.max_checks_per_tensor, rng)) {
      check_entry(layer, x, r, x, "x", i, dx[i], options, report);
    }
  }
  if (options.check_params) {
    for (size_t k = 0; k < params.size(); ++k) {
      Tensor& value = *params[k].value;
      for (size_t i : sample_indices(value.size(), options.max_checks_per_tensor, rng)) {
        check_entry(layer, x, r, value, params[k].name, i, grads[k][i], options, report);
      }
    }
  }
  CHECK_MESSAGE(report.failed == 0,
                report.failed << " of " << report.checked << " gradient entries off; worst " << report.worst);
  CHECK(report.checked > 0);
  CHECK_MESSAGE(report.retried <= options.max_retried_fraction * report.checked,
                report.retried << " of " << report.checked
                               << " entries matched only at a smaller step: more than kinks would explain");
  return report;
}

void fill_uniform(Tensor& t, Rng& rng, float lo, float hi) {
  for (size_t i = 0; i < t.size(); ++i) t[i] = rng.uniform(lo, hi);
}

void fill_away_from_zero(Tensor& t, Rng& rng, float margin) {
  for (size_t i = 0; i < t.size(); ++i) {
    const float magnitude = rng.uniform(margin, 1.0f);
    t[i] = rng.bernoulli(0.5f) ? magnitude : -magnitude;
  }
}

void fill_distinct(Tensor& t, Rng& rng, float spacing) {
  const size_t count = t.size();
  std::vector<float> ramp(count);
  for (size_t i = 0; i < count; ++i) ramp[i] = (static_cast<float>(i) - 0.5f * static_cast<float>(count)) * spacing;
  for (size_t i = count; i > 1; --i) std::swap(ramp[i - 1], ramp[rng.below(static_cast<uint32_t>(i))]);
  for (size_t i = 0; i < count; ++i) t[i] = ramp[i];
}

}  // namespace plasmo::testing
