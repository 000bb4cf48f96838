// plasmo-infer: the output contract (path<TAB>label<TAB>p with 6 decimals, label by the model's threshold),
// equality with the core on the same pixels, skipped unreadable images (exit 1), refused model files, usage,
// and the binary itself: dynamically linked to libc/libm only (no libstdc++), at most 150 KB stripped.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_infer_util.h"

using namespace plasmo::testing;

namespace {

// The line plasmo-infer prints: p = 1 / (1 + exp(l0 - l1)) in double from the core's float logits.
std::string expected_line(const CoreModel& core, const std::string& path, int width, int height,
                          const std::vector<uint8_t>& rgb) {
  std::vector<float> arena(core.model.arena_bytes / 4 + 1);
  float logits[2];
  REQUIRE(plasmo_run(&core.model, rgb.data(), width, height, arena.data(), core.model.arena_bytes, nullptr, logits) ==
          PLASMO_OK);
  const double p = 1.0 / (1.0 + std::exp(static_cast<double>(logits[0]) - static_cast<double>(logits[1])));
  char text[64];
  std::snprintf(text, sizeof text, "\t%s\t%.6f\n", p >= core.model.threshold ? "Parasitized" : "Uninfected", p);
  return path + text;
}

}  // namespace

TEST_CASE("plasmo-infer: one line per image, as the core computes it; unreadable images skipped with exit 1") {
  TempDir dir;
  const std::vector<uint8_t> file = random_model_file("autoencoder", 1.0, 32, 41);
  const std::string model = dir.path + "/model.safetensors";
  write_bytes(model, file);
  const CoreModel core = load_core_model(file);
  REQUIRE(core.status == PLASMO_OK);

  std::ostringstream expected;
  std::string args;
  const int sizes[][2] = {{32, 32}, {77, 80}, {130, 128}, {20, 24}};
  for (int i = 0; i < 4; ++i) {
    const int width = sizes[i][0], height = sizes[i][1];
    const std::vector<uint8_t> rgb = random_image(width, height, 50 + i);
    const std::string path = dir.path + "/cell " + std::to_string(i) + ".png";  // a space in the name
    write_png(path, width, height, rgb);
    expected << expected_line(core, path, width, height, rgb);
    args += " '" + path + "'";
    if (i == 1) {  // an unreadable file and a non-image in between: reported, skipped
      args += " " + dir.path + "/absent.png " + model;
    }
  }
  std::string output;
  const int status = run_command(infer_command() + " " + model + args + " 2>" + dir.path + "/stderr.txt", &output);
  CHECK(status == 1);
  CHECK(output == expected.str());
  const std::vector<uint8_t> errors = read_bytes(dir.path + "/stderr.txt");
  const std::string stderr_text(errors.begin(), errors.end());
  CHECK(stderr_text == "plasmo-infer: error: " + dir.path + "/absent.png: cannot open: No such file or directory\n" +
                           "plasmo-infer: error: " + model + ": not a PNG or JPEG file\n");

  // All readable: exit 0.
  CHECK(run_command(infer_command() + " " + model + " '" + dir.path + "/cell 0.png'", &output) == 0);
  // The label follows the model's threshold: 0 labels everything Parasitized, 1 (almost) nothing.
  auto meta = model_metadata("autoencoder", 1.0, 32);
  meta["threshold"] = "0";
  write_bytes(dir.path + "/t0.safetensors",
              encode_safetensors_bytes(random_model_tensors("autoencoder", 1.0, 32, 41), meta));
  REQUIRE(run_command(infer_command() + " " + dir.path + "/t0.safetensors '" + dir.path + "/cell 0.png'", &output) ==
          0);
  CHECK(output.find("\tParasitized\t") != std::string::npos);
}

TEST_CASE("plasmo-infer: RGBA and grayscale PNGs decode as the data loader does") {
  TempDir dir;
  const std::vector<uint8_t> file = random_model_file("autoencoder", 1.0, 32, 42);
  const std::string model = dir.path + "/model.safetensors";
  write_bytes(model, file);
  const CoreModel core = load_core_model(file);
  // A gray image is the same as its RGB with R = G = B; RGBA is composited on black: (c * a + 127) / 255.
  const int width = 40, height = 36;
  const std::vector<uint8_t> base = random_image(width, height, 60);
  std::vector<uint8_t> gray(static_cast<size_t>(width) * height), gray_rgb(base.size()), rgba(gray.size() * 4),
      composited(base.size());
  for (size_t p = 0; p < gray.size(); ++p) {
    gray[p] = base[p * 3];
    for (int c = 0; c < 3; ++c) gray_rgb[p * 3 + c] = gray[p];
    const uint8_t alpha = static_cast<uint8_t>((p * 37) % 256);
    for (int c = 0; c < 3; ++c) {
      rgba[p * 4 + c] = base[p * 3 + c];
      composited[p * 3 + c] = static_cast<uint8_t>((base[p * 3 + c] * alpha + 127u) / 255u);
    }
    rgba[p * 4 + 3] = alpha;
  }
  write_png_channels(dir.path + "/gray.png", width, height, 1, gray);
  write_png_channels(dir.path + "/rgba.png", width, height, 4, rgba);
  std::string output;
  REQUIRE(run_command(infer_command() + " " + model + " " + dir.path + "/gray.png " + dir.path + "/rgba.png",
                      &output) == 0);
  CHECK(output == expected_line(core, dir.path + "/gray.png", width, height, gray_rgb) +
                      expected_line(core, dir.path + "/rgba.png", width, height, composited));
}

