// Running sums of one epoch side (training or validation) of the classifier: mean loss, accuracy,
// sensitivity and specificity, Parasitized (class 1) being the positive class, decided at
// p(Parasitized) >= 0.5 as `plasmo eval` decides at its default threshold.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace plasmo::train {

class ClassifierStats {
 public:
  // Adds a batch: its mean loss and the logits [N, 2] with their labels (N values).
  void add(double mean_loss, const Tensor& logits, const std::vector<int32_t>& labels);
  // Adds a batch of a loss without predictions (reconstruction MSE): only the loss is tracked.
  void add_loss(double mean_loss, int images);

  int64_t images() const { return images_; }
  double loss() const;         // mean over images (each batch's mean weighted by its size)
  double accuracy() const;     // (TP + TN) / images
  double sensitivity() const;  // TP / (TP + FN); NaN without positives
  double specificity() const;  // TN / (TN + FP); NaN without negatives
  int64_t tp() const { return tp_; }
  int64_t fp() const { return fp_; }
  int64_t tn() const { return tn_; }
  int64_t fn() const { return fn_; }

 private:
  double loss_sum_ = 0.0;  // sum over batches of mean loss * batch size
  int64_t images_ = 0;
  int64_t tp_ = 0, fp_ = 0, tn_ = 0, fn_ = 0;
  Tensor probability_;  // p(Parasitized) of the last batch, reused
};

}  // namespace plasmo::train
