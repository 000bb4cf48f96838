// Losses: value and gradient side by side. Formulas in loss.h and docs/math.md.
#include "engine/loss.h"

#include <cmath>
#include <string>

#include "engine/error.h"

namespace plasmo {

namespace {

// Checks logits are [N, classes] with N >= 1 and classes >= 1.
void check_logits_2d(const char* where, const Tensor& logits) {
  if (logits.rank() != 2 || logits.dim(0) < 1 || logits.dim(1) < 1)
    throw ShapeError(std::string(where) + ": logits must be [N, classes] with N, classes >= 1, found " +
                     logits.shape().str());
}

// The log-sum-exp of one row in two parts, in double: shift = max_c z[c] and log_sum =
// log(sum_c exp(z[c] - shift)) in [0, log classes], so logsumexp = shift + log_sum. Callers work with
// z[c] - shift, never adding the shift back, so rows of huge logits (1e30) keep their precision.
struct RowLse {
  double shift;
  double log_sum;
};

RowLse row_logsumexp(const float* row, int classes) {
  double row_max = row[0];
  for (int c = 1; c < classes; ++c) row_max = std::fmax(row_max, static_cast<double>(row[c]));
  double sum = 0.0;
  for (int c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(row[c]) - row_max);
  return {row_max, std::log(sum)};
}

// Softmax cross-entropy; dlogits null means value only.
double softmax_cross_entropy_impl(const Tensor& logits, const int32_t* labels, size_t label_count, Tensor* dlogits) {
  const char* where = "softmax_cross_entropy";
  check_logits_2d(where, logits);
  const int N = logits.dim(0), classes = logits.dim(1);
  if (label_count != static_cast<size_t>(N))
    throw ShapeError(std::string(where) + ": " + std::to_string(label_count) + " labels for logits " +
                     logits.shape().str() + " (expected " + std::to_string(N) + ")");
  if (N > 0 && labels == nullptr) throw UsageError(std::string(where) + ": labels pointer is null");
  for (int n = 0; n < N; ++n)
    if (labels[n] < 0 || labels[n] >= classes)
      throw UsageError(std::string(where) + ": label " + std::to_string(labels[n]) + " of sample " + std::to_string(n) +
                       " is outside [0, " + std::to_string(classes) + ") for logits " + logits.shape().str());
  if (dlogits) dlogits->resize(logits.shape());

  const double inv_N = 1.0 / N;
  double total = 0.0;
  for (int n = 0; n < N; ++n) {
    const float* z = logits.data() + static_cast<size_t>(n) * classes;
    const RowLse lse = row_logsumexp(z, classes);
    // loss_n = logsumexp(z) - z[label] = log_sum - (z[label] - shift)   (= -log softmax(z)[label])
    total += lse.log_sum - (static_cast<double>(z[labels[n]]) - lse.shift);
    if (dlogits) {
      float* dz = dlogits->data() + static_cast<size_t>(n) * classes;
      for (int c = 0; c < classes; ++c) {
        const double probability = std::exp((static_cast<double>(z[c]) - lse.shift) - lse.log_sum);
        const double onehot = (c == labels[n]) ? 1.0 : 0.0;
        dz[c] = static_cast<float>((probability - onehot) * inv_N);  // dL/dz = (p - onehot) / N
      }
    }
  }
  return total * inv_N;
}

// Logits [N] or [N, 1]; returns N.
int check_binary_logits(const char* where, const Tensor& logits, const Tensor& targets) {
  const bool shape_ok = (logits.rank() == 1 || (logits.rank() == 2 && logits.dim(1) == 1)) && logits.dim(0) >= 1;
  if (!shape_ok)
    throw ShapeError(std::string(where) + ": logits must be [N] or [N, 1] with N >= 1, found " + logits.shape().str());
  const int N = logits.dim(0);
  const bool targets_ok = (targets.rank() == 1 || (targets.rank() == 2 && targets.dim(1) == 1)) && targets.dim(0) == N;
  if (!targets_ok)
    throw ShapeError(std::string(where) + ": targets must be [" + std::to_string(N) + "] or [" + std::to_string(N) +
                     ", 1] for logits " + logits.shape().str() + ", found " + targets.shape().str());
  for (int n = 0; n < N; ++n)
    if (!(targets[n] >= 0.0f && targets[n] <= 1.0f))  // also refuses NaN
      throw UsageError(std::string(where) + ": target " + std::to_string(targets[n]) + " of sample " +
                       std::to_string(n) + " is outside [0, 1]");
  return N;
}

double bce_impl(const Tensor& logits, const Tensor& targets, Tensor* dlogits) {
  const int N = check_binary_logits("binary_cross_entropy_with_logits", logits, targets);
  if (dlogits) dlogits->resize(logits.shape());
  const double inv_N = 1.0 / N;
  double total = 0.0;
  for (int n = 0; n < N; ++n) {
    const double x = logits[n], y = targets[n];
    // -[y log s(x) + (1-y) log(1-s(x))] = max(x,0) - x*y + log(1 + exp(-|x|)): no exp of a large positive.
    total += std::fmax(x, 0.0) - x * y + std::log1p(std::exp(-std::fabs(x)));
    if (dlogits) {
      // sigmoid without overflow: e = exp(-|x|) <= 1; s = 1/(1+e) for x >= 0, e/(1+e) for x < 0.
      const double e = std::exp(-std::fabs(x));
      const double sigmoid = (x >= 0.0) ? 1.0 / (1.0 + e) : e / (1.0 + e);
      (*dlogits)[n] = static_cast<float>((sigmoid - y) * inv_N);  // dL/dx = (s(x) - y) / N
    }
  }
  return total * inv_N;
}

double mse_impl(const Tensor& prediction, const Tensor& target, Tensor* dprediction) {
  if (prediction.shape() != target.shape())
    throw ShapeError("mse_loss: prediction " + prediction.shape().str() + " and target " + target.shape().str() +
                     " differ (no broadcasting)");
  const size_t count = prediction.size();
  if (count == 0 || prediction.empty()) throw ShapeError("mse_loss: empty prediction " + prediction.shape().str());
  if (dprediction) dprediction->resize(prediction.shape());
  const double inv_count = 1.0 / static_cast<double>(count);
  double total = 0.0;
  for (size_t i = 0; i < count; ++i) {
    const double diff = static_cast<double>(prediction[i]) - static_cast<double>(target[i]);
    total += diff * diff;
    if (dprediction) (*dprediction)[i] = static_cast<float>(2.0 * diff * inv_count);  // dL/dp = 2(p - t)/M
  }
  return total * inv_count;
}

}  // namespace

double softmax_cross_entropy(const Tensor& logits, const int32_t* labels, size_t label_count, Tensor& dlogits) {
  return softmax_cross_entropy_impl(logits, labels, label_count, &dlogits);
}
double softmax_cross_entropy(const Tensor& logits, const int32_t* labels, size_t label_count) {
  return softmax_cross_entropy_impl(logits, labels, label_count, nullptr);
}

double binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets, Tensor& dlogits) {
  return bce_impl(logits, targets, &dlogits);
}
double binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets) {
  return bce_impl(logits, targets, nullptr);
}

