#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "data_loader/batcher.h"
#include "data_loader/dataset.h"
#include "engine/error.h"
#include "engine/threads.h"
#include "tests/test_data_util.h"

using namespace plasmo;
using namespace plasmo::data;
using plasmo::testing::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr int kImages = 23;  // not a multiple of the batch sizes used: the last batch is partial
constexpr int kSize = 12;

struct SmallData {
  TempDir dir;
  Dataset data;
  SmallData() {
    fs::create_directories(dir / "Parasitized");
    fs::create_directories(dir / "Uninfected");
    for (int i = 0; i < kImages; ++i) {
      const std::string folder = i % 3 == 0 ? "Parasitized" : "Uninfected";
      plasmo::testing::write_png(
          dir / (folder + "/P" + std::to_string(i % 5) + "_IMG_0_cell_" + std::to_string(i) + ".png"),
          plasmo::testing::test_image(20 + i, 25 + i % 4, i));
    }
    LoadOptions options;
    options.image_size = kSize;
    options.use_cache = false;
    data = Dataset::load(dir.path(), options);
  }
};

std::vector<int> all_indices(int count) {
  std::vector<int> indices(count);
  for (int i = 0; i < count; ++i) indices[i] = i;
  return indices;
}

// image index -> its floats, over one epoch.
std::map<int, std::vector<float>> epoch_images(Batcher& batcher, int epoch, bool shuffle, bool augment) {
  std::map<int, std::vector<float>> images;
  Batch batch;
  batcher.start_epoch(epoch, shuffle, augment);
  const size_t per_image = 3 * kSize * kSize;
  while (batcher.next(batch))
    for (int b = 0; b < batch.size(); ++b)
      images[batch.indices[b]].assign(batch.images.data() + b * per_image, batch.images.data() + (b + 1) * per_image);
  return images;
}

}  // namespace

TEST_CASE("Batcher: an epoch covers every image once, the last partial batch is kept") {
  SmallData small;
  REQUIRE(small.data.size() == kImages);
  Batcher batcher(small.data, all_indices(kImages), Normalization(), 5, 1);
  CHECK(batcher.batches_per_epoch() == 5);
  Batch batch;
  batcher.start_epoch(0, true, false);
  std::vector<int> seen;
  std::vector<int> sizes;
  const float* first_buffer = nullptr;
  const int32_t* first_labels = nullptr;
  while (batcher.next(batch)) {
    sizes.push_back(batch.size());
    CHECK(batch.images.shape() == Shape{batch.size(), 3, kSize, kSize});
    for (int b = 0; b < batch.size(); ++b) {
      seen.push_back(batch.indices[b]);
      CHECK(batch.labels[b] == small.data.label(batch.indices[b]));
    }
    // No allocation after the first batch: the same buffers every time.
    if (!first_buffer) {
      first_buffer = batch.images.data();
      first_labels = batch.labels.data();
    }
    CHECK(batch.images.data() == first_buffer);
    CHECK(batch.labels.data() == first_labels);
  }
  CHECK(sizes == std::vector<int>{5, 5, 5, 5, 3});
  std::sort(seen.begin(), seen.end());
  CHECK(seen == all_indices(kImages));
  CHECK_FALSE(batcher.next(batch));
}

