#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "data_loader/dataset.h"
#include "data_loader/discover.h"
#include "engine/error.h"
#include "engine/threads.h"
#include "tests/test_data_util.h"

using namespace plasmo;
using namespace plasmo::data;
using plasmo::testing::make_png;
using plasmo::testing::TempDir;
namespace fs = std::filesystem;

namespace {

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// A data folder with every flavour the loader must handle. Class folders in odd case on purpose.
// Parasitized: RGB, RGBA and palette PNGs + a truncated one; Uninfected: gray and 16-bit PNGs, a
// .jpeg-named file (decoded by content) and stray files (.txt, Thumbs.db, a dot-file, a folder).
struct MixedTree {
  TempDir dir;
  std::string parasitized, uninfected;
  explicit MixedTree(const std::string& class_parent = "") {
    const std::string parent = class_parent.empty() ? dir.path() : dir / class_parent;
    parasitized = parent + "/parasitized";
    uninfected = parent + "/UNINFECTED";
    fs::create_directories(parasitized);
    fs::create_directories(uninfected);
    plasmo::testing::write_png(parasitized + "/C1P1ThinF_IMG_20150101_000001_cell_1.png",
                               plasmo::testing::test_image(40, 50, 1));
    write_file(parasitized + "/C1P1ThinF_IMG_20150101_000001_cell_2.PNG",
               make_png(2, 2, 8, 6, {10, 20, 30, 255, 10, 20, 30, 0, 1, 2, 3, 128, 200, 200, 200, 255}));
    write_file(parasitized + "/C2P9ThinF_IMG_20150101_000002_cell_7.png",
               make_png(2, 1, 8, 3, {0, 1}, {255, 0, 0, 0, 0, 255}));
    std::vector<uint8_t> truncated = encode_png(plasmo::testing::test_image(30, 30, 2));
    truncated.resize(truncated.size() / 2);
    write_file(parasitized + "/C2P9ThinF_IMG_20150101_000002_cell_8.png", truncated);
    write_file(uninfected + "/C1P1ThinF_IMG_20150101_000001_cell_3.png", make_png(3, 1, 8, 0, {0, 128, 255}));
    write_file(uninfected + "/C3P4ThinF_IMG_20150101_000003_cell_1.png",
               make_png(1, 1, 16, 2, {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc}));
    write_file(uninfected + "/healthy_17.jpeg",
               encode_png(plasmo::testing::test_image(8, 8, 3)));  // PNG bytes, .jpeg name: decoded by content
    write_text(uninfected + "/notes.txt", "not an image");
    write_text(uninfected + "/Thumbs.db", "junk");
    write_text(uninfected + "/.hidden.png", "junk");
    fs::create_directories(uninfected + "/sub.png");  // a folder with an image-like name
  }
};

}  // namespace

TEST_CASE("patient_id: prefix before _IMG_, else before the last '_', else the whole stem") {
  CHECK(patient_id("C100P61ThinF_IMG_20150918_144104_cell_162.png") == "C100P61ThinF");
  CHECK(patient_id("S012P34_IMG_012003_cell_7.png") == "S012P34");
  CHECK(patient_id("patientA_17.png") == "patientA");
  CHECK(patient_id("a_b_c.jpeg") == "a_b");
  CHECK(patient_id("lonely.png") == "lonely");
  CHECK(patient_id("_IMG_x.png") == "_IMG");  // empty prefix before _IMG_: falls back to the last '_'
  CHECK(is_image_file_name("x.PNG"));
  CHECK(is_image_file_name("x.JpEg"));
  CHECK(is_image_file_name("x.jpg"));
  CHECK_FALSE(is_image_file_name("x.txt"));
  CHECK_FALSE(is_image_file_name(".x.png"));
  CHECK_FALSE(is_image_file_name("png"));
}

TEST_CASE("discover: class folders in any case, PNG and JPEG names, stray files skipped") {
  MixedTree tree;
  const Discovery found = discover_dataset(tree.dir.path());
  CHECK(found.root == tree.dir.path());
  REQUIRE(found.samples.size() == 7);
  CHECK(found.count(kLabelParasitized) == 4);
  CHECK(found.count(kLabelUninfected) == 3);
  for (const Sample& sample : found.samples) {
    CHECK(sample.path.find(".txt") == std::string::npos);
    CHECK(sample.path.find("Thumbs") == std::string::npos);
    CHECK(sample.path.find(".hidden") == std::string::npos);
    CHECK(sample.file_size > 0);
    CHECK(sample.mtime_ns > 0);
    const bool in_parasitized = sample.path.rfind(tree.parasitized, 0) == 0;
    CHECK(sample.label == (in_parasitized ? kLabelParasitized : kLabelUninfected));
  }
  CHECK(std::is_sorted(found.samples.begin(), found.samples.end(),
                       [](const Sample& a, const Sample& b) { return a.path < b.path; }));
  std::vector<std::string> patients;
  for (const Sample& sample : found.samples) patients.push_back(sample.patient);
  std::sort(patients.begin(), patients.end());
  patients.erase(std::unique(patients.begin(), patients.end()), patients.end());
  CHECK(patients == std::vector<std::string>{"C1P1ThinF", "C2P9ThinF", "C3P4ThinF", "healthy"});
}

TEST_CASE("discover: DIR/cell_images/... is found too") {
  MixedTree tree("Cell_Images");
  const Discovery found = discover_dataset(tree.dir.path());
  CHECK(found.samples.size() == 7);
  CHECK(found.root == tree.dir / "Cell_Images");
}

