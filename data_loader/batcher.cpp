#include "data_loader/batcher.h"

#include <algorithm>
#include <utility>

#include "engine/error.h"
#include "engine/threads.h"

namespace plasmo::data {

namespace {
constexpr uint64_t kShuffleStream = 0x73687566666c65ULL;  // "shuffle"
}

Batcher::Batcher(const Dataset& data, std::vector<int> indices, const Normalization& norm, int batch_size,
                 uint64_t seed, const AugmentConfig& augment, ThreadPool* pool)
    : data_(data),
      indices_(std::move(indices)),
      transform_(norm),
      batch_size_(batch_size),
      seed_(seed),
      augment_config_(augment),
      pool_(pool) {
  if (batch_size < 1) throw UsageError("batch size must be at least 1, got " + std::to_string(batch_size));
  for (int index : indices_)
    if (index < 0 || index >= data.size())
      throw UsageError("batcher: index " + std::to_string(index) + " outside the dataset of " +
                       std::to_string(data.size()));
  order_ = indices_;
}

void Batcher::start_epoch(int epoch, bool shuffle, bool augment) {
  epoch_ = epoch;
  augment_ = augment;
  cursor_ = 0;
  order_ = indices_;
  if (shuffle) {
    Rng rng = Rng::derive(Rng::derive(seed_, kShuffleStream).next_u64(), static_cast<uint64_t>(epoch));
    for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(static_cast<uint32_t>(i))]);
  }
}

bool Batcher::next(Batch& batch) {
  if (cursor_ >= batches_per_epoch()) return false;
  fill(cursor_++, batch);
  return true;
}

void Batcher::fill(int batch_index, Batch& batch) {
  if (batch_index < 0 || batch_index >= batches_per_epoch())
    throw UsageError("batch " + std::to_string(batch_index) + " outside [0, " + std::to_string(batches_per_epoch()) +
                     ")");
  const int begin = batch_index * batch_size_;
  const int count = std::min(batch_size_, size() - begin);
  const int image_size = data_.image_size();
  const size_t plane = static_cast<size_t>(image_size) * image_size;
  batch.images.resize(Shape{count, 3, image_size, image_size});
  if (keep_pixels_) batch.pixels.resize(Shape{count, 3, image_size, image_size});
  batch.labels.resize(static_cast<size_t>(count));
  batch.indices.resize(static_cast<size_t>(count));
  for (int b = 0; b < count; ++b) {
    batch.indices[b] = order_[begin + b];
    batch.labels[b] = data_.label(order_[begin + b]);
  }
  ThreadPool& pool = pool_ ? *pool_ : thread_pool();
  float* out = batch.images.data();
  pool.parallel_for(count, [&](int64_t first, int64_t last, int) {
    for (int64_t b = first; b < last; ++b) {
      const int index = batch.indices[b];
      float* image_out = out + static_cast<size_t>(b) * 3 * plane;
      if (!augment_) {
        const uint8_t* image = data_.image(index);
        for (size_t i = 0; i < 3 * plane; ++i) image_out[i] = static_cast<float>(image[i]);
      } else {
        Rng rng = augment_rng(seed_, static_cast<uint64_t>(epoch_), static_cast<uint64_t>(index));
        const AffineDraw draw = draw_affine(augment_config_, image_size, image_size, rng);
        warp_affine(data_.image(index), 3, image_size, image_size, draw, image_out);
      }
      if (keep_pixels_) {
        float* pixels = batch.pixels.data() + static_cast<size_t>(b) * 3 * plane;
        for (size_t i = 0; i < 3 * plane; ++i) {
          const float v = image_out[i] / 255.0f;
          pixels[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        }
      }
      // Pixel values in [0, 255] -> model inputs (the plain path is normalize_planar's, bit for bit).
      transform_.apply(image_out, plane);
    }
  });
}

void hflip_batch(Tensor& batch) {
  if (batch.rank() != 4)
    throw ShapeError("hflip_batch: expected a rank-4 [N, C, H, W] tensor, found " + batch.shape().str());
  const int images = batch.dim(0) * batch.dim(1), height = batch.dim(2), width = batch.dim(3);
  for (int plane = 0; plane < images; ++plane)
    for (int y = 0; y < height; ++y) {
      float* row = batch.data() + (static_cast<size_t>(plane) * height + y) * width;
      std::reverse(row, row + width);
    }
}

void vflip_batch(Tensor& batch) {
  if (batch.rank() != 4)
    throw ShapeError("vflip_batch: expected a rank-4 [N, C, H, W] tensor, found " + batch.shape().str());
  const int images = batch.dim(0) * batch.dim(1), height = batch.dim(2), width = batch.dim(3);
  for (int plane = 0; plane < images; ++plane) {
    float* base = batch.data() + static_cast<size_t>(plane) * height * width;
    for (int y = 0; y < height / 2; ++y)
      std::swap_ranges(base + static_cast<size_t>(y) * width, base + static_cast<size_t>(y + 1) * width,
                       base + static_cast<size_t>(height - 1 - y) * width);
  }
}

void transpose_batch(Tensor& batch) {
  if (batch.rank() != 4 || batch.dim(2) != batch.dim(3))
    throw ShapeError("transpose_batch: expected a rank-4 [N, C, S, S] tensor, found " + batch.shape().str());
  const int planes = batch.dim(0) * batch.dim(1), side = batch.dim(2);
  for (int plane = 0; plane < planes; ++plane) {
    float* base = batch.data() + static_cast<size_t>(plane) * side * side;
    for (int y = 0; y < side; ++y)
      for (int x = y + 1; x < side; ++x)
        std::swap(base[static_cast<size_t>(y) * side + x], base[static_cast<size_t>(x) * side + y]);
  }
}

}  // namespace plasmo::data
