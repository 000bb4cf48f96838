#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "data_loader/dataset.h"
#include "data_loader/discover.h"
#include "data_loader/synth.h"
#include "engine/error.h"
#include "engine/threads.h"
#include "tests/test_data_util.h"

using namespace plasmo;
using namespace plasmo::data;
using plasmo::testing::TempDir;
namespace fs = std::filesystem;

namespace {
std::vector<uint8_t> read_all(const std::string& path) {
  std::vector<uint8_t> bytes;
  std::string reason;
  REQUIRE(read_file(path, bytes, &reason));
  return bytes;
}
// Darkest luminance inside the cell (pixels not near black background), 0.299 R + 0.587 G + 0.114 B.
double darkest_inside(const Image& image) {
  double darkest = 255.0;
  for (size_t p = 0; p < image.rgb.size() / 3; ++p) {
    const double luminance = 0.299 * image.rgb[p * 3] + 0.587 * image.rgb[p * 3 + 1] + 0.114 * image.rgb[p * 3 + 2];
    // Skip the background and the antialiased outline; a chromatin dot is dark but clearly coloured.
    const int x = static_cast<int>(p % image.width), y = static_cast<int>(p / image.width);
    const double dx = (x + 0.5) / image.width - 0.5, dy = (y + 0.5) / image.height - 0.5;
    if (dx * dx + dy * dy > 0.3 * 0.3) continue;
    darkest = std::min(darkest, luminance);
  }
  return darkest;
}
}  // namespace

TEST_CASE("synth plan: half parasitized, patients grouping cells, NIH-style unique names") {
  for (int count : {2, 3, 40, 101, 1000}) {
    const std::vector<SynthCell> cells = plan_synthetic_cells(count, 5);
    REQUIRE(static_cast<int>(cells.size()) == count);
    int parasitized = 0;
    std::set<std::string> names;
    std::map<int, std::set<int>> labels_of_patient;
    for (const SynthCell& cell : cells) {
      parasitized += cell.label;
      names.insert(cell.file_name);
      labels_of_patient[cell.patient].insert(cell.label);
      CHECK(cell.file_name.find("_IMG_") != std::string::npos);
      const std::string id = patient_id(cell.file_name);
      CHECK(id.rfind("S" +
                         std::string(cell.patient < 10    ? "00"
                                     : cell.patient < 100 ? "0"
                                                          : "") +
                         std::to_string(cell.patient) + "P",
                     0) == 0);
    }
    CHECK(parasitized == count / 2);
    CHECK(names.size() == cells.size());
    if (count >= 40) {
      CHECK(labels_of_patient.size() >= 4);
      int healthy = 0;
      for (const auto& [patient, labels] : labels_of_patient) healthy += labels.count(kLabelParasitized) == 0;
      CHECK(healthy >= 1);
    }
  }
  CHECK(plan_synthetic_cells(1000, 5).size() / 40 == 25);
  CHECK_THROWS_AS(plan_synthetic_cells(1, 5), UsageError);
}

TEST_CASE("synth cells: sizes vary in 50-130 px, black corners, dark chromatin only in parasitized cells") {
  const std::vector<SynthCell> cells = plan_synthetic_cells(200, 3);
  int dark_parasitized = 0, dark_uninfected = 0, parasitized = 0;
  int smallest = 1000, largest = 0;
  for (const SynthCell& cell : cells) {
    const Image image = render_synthetic_cell(cell, 3);
    smallest = std::min({smallest, image.width, image.height});
    largest = std::max({largest, image.width, image.height});
    for (int c = 0; c < 3; ++c) CHECK(image.rgb[c] == 0);  // top-left corner: background
    const bool dark = darkest_inside(image) < 110.0;
    if (cell.label == kLabelParasitized) {
      ++parasitized;
      dark_parasitized += dark;
    } else {
      dark_uninfected += dark;
    }
    // Rendering is a pure function of (cell, seed).
    if (cell.index % 50 == 0) CHECK(render_synthetic_cell(cell, 3).rgb == image.rgb);
  }
  CHECK(smallest >= 42);  // 50 px times the aspect ratio 0.85
  CHECK(largest <= 150);  // 130 px times 1.15
  CHECK(largest - smallest > 50);
  // Chromatin near the centre is visible in most parasitized cells (some sit near the rim, outside
  // the probed disc); pale artefacts never get that dark.
  INFO("dark parasitized " << dark_parasitized << "/" << parasitized << ", dark uninfected " << dark_uninfected);
  CHECK(dark_parasitized * 3 > parasitized * 2);  // seen: 79 of 100
  CHECK(dark_uninfected <= 2);
}

