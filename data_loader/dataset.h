// A data folder in memory: every image decoded, resized to S x S and kept as uint8 (3 * S * S bytes
// each), through the cache (cache.h) when possible. Memory: images * 3 * S * S bytes (the full NIH
// development set: 73 MB at S = 32, 293 MB at S = 64).
//
// Typical use (the trainer):
//   LoadOptions options; options.image_size = 64;
//   Dataset data = Dataset::load(dir, options);
//   Split split = split_by_patient(data.samples(), 0.2, seed);
//   Normalization norm = compute_normalization(data, split.train);
//   Batcher train(data, split.train, norm, batch, seed), val(data, split.val, norm, batch, seed);
//   per epoch e: train.start_epoch(e, /*shuffle=*/true, /*augment=*/true); while (train.next(batch)) ...
//                val.start_epoch(e, false, false); while (val.next(batch)) ...
// and eval / predict, one file at a time: ImageInput input(S, norm); input.load_file(path, out, &why).
//
// Files that cannot be decoded are skipped and listed in skipped() with the reason; loading never
// prints (the CLI names them on stderr) and never aborts because of one bad file.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data_loader/cache.h"
#include "data_loader/decode.h"
#include "data_loader/discover.h"
#include "data_loader/image_input.h"
#include "data_loader/normalize.h"
#include "data_loader/resize.h"

namespace plasmo {
class ThreadPool;
}

namespace plasmo::data {

struct SkippedFile {
  std::string path;
  std::string reason;
};

struct LoadOptions {
  int image_size = 32;         // S: images are resized to S x S
  std::string cache_dir;       // "" = default_cache_dir()
  bool use_cache = true;       // false: always decode, never read or write a cache
  int limit = 0;               // > 0: keep that many files (limit_samples), for quick runs
  ThreadPool* pool = nullptr;  // nullptr = the process-wide thread_pool()
  // Called now and then while decoding (from the calling thread only) with (files done, files total).
  std::function<void(int, int)> progress;
};

enum class CacheStatus {
  Disabled,    // use_cache was false, or no cache folder could be found
  Hit,         // loaded from the cache
  Built,       // decoded and a new cache written (cache_note says why the old one was not used)
  NotWritten,  // decoded, but writing the cache failed (cache_note says why); the run goes on
};

struct LoadReport {
  CacheStatus cache = CacheStatus::Disabled;
  std::string cache_path;
  std::string cache_note;  // "no cache yet", "stale: the image files changed", "corrupt: ...", write errors
  int files = 0;           // image files found (after limit)
  double seconds = 0.0;    // wall time of load()
};

class Dataset {
 public:
  Dataset() = default;
  // Discovers DIR (discover.h), then loads from the cache or decodes in parallel. Throws the errors of
  // discover_dataset(), UsageError for S outside [1, kMaxInputSize], FormatError when not one file could
  // be decoded.
  static Dataset load(const std::string& dir, const LoadOptions& options);

  int size() const { return static_cast<int>(samples_.size()); }
  int image_size() const { return image_size_; }
  const std::string& root() const { return root_; }
  const std::vector<Sample>& samples() const { return samples_; }  // decoded files only, path order
  int label(int index) const { return samples_[index].label; }
  // Image `index`, planar uint8 [3][S][S].
  const uint8_t* image(int index) const {
    return pixels_.data() + static_cast<size_t>(index) * 3 * image_size_ * image_size_;
  }
  const std::vector<SkippedFile>& skipped() const { return skipped_; }
  const LoadReport& report() const { return report_; }

 private:
  std::string root_;
  int image_size_ = 0;
  std::vector<Sample> samples_;
  ByteBuffer pixels_;
  std::vector<SkippedFile> skipped_;
  LoadReport report_;
};

// Per-channel mean and std of the pixels (scaled to [0, 1]) of the given images, e.g. the training
// split. Sums are exact integers, so the result does not depend on the thread count. A channel with
// std below 1e-6 (a constant channel) gets std 1. Throws UsageError for an empty index list.
Normalization compute_normalization(const Dataset& data, const std::vector<int>& indices, ThreadPool* pool = nullptr);

}  // namespace plasmo::data
