// The inference core's preprocessing and plasmo-infer against the data loader and the engine:
//   - plasmo_resize_rgb8 / plasmo_preprocess bit-identical to data_loader's Resizer + normalize over random
//     sizes (shrinking, growing, mixed, identical axes), with the dataset and the foreground normalization
//     (odd sides too);
//   - plasmo-infer's lines against the engine's p(Parasitized) for the same PNG and JPEG files read through
//     data_loader's ImageInput (decode, resize, normalize) and the engine's eval forward: same paths and
//     labels, p within the 6-decimal print (5e-7) plus 1e-6;
//   - plasmo-infer's output against `plasmo predict`'s on the same files: same paths, labels, order and exit
//     status (an unreadable file in the list), p within 2 units of the 6th decimal (measured: 75 of 2,000
//     synth cells differ by 1 unit, none by more).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "data_loader/image_input.h"
#include "data_loader/normalize.h"
#include "data_loader/resize.h"
#include "engine/rng.h"
#include "models/model.h"
#include "models/model_file.h"
#include "tests/test_infer_util.h"

using namespace plasmo;
using namespace plasmo::testing;

namespace {

double softmax_p1(double logit0, double logit1) { return 1.0 / (1.0 + std::exp(logit0 - logit1)); }

}  // namespace

TEST_CASE("infer preprocessing: bit-identical to the data loader's resize and normalize") {
  Rng rng(5);
  data::Resizer resizer;
  data::Normalization norm;
  const float mean[3] = {0.53f, 0.42f, 0.47f}, std_dev[3] = {0.21f, 0.18f, 0.2f};
  for (int c = 0; c < 3; ++c) {
    norm.mean[c] = mean[c];
    norm.std[c] = std_dev[c];
  }
  const data::InputTransform transform(norm);
  plasmo_model model{};
  for (int c = 0; c < 3; ++c) {
    model.mean[c] = mean[c];
    model.std[c] = std_dev[c];
  }
  int mismatched_images = 0;
  for (int trial = 0; trial < 400; ++trial) {
    // Shrinking, growing, mixed and identical axes.
    const int side = 8 * (1 + static_cast<int>(rng.below(12)));
    int width = 1 + static_cast<int>(rng.below(200)), height = 1 + static_cast<int>(rng.below(200));
    if (trial % 5 == 0) width = side;
    if (trial % 9 == 0) width = height = side;
    std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3);
    for (uint8_t& value : rgb) value = static_cast<uint8_t>(rng.below(256));
    std::vector<uint8_t> loader(3 * side * side), core(3 * side * side);
    resizer.resize_to_planar(rgb.data(), height, width, side, side, loader.data());
    plasmo_resize_rgb8(rgb.data(), width, height, side, side, 1, core.data());
    std::vector<float> loader_input(loader.size()), core_input(loader.size());
    data::normalize_planar(loader.data(), static_cast<size_t>(side) * side, transform, loader_input.data());
    model.input_size = side;
    REQUIRE(plasmo_preprocess(&model, rgb.data(), width, height, core_input.data()) == PLASMO_OK);
    const bool same = loader == core && std::memcmp(loader_input.data(), core_input.data(), core_input.size() * 4) == 0;
    if (!same) {
      MESSAGE("differs at " << width << "x" << height << " -> " << side);
      ++mismatched_images;
    }
  }
  CHECK(mismatched_images == 0);
}

