// The trained autoencoder shipped in models/pretrained/ (docs/results.md says how it was trained and
// what it scores on the validation patients): it loads (CRC checked), says what it expects, and both
// plasmo predict and plasmo-infer classify images with it, giving the same probabilities.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "models/model.h"
#include "models/model_file.h"
#include "test_infer_util.h"
#include "test_models_paths.h"

using namespace plasmo;

namespace {

std::string pretrained_path() {
  std::string tree = testing::test_binary_dir();
  tree.resize(tree.rfind('/'));
  for (const std::string& candidate :
       {tree + "/models/pretrained/autoencoder.safetensors", std::string("models/pretrained/autoencoder.safetensors"),
        std::string("../models/pretrained/autoencoder.safetensors")})
    if (std::ifstream(candidate).good()) return candidate;
  FAIL("models/pretrained/autoencoder.safetensors not found next to the build folder");
  return "";
}

// "path\tlabel\tp\n..." -> the p column
std::vector<double> p_column(const std::string& text) {
  std::vector<double> p;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t tab = line.rfind('\t');
    REQUIRE(tab != std::string::npos);
    p.push_back(std::stod(line.substr(tab + 1)));
  }
  return p;
}

}  // namespace

TEST_CASE("Pretrained autoencoder: loads with its metadata; predict and plasmo-infer agree on it") {
  const std::string path = pretrained_path();
  const std::unique_ptr<Model> model = load_model_file(path);
  CHECK(model->arch() == "autoencoder");
  CHECK(model->input_size() == 32);
  const ModelMeta& meta = model->meta();
  CHECK(meta.threshold == 0.5);
  CHECK(meta.normalize == "foreground");  // the recipe of docs/results.md
  for (int c = 0; c < 3; ++c) {           // the NIH training patients' statistics (kept for --resume), not 0 and 1
    CHECK(meta.mean[c] > 0.05f);
    CHECK(meta.mean[c] < 0.95f);
    CHECK(meta.std[c] > 0.05f);
    CHECK(meta.std[c] < 0.95f);
  }

  testing::TempDir dir;
  std::string images;
  for (int i = 0; i < 4; ++i) {
    const std::string image = dir.path + "/cell_" + std::to_string(i) + ".png";
    testing::write_png(image, 40 + 7 * i, 50 - 3 * i, testing::random_image(40 + 7 * i, 50 - 3 * i, 11 + i));
    images += " " + image;
  }
  std::string predicted, inferred;
  REQUIRE(testing::run_command(testing::plasmo_command() + " predict --model " + path + images, &predicted) == 0);
  REQUIRE(testing::run_command(testing::infer_command() + " " + path + images, &inferred) == 0);
  const std::vector<double> p_predict = p_column(predicted), p_infer = p_column(inferred);
  REQUIRE(p_predict.size() == 4);
  REQUIRE(p_infer.size() == 4);
  for (int i = 0; i < 4; ++i) {
    CHECK(p_predict[i] >= 0.0);
    CHECK(p_predict[i] <= 1.0);
    CHECK(std::fabs(p_predict[i] - p_infer[i]) < 1e-5);
  }
}
