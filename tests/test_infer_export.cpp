// `plasmo export --c`: the exported folder compiles with the host compiler (-Wall -Wextra -Werror, C++11,
// -fno-exceptions -fno-rtti) and links with a C program through the C driver (no C++ runtime); it classifies
// images bit for bit as the core does in-process; its model-file path refuses another architecture or input
// size, a damaged file, a null arena and a bad image with error codes.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_infer_util.h"

using namespace plasmo::testing;

namespace {

// The C program linked with the export: `driver IMAGE.rgb... [--load MODEL...]`; images are raw files of
// int32 width, int32 height, then width*height*3 bytes. Prints "p %.9g" per image, "load <code> <p>" per
// model file (p: the loaded model on the first image), then the error paths: "null-arena <code>",
// "bad-size <code>", "arena-bytes <n>".
const char* kDriver = R"(#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "plasmo.h"

static unsigned char* read_all(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long length = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char* bytes = (unsigned char*)malloc(length > 0 ? (size_t)length : 1);
  *size = fread(bytes, 1, (size_t)length, f);
  fclose(f);
  return bytes;
}

int main(int argc, char** argv) {
  static float arena[PLASMO_ARENA_BYTES / 4 + 1];
  static float weights[PLASMO_WEIGHT_COUNT];
  unsigned char* first = NULL;
  int first_width = 0, first_height = 0, loading = 0, i;
  for (i = 1; i < argc; ++i) {
    size_t size = 0;
    unsigned char* bytes;
    if (!strcmp(argv[i], "--load")) { loading = 1; continue; }
    bytes = read_all(argv[i], &size);
    if (!bytes) { printf("unreadable %s\n", argv[i]); return 1; }
    if (!loading) {
      int width, height;
      memcpy(&width, bytes, 4);
      memcpy(&height, bytes + 4, 4);
      printf("p %.9g\n", (double)plasmo_classify(bytes + 8, width, height, arena));
      if (!first) { first = bytes; first_width = width; first_height = height; } else free(bytes);
    } else {
      plasmo_model model;
      plasmo_error error;
      int code = plasmo_load_model_file(bytes, size, weights, &model, &error);
      float p = code == PLASMO_OK ? plasmo_classify_model(&model, first + 8, first_width, first_height, arena) : -100.0f;
      printf("load %d %.9g\n", code, (double)p);
      free(bytes);
    }
  }
  printf("null-arena %d\n", (int)plasmo_classify(first + 8, first_width, first_height, NULL));
  printf("bad-size %d\n", (int)plasmo_classify(first + 8, 0, first_height, arena));
  printf("arena-bytes %u\n", (unsigned)plasmo_arena_bytes());
  return 0;
}
)";

std::vector<uint8_t> raw_image(int width, int height, const std::vector<uint8_t>& rgb) {
  std::vector<uint8_t> bytes(8 + rgb.size());
  std::memcpy(bytes.data(), &width, 4);
  std::memcpy(bytes.data() + 4, &height, 4);
  std::memcpy(bytes.data() + 8, rgb.data(), rgb.size());
  return bytes;
}

std::string format_p(float p) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", static_cast<double>(p));
  return text;
}

struct Image {
  int width, height;
  std::vector<uint8_t> rgb;
};

// Exports `model_file`, builds it with the driver, runs it on `images` and the model files to load.
std::string export_build_run(const TempDir& dir, const std::string& model_file, const std::vector<Image>& images,
                             const std::vector<std::string>& load_files) {
  const std::string plasmo = plasmo_command();
  const std::string out = dir.path + "/export";
  std::string output;
  REQUIRE(run_command(plasmo + " export --quiet --model " + model_file + " --c " + out + " 2>&1", &output) == 0);
  CHECK(output.empty());
  // Compile every exported .cpp (strict, C++11, no exceptions / RTTI) and the C driver; link with gcc.
  const std::string build = dir.path + "/objects";
  write_bytes(dir.path + "/driver.c", std::vector<uint8_t>(kDriver, kDriver + std::strlen(kDriver)));
  const std::string compile =
      "mkdir -p " + build + " && cd " + build + " && for f in " + out +
      "/*.cpp; do g++ -std=c++11 -O2 -Wall -Wextra -Werror -pedantic -fno-exceptions -fno-rtti -ffp-contract=off "
      "-c $f || exit 1; done && gcc -std=c99 -O2 -Wall -Wextra -Werror -pedantic -I" +
      out + " -c ../driver.c && gcc *.o -lm -o driver 2>&1";
  const int status = run_command(compile + " 2>&1", &output);
  INFO(output);
  REQUIRE(status == 0);
  std::string command = build + "/driver";
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string path = dir.path + "/image" + std::to_string(i) + ".rgb";
    write_bytes(path, raw_image(images[i].width, images[i].height, images[i].rgb));
    command += " " + path;
  }
  if (!load_files.empty()) command += " --load";
  for (const std::string& file : load_files) command += " " + file;
  REQUIRE(run_command(command, &output) == 0);
  return output;
}

}  // namespace