TEST_CASE("infer preprocessing, foreground normalization: bit-identical to the data loader (odd sizes too)") {
  Rng rng(6);
  data::Resizer resizer;
  data::Normalization norm;
  norm.foreground = true;
  norm.mean[0] = 0.5f;  // ignored in foreground mode
  const data::InputTransform transform(norm);
  plasmo_model model{};
  for (int c = 0; c < 3; ++c) {
    model.mean[c] = 0.5f;
    model.std[c] = 0.25f;
  }
  model.normalize = PLASMO_NORMALIZE_FOREGROUND;
  int mismatched_images = 0, partial_masks = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int side = 1 + static_cast<int>(rng.below(72));  // odd and even, 1 included
    int width = 1 + static_cast<int>(rng.below(180)), height = 1 + static_cast<int>(rng.below(180));
    if (trial % 5 == 0) width = side;
    if (trial % 9 == 0) width = height = side;
    // Blobs on a dark, noisy background: the mask r+g+b > 30 cuts through the noise.
    const std::vector<uint8_t> rgb = random_image(width, height, 1000 + trial);
    const size_t plane = static_cast<size_t>(side) * side;
    std::vector<uint8_t> loader(3 * plane);
    resizer.resize_to_planar(rgb.data(), height, width, side, side, loader.data());
    std::vector<float> loader_input(3 * plane), core_input(3 * plane);
    data::normalize_planar(loader.data(), plane, transform, loader_input.data());
    model.input_size = side;
    REQUIRE(plasmo_preprocess(&model, rgb.data(), width, height, core_input.data()) == PLASMO_OK);
    if (std::memcmp(loader_input.data(), core_input.data(), core_input.size() * 4) != 0) {
      MESSAGE("differs at " << width << "x" << height << " -> " << side);
      ++mismatched_images;
    }
    size_t background = 0;
    for (size_t p = 0; p < plane; ++p) background += loader[p] + loader[plane + p] + loader[2 * plane + p] <= 30;
    if (background > 0 && background < plane) ++partial_masks;
  }
  CHECK(mismatched_images == 0);
  CHECK(partial_masks > 150);  // the test exercises the mask, not only full cells
}

TEST_CASE("plasmo-infer equals the engine on image files (data loader preprocessing, engine forward)") {
  TempDir dir;
  for (const char* arch : {"autoencoder", "mobilenetv2"}) {
    const std::string arch_name = arch;
    CAPTURE(arch_name);
    const double width = std::string(arch) == "autoencoder" ? 1.0 : 0.25;
    auto model = make_model(arch, width, 32, 11);
    randomise_state(*model, 12);
    model->meta().mean = {0.55f, 0.45f, 0.5f};
    model->meta().std = {0.2f, 0.2f, 0.25f};
    const std::string path = save_model(*model, dir.path + "/" + arch + ".safetensors");

    data::Normalization norm;
    for (int c = 0; c < 3; ++c) {
      norm.mean[c] = model->meta().mean[c];
      norm.std[c] = model->meta().std[c];
    }
    data::ImageInput input(32, norm);
    std::vector<std::string> files;
    const int sizes[][2] = {{32, 32}, {64, 70}, {101, 96}, {25, 30}, {130, 129}, {48, 40}, {90, 77}};
    for (int i = 0; i < 7; ++i) {
      const bool jpeg = i >= 5;  // the last two as JPEG: stb's decoder in both
      files.push_back(dir.path + "/cell" + std::to_string(i) + (jpeg ? ".jpg" : ".png"));
      const std::vector<uint8_t> rgb = random_image(sizes[i][0], sizes[i][1], 70 + i);
      if (jpeg)
        write_jpg(files.back(), sizes[i][0], sizes[i][1], rgb);
      else
        write_png(files.back(), sizes[i][0], sizes[i][1], rgb);
    }
    Tensor x({static_cast<int>(files.size()), 3, 32, 32});
    for (size_t i = 0; i < files.size(); ++i) {
      std::string reason;
      REQUIRE_MESSAGE(input.load_file(files[i], x.data() + i * 3 * 32 * 32, &reason), reason);
    }
    const Tensor& logits = model->forward(x, Mode::Eval);

    std::string command = infer_command() + " " + path, output;
    for (const std::string& file : files) command += " " + file;
    REQUIRE(run_command(command, &output) == 0);
    std::istringstream lines(output);
    for (size_t i = 0; i < files.size(); ++i) {
      std::string line;
      REQUIRE(std::getline(lines, line));
      const double p_engine = softmax_p1(logits[i * 2], logits[i * 2 + 1]);
      const std::string label = p_engine >= model->meta().threshold ? "Parasitized" : "Uninfected";
      const size_t tab1 = line.find('\t'), tab2 = line.find('\t', tab1 + 1);
      REQUIRE(tab2 != std::string::npos);
      CHECK(line.substr(0, tab1) == files[i]);
      CHECK(line.substr(tab1 + 1, tab2 - tab1 - 1) == label);
      const double p_infer = std::strtod(line.c_str() + tab2 + 1, nullptr);
      INFO(line << " engine p " << p_engine);
      CHECK(std::fabs(p_infer - p_engine) <= 5e-7 + 1e-6);
    }
  }
}

