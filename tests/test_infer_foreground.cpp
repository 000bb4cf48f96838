// Foreground normalization (model file metadata `normalize: foreground`, engine/infer/foreground_norm.h):
//   - the function on hand-made images with values worked out by hand (mask boundary r+g+b = 30 vs 31,
//     std clamped to 1, an all-background image, a constant-colour cell), and against an independent
//     long-double reference (one pass, E[v^2] - m^2) on random cells;
//   - a model file saved with normalize=foreground reads back (engine and core), and plasmo predict,
//     plasmo-infer and the engine's forward on ImageInput agree on it;
//   - normalize: bogus is refused by the engine (FormatError naming the key) and the core (PLASMO_ERR_FORMAT).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "data_loader/image_input.h"
#include "data_loader/normalize.h"
#include "engine/error.h"
#include "engine/infer/foreground_norm.h"
#include "engine/rng.h"
#include "eval/score.h"
#include "models/model.h"
#include "models/model_file.h"
#include "tests/test_infer_util.h"

using namespace plasmo;
using namespace plasmo::testing;

namespace {

struct Pixel {
  float r, g, b;
};

// Interleaved pixels -> planar [3][pixels].
std::vector<float> planar_of(const std::vector<Pixel>& pixels) {
  const size_t n = pixels.size();
  std::vector<float> planar(3 * n);
  for (size_t p = 0; p < n; ++p) {
    planar[p] = pixels[p].r;
    planar[n + p] = pixels[p].g;
    planar[2 * n + p] = pixels[p].b;
  }
  return planar;
}

// Bit-for-bit equality, so -0.0f vs 0.0f and NaN would show.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("foreground normalization: hand-made images, exact values") {
  SUBCASE("mixed cell: mean/std per channel, a channel whose std is clamped to 1, background 0") {
    // Foreground (r+g+b > 30): R 10,10,30,30 -> m 20, s 10; G 100,104,100,104 -> m 102, s 2;
    // B 7,7,7,8 -> m 7.25, s = sqrt(0.1875) = 0.433 < 1 -> 1. Background: (0,0,0), (10,10,10) (sum 30: not > 30),
    // (30,0,0) (sum 30).
    const std::vector<float> in =
        planar_of({{10, 100, 7}, {0, 0, 0}, {10, 104, 7}, {10, 10, 10}, {30, 100, 7}, {30, 104, 8}, {30, 0, 0}});
    double mean[3], std_dev[3];
    CHECK(plasmo_infer::foreground_stats(in.data(), 7, mean, std_dev) == 4);
    CHECK(mean[0] == 20.0);
    CHECK(mean[1] == 102.0);
    CHECK(mean[2] == 7.25);
    CHECK(std_dev[0] == 10.0);
    CHECK(std_dev[1] == 2.0);
    CHECK(std_dev[2] == 1.0);
    std::vector<float> out = in;
    plasmo_infer::foreground_normalize(out.data(), 7);
    const std::vector<float> expected = {-1,     0, -1,     0, 1,      1,     0,   // R
                                         -1,     0, 1,      0, -1,     1,     0,   // G
                                         -0.25f, 0, -0.25f, 0, -0.25f, 0.75f, 0};  // B
    CHECK(same_bits(out, expected));
  }
  SUBCASE("the mask boundary: r+g+b = 31 is the cell, 30 is background") {
    // Foreground (10,10,11) and (12,10,11): R m 11, s 1 -> -1, 1; G, B constant -> 0.
    std::vector<float> out = planar_of({{10, 10, 11}, {10, 10, 10}, {12, 10, 11}});
    plasmo_infer::foreground_normalize(out.data(), 3);
    CHECK(same_bits(out, {-1, 0, 1, 0, 0, 0, 0, 0, 0}));
  }
  SUBCASE("an all-background image gives zeros (no NaN from 0 / 0)") {
    std::vector<float> out = planar_of({{10, 10, 10}, {0, 0, 0}, {30, 0, 0}, {0, 0, 30}, {0, 29.5f, 0.5f}});
    double mean[3] = {-1, -1, -1}, std_dev[3] = {-1, -1, -1};
    CHECK(plasmo_infer::foreground_stats(out.data(), 5, mean, std_dev) == 0);
    plasmo_infer::foreground_normalize(out.data(), 5);
    CHECK(same_bits(out, std::vector<float>(15, 0.0f)));
  }
  SUBCASE("a constant-colour cell: s = 0 clamped to 1, every pixel maps to 0") {
    const std::vector<float> in = planar_of({{200, 100, 150}, {0, 0, 0}, {200, 100, 150}, {200, 100, 150}});
    double mean[3], std_dev[3];
    CHECK(plasmo_infer::foreground_stats(in.data(), 4, mean, std_dev) == 3);
    CHECK(mean[0] == 200.0);
    CHECK(mean[1] == 100.0);
    CHECK(mean[2] == 150.0);
    for (int c = 0; c < 3; ++c) CHECK(std_dev[c] == 1.0);
    std::vector<float> out = in;
    plasmo_infer::foreground_normalize(out.data(), 4);
    CHECK(same_bits(out, std::vector<float>(12, 0.0f)));
  }
  SUBCASE("fractional (augmented) values: the mask uses their exact sum") {
    // 10.25 + 10 + 10 = 30.25 > 30: foreground; the other two are background (sum 30, sum 29.75).
    std::vector<float> out = planar_of({{10.25f, 10, 10}, {10, 10, 10}, {9.75f, 10, 10}, {20.25f, 30, 40}});
    plasmo_infer::foreground_normalize(out.data(), 4);
    // Foreground R 10.25, 20.25 -> m 15.25, s 5; G 10, 30 -> m 20, s 10; B 10, 40 -> m 25, s 15.
    CHECK(same_bits(out, {-1, 0, 0, 1, -1, 0, 0, 1, -1, 0, 0, 1}));
  }
}