TEST_CASE("infer export: the exported sources build strictly and classify bit for bit as the core") {
  struct Case {
    const char* arch;
    double width;
    int size;
  };
  const std::vector<Image> images = {{45, 51, random_image(45, 51, 1)},
                                     {32, 32, random_image(32, 32, 2)},
                                     {20, 17, random_image(20, 17, 3)},
                                     {130, 121, random_image(130, 121, 4)}};
  for (const Case& c : {Case{"autoencoder", 1.0, 32}, Case{"resnet18", 0.125, 32}, Case{"mobilenetv2", 0.25, 32}}) {
    const std::string arch_name = c.arch;
    CAPTURE(arch_name);
    TempDir dir;
    const std::vector<uint8_t> file = random_model_file(c.arch, c.width, c.size, 21);
    write_bytes(dir.path + "/model.safetensors", file);
    const std::string output = export_build_run(dir, dir.path + "/model.safetensors", images, {});
    // The same images through the core in-process.
    const CoreModel core = load_core_model(file);
    REQUIRE(core.status == PLASMO_OK);
    std::vector<float> arena(core.model.arena_bytes / 4 + 1);
    std::ostringstream expected;
    for (const Image& image : images) {
      float p = -1.0f;
      REQUIRE(plasmo_run(&core.model, image.rgb.data(), image.width, image.height, arena.data(), core.model.arena_bytes,
                         &p, nullptr) == PLASMO_OK);
      expected << "p " << format_p(p) << "\n";
    }
    expected << "null-arena " << PLASMO_ERR_ARENA << "\nbad-size " << PLASMO_ERR_ARGUMENT << "\narena-bytes "
             << core.model.arena_bytes << "\n";
    CHECK(output == expected.str());
  }
}

TEST_CASE("infer export: a model file of another architecture or input size is refused with an error code") {
  TempDir dir;
  const std::vector<uint8_t> exported = random_model_file("autoencoder", 1.0, 32, 31);
  write_bytes(dir.path + "/model.safetensors", exported);
  // Same architecture, other weights: loads, and classifies as the core does with that file.
  const std::vector<uint8_t> retrained = random_model_file("autoencoder", 1.0, 32, 32);
  write_bytes(dir.path + "/retrained.safetensors", retrained);
  write_bytes(dir.path + "/resnet.safetensors", random_model_file("resnet18", 0.125, 32, 33));
  write_bytes(dir.path + "/mobilenet.safetensors", random_model_file("mobilenetv2", 0.25, 32, 34));
  write_bytes(dir.path + "/autoencoder64.safetensors", random_model_file("autoencoder", 1.0, 64, 35));
  std::vector<uint8_t> truncated(retrained.begin(), retrained.end() - 100);
  write_bytes(dir.path + "/truncated.safetensors", truncated);
  std::vector<uint8_t> garbage(300, 'x');
  write_bytes(dir.path + "/garbage.safetensors", garbage);

  const Image image = {40, 44, random_image(40, 44, 7)};
  const std::vector<std::string> loads = {"retrained", "resnet", "mobilenet", "autoencoder64", "truncated", "garbage"};
  std::vector<std::string> paths;
  for (const std::string& name : loads) paths.push_back(dir.path + "/" + name + ".safetensors");
  const std::string output = export_build_run(dir, dir.path + "/model.safetensors", {image}, paths);

  const CoreModel core = load_core_model(retrained);
  REQUIRE(core.status == PLASMO_OK);
  std::vector<float> arena(core.model.arena_bytes / 4 + 1);
  float p_retrained = -1.0f;
  REQUIRE(plasmo_run(&core.model, image.rgb.data(), image.width, image.height, arena.data(), core.model.arena_bytes,
                     &p_retrained, nullptr) == PLASMO_OK);
  std::istringstream lines(output);
  std::string line;
  std::getline(lines, line);  // the exported model's own p
  const std::string expected[] = {
      "load 0 " + format_p(p_retrained),
      "load " + std::to_string(PLASMO_ERR_ARCH) + " -100",
      "load " + std::to_string(PLASMO_ERR_ARCH) + " -100",
      "load " + std::to_string(PLASMO_ERR_INPUT) + " -100",
      "load " + std::to_string(PLASMO_ERR_FORMAT) + " -100",
      "load " + std::to_string(PLASMO_ERR_FORMAT) + " -100",
  };
  for (const std::string& want : expected) {
    REQUIRE(std::getline(lines, line));
    CHECK(line == want);
  }
}

