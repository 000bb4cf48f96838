// `plasmo info`: run the real binary ($PLASMO_BIN, set by `make test`; else build/plasmo next to the test binary) and
// check its totals against PyTorch's counts, its file summary and its exit statuses.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "tests/test_models_paths.h"

using namespace std::string_literals;

namespace {

struct Run {
  int status = -1;
  std::string out;  // stdout and stderr
};

Run run(const std::string& args) {
  const std::string command = plasmo::testing::plasmo_bin() + " " + args + " 2>&1";
  Run result;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  size_t got;
  while ((got = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, got);
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The number printed before `label` on the line that contains it ("6093 parameters" -> 6093).
long long number_before(const std::string& text, const std::string& label) {
  const size_t at = text.find(label);
  if (at == std::string::npos) FAIL("no '" << label << "' in:\n" << text);
  size_t start = at;
  while (start > 0 && text[start - 1] == ' ') --start;
  size_t digits = start;
  while (digits > 0 && text[digits - 1] >= '0' && text[digits - 1] <= '9') --digits;
  return std::stoll(text.substr(digits, start - digits));
}

}  // namespace

TEST_CASE("plasmo info: totals of the three defaults equal PyTorch's counts") {
  // PyTorch's sum(p.numel()) and forward-hook conv + linear MACs per image, from /usr/bin/python3 tools/count_macs.py
  // (autoencoder@32 classifier path, resnet18@64 width 1, mobilenetv2@64 width 1; 2 classes).
  struct Row {
    const char* args;
    long long params, macs;
  };
  const Row rows[] = {
      {"--arch autoencoder", 6093, 757824},
      {"--arch resnet18", 11177538, 148046848},
      {"--arch mobilenetv2", 2226434, 24451072},
      {"--arch resnet18 --width 0.25 --size 64", 702354, 11059456},
      {"--arch mobilenetv2 --width 0.5", 690242, 7827200},
  };
  for (const Row& row : rows) {
    INFO(row.args);
    const Run quiet = run("info "s + row.args + " --quiet");
    REQUIRE(quiet.status == 0);
    CHECK(number_before(quiet.out, " parameters") == row.params);
    CHECK(number_before(quiet.out, " MACs per image") == row.macs);
    CHECK(number_before(quiet.out, " bytes float32") == row.params * 4);
  }
  // the full listing has one row per layer, e.g. resnet18's stem and classifier
  const Run full = run("info --arch resnet18");
  REQUIRE(full.status == 0);
  CHECK(full.out.find("conv1 ") != std::string::npos);
  CHECK(full.out.find("Conv2d(3->64, k7 s2 p3, no bias)") != std::string::npos);
  CHECK(full.out.find("layer2.0.downsample.0") != std::string::npos);
  CHECK(full.out.find("512x2x2") != std::string::npos);
  CHECK(full.out.find("Dense(512->2)") != std::string::npos);
  // the autoencoder also lists its decoder and the MACs of the reconstruction (tools/count_macs.py)
  const Run autoencoder = run("info --arch autoencoder");
  REQUIRE(autoencoder.status == 0);
  CHECK(autoencoder.out.find("dec4") != std::string::npos);
  CHECK(number_before(autoencoder.out, " MACs per image for the reconstruction") == 1513728);
}

TEST_CASE(
    "plasmo info: a model file shows its metadata and is checked against "
    "its architecture") {
  const std::string file = plasmo::testing::fixture_path("mobilenetv2_w0.05_weights.safetensors");
  REQUIRE(std::ifstream(file).good());
  const Run result = run("info " + file);
  REQUIRE(result.status == 0);
  CHECK(result.out.find("mobilenetv2, width 0.05, input 3x40x40") != std::string::npos);
  CHECK(result.out.find("crc32") != std::string::npos);
  CHECK(result.out.find("features.17.conv.3") != std::string::npos);
  CHECK(number_before(result.out, " parameters") == 48930);  // tools/count_macs.py mobilenetv2 0.05 40
  CHECK(number_before(result.out, " MACs per image") == 803680);

  // the tensors of another architecture are refused, naming the file and what is missing
  const Run wrong = run("info " + file + " --arch resnet18 --width 0.0625 --size 40");
  CHECK(wrong.status == 1);
  CHECK(wrong.out.find("plasmo: error: ") == 0);
  CHECK(wrong.out.find("missing") != std::string::npos);
  CHECK(wrong.out.find("conv1.weight") != std::string::npos);
}

TEST_CASE("plasmo info: bad usage exits 2, a bad file exits 1, one error line") {
  CHECK(run("info").status == 2);
  CHECK(run("info --arch vgg16").status == 2);
  CHECK(run("info --arch autoencoder --size 36").status == 2);
  CHECK(run("info --arch resnet18 --bogus").status == 2);
  CHECK(run("info a.safetensors b.safetensors").status == 2);
  const Run missing = run("info /nonexistent/model.safetensors");
  CHECK(missing.status == 1);
  CHECK(missing.out.find("plasmo: error: ") == 0);
  CHECK(missing.out.find("/nonexistent/model.safetensors") != std::string::npos);
}