double mse_loss(const Tensor& prediction, const Tensor& target, Tensor& dprediction) {
  return mse_impl(prediction, target, &dprediction);
}
double mse_loss(const Tensor& prediction, const Tensor& target) { return mse_impl(prediction, target, nullptr); }

void softmax_probabilities(const Tensor& logits, Tensor& probabilities) {
  check_logits_2d("softmax_probabilities", logits);
  const int N = logits.dim(0), classes = logits.dim(1);
  probabilities.resize(logits.shape());
  for (int n = 0; n < N; ++n) {
    const float* z = logits.data() + static_cast<size_t>(n) * classes;
    float* p = probabilities.data() + static_cast<size_t>(n) * classes;
    const RowLse lse = row_logsumexp(z, classes);
    for (int c = 0; c < classes; ++c)
      p[c] = static_cast<float>(std::exp((static_cast<double>(z[c]) - lse.shift) - lse.log_sum));
  }
}

void class_probability(const Tensor& logits, int class_index, Tensor& probability) {
  check_logits_2d("class_probability", logits);
  const int N = logits.dim(0), classes = logits.dim(1);
  if (class_index < 0 || class_index >= classes)
    throw UsageError("class_probability: class " + std::to_string(class_index) + " is outside [0, " +
                     std::to_string(classes) + ") for logits " + logits.shape().str());
  probability.resize(Shape{N});
  for (int n = 0; n < N; ++n) {
    const float* z = logits.data() + static_cast<size_t>(n) * classes;
    const RowLse lse = row_logsumexp(z, classes);
    probability[n] = static_cast<float>(std::exp((static_cast<double>(z[class_index]) - lse.shift) - lse.log_sum));
  }
}

}  // namespace plasmo
