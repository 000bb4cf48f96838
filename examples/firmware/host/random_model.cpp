// random_model MODEL_OUT: a deterministic random-weight autoencoder (3x32x32, all tensors of a plasmo
// autoencoder file, weights ~ U(-sqrt(6/fan_in), +), mean/std/threshold metadata) for the firmware while
// no trained model is given (make firmware FW_MODEL=trained.safetensors uses a real one). Same file every run.
#include <stdio.h>

#include "tests/test_infer_util.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: random_model MODEL_OUT\n");
    return 2;
  }
  plasmo::testing::write_bytes(argv[1], plasmo::testing::random_model_file("autoencoder", 1.0, 32, 2024));
  return 0;
}
