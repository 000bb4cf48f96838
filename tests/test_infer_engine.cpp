// The inference core against the full engine: the same model file (written by the engine's
// save_model_file), the same input tensor, eval mode: logits of all three architectures at small widths
// (BatchNorm statistics randomised so that folding matters). Tolerance: |core - engine| <= 1e-5 * (1 + max
// |engine logit|): float32 with different summation orders (im2col + GEMM vs direct loops) and BatchNorm
// folded vs applied; measured up to 7e-7.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "models/model.h"
#include "models/model_file.h"
#include "tests/test_infer_util.h"

using namespace plasmo;
using namespace plasmo::testing;

namespace {}  // namespace

TEST_CASE("infer vs engine: logits of the three architectures at small widths") {
  struct Case {
    const char* arch;
    double width;
    int size;
  };
  const Case cases[] = {{"autoencoder", 1.0, 32}, {"autoencoder", 1.0, 48},  {"resnet18", 0.25, 32},
                        {"resnet18", 0.125, 64},  {"mobilenetv2", 0.25, 32}, {"mobilenetv2", 0.5, 48}};
  for (const Case& c : cases) {
    const std::string arch = c.arch;
    CAPTURE(arch);
    CAPTURE(c.size);
    TempDir dir;
    auto model = make_model(c.arch, c.width, c.size, 7);
    randomise_state(*model, 8);
    model->meta().mean = {0.5f, 0.4f, 0.45f};
    model->meta().std = {0.2f, 0.25f, 0.22f};
    const std::string path = save_model(*model, dir.path + "/model.safetensors");
    const CoreModel core = load_core_model(read_bytes(path));
    REQUIRE_MESSAGE(core.status == PLASMO_OK, core.error.message);
    CHECK(core.model.input_size == c.size);
    CHECK(core.model.mean[1] == 0.4f);

    const int batch = 3, per_image = 3 * c.size * c.size;
    Tensor x({batch, 3, c.size, c.size});
    Rng rng(9);
    for (size_t i = 0; i < x.size(); ++i) x[i] = rng.normal();
    const Tensor& logits = model->forward(x, Mode::Eval);
    REQUIRE(logits.dim(1) == 2);
    std::vector<float> arena(core.model.arena_bytes / 4 + 1);
    float worst = 0.0f;
    for (int n = 0; n < batch; ++n) {
      std::memcpy(reinterpret_cast<uint8_t*>(arena.data()) + core.model.input_offset, x.data() + n * per_image,
                  per_image * sizeof(float));
      float core_logits[2];
      REQUIRE(plasmo_forward(&core.model, arena.data(), core.model.arena_bytes, core_logits) == PLASMO_OK);
      const float engine0 = logits[n * 2], engine1 = logits[n * 2 + 1];
      const float scale = 1.0f + std::max(std::fabs(engine0), std::fabs(engine1));
      const float error = std::max(std::fabs(core_logits[0] - engine0), std::fabs(core_logits[1] - engine1)) / scale;
      INFO("engine " << engine0 << ", " << engine1 << "; core " << core_logits[0] << ", " << core_logits[1]);
      CHECK(error <= 1e-5f);
      worst = std::max(worst, error);
    }
    MESSAGE(std::string(c.arch) << " width " << c.width << " at " << c.size << ": largest relative logit difference "
                                << worst);
  }
}