TEST_CASE("Batcher: shuffles per epoch from the seed, fill() matches next()") {
  SmallData small;
  Batcher batcher(small.data, all_indices(kImages), Normalization(), 4, 9);
  auto order = [&](int epoch, bool shuffle) {
    std::vector<int> indices;
    Batch batch;
    batcher.start_epoch(epoch, shuffle, false);
    while (batcher.next(batch)) indices.insert(indices.end(), batch.indices.begin(), batch.indices.end());
    return indices;
  };
  CHECK(order(0, false) == all_indices(kImages));
  const std::vector<int> epoch1 = order(1, true);
  CHECK(epoch1 != all_indices(kImages));
  CHECK(order(2, true) != epoch1);
  CHECK(order(1, true) == epoch1);  // a resumed run: the same epoch gives the same order
  Batcher other_seed(small.data, all_indices(kImages), Normalization(), 4, 10);
  Batch batch;
  other_seed.start_epoch(1, true, false);
  std::vector<int> other;
  while (other_seed.next(batch)) other.insert(other.end(), batch.indices.begin(), batch.indices.end());
  CHECK(other != epoch1);
  // Random access to batch 3 of epoch 1.
  batcher.start_epoch(1, true, false);
  batcher.fill(3, batch);
  CHECK(std::vector<int>(batch.indices.begin(), batch.indices.end()) ==
        std::vector<int>(epoch1.begin() + 12, epoch1.begin() + 16));
  CHECK_THROWS_AS(batcher.fill(6, batch), UsageError);
  CHECK_THROWS_AS(Batcher(small.data, {kImages}, Normalization(), 4, 1), UsageError);
}

TEST_CASE("Batcher: normalized pixels, augmentation off = augmentation with zero parameters, bit for bit") {
  SmallData small;
  Normalization norm;
  for (int c = 0; c < 3; ++c) {
    norm.mean[c] = 0.3f + 0.1f * c;
    norm.std[c] = 0.2f + 0.05f * c;
  }
  Batcher plain(small.data, all_indices(kImages), norm, 6, 3);
  Batcher zero(small.data, all_indices(kImages), norm, 6, 3, AugmentConfig::none());
  const auto off = epoch_images(plain, 2, true, false);
  const auto identity = epoch_images(zero, 2, true, true);
  CHECK(off == identity);
  for (const auto& [index, floats] : off)
    for (int p = 0; p < 3 * kSize * kSize; ++p) {
      const int channel = p / (kSize * kSize);
      REQUIRE(
          floats[p] ==
          doctest::Approx((small.data.image(index)[p] / 255.0 - norm.mean[channel]) / norm.std[channel]).epsilon(1e-5));
    }
}

TEST_CASE("Batcher: augmented images depend on (seed, epoch, image) only, not batch size or threads") {
  SmallData small;
  ThreadPool one(1), three(3);
  Batcher a(small.data, all_indices(kImages), Normalization(), 3, 21, AugmentConfig::table2(true), &one);
  Batcher b(small.data, all_indices(kImages), Normalization(), 7, 21, AugmentConfig::table2(true), &three);
  const auto from_a = epoch_images(a, 5, true, true);
  CHECK(from_a == epoch_images(b, 5, false, true));  // another order and batch size, same images
  CHECK(from_a != epoch_images(a, 6, true, true));   // another epoch, other warps
  const auto plain = epoch_images(a, 5, true, false);
  int changed = 0;
  for (const auto& [index, floats] : from_a) changed += floats != plain.at(index);
  CHECK(changed == kImages);  // every image is warped (a draw of exactly zero is measure-zero)
}

TEST_CASE("compute_normalization: exact per-channel mean and std, the same for any thread count") {
  SmallData small;
  ThreadPool one(1), three(3);
  const std::vector<int> indices = {0, 3, 4, 10, 22};
  const Normalization a = compute_normalization(small.data, indices, &one);
  const Normalization b = compute_normalization(small.data, indices, &three);
  for (int c = 0; c < 3; ++c) {
    CHECK(a.mean[c] == b.mean[c]);
    CHECK(a.std[c] == b.std[c]);
    double sum = 0, sum_squares = 0, count = 0;
    for (int index : indices)
      for (int p = 0; p < kSize * kSize; ++p) {
        const double v = small.data.image(index)[c * kSize * kSize + p] / 255.0;
        sum += v;
        sum_squares += v * v;
        count += 1;
      }
    const double mean = sum / count;
    CHECK(a.mean[c] == doctest::Approx(mean).epsilon(1e-6));
    CHECK(a.std[c] == doctest::Approx(std::sqrt(sum_squares / count - mean * mean)).epsilon(1e-5));
  }
  CHECK_THROWS_AS(compute_normalization(small.data, {}), UsageError);
  // Metadata strings round-trip.
  const Normalization parsed =
      Normalization::parse(Normalization::format(a.mean), Normalization::format(a.std), "model.safetensors");
  for (int c = 0; c < 3; ++c) {
    CHECK(parsed.mean[c] == a.mean[c]);
    CHECK(parsed.std[c] == a.std[c]);
  }
  CHECK_THROWS_AS(Normalization::parse("0.5,0.5", "", "m"), FormatError);
  CHECK_THROWS_AS(Normalization::parse("", "1,0,1", "m"), FormatError);
}

