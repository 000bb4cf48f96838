// random_inputs MODEL_OUT CELL_DIR COUNT: a deterministic random-weight autoencoder (3x32x32) and COUNT test
// images (smooth colour blobs, 40-70 px a side) as PNGs under CELL_DIR/Parasitized and CELL_DIR/Uninfected,
// for the firmware while no trained model is at hand. Seeded: same files every run.
#include <stdio.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "tests/test_infer_util.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: random_inputs MODEL_OUT CELL_DIR COUNT\n");
    return 2;
  }
  using namespace plasmo::testing;
  write_bytes(argv[1], random_model_file("autoencoder", 1.0, 32, 2024));
  const std::string dir = argv[2];
  const int count = atoi(argv[3]);
  for (const char* label : {"Parasitized", "Uninfected"}) std::filesystem::create_directories(dir + "/" + label);
  for (int i = 0; i < count; ++i) {
    const int width = 40 + (i * 7) % 31, height = 40 + (i * 13) % 31;
    const std::string path = dir + "/" + (i % 2 ? "Uninfected" : "Parasitized") + "/cell_" + std::to_string(i) + ".png";
    write_png(path, width, height, random_image(width, height, 100 + static_cast<uint64_t>(i)));
  }
  return 0;
}
