// libFuzzer target: arbitrary bytes into the inference core's model loader (engine/infer/), the parser a
// firmware runs on files it did not make (plasmo_load_model_file in an export). Properties checked beyond
// "no crash, no leak, no hang, no sanitizer report":
// - loading returns PLASMO_OK or one of the PLASMO_ERR_* codes, with a terminated message;
// - an accepted file loads its weights, and then classifies a small image with PLASMO_OK and p in [0, 1]
//   (or NaN when the random weights overflow), writing nothing beyond model.arena_bytes (canary);
// - plasmo_load_matching against the file's own plan accepts it, and refuses it against another
//   architecture's plan with PLASMO_ERR_ARCH.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/infer/plasmo_infer.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();  // a property failed: libFuzzer records the input as a crash
}

bool known_status(int status) { return status <= PLASMO_OK && status >= PLASMO_ERR_CAPACITY; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<plasmo_op> ops(PLASMO_MAX_OPS);
  plasmo_model model{};
  plasmo_error error{};
  int status = plasmo_load_plan(data, size, &model, ops.data(), PLASMO_MAX_OPS, &error);
  check(known_status(status));
  check(std::memchr(error.message, '\0', sizeof error.message) != nullptr);
  if (status != PLASMO_OK) return 0;
  // Every tensor was checked against the file, so the weights are bounded by the input's size.
  check(model.weight_count <= size);
  std::vector<float> weights(model.weight_count + 1);
  status = plasmo_load_weights(data, size, &model, weights.data(), &error);
  check(known_status(status));
  if (status != PLASMO_OK) return 0;

  std::vector<float> same_weights(model.weight_count + 1);
  plasmo_model same{};
  check(plasmo_load_matching(data, size, &model, same_weights.data(), &same, &error) == PLASMO_OK);
  check(std::memcmp(weights.data(), same_weights.data(), model.weight_count * sizeof(float)) == 0);
  std::vector<plasmo_op> other_ops(PLASMO_MAX_OPS);
  plasmo_model other{};
  const char* other_arch = model.arch == PLASMO_ARCH_AUTOENCODER ? "resnet18" : "autoencoder";
  check(plasmo_plan_arch(other_arch, 1.0, 32, &other, other_ops.data(), PLASMO_MAX_OPS, &error) == PLASMO_OK);
  std::vector<float> other_weights(other.weight_count + 1);
  check(plasmo_load_matching(data, size, &other, other_weights.data(), &same, &error) == PLASMO_ERR_ARCH);

  if (model.arena_bytes > (16u << 20)) return 0;  // a huge input size: planning is what we fuzz, not memory
  const uint32_t canary = 64;
  std::vector<uint8_t> arena(model.arena_bytes + canary + 16, 0xa5);
  uint8_t* base = arena.data() + (16 - reinterpret_cast<uintptr_t>(arena.data()) % 16) % 16;
  std::memset(base, 0xa5, model.arena_bytes + canary);
  uint8_t rgb[3 * 7 * 5];
  for (size_t i = 0; i < sizeof rgb; ++i) rgb[i] = static_cast<uint8_t>(i * 37);
  float p = -1.0f;
  check(plasmo_run(&model, rgb, 7, 5, base, model.arena_bytes, &p, nullptr) == PLASMO_OK);
  check(std::isnan(p) || (p >= 0.0f && p <= 1.0f));
  for (uint32_t i = 0; i < canary; ++i) check(base[model.arena_bytes + i] == 0xa5);
  return 0;
}