TEST_CASE("hflip_batch / vflip_batch mirror each plane and undo themselves") {
  Tensor batch(Shape{2, 3, 4, 5});
  for (size_t i = 0; i < batch.size(); ++i) batch[i] = static_cast<float>(i);
  const Tensor original = batch.clone();
  hflip_batch(batch);
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 5; ++x) REQUIRE(batch.at(n, c, y, x) == original.at(n, c, y, 4 - x));
  hflip_batch(batch);
  vflip_batch(batch);
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 5; ++x) REQUIRE(batch.at(n, c, y, x) == original.at(n, c, 3 - y, x));
  vflip_batch(batch);
  for (size_t i = 0; i < batch.size(); ++i) REQUIRE(batch[i] == original[i]);
  Tensor flat(Shape{2, 3});
  CHECK_THROWS_AS(hflip_batch(flat), ShapeError);
}

TEST_CASE("transpose_batch swaps rows and columns of each square plane and undoes itself") {
  for (int side : {1, 3, 4}) {
    Tensor batch(Shape{2, 3, side, side});
    for (size_t i = 0; i < batch.size(); ++i) batch[i] = static_cast<float>(i);
    const Tensor original = batch.clone();
    transpose_batch(batch);
    for (int n = 0; n < 2; ++n)
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < side; ++y)
          for (int x = 0; x < side; ++x) REQUIRE(batch.at(n, c, y, x) == original.at(n, c, x, y));
    transpose_batch(batch);
    for (size_t i = 0; i < batch.size(); ++i) REQUIRE(batch[i] == original[i]);
  }
  Tensor wide(Shape{1, 3, 4, 5});
  CHECK_THROWS_AS(transpose_batch(wide), ShapeError);
}

namespace {

// Cells: a textured disk on a black surround (the dataset's look), so the foreground mask matters.
struct CellData {
  TempDir dir;
  Dataset data;
  CellData() {
    fs::create_directories(dir / "Parasitized");
    fs::create_directories(dir / "Uninfected");
    for (int i = 0; i < kImages; ++i) {
      const std::string folder = i % 3 == 0 ? "Parasitized" : "Uninfected";
      data::Image image = plasmo::testing::test_image(20 + i, 22 + i % 4, i);
      const float cx = image.width / 2.0f, cy = image.height / 2.0f, radius = 0.35f * image.width;
      for (int y = 0; y < image.height; ++y)
        for (int x = 0; x < image.width; ++x)
          if ((x - cx) * (x - cx) + (y - cy) * (y - cy) > radius * radius)
            for (int c = 0; c < 3; ++c) image.rgb[(static_cast<size_t>(y) * image.width + x) * 3 + c] = 0;
      plasmo::testing::write_png(
          dir / (folder + "/P" + std::to_string(i % 5) + "_IMG_0_cell_" + std::to_string(i) + ".png"), image);
    }
    LoadOptions options;
    options.image_size = kSize;
    options.use_cache = false;
    data = Dataset::load(dir.path(), options);
  }
};

}  // namespace

