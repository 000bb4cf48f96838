// libFuzzer target for the image path every untrusted file takes: bytes -> decode (stb_image, PNG or
// JPEG) -> resize to S x S -> normalized floats. It must either produce a finite image or refuse
// cleanly with a reason: no crash, no sanitizer report, no unbounded allocation.
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -I. fuzz/fuzz_decode.cpp \
//       data_loader/image_input.cpp data_loader/decode.cpp data_loader/resize.cpp \
//       data_loader/normalize.cpp data_loader/stb_image_impl.cpp -o build/fuzz_decode
//   build/fuzz_decode -max_len=65536 -max_total_time=60 fuzz/corpus/decode
// fuzz/corpus/decode holds small seeds (every PNG flavour, baseline and progressive JPEG), each with
// its leading size byte.
// The first input byte picks the output size (S in 1..64), the rest are the file's bytes.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "data_loader/image_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int image_size = 1 + data[0] % 64;
  ++data;
  --size;
  plasmo::data::Normalization norm;
  norm.mean[0] = 0.5f;
  norm.std[1] = 0.25f;
  plasmo::data::ImageInput input(image_size, norm);
  std::vector<float> out(3 * static_cast<size_t>(image_size) * image_size, -12345.0f);
  std::string reason;
  if (!input.load_memory(data, size, out.data(), &reason)) {
    if (reason.empty()) std::abort();  // a refusal always says why
    return 0;
  }
  // Every output value is a normalized uint8: finite and in [(0 - mean) / std, (1 - mean) / std].
  for (float v : out)
    if (!std::isfinite(v) || v < -2.0f || v > 4.0f) std::abort();
  return 0;
}
