#include "train/metrics.h"

#include <limits>

#include "engine/error.h"
#include "engine/loss.h"

namespace plasmo::train {

void ClassifierStats::add(double mean_loss, const Tensor& logits, const std::vector<int32_t>& labels) {
  const int batch = logits.dim(0);
  if (static_cast<size_t>(batch) != labels.size())
    throw ShapeError("ClassifierStats: logits " + logits.shape().str() + " for " + std::to_string(labels.size()) +
                     " labels");
  class_probability(logits, 1, probability_);
  for (int n = 0; n < batch; ++n) {
    const bool predicted_positive = probability_[static_cast<size_t>(n)] >= 0.5f;
    const bool positive = labels[static_cast<size_t>(n)] == 1;
    if (positive)
      (predicted_positive ? tp_ : fn_)++;
    else
      (predicted_positive ? fp_ : tn_)++;
  }
  add_loss(mean_loss, batch);
}

void ClassifierStats::add_loss(double mean_loss, int images) {
  loss_sum_ += mean_loss * images;
  images_ += images;
}

namespace {
double ratio(int64_t part, int64_t whole) {
  return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : std::numeric_limits<double>::quiet_NaN();
}
}  // namespace

double ClassifierStats::loss() const {
  return images_ > 0 ? loss_sum_ / static_cast<double>(images_) : std::numeric_limits<double>::quiet_NaN();
}
double ClassifierStats::accuracy() const { return ratio(tp_ + tn_, images_); }
double ClassifierStats::sensitivity() const { return ratio(tp_, tp_ + fn_); }
double ClassifierStats::specificity() const { return ratio(tn_, tn_ + fp_); }

}  // namespace plasmo::train
