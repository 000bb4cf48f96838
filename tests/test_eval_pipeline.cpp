// The evaluation end to end on a tiny tree written here (synthetic cells plus one corrupt PNG) and a
// tiny untrained model file: skipped files counted, the CLI's eval outputs, predict's output format and
// exit status, the Grad-CAM hook against finite differences, test-time flips.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "data_loader/batcher.h"
#include "data_loader/split.h"
#include "data_loader/synth.h"
#include "engine/error.h"
#include "engine/rng.h"
#include "eval/cases.h"
#include "eval/report_json.h"
#include "eval/run_eval.h"
#include "eval/score.h"
#include "models/model.h"
#include "models/model_file.h"
#include "test_data_util.h"

using namespace plasmo;
using namespace plasmo::eval;
using plasmo::testing::TempDir;

namespace {

constexpr int kCells = 24;

std::string read_text(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// A data tree of kCells synthetic cells plus Parasitized/broken_IMG_0_cell_0.png (a PNG cut short), and
// an untrained autoencoder (32 px) saved with its metadata (mean/std of a rough cell).
struct Fixture {
  TempDir dir;
  std::string data, model, broken;
  Fixture() {
    REQUIRE(!dir.path().empty());
    data = dir / "cells";
    data::SynthOptions synth;
    synth.count = kCells;
    synth.seed = 3;
    data::write_synthetic_dataset(data, synth);
    const std::vector<uint8_t> png = data::encode_png(plasmo::testing::test_image(40, 40, 1));
    broken = data + "/Parasitized/broken_IMG_0_cell_0.png";
    data::write_file(broken, std::vector<uint8_t>(png.begin(), png.begin() + 60));
    std::unique_ptr<Model> net = make_model("autoencoder", 1.0, 32, /*seed=*/5);
    net->meta().mean = {0.5f, 0.4f, 0.5f};
    net->meta().std = {0.25f, 0.25f, 0.25f};
    net->meta().threshold = 0.5;
    model = dir / "ae.safetensors";
    save_model_file(model, *net);
  }
};

EvalOptions options_for(const Fixture& fixture) {
  EvalOptions options;
  options.model_path = fixture.model;
  options.data_dir = fixture.data;
  options.use_cache = false;
  options.batch_size = 8;
  return options;
}

// Runs a shell command; returns its exit status (-1 when it did not exit normally).
int run_command(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string plasmo_bin() {
  const char* bin = std::getenv("PLASMO_BIN");
  return bin ? bin : "./plasmo";
}

// "a\nb\n" -> {"a", "b"}
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("Eval pipeline: a tree with a corrupt PNG reports skipped=1 and scores the rest") {
  Fixture fixture;
  const EvalRun run = run_evaluation(options_for(fixture));
  CHECK(run.outcome.skipped == 1);
  REQUIRE(run.skipped.size() == 1);
  CHECK(run.skipped[0].path == fixture.broken);
  CHECK(!run.skipped[0].reason.empty());
  CHECK(run.outcome.metrics.n == kCells);
  CHECK(run.outcome.metrics.confusion.positives() == kCells / 2);
  CHECK(run.outcome.metrics.threshold == 0.5);  // the model file's
  CHECK(run.outcome.arch == "autoencoder");
  for (const ImageResult& image : run.outcome.images) {
    CHECK(image.p >= 0.0);
    CHECK(image.p <= 1.0);
    CHECK(!image.patient.empty());
  }
  const std::string json = metrics_json(run.outcome);
  CHECK(json.find("\"skipped\": 1, \"seconds\": ") != std::string::npos);
  CHECK(json.find("\"n\": 24,") == 1);
}

TEST_CASE("Eval pipeline: --target-sensitivity picks the threshold on the data; options that contradict") {
  Fixture fixture;
  EvalOptions options = options_for(fixture);
  options.target_sensitivity = 0.75;
  const EvalRun run = run_evaluation(options);
  CHECK(run.outcome.target_sensitivity == 0.75);
  CHECK(run.outcome.metrics.sensitivity >= 0.75);
  CHECK(run.outcome.metrics.threshold == threshold_for_sensitivity(run.outcome.scored(), 0.75));
  options.threshold = 0.3;
  CHECK_THROWS_AS(run_evaluation(options), UsageError);
  options.target_sensitivity = NAN;
  options.threshold = 1.5;
  CHECK_THROWS_AS(run_evaluation(options), UsageError);
  options.threshold = 0.3;
  CHECK(run_evaluation(options).outcome.metrics.threshold == 0.3);
}

TEST_CASE("Eval pipeline: --split val scores only the held-out patients of train's split, train the rest") {
  Fixture fixture;
  EvalOptions options = options_for(fixture);
  const EvalRun all = run_evaluation(options);
  options.split_side = "val";
  options.val_frac = 0.3;
  options.split_seed = 7;
  const EvalRun val = run_evaluation(options);
  options.split_side = "train";
  const EvalRun train = run_evaluation(options);

  std::set<std::string> val_patients, train_patients;
  for (const ImageResult& image : val.outcome.images) val_patients.insert(image.patient);
  for (const ImageResult& image : train.outcome.images) train_patients.insert(image.patient);
  CHECK(!val_patients.empty());
  CHECK(!train_patients.empty());
  for (const std::string& patient : val_patients) CHECK(train_patients.count(patient) == 0);
  CHECK(val.outcome.metrics.n + train.outcome.metrics.n == all.outcome.metrics.n);
  CHECK(val.split_note.find("val side of the patient split (val-frac 0.3, seed 7)") == 0);

  // The same images and p as the run over everything: a subset, not a different scoring.
  std::map<std::string, double> p_all;
  for (const ImageResult& image : all.outcome.images) p_all[image.path] = image.p;
  for (const ImageResult& image : val.outcome.images) CHECK(p_all.at(image.path) == image.p);

  // The val side is exactly the split's, as train makes it.
  const data::Dataset data = data::Dataset::load(fixture.data, [] {
    data::LoadOptions load;
    load.use_cache = false;
    return load;
  }());
  const data::Split split = data::split_by_patient(data.samples(), 0.3, 7);
  CHECK(static_cast<int>(split.val.size()) == val.outcome.metrics.n);
  CHECK(std::vector<std::string>(val_patients.begin(), val_patients.end()) == split.val_patients);

  options.split_side = "test";
  CHECK_THROWS_AS(run_evaluation(options), UsageError);
}

TEST_CASE("Eval Grad-CAM hook: features_grad is d z_Parasitized / d features (finite differences), per image") {
  std::unique_ptr<Model> model = make_model("autoencoder", 1.0, 32, 11);
  Rng rng(2);
  Tensor images(Shape{3, 3, 32, 32});
  for (size_t i = 0; i < images.size(); ++i) images[i] = rng.uniform(-1.0f, 1.0f);
  const std::vector<HeatMap> maps = class_activation_maps(*model, images);
  REQUIRE(maps.size() == 3);
  const Tensor features = model->features().clone();
  const Tensor gradient = model->features_grad().clone();
  REQUIRE(features.shape() == Shape{3, 4, 8, 8});  // the autoencoder's trunk: enc3 + ReLU at S/4, 4 channels

  // d z1[n] / d F[n, c, y, x] by central differences through the head alone (the features are its input).
  // The head starts with a 2x2 max-pool over features that are mostly ReLU zeros: an element tied with
  // (or within 2h of) another of its pooling window sits on a kink where the difference quotient is
  // half the derivative, so only elements clear of their window's others are checked.
  const int channels = features.dim(1), height = features.dim(2), width = features.dim(3);
  Tensor perturbed = features.clone();
  const double h = 1e-3;
  int checked = 0, off = 0;
  for (int attempt = 0; attempt < 2000 && checked < 24; ++attempt) {
    const int n = static_cast<int>(rng.below(3)), c = static_cast<int>(rng.below(static_cast<uint32_t>(channels)));
    const int y = static_cast<int>(rng.below(static_cast<uint32_t>(height)));
    const int x = static_cast<int>(rng.below(static_cast<uint32_t>(width)));
    double margin = INFINITY;
    for (int wy = y / 2 * 2; wy < y / 2 * 2 + 2; ++wy)
      for (int wx = x / 2 * 2; wx < x / 2 * 2 + 2; ++wx)
        if (wy != y || wx != x)
          margin = std::min(margin, std::fabs(double{features.at(n, c, wy, wx)} - features.at(n, c, y, x)));
    if (margin < 4 * h) continue;
    const size_t i = ((static_cast<size_t>(n) * channels + c) * height + y) * width + x;
    perturbed[i] = features[i] + static_cast<float>(h);
    const double z_plus = model->head().forward(perturbed, Mode::Eval)[2 * n + 1];
    perturbed[i] = features[i] - static_cast<float>(h);
    const double z_minus = model->head().forward(perturbed, Mode::Eval)[2 * n + 1];
    perturbed[i] = features[i];
    const double numeric = (z_plus - z_minus) / (static_cast<double>(features[i] + static_cast<float>(h)) -
                                                 static_cast<double>(features[i] - static_cast<float>(h)));
    ++checked;
    if (std::fabs(numeric - gradient[i]) > 2e-4 + 1e-2 * std::fabs(numeric)) {
      ++off;
      MESSAGE("element " << i << ": hook " << gradient[i] << ", numeric " << numeric);
    }
  }
  CHECK(checked == 24);
  CHECK(off <= 1);  // the ReLU after fc1 may still put a kink inside +-h for one sample

  // Each image's map is its own: the same as computing that image alone.
  Tensor one(Shape{1, 3, 32, 32});
  std::copy(images.data() + 3 * 32 * 32, images.data() + 2 * 3 * 32 * 32, one.data());
  const std::vector<HeatMap> alone = class_activation_maps(*model, one);
  REQUIRE(alone.size() == 1);
  CHECK(alone[0].method == maps[1].method);
  REQUIRE(alone[0].values.size() == maps[1].values.size());
  for (size_t k = 0; k < alone[0].values.size(); ++k)
    CHECK(alone[0].values[k] == doctest::Approx(maps[1].values[k]).epsilon(1e-5));
}

TEST_CASE(
    "Eval test-time augmentation: p is the mean over the 8 symmetries of the square; the batch comes back bit for "
    "bit") {
  std::unique_ptr<Model> model = make_model("autoencoder", 1.0, 32, 12);
  Rng rng(4);
  Tensor images(Shape{2, 3, 32, 32});
  for (size_t i = 0; i < images.size(); ++i) images[i] = rng.uniform(-2.0f, 2.0f);
  const Tensor original = images.clone();
  std::vector<double> p_tta, p_plain;
  score_batch(*model, images, /*tta=*/true, p_tta);
  for (size_t i = 0; i < images.size(); ++i) REQUIRE(images[i] == original[i]);
  score_batch(*model, images, /*tta=*/false, p_plain);
  // The eight views by hand, each built from the original by index arithmetic (not by the flips under
  // test): view v maps (y, x) to a mirrored and/or transposed position.
  std::vector<double> expected(2, 0.0);
  for (int v = 0; v < 8; ++v) {
    const bool transpose = v & 4, flip_y = v & 2, flip_x = v & 1;
    Tensor view(original.shape());
    for (int n = 0; n < 2; ++n)
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 32; ++y)
          for (int x = 0; x < 32; ++x) {
            int sy = flip_y ? 31 - y : y, sx = flip_x ? 31 - x : x;
            if (transpose) std::swap(sy, sx);
            view.at(n, c, y, x) = original.at(n, c, sy, sx);
          }
    const Tensor& z = model->forward(view, Mode::Eval);
    for (int n = 0; n < 2; ++n) expected[n] += parasitized_probability(z[2 * n], z[2 * n + 1]) / 8;
  }
  for (int n = 0; n < 2; ++n) {
    CHECK(p_tta[n] == doctest::Approx(expected[n]).epsilon(1e-12));
    const Tensor& z = model->forward(original, Mode::Eval);
    CHECK(p_plain[n] == parasitized_probability(z[2 * n], z[2 * n + 1]));
  }
  CHECK(parasitized_probability(0.0f, 0.0f) == 0.5);
  CHECK(parasitized_probability(-800.0f, 800.0f) == 1.0);
  CHECK(parasitized_probability(800.0f, -800.0f) == 0.0);
}

TEST_CASE("Eval heatmap samples and gallery: files per kind, index, most confident first") {
  Fixture fixture;
  EvalOptions options = options_for(fixture);
  options.threshold = 0.5;
  EvalRun run = run_evaluation(options);
  int errors = 0;
  const auto on_error = [&](const std::string&, const std::string&) { ++errors; };
  const std::string dir = fixture.dir / "heat";
  const std::vector<std::string> written = write_heatmap_samples(*run.model, run, dir, 2, on_error);
  CHECK(errors == 0);
  int expected = 0;
  for (CaseKind kind : kCaseKinds) expected += static_cast<int>(select_cases(run.outcome, kind, 2).size());
  CHECK(static_cast<int>(written.size()) == expected);
  const std::vector<std::string> index = lines_of(read_text(dir + "/index.tsv"));
  REQUIRE(static_cast<int>(index.size()) == expected + 1);
  CHECK(index[0] == "file\tkind\tlabel\tp_parasitized\tmethod\tsource");
  for (const std::string& path : written) {
    const std::vector<uint8_t> bytes = [&] {
      const std::string text = read_text(path);
      return std::vector<uint8_t>(text.begin(), text.end());
    }();
    data::Image image;
    std::string reason;
    CHECK_MESSAGE(data::decode_image(bytes.data(), bytes.size(), image, &reason), path << ": " << reason);
  }
  const std::vector<GalleryCell> gallery = misclassified_gallery(*run.model, run, 3, 48, on_error);
  CHECK(gallery.size() == std::min<size_t>(3, select_misclassified(run.outcome).size()));
  for (size_t i = 1; i < gallery.size(); ++i) CHECK(std::fabs(gallery[i - 1].p - 0.5) >= std::fabs(gallery[i].p - 0.5));
}

TEST_CASE("Eval CLI: plasmo eval writes the table, JSON (skipped 1), report and heatmaps; names the bad file") {
  Fixture fixture;
  const std::string out = fixture.dir / "out.txt", err = fixture.dir / "err.txt", json = fixture.dir / "m.json",
                    report = fixture.dir / "r.html", heat = fixture.dir / "heat", log = fixture.dir / "train.csv";
  data::write_file(log,
                   {'e', 'p', 'o', 'c', 'h', ',', 'v', 'a', 'l', '_', 'l', 'o', 's', 's', '\n', '1', ',', '1', '\n'});
  const int status = run_command(plasmo_bin() + " eval --model " + fixture.model + " --data " + fixture.data +
                                 " --no-cache --quiet --batch 8 --json " + json + " --report " + report +
                                 " --heatmaps " + heat + " --heatmap-count 1 --log " + log + " >" + out + " 2>" + err);
  CHECK(status == 0);
  const std::string table = read_text(out), errors = read_text(err), metrics = read_text(json),
                    html = read_text(report);
  CHECK(table.find("images       24 (12 Parasitized, 12 Uninfected), 1 skipped") != std::string::npos);
  CHECK(table.find("accuracy") != std::string::npos);
  CHECK(errors.find("plasmo: skipped " + fixture.broken + ": ") != std::string::npos);
  CHECK(metrics.rfind("{\"n\": 24, \"accuracy\": ", 0) == 0);
  CHECK(metrics.find("\"skipped\": 1, ") != std::string::npos);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find("broken_IMG_0_cell_0.png") != std::string::npos);  // in the skipped list
  CHECK(read_text(heat + "/index.tsv").rfind("file\tkind", 0) == 0);
  // Usage errors exit 2 with one line.
  CHECK(run_command(plasmo_bin() + " eval --model " + fixture.model + " >/dev/null 2>" + err) == 2);
  CHECK(read_text(err).rfind("plasmo: error: missing required option --data", 0) == 0);
  CHECK(run_command(plasmo_bin() + " eval --model " + fixture.model + " --data " + fixture.data +
                    " --threshold 0.4 --target-sensitivity 0.9 --no-cache >/dev/null 2>" + err) == 2);
}

TEST_CASE("Eval CLI: plasmo predict prints path TAB label TAB p with 6 decimals; a bad image gives exit 1") {
  Fixture fixture;
  EvalOptions options = options_for(fixture);
  const EvalRun run = run_evaluation(options);
  REQUIRE(run.outcome.images.size() >= 2);
  const ImageResult& first = run.outcome.images.front();
  const ImageResult& last = run.outcome.images.back();
  const std::string out = fixture.dir / "out.txt", err = fixture.dir / "err.txt";
  const std::string missing = fixture.dir / "missing.png";
  const int status = run_command(plasmo_bin() + " predict --model " + fixture.model + " " + first.path + " " + missing +
                                 " " + fixture.broken + " " + last.path + " >" + out + " 2>" + err);
  CHECK(status == 1);
  const std::vector<std::string> lines = lines_of(read_text(out));
  REQUIRE(lines.size() == 2);
  const std::regex format("([^\t]+)\t(Parasitized|Uninfected)\t([01]\\.[0-9]{6})");
  std::map<std::string, double> p_of = {{first.path, first.p}, {last.path, last.p}};
  for (const std::string& line : lines) {
    std::smatch match;
    REQUIRE_MESSAGE(std::regex_match(line, match, format), line);
    const std::string path = match[1];
    REQUIRE(p_of.count(path) == 1);
    // The same probability as eval gives, and the label from the model file's threshold (0.5).
    char expected[32];
    std::snprintf(expected, sizeof expected, "%.6f", p_of[path]);
    CHECK(match[3] == expected);
    CHECK(match[2] == (p_of[path] >= 0.5 ? "Parasitized" : "Uninfected"));
  }
  CHECK(lines[0].rfind(first.path + "\t", 0) == 0);  // input order kept
  const std::vector<std::string> error_lines = lines_of(read_text(err));
  REQUIRE(error_lines.size() == 2);
  CHECK(error_lines[0].rfind("plasmo: error: " + missing + ": ", 0) == 0);
  CHECK(error_lines[1].rfind("plasmo: error: " + fixture.broken + ": ", 0) == 0);
  // All readable: exit 0. No image: usage error, exit 2.
  CHECK(run_command(plasmo_bin() + " predict --model " + fixture.model + " " + first.path + " >/dev/null 2>&1") == 0);
  CHECK(run_command(plasmo_bin() + " predict --model " + fixture.model + " >/dev/null 2>&1") == 2);
}