TEST_CASE("plasmo-infer equals plasmo predict: same lines (p within the print), same exit status") {
  TempDir dir;
  std::vector<std::string> files;
  const int sizes[][2] = {{32, 32}, {77, 80}, {120, 111}, {20, 26}, {64, 64}};
  for (int i = 0; i < 5; ++i) {
    const bool jpeg = i == 4;
    files.push_back(dir.path + "/cell" + std::to_string(i) + (jpeg ? ".jpg" : ".png"));
    const std::vector<uint8_t> rgb = random_image(sizes[i][0], sizes[i][1], 90 + i);
    if (jpeg)
      write_jpg(files.back(), sizes[i][0], sizes[i][1], rgb);
    else
      write_png(files.back(), sizes[i][0], sizes[i][1], rgb);
  }
  std::string images;
  for (size_t i = 0; i < files.size(); ++i) {
    images += " " + files[i];
    if (i == 1) images += " " + dir.path + "/absent.png";  // unreadable: both report it, skip it, exit 1
  }
  struct Case {
    const char* arch;
    double width;
    int size;
  };
  for (const Case& c : {Case{"autoencoder", 1.0, 32}, Case{"resnet18", 0.25, 32}, Case{"mobilenetv2", 0.25, 48}}) {
    const std::string arch_name = c.arch;
    CAPTURE(arch_name);
    auto model = make_model(c.arch, c.width, c.size, 21);
    randomise_state(*model, 22);
    model->meta().mean = {0.52f, 0.43f, 0.47f};
    model->meta().std = {0.22f, 0.19f, 0.21f};
    model->meta().threshold = 0.45;
    const std::string path = save_model(*model, dir.path + "/" + arch_name + ".safetensors");
    std::string infer_out, predict_out;
    const int infer_status = run_command(infer_command() + " " + path + images + " 2>/dev/null", &infer_out);
    const int predict_status =
        run_command(plasmo_command() + " predict --model " + path + images + " 2>/dev/null", &predict_out);
    CHECK(infer_status == 1);
    CHECK(predict_status == 1);
    std::istringstream infer_lines(infer_out), predict_lines(predict_out);
    std::string infer_line, predict_line;
    int lines = 0;
    while (std::getline(predict_lines, predict_line)) {
      REQUIRE(std::getline(infer_lines, infer_line));
      ++lines;
      INFO("predict: " << predict_line << "\nplasmo-infer: " << infer_line);
      const size_t tab = predict_line.rfind('\t');
      REQUIRE(tab != std::string::npos);
      CHECK(infer_line.substr(0, tab + 1) == predict_line.substr(0, tab + 1));  // path and label
      const double p_infer = std::strtod(infer_line.c_str() + tab + 1, nullptr);
      const double p_predict = std::strtod(predict_line.c_str() + tab + 1, nullptr);
      // The printed values differ by the rounding of the 6th decimal plus 0.25 x the logit difference.
      CHECK(std::fabs(p_infer - p_predict) <= 2e-6 + 1e-9);
    }
    CHECK(lines == static_cast<int>(files.size()));
    CHECK_FALSE(std::getline(infer_lines, infer_line));
  }
}
