// Losses. Each returns the mean loss over the batch (PyTorch's reduction='mean') as a double and, in
// the overload that takes `dinput`, writes dLoss/dinput into it (resized to the input's shape; it
// allocates only the first time, or when the batch grows). The overloads without `dinput` only
// evaluate (validation, reports).
//
//   softmax cross-entropy  logits [N, classes], labels int32 [N] in [0, classes):
//       L = 1/N sum_n ( logsumexp_c z[n][c] - z[n][label_n] )
//       dL/dz[n][c] = ( softmax(z[n])[c] - [c == label_n] ) / N
//   binary cross-entropy with logits  logits [N] or [N, 1], targets (N floats in [0, 1], shape [N] or [N, 1]):
//       L = 1/N sum_n ( max(x_n, 0) - x_n*y_n + log(1 + exp(-|x_n|)) )     (the overflow-free form)
//       dL/dx_n = ( sigmoid(x_n) - y_n ) / N
//   MSE  prediction and target of the same shape, M elements in all:
//       L = 1/M sum_i (p_i - t_i)^2,   dL/dp_i = 2 (p_i - t_i) / M
//
// Sums and exponentials are computed in double; the log-sum-exp subtracts the row maximum, so logits of
// any finite size (+-100, +-1e4) give a finite loss and gradient. NaN or Inf inputs are not rejected
// here: they give a NaN/Inf loss, which the training loop turns into a NumericError naming the batch.
//
// Errors: ShapeError for a wrong rank or mismatched sizes; UsageError for a label outside [0, classes)
// or a BCE target outside [0, 1]. The math is written out in docs/math.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace plasmo {

// Softmax cross-entropy from logits (PyTorch nn.CrossEntropyLoss). `labels` holds label_count = N values.
double softmax_cross_entropy(const Tensor& logits, const int32_t* labels, size_t label_count, Tensor& dlogits);
double softmax_cross_entropy(const Tensor& logits, const int32_t* labels, size_t label_count);
inline double softmax_cross_entropy(const Tensor& logits, const std::vector<int32_t>& labels, Tensor& dlogits) {
  return softmax_cross_entropy(logits, labels.data(), labels.size(), dlogits);
}
inline double softmax_cross_entropy(const Tensor& logits, const std::vector<int32_t>& labels) {
  return softmax_cross_entropy(logits, labels.data(), labels.size());
}

// Binary cross-entropy with logits (PyTorch nn.BCEWithLogitsLoss).
double binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets, Tensor& dlogits);
double binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets);

// Mean squared error (PyTorch nn.MSELoss): shapes must be equal (no broadcasting).
double mse_loss(const Tensor& prediction, const Tensor& target, Tensor& dprediction);
double mse_loss(const Tensor& prediction, const Tensor& target);

// probabilities[n][c] = softmax(logits[n])[c]; logits [N, classes] -> probabilities [N, classes].
void softmax_probabilities(const Tensor& logits, Tensor& probabilities);
// probability[n] = softmax(logits[n])[class_index]; logits [N, classes] -> probability [N]. For
// evaluation: class_probability(logits, 1, p) gives p(Parasitized).
void class_probability(const Tensor& logits, int class_index, Tensor& probability);

}  // namespace plasmo