TEST_CASE("foreground normalization: an independent long-double reference on random cells") {
  Rng rng(41);
  for (int trial = 0; trial < 30; ++trial) {
    const int side = 3 + static_cast<int>(rng.below(40));
    const std::vector<uint8_t> rgb = random_image(side, side, 500 + trial);
    const size_t n = static_cast<size_t>(side) * side;
    std::vector<float> planar(3 * n);
    for (size_t p = 0; p < n; ++p)
      for (int c = 0; c < 3; ++c) planar[c * n + p] = rgb[p * 3 + c];
    // One pass: sums of v and v^2 over r+g+b > 30 (integers: exact), var = E[v^2] - m^2.
    long double sum[3] = {0, 0, 0}, sum_sq[3] = {0, 0, 0};
    long count = 0;
    for (size_t p = 0; p < n; ++p) {
      if (rgb[p * 3] + rgb[p * 3 + 1] + rgb[p * 3 + 2] <= 30) continue;
      ++count;
      for (int c = 0; c < 3; ++c) {
        sum[c] += rgb[p * 3 + c];
        sum_sq[c] += static_cast<long double>(rgb[p * 3 + c]) * rgb[p * 3 + c];
      }
    }
    std::vector<float> out = planar;
    plasmo_infer::foreground_normalize(out.data(), n);
    REQUIRE(count > 0);
    CAPTURE(trial);
    for (int c = 0; c < 3; ++c) {
      const long double m = sum[c] / count;
      long double s = std::sqrt(std::max(0.0L, sum_sq[c] / count - m * m));
      if (s < 1) s = 1;
      for (size_t p = 0; p < n; ++p) {
        const bool inside = rgb[p * 3] + rgb[p * 3 + 1] + rgb[p * 3 + 2] > 30;
        const double expected = inside ? static_cast<double>((rgb[p * 3 + c] - m) / s) : 0.0;
        if (!inside)
          REQUIRE(out[c * n + p] == 0.0f);
        else
          REQUIRE(out[c * n + p] == doctest::Approx(expected).epsilon(1e-6).scale(1.0));
      }
    }
  }
}