TEST_CASE("plasmo-infer: a truncated or wrong model file is refused; usage errors exit 2") {
  TempDir dir;
  std::vector<uint8_t> file = random_model_file("mobilenetv2", 0.25, 32, 43);
  const std::string image = dir.path + "/cell.png";
  write_png(image, 30, 30, random_image(30, 30, 1));
  for (const size_t cut : {file.size() - 1, file.size() / 2, static_cast<size_t>(100), static_cast<size_t>(7)}) {
    CAPTURE(cut);
    const std::vector<uint8_t> truncated(file.begin(), file.begin() + static_cast<long>(cut));
    write_bytes(dir.path + "/cut.safetensors", truncated);
    std::string output;
    CHECK(run_command(infer_command() + " " + dir.path + "/cut.safetensors " + image + " 2>&1", &output) == 1);
    CHECK(output.find("plasmo-infer: error: " + dir.path + "/cut.safetensors: bad safetensors file: ") == 0);
  }
  auto tensors = random_model_tensors("mobilenetv2", 0.25, 32, 43);
  for (StEntry& entry : tensors)
    if (entry.name == "features.3.conv.1.1.running_var") {  // 48 channels in the file's architecture
      entry.shape = {24};
      entry.bytes.resize(24 * 4);
    }
  write_bytes(dir.path + "/shape.safetensors",
              encode_safetensors_bytes(tensors, model_metadata("mobilenetv2", 0.25, 32)));
  std::string output;
  CHECK(run_command(infer_command() + " " + dir.path + "/shape.safetensors " + image + " 2>&1", &output) == 1);
  CHECK(output ==
        "plasmo-infer: error: " + dir.path +
            "/shape.safetensors: tensor 'features.3.conv.1.1.running_var': expected shape [48], found [24]\n");
  CHECK(run_command(infer_command() + " " + dir.path + "/absent.safetensors " + image + " 2>&1", &output) == 1);
  CHECK(output.find("cannot open") != std::string::npos);
  CHECK(run_command(infer_command() + " 2>&1", &output) == 2);
  CHECK(run_command(infer_command() + " " + image + " 2>&1", &output) == 2);
  CHECK(output.find("plasmo-infer: error: usage: plasmo-infer MODEL IMAGE...") == 0);
}

TEST_CASE("plasmo-infer: libc and libm only (no libstdc++), at most 150 KB stripped on x86-64") {
  // The dynamic section's NEEDED entries (readelf reads any architecture's ELF, so test-arm checks too).
  std::string dynamic;
  REQUIRE(run_command("readelf -d " + infer_binary() + " 2>&1", &dynamic) == 0);
  std::vector<std::string> needed;
  std::istringstream lines(dynamic);
  for (std::string line; std::getline(lines, line);) {
    const size_t open = line.find("(NEEDED)");
    if (open == std::string::npos) continue;
    const size_t begin = line.find('[') + 1, end = line.find(']');
    needed.push_back(line.substr(begin, end - begin));
  }
  INFO(dynamic);
  bool sanitized = false;
  for (const std::string& library : needed) {
    CAPTURE(library);
    const bool sanitizer = library.find("san.so") != std::string::npos;  // SAN=... builds add their runtime
    sanitized |= sanitizer;
    CHECK((library == "libc.so.6" || library == "libm.so.6" || sanitizer));
  }
  CHECK(needed.size() >= 1);
  // Size: the x86-64 target (ELF e_machine 62), for the plain (not sanitized) build.
  const std::vector<uint8_t> elf = read_bytes(infer_binary());
  REQUIRE(elf.size() > 20);
  const int machine = elf[18] | elf[19] << 8;
  MESSAGE("plasmo-infer: " << elf.size() << " bytes, ELF machine " << machine);
  if (machine == 62 && !sanitized) CHECK(elf.size() <= 150 * 1024);
}