TEST_CASE("infer export: a foreground-normalized model exports its mode and classifies as the core") {
  TempDir dir;
  std::map<std::string, std::string> metadata = model_metadata("autoencoder", 1.0, 32);
  metadata["normalize"] = "foreground";
  const std::vector<uint8_t> file =
      encode_safetensors_bytes(random_model_tensors("autoencoder", 1.0, 32, 41), metadata);
  write_bytes(dir.path + "/fg.safetensors", file);
  // The same weights with the dataset normalization, loaded into the export at run time: the loaded file's
  // normalize is used (plasmo_load_matching copies it), not the exported one.
  metadata.erase("normalize");
  const std::vector<uint8_t> dataset_file =
      encode_safetensors_bytes(random_model_tensors("autoencoder", 1.0, 32, 41), metadata);
  write_bytes(dir.path + "/ds.safetensors", dataset_file);
  const std::vector<Image> images = {{45, 51, random_image(45, 51, 11)}, {20, 17, random_image(20, 17, 12)}};
  const std::string output =
      export_build_run(dir, dir.path + "/fg.safetensors", images, {dir.path + "/ds.safetensors"});
  std::string header;
  REQUIRE(run_command("cat " + dir.path + "/export/plasmo.h " + dir.path + "/export/plasmo_model.cpp", &header) == 0);
  CHECK(header.find("#define PLASMO_NORMALIZE PLASMO_NORMALIZE_FOREGROUND") != std::string::npos);
  CHECK(header.find("PLASMO_NORMALIZE_FOREGROUND,  // normalize") != std::string::npos);

  const CoreModel core = load_core_model(file), dataset_core = load_core_model(dataset_file);
  REQUIRE(core.status == PLASMO_OK);
  REQUIRE(core.model.normalize == PLASMO_NORMALIZE_FOREGROUND);
  REQUIRE(dataset_core.model.normalize == PLASMO_NORMALIZE_DATASET);
  std::vector<float> arena(core.model.arena_bytes / 4 + 1);
  std::ostringstream expected;
  float p_first_dataset = -1.0f;
  for (const Image& image : images) {
    float p = -1.0f;
    REQUIRE(plasmo_run(&core.model, image.rgb.data(), image.width, image.height, arena.data(), core.model.arena_bytes,
                       &p, nullptr) == PLASMO_OK);
    expected << "p " << format_p(p) << "\n";
    if (p_first_dataset < 0.0f) {
      REQUIRE(plasmo_run(&dataset_core.model, image.rgb.data(), image.width, image.height, arena.data(),
                         core.model.arena_bytes, &p_first_dataset, nullptr) == PLASMO_OK);
      CHECK(p_first_dataset != p);  // the mode changes the result
    }
  }
  expected << "load 0 " << format_p(p_first_dataset) << "\n";
  CHECK(output.substr(0, expected.str().size()) == expected.str());
}

TEST_CASE("infer export: usage and file errors") {
  const std::string plasmo = plasmo_command();
  TempDir dir;
  std::string output;
  CHECK(run_command(plasmo + " export --model " + dir.path + "/absent.safetensors --c " + dir.path + "/out 2>&1",
                    &output) == 1);
  CHECK(output.find("plasmo: error: ") == 0);
  CHECK(run_command(plasmo + " export --c " + dir.path + "/out 2>&1", &output) == 2);
  std::vector<uint8_t> file = random_model_file("autoencoder", 1.0, 32, 1);
  file.resize(file.size() - 1);
  write_bytes(dir.path + "/cut.safetensors", file);
  CHECK(run_command(plasmo + " export --model " + dir.path + "/cut.safetensors --c " + dir.path + "/out 2>&1",
                    &output) == 1);
  CHECK(output.find("cut.safetensors: bad safetensors file") != std::string::npos);
}
