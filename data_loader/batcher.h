// Batches for training and validation: a list of dataset indices (a split side) -> float NCHW
// [B, 3, S, S] normalized images + int32 labels, B = batch size except the last, partial batch of an
// epoch, which is kept.
//
// Order: with shuffle, epoch e visits the indices in a Fisher-Yates permutation drawn from
// Rng::derive over (seed, e), independent of earlier epochs; without, in the order given.
// Augmentation (augment.h) draws per (seed, e, dataset index), so a resumed run sees the same images
// whatever the batch size or thread count. Images of a batch are prepared in parallel on the pool;
// each is independent, so results are bit-identical for any thread count.
// Memory: the Batch's tensor and label vector grow to one full batch at the first call and are
// reused after (a smaller last batch shrinks the shape, not the buffer): no allocation per batch.
#pragma once
#include <cstdint>
#include <vector>

#include "data_loader/augment.h"
#include "data_loader/dataset.h"
#include "data_loader/normalize.h"
#include "engine/tensor.h"

namespace plasmo::data {

struct Batch {
  Tensor images;                // [B, 3, S, S], normalized
  std::vector<int32_t> labels;  // [B], 1 = Parasitized
  std::vector<int> indices;     // [B], dataset indices (data.samples()[i].path names the file)
  Tensor pixels;                // [B, 3, S, S], v / 255 before normalization (only with keep_pixels)
  int size() const { return static_cast<int>(labels.size()); }
};

class Batcher {
 public:
  // `data` must outlive the batcher. Throws UsageError for batch_size < 1.
  Batcher(const Dataset& data, std::vector<int> indices, const Normalization& norm, int batch_size, uint64_t seed,
          const AugmentConfig& augment = AugmentConfig::table2(), ThreadPool* pool = nullptr);

  int size() const { return static_cast<int>(indices_.size()); }  // images per epoch
  int batch_size() const { return batch_size_; }
  int batches_per_epoch() const { return (size() + batch_size_ - 1) / batch_size_; }

  // Also fill Batch::pixels with each (augmented) image in [0, 1] before normalization: the autoencoder's
  // reconstruction target when the normalization cannot be inverted (foreground).
  void set_keep_pixels(bool keep) { keep_pixels_ = keep; }

  // Sets the order and augmentation of `epoch` and rewinds to its first batch.
  void start_epoch(int epoch, bool shuffle, bool augment);
  // Fills the next batch of the epoch; false when the epoch is done (the batch is left as it was).
  bool next(Batch& batch);
  // Fills batch `batch_index` of the current epoch directly (resuming mid-epoch).
  void fill(int batch_index, Batch& batch);

 private:
  const Dataset& data_;
  std::vector<int> indices_, order_;
  InputTransform transform_;
  int batch_size_;
  uint64_t seed_;
  AugmentConfig augment_config_;
  ThreadPool* pool_;
  int epoch_ = 0, cursor_ = 0;
  bool augment_ = false;
  bool keep_pixels_ = false;
};

// Test-time flips of a batch in place ([N, C, H, W], any sizes): mirror left-right / top-bottom.
void hflip_batch(Tensor& batch);
void vflip_batch(Tensor& batch);
// Swaps rows and columns of each square plane ([N, C, S, S]): with the flips, the 8 symmetries of the square.
void transpose_batch(Tensor& batch);

}  // namespace plasmo::data