TEST_CASE("discover: missing folder, missing or empty class folder are clear errors") {
  TempDir dir;
  CHECK_THROWS_AS(discover_dataset(dir / "nope"), IoError);
  CHECK_THROWS_WITH_AS(discover_dataset(dir.path()), doctest::Contains("no Parasitized/ and Uninfected/"), UsageError);
  fs::create_directories(dir / "Parasitized");
  plasmo::testing::write_png(dir / "Parasitized/a_1.png", plasmo::testing::test_image(4, 4, 0));
  CHECK_THROWS_WITH_AS(discover_dataset(dir.path()), doctest::Contains("no Uninfected/"), UsageError);
  fs::create_directories(dir / "Uninfected");
  std::ofstream(dir / "Uninfected/readme.txt") << "no images here";
  CHECK_THROWS_WITH_AS(discover_dataset(dir.path()), doctest::Contains("holds no PNG or JPEG images"), UsageError);
  plasmo::testing::write_png(dir / "Uninfected/b_1.png", plasmo::testing::test_image(4, 4, 0));
  CHECK(discover_dataset(dir.path()).samples.size() == 2);
  fs::create_directories(dir / "uninfected");  // now ambiguous
  CHECK_THROWS_WITH_AS(discover_dataset(dir.path()), doctest::Contains("two folders"), UsageError);
  std::ofstream(dir / "file") << "x";
  CHECK_THROWS_AS(discover_dataset(dir / "file"), UsageError);
}

TEST_CASE("Dataset: every PNG flavour decodes, the corrupt file is skipped and named") {
  MixedTree tree;
  LoadOptions options;
  options.image_size = 8;
  options.use_cache = false;
  const Dataset data = Dataset::load(tree.dir.path(), options);
  CHECK(data.size() == 6);
  REQUIRE(data.skipped().size() == 1);
  CHECK(data.skipped()[0].path == tree.parasitized + "/C2P9ThinF_IMG_20150101_000002_cell_8.png");
  CHECK(data.skipped()[0].reason.find("PNG") != std::string::npos);
  CHECK(data.report().cache == CacheStatus::Disabled);
  CHECK(data.report().files == 7);
  for (const Sample& sample : data.samples()) CHECK(sample.path.find("cell_8") == std::string::npos);
  // The gray image (3 x 1: 0, 128, 255) upscaled to 8 x 8: R = G = B everywhere.
  int gray = -1;
  for (int i = 0; i < data.size(); ++i)
    if (data.samples()[i].path.find("cell_3") != std::string::npos) gray = i;
  REQUIRE(gray >= 0);
  const uint8_t* image = data.image(gray);
  for (int p = 0; p < 64; ++p) {
    CHECK(image[p] == image[64 + p]);
    CHECK(image[p] == image[128 + p]);
  }
  CHECK(image[0] == 0);
  CHECK(image[7] == 255);
}

TEST_CASE("Dataset: results do not depend on the thread count") {
  MixedTree tree;
  LoadOptions options;
  options.image_size = 16;
  options.use_cache = false;
  ThreadPool one(1), three(3);
  options.pool = &one;
  const Dataset a = Dataset::load(tree.dir.path(), options);
  options.pool = &three;
  const Dataset b = Dataset::load(tree.dir.path(), options);
  REQUIRE(a.size() == b.size());
  for (int i = 0; i < a.size(); ++i) CHECK(std::equal(a.image(i), a.image(i) + 3 * 16 * 16, b.image(i)));
}

TEST_CASE("Dataset: limit keeps a balanced, evenly spread subset") {
  std::vector<Sample> samples;
  for (int i = 0; i < 100; ++i) {
    Sample sample;
    sample.path = "p" + std::to_string(1000 + i);
    sample.label = i < 30 ? kLabelParasitized : kLabelUninfected;
    samples.push_back(sample);
  }
  const std::vector<Sample> kept = limit_samples(samples, 20);
  REQUIRE(kept.size() == 20);
  int parasitized = 0;
  for (const Sample& sample : kept) parasitized += sample.label;
  CHECK(parasitized == 10);
  CHECK(kept.front().path == "p1000");
  CHECK(kept.back().path == "p1093");                               // uninfected 30..99, every 7th: 30 + 9 * 7 = 93
  const std::vector<Sample> lopsided = limit_samples(samples, 80);  // only 30 parasitized exist
  parasitized = 0;
  for (const Sample& sample : lopsided) parasitized += sample.label;
  CHECK(lopsided.size() == 80);
  CHECK(parasitized == 30);
  CHECK(limit_samples(samples, 0).size() == 100);
  CHECK(limit_samples(samples, 500).size() == 100);
}

TEST_CASE("ImageInput: a single file gives the dataset's pixels, normalized") {
  MixedTree tree;
  LoadOptions options;
  options.image_size = 12;
  options.use_cache = false;
  const Dataset data = Dataset::load(tree.dir.path(), options);
  Normalization norm;
  norm.mean[0] = 0.5f;
  norm.mean[1] = 0.4f;
  norm.mean[2] = 0.3f;
  norm.std[0] = 0.2f;
  norm.std[1] = 0.25f;
  norm.std[2] = 0.3f;
  ImageInput input(12, norm);
  const InputTransform transform(norm);
  std::vector<float> out(3 * 12 * 12);
  for (int i = 0; i < data.size(); ++i) {
    std::string reason;
    REQUIRE(input.load_file(data.samples()[i].path, out.data(), &reason));
    for (int p = 0; p < 3 * 144; ++p) {
      const int channel = p / 144;
      REQUIRE(out[p] == transform.to_input(channel, data.image(i)[p]));
      REQUIRE(out[p] ==
              doctest::Approx((data.image(i)[p] / 255.0 - norm.mean[channel]) / norm.std[channel]).epsilon(1e-5));
    }
  }
  std::string reason;
  CHECK_FALSE(input.load_file(data.skipped()[0].path, out.data(), &reason));
  CHECK_FALSE(reason.empty());
}
