#include "data_loader/dataset.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>

#include "engine/error.h"
#include "engine/threads.h"

namespace plasmo::data {

namespace {

// Decodes every file into its slot of contents.pixels (allocated for all files); skipped files keep
// their reason in `reasons[i]`. Files are handed out in blocks from a shared counter (decode times
// vary), and each result depends only on its file, so the outcome is the same for any thread count.
void decode_all(const std::vector<Sample>& files, int image_size, ThreadPool& pool,
                const std::function<void(int, int)>& progress, CacheContents& contents,
                std::vector<std::string>& reasons) {
  const size_t count = files.size();
  const size_t plane_bytes = 3ull * image_size * image_size;
  contents.decoded.assign(count, 0);
  contents.pixels.allocate(count * plane_bytes);
  reasons.assign(count, std::string());
  constexpr size_t kBlock = 16;
  std::atomic<size_t> next{0}, done{0};
  pool.run([&](int worker) {
    ImageInput input(image_size, Normalization());
    std::vector<uint8_t> bytes;
    for (;;) {
      const size_t begin = next.fetch_add(kBlock);
      if (begin >= count) break;
      const size_t end = begin + kBlock < count ? begin + kBlock : count;
      for (size_t i = begin; i < end; ++i) {
        std::string reason;
        uint8_t* slot = contents.pixels.data() + i * plane_bytes;
        const bool ok = read_file(files[i].path, bytes, &reason) &&
                        input.decode_resize_memory(bytes.data(), bytes.size(), slot, &reason);
        contents.decoded[i] = ok ? 1 : 0;
        if (!ok) reasons[i] = reason;
      }
      const size_t finished = done.fetch_add(end - begin) + (end - begin);
      if (worker == 0 && progress) progress(static_cast<int>(finished), static_cast<int>(count));
    }
  });
  // Compact: decoded images move down over the slots of skipped ones, in file order.
  size_t kept = 0;
  std::vector<std::string> skipped_reasons;
  for (size_t i = 0; i < count; ++i) {
    if (!contents.decoded[i]) {
      skipped_reasons.push_back(reasons[i]);
      continue;
    }
    if (kept != i)
      std::memmove(contents.pixels.data() + kept * plane_bytes, contents.pixels.data() + i * plane_bytes, plane_bytes);
    ++kept;
  }
  contents.reasons = std::move(skipped_reasons);
}

}  // namespace

Dataset Dataset::load(const std::string& dir, const LoadOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const int image_size = options.image_size;
  if (image_size < 1 || image_size > kMaxInputSize)
    throw UsageError("image size must be in [1, " + std::to_string(kMaxInputSize) + "], got " +
                     std::to_string(image_size));
  const Discovery found = discover_dataset(dir);
  const std::vector<Sample> files = limit_samples(found.samples, options.limit);
  ThreadPool& pool = options.pool ? *options.pool : thread_pool();

  Dataset data;
  data.root_ = found.root;
  data.image_size_ = image_size;
  data.report_.files = static_cast<int>(files.size());

  const std::string cache_dir =
      options.use_cache ? (options.cache_dir.empty() ? default_cache_dir() : options.cache_dir) : "";
  CacheContents contents;
  bool hit = false;
  uint64_t key = 0;
  if (!cache_dir.empty()) {
    data.report_.cache_path = cache_file_path(cache_dir, found.root, image_size, options.limit);
    key = cache_key(files, found.root, image_size);
    hit = read_cache(data.report_.cache_path, key, files.size(), image_size, contents, &data.report_.cache_note, pool);
  }
  if (!hit) {
    std::vector<std::string> reasons;
    decode_all(files, image_size, pool, options.progress, contents, reasons);
  }

  size_t skipped_index = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    if (contents.decoded[i]) {
      data.samples_.push_back(files[i]);
    } else {
      data.skipped_.push_back({files[i].path, contents.reasons[skipped_index++]});
    }
  }

  if (hit) {
    data.report_.cache = CacheStatus::Hit;
  } else if (!cache_dir.empty()) {
    try {
      write_cache(data.report_.cache_path, key, image_size, contents, pool);
      data.report_.cache = CacheStatus::Built;
    } catch (const IoError& error) {
      data.report_.cache = CacheStatus::NotWritten;
      data.report_.cache_note = error.what();
    }
  }
  data.pixels_ = std::move(contents.pixels);

  if (data.samples_.empty())
    throw FormatError("no image in '" + found.root + "' could be decoded (" + std::to_string(data.skipped_.size()) +
                      " skipped; first: " + data.skipped_.front().path + ": " + data.skipped_.front().reason + ")");
  data.report_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return data;
}

Normalization compute_normalization(const Dataset& data, const std::vector<int>& indices, ThreadPool* pool_or_null) {
  if (indices.empty()) throw UsageError("cannot compute mean/std over an empty set of images");
  ThreadPool& pool = pool_or_null ? *pool_or_null : thread_pool();
  const size_t plane = static_cast<size_t>(data.image_size()) * data.image_size();
  // Per worker: sum of v and of v^2 per channel, v in 0..255, as exact integers.
  std::vector<uint64_t> partial(static_cast<size_t>(pool.size()) * 6, 0);
  pool.parallel_for(static_cast<int64_t>(indices.size()), [&](int64_t begin, int64_t end, int worker) {
    uint64_t* sums = &partial[static_cast<size_t>(worker) * 6];
    for (int64_t i = begin; i < end; ++i) {
      const uint8_t* image = data.image(indices[i]);
      for (int channel = 0; channel < 3; ++channel) {
        uint64_t sum = 0, sum_squares = 0;
        const uint8_t* values = image + channel * plane;
        for (size_t p = 0; p < plane; ++p) {
          sum += values[p];
          sum_squares += static_cast<uint64_t>(values[p]) * values[p];
        }
        sums[channel] += sum;
        sums[3 + channel] += sum_squares;
      }
    }
  });
  Normalization norm;
  const double count = static_cast<double>(indices.size()) * plane;
  for (int channel = 0; channel < 3; ++channel) {
    uint64_t sum = 0, sum_squares = 0;
    for (int worker = 0; worker < pool.size(); ++worker) {
      sum += partial[static_cast<size_t>(worker) * 6 + channel];
      sum_squares += partial[static_cast<size_t>(worker) * 6 + 3 + channel];
    }
    // mean = E[v] / 255, var = E[v^2] / 255^2 - mean^2 (in double: the sums are exact, so is this to ~1e-15).
    const double mean = static_cast<double>(sum) / count / 255.0;
    const double variance = static_cast<double>(sum_squares) / count / (255.0 * 255.0) - mean * mean;
    const double std = std::sqrt(variance > 0.0 ? variance : 0.0);
    norm.mean[channel] = static_cast<float>(mean);
    norm.std[channel] = std < 1e-6 ? 1.0f : static_cast<float>(std);
  }
  return norm;
}

}  // namespace plasmo::data