TEST_CASE("infer foreground: a normalize=foreground model file round-trips; predict = plasmo-infer = engine") {
  TempDir dir;
  auto model = make_model("autoencoder", 1.0, 32, 31);
  model->meta().normalize = "foreground";
  model->meta().mean = {0.55f, 0.45f, 0.5f};  // written, unused in foreground mode
  model->meta().std = {0.2f, 0.2f, 0.25f};
  const std::string path = dir.path + "/fg.safetensors";
  save_model_file(path, *model);
  CHECK(model->meta().to_metadata().at("normalize") == "foreground");
  auto loaded = load_model_file(path);
  CHECK(loaded->meta().normalize == "foreground");
  CHECK(eval::model_normalization(loaded->meta()).foreground);
  const CoreModel core = load_core_model(read_bytes(path));
  REQUIRE(core.status == PLASMO_OK);
  CHECK(core.model.normalize == PLASMO_NORMALIZE_FOREGROUND);
  // A dataset-normalized file has no normalize key (files as before) and reads as dataset.
  model->meta().normalize = "dataset";
  CHECK(model->meta().to_metadata().count("normalize") == 0);
  save_model_file(dir.path + "/ds.safetensors", *model);
  CHECK(load_model_file(dir.path + "/ds.safetensors")->meta().normalize == "dataset");
  CHECK(load_core_model(read_bytes(dir.path + "/ds.safetensors")).model.normalize == PLASMO_NORMALIZE_DATASET);

  std::vector<std::string> files;
  const int sizes[][2] = {{32, 32}, {77, 80}, {121, 111}, {21, 27}, {64, 63}};
  for (int i = 0; i < 5; ++i) {
    files.push_back(dir.path + "/cell" + std::to_string(i) + ".png");
    write_png(files.back(), sizes[i][0], sizes[i][1], random_image(sizes[i][0], sizes[i][1], 300 + i));
  }
  // The engine on the data loader's input.
  data::ImageInput input(32, eval::model_normalization(loaded->meta()));
  Tensor x({5, 3, 32, 32});
  for (size_t i = 0; i < files.size(); ++i) {
    std::string reason;
    REQUIRE_MESSAGE(input.load_file(files[i], x.data() + i * 3 * 32 * 32, &reason), reason);
  }
  const Tensor& logits = loaded->forward(x, Mode::Eval);
  // The core in-process on the same decoded pixels: same input bits, p close to the engine's.
  std::vector<float> arena(core.model.arena_bytes / 4 + 1);
  std::string images;
  for (const std::string& file : files) images += " " + file;
  std::string infer_out, predict_out;
  REQUIRE(run_command(infer_command() + " " + path + images, &infer_out) == 0);
  REQUIRE(run_command(plasmo_command() + " predict --model " + path + images, &predict_out) == 0);
  std::istringstream infer_lines(infer_out), predict_lines(predict_out);
  for (size_t i = 0; i < files.size(); ++i) {
    std::string infer_line, predict_line;
    REQUIRE(std::getline(infer_lines, infer_line));
    REQUIRE(std::getline(predict_lines, predict_line));
    INFO("predict: " << predict_line << "\nplasmo-infer: " << infer_line);
    const size_t tab = predict_line.rfind('\t');
    REQUIRE(tab != std::string::npos);
    CHECK(infer_line.substr(0, tab + 1) == predict_line.substr(0, tab + 1));
    const double p_infer = std::strtod(infer_line.c_str() + tab + 1, nullptr);
    const double p_predict = std::strtod(predict_line.c_str() + tab + 1, nullptr);
    const double p_engine = eval::parasitized_probability(logits[2 * i], logits[2 * i + 1]);
    CHECK(std::fabs(p_infer - p_predict) <= 2e-6 + 1e-9);
    CHECK(std::fabs(p_infer - p_engine) <= 5e-7 + 1e-6);
  }
  // The mode matters: the same weights with the dataset normalization give other logits.
  data::ImageInput dataset_input(32, eval::model_normalization(model->meta()));
  Tensor x_dataset({5, 3, 32, 32});
  for (size_t i = 0; i < files.size(); ++i) {
    std::string reason;
    REQUIRE(dataset_input.load_file(files[i], x_dataset.data() + i * 3 * 32 * 32, &reason));
  }
  CHECK(std::memcmp(x.data(), x_dataset.data(), x.size() * sizeof(float)) != 0);
}

TEST_CASE("infer foreground: a model file with normalize: bogus is refused (engine FormatError, core error code)") {
  TempDir dir;
  std::map<std::string, std::string> metadata = model_metadata("autoencoder", 1.0, 32);
  metadata["normalize"] = "bogus";
  const std::vector<uint8_t> bytes =
      encode_safetensors_bytes(random_model_tensors("autoencoder", 1.0, 32, 5), metadata);
  const std::string path = dir.path + "/bogus.safetensors";
  write_bytes(path, bytes);
  std::string message;
  try {
    load_model_file(path);
  } catch (const FormatError& error) {
    message = error.what();
  }
  CHECK(message.find(path) != std::string::npos);
  CHECK(message.find("metadata 'normalize' is 'bogus', expected dataset or foreground") != std::string::npos);
  const CoreModel core = load_core_model(bytes);
  CHECK(core.status == PLASMO_ERR_FORMAT);
  CHECK(std::string(core.error.message) == "metadata 'normalize' is 'bogus', expected dataset or foreground");
  std::string output;
  CHECK(run_command(infer_command() + " " + path + " " + path + " 2>&1", &output) != 0);
  CHECK(output.find("normalize") != std::string::npos);
  // "dataset" spelled out is accepted and means the mean/std normalization.
  metadata["normalize"] = "dataset";
  CHECK(load_core_model(encode_safetensors_bytes(random_model_tensors("autoencoder", 1.0, 32, 5), metadata))
            .model.normalize == PLASMO_NORMALIZE_DATASET);
}