TEST_CASE("Batcher: foreground normalization in the plain and the augmented path (background exactly 0)") {
  CellData cells;
  REQUIRE(cells.data.size() == kImages);
  Normalization norm;
  norm.foreground = true;
  const InputTransform transform(norm);
  const size_t plane = kSize * kSize;

  // Plain: each image is normalize_planar of the dataset's uint8 image, bit for bit; pixels with
  // r+g+b <= 30 are exactly 0; over the others each channel has mean 0 and std 1 (or less when clamped).
  Batcher plain(cells.data, all_indices(kImages), norm, 5, 3);
  const auto off = epoch_images(plain, 0, true, false);
  REQUIRE(off.size() == static_cast<size_t>(kImages));
  for (const auto& [index, floats] : off) {
    CAPTURE(index);
    const uint8_t* image = cells.data.image(index);
    std::vector<float> expected(3 * plane);
    normalize_planar(image, plane, transform, expected.data());
    CHECK(std::memcmp(floats.data(), expected.data(), expected.size() * sizeof(float)) == 0);
    size_t background = 0;
    double sum[3] = {0, 0, 0}, sum_sq[3] = {0, 0, 0};
    for (size_t p = 0; p < plane; ++p) {
      const bool inside = image[p] + image[plane + p] + image[2 * plane + p] > 30;
      background += !inside;
      for (int c = 0; c < 3; ++c) {
        const float x = floats[c * plane + p];
        if (!inside) REQUIRE(x == 0.0f);
        sum[c] += inside ? x : 0.0;
        sum_sq[c] += inside ? static_cast<double>(x) * x : 0.0;
      }
    }
    REQUIRE(background > 0);
    REQUIRE(background < plane);
    const double count = static_cast<double>(plane - background);
    for (int c = 0; c < 3; ++c) {
      CHECK(sum[c] / count == doctest::Approx(0.0).scale(1.0).epsilon(1e-5));
      CHECK(sum_sq[c] / count <= 1.0 + 1e-5);
    }
  }

  // Augmented with zero parameters = plain, bit for bit: the augmented path applies the same transform.
  Batcher zero(cells.data, all_indices(kImages), norm, 5, 3, AugmentConfig::none());
  CHECK(epoch_images(zero, 0, true, true) == off);

  // Augmented (Table 2): Batch::pixels keeps the warped image in [0, 1]; pixels it marks as background
  // (r+g+b <= 30 / 255 well inside the surround) are exactly 0 in the input; the rest has mean 0.
  Batcher augmented(cells.data, all_indices(kImages), norm, 4, 3, AugmentConfig::table2(true));
  augmented.set_keep_pixels(true);
  augmented.start_epoch(1, true, true);
  Batch batch;
  int images = 0;
  while (augmented.next(batch)) {
    REQUIRE(batch.pixels.shape() == batch.images.shape());
    for (int b = 0; b < batch.size(); ++b, ++images) {
      const float* x = batch.images.data() + b * 3 * plane;
      const float* v = batch.pixels.data() + b * 3 * plane;
      size_t background = 0, zeros = 0;
      double sum[3] = {0, 0, 0};
      for (size_t p = 0; p < plane; ++p) {
        const float total = (v[p] + v[plane + p] + v[2 * plane + p]) * 255.0f;
        const bool outside = total < 29.5f;  // away from the rounding at 30
        background += outside;
        const bool all_zero = x[p] == 0.0f && x[plane + p] == 0.0f && x[2 * plane + p] == 0.0f;
        zeros += all_zero;
        if (outside) REQUIRE(all_zero);
        for (int c = 0; c < 3; ++c) sum[c] += x[c * plane + p];  // background adds 0
      }
      CHECK(background > 0);
      CHECK(zeros < plane);
      for (int c = 0; c < 3; ++c) CHECK(std::fabs(sum[c]) / static_cast<double>(plane) < 1e-4);
    }
  }
  CHECK(images == kImages);
}