TEST_CASE("synth: written in the NIH layout, discovered with the right labels and patients, deterministic") {
  TempDir one_thread, three_threads;
  ThreadPool pool1(1), pool3(3);
  SynthOptions options;
  options.count = 40;
  options.seed = 12;
  options.pool = &pool1;
  const SynthSummary summary = write_synthetic_dataset(one_thread.path(), options);
  CHECK(summary.parasitized == 20);
  CHECK(summary.uninfected == 20);
  CHECK(summary.patients >= 2);
  CHECK_FALSE(summary.already_present);
  options.pool = &pool3;
  write_synthetic_dataset(three_threads.path(), options);

  const Discovery found = discover_dataset(one_thread.path());
  REQUIRE(found.samples.size() == 40);
  std::map<std::string, SynthCell> planned;
  for (const SynthCell& cell : plan_synthetic_cells(40, 12)) planned[cell.file_name] = cell;
  std::set<std::string> patients;
  for (const Sample& sample : found.samples) {
    const std::string name = fs::path(sample.path).filename().string();
    REQUIRE(planned.count(name) == 1);
    CHECK(sample.label == planned[name].label);
    patients.insert(sample.patient);
    // Same bytes whatever the thread count.
    const std::string twin = three_threads / ((sample.label ? "Parasitized/" : "Uninfected/") + name);
    CHECK(read_all(sample.path) == read_all(twin));
  }
  CHECK(static_cast<int>(patients.size()) == summary.patients);

  // The files decode to what was rendered.
  for (const Sample& sample : found.samples) {
    Image decoded;
    std::vector<uint8_t> bytes;
    std::string reason;
    REQUIRE(decode_image_file(sample.path, bytes, decoded, &reason));
    const Image rendered = render_synthetic_cell(planned[fs::path(sample.path).filename().string()], 12);
    CHECK(decoded.rgb == rendered.rgb);
    break;  // one is enough for the round trip
  }

  // Running again with the same recipe writes nothing; another recipe into the same folder is refused.
  options.pool = &pool1;
  CHECK(write_synthetic_dataset(one_thread.path(), options).already_present);
  options.seed = 13;
  CHECK_THROWS_AS(write_synthetic_dataset(one_thread.path(), options), UsageError);
}

TEST_CASE("synth: the plasmo synth command writes a loadable set") {
  const char* binary = std::getenv("PLASMO_BIN");
  if (!binary) {
    MESSAGE("PLASMO_BIN not set (run through make test); skipping the CLI check");
    return;
  }
  TempDir dir;
  const std::string out = dir / "cells";
  const std::string command = std::string(binary) + " synth --out " + out + " --count 24 --seed 4 --quiet";
  REQUIRE(std::system(command.c_str()) == 0);
  LoadOptions load;
  load.image_size = 16;
  load.use_cache = false;
  const Dataset data = Dataset::load(out, load);
  CHECK(data.size() == 24);
  CHECK(data.skipped().empty());
  // Usage errors exit with status 2.
  const std::string bad = std::string(binary) + " synth --count 5 2>/dev/null";
  const int status = std::system(bad.c_str());
  CHECK(WEXITSTATUS(status) == 2);
}
