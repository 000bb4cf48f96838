// plasmo-infer MODEL IMAGE...: the inference-only binary. Classifies each image with a plasmo model file
// (safetensors) through the inference core (engine/infer/), without the engine.
//
// Output (the same contract as `plasmo predict`), one line per image on stdout, in argument order:
//   path<TAB>label<TAB>p_parasitized\n
// path as given on the command line; label = Parasitized when p_parasitized >= the model file's threshold,
// else Uninfected; p_parasitized = softmax(logits)[1] = 1 / (1 + exp(l0 - l1)) computed in double from the
// float logits (as eval/score.cpp does for predict), printed with printf("%.6f") (6 decimals).
// Errors go to stderr as one line `plasmo-infer: error: ...`. An image that cannot be read or decoded is
// reported and skipped, the others are still classified, and the exit status is then 1. A model file that
// cannot be used (missing, truncated, wrong tensors) stops everything with status 1. Bad usage: status 2.
//
// Images: PNG and JPEG (stb_image, compiled here with only those decoders), decoded to 8-bit RGB exactly as
// data_loader/decode.h: gray replicated, 16-bit reduced to 8 bits, alpha composited on black
// (c' = (c * a + 127) / 255). Preprocessing (resize, normalize) is the core's copy of the data loader's.
//
// Size: built with -fno-exceptions -fno-rtti and linked with the C driver, it needs libc and libm only
// (no libstdc++ at run time): no std containers, strings or streams here, only the C library.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/infer/plasmo_infer.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS PLASMO_MAX_IMAGE_SIDE
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace {

void error_line(const char* subject, const char* message, const char* detail = nullptr) {
  fprintf(stderr, "plasmo-infer: error: %s: %s%s%s\n", subject, message, detail ? ": " : "", detail ? detail : "");
}

// A growable byte buffer (malloc'd), reused from one file to the next.
struct Bytes {
  unsigned char* data = nullptr;
  size_t size = 0, capacity = 0;
  bool reserve(size_t wanted) {
    if (wanted <= capacity) return true;
    void* grown = realloc(data, wanted);
    if (!grown) return false;
    data = static_cast<unsigned char*>(grown);
    capacity = wanted;
    return true;
  }
};

// Reads a whole file into `bytes`; false (reported) when it cannot be opened or read.
bool read_file(const char* path, Bytes& bytes) {
  FILE* file = fopen(path, "rb");
  if (!file) {
    error_line(path, "cannot open", strerror(errno));
    return false;
  }
  bytes.size = 0;
  for (;;) {
    if (bytes.size == bytes.capacity && !bytes.reserve(bytes.capacity ? bytes.capacity * 2 : 1 << 16)) {
      error_line(path, "out of memory");
      fclose(file);
      return false;
    }
    const size_t got = fread(bytes.data + bytes.size, 1, bytes.capacity - bytes.size, file);
    bytes.size += got;
    if (got == 0) break;
  }
  const bool failed = ferror(file) != 0;
  const int read_errno = errno;
  fclose(file);
  if (failed) error_line(path, "cannot read", strerror(read_errno));
  return !failed;
}

// PNG or JPEG bytes -> 8-bit RGB in `rgb` (reused), as data_loader/decode.cpp. False (reported) otherwise.
bool decode(const char* path, const Bytes& bytes, Bytes& rgb, int* width, int* height) {
  static const unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const bool png = bytes.size >= 8 && memcmp(bytes.data, kPng, 8) == 0;
  const bool jpeg = bytes.size >= 3 && bytes.data[0] == 0xff && bytes.data[1] == 0xd8 && bytes.data[2] == 0xff;
  if (!png && !jpeg) {
    error_line(path, "not a PNG or JPEG file");
    return false;
  }
  if (bytes.size > 0x7fffffff) {
    error_line(path, "file too large for the decoder");
    return false;
  }
  const int length = static_cast<int>(bytes.size);
  int channels = 0;
  if (!stbi_info_from_memory(bytes.data, length, width, height, &channels)) {
    error_line(path, png ? "corrupt PNG header" : "corrupt JPEG header", stbi_failure_reason());
    return false;
  }
  if (*width <= 0 || *height <= 0 || *width > PLASMO_MAX_IMAGE_SIDE || *height > PLASMO_MAX_IMAGE_SIDE) {
    error_line(path, "image too large (limit 8192 px a side)");
    return false;
  }
  const bool alpha = channels == 2 || channels == 4;
  int got_width = 0, got_height = 0, got_channels = 0;
  unsigned char* pixels =
      stbi_load_from_memory(bytes.data, length, &got_width, &got_height, &got_channels, alpha ? 4 : 3);
  if (!pixels) {
    error_line(path, png ? "truncated or corrupt PNG data" : "truncated or corrupt JPEG data", stbi_failure_reason());
    return false;
  }
  const size_t count = static_cast<size_t>(*width) * *height;
  bool ok = got_width == *width && got_height == *height;
  if (!ok) error_line(path, "inconsistent image header");
  if (ok && !rgb.reserve(count * 3)) {
    error_line(path, "out of memory");
    ok = false;
  }
  if (ok && !alpha) memcpy(rgb.data, pixels, count * 3);
  if (ok && alpha)  // composite on black: c' = round(c * a / 255) = (c * a + 127) / 255
    for (size_t i = 0; i < count; ++i)
      for (int channel = 0; channel < 3; ++channel)
        rgb.data[i * 3 + channel] =
            static_cast<unsigned char>((pixels[i * 4 + channel] * pixels[i * 4 + 3] + 127u) / 255u);
  stbi_image_free(pixels);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    printf(
        "usage: plasmo-infer MODEL IMAGE...\n"
        "Classifies PNG/JPEG cell images with a plasmo model file; prints path<TAB>label<TAB>p_parasitized.\n");
    return 0;
  }
  if (argc < 3) {
    fprintf(stderr, "plasmo-infer: error: usage: plasmo-infer MODEL IMAGE...\n");
    return 2;
  }
  const char* model_path = argv[1];
  Bytes file;
  if (!read_file(model_path, file)) return 1;
  plasmo_op ops[PLASMO_MAX_OPS];
  plasmo_model model;
  plasmo_error error;
  if (plasmo_load_plan(file.data, file.size, &model, ops, PLASMO_MAX_OPS, &error) != PLASMO_OK) {
    error_line(model_path, error.message);
    free(file.data);
    return 1;
  }
  float* weights = static_cast<float*>(malloc(sizeof(float) * (model.weight_count ? model.weight_count : 1)));
  void* arena = malloc(model.arena_bytes);  // malloc aligns for any type, floats included
  const char* problem = !weights || !arena ? "out of memory"
                        : plasmo_load_weights(file.data, file.size, &model, weights, &error) != PLASMO_OK
                            ? error.message
                            : nullptr;
  free(file.data);  // the weights are copied out: the file is not needed any more
  if (problem) {
    error_line(model_path, problem);
    free(weights);
    free(arena);
    return 1;
  }

  int failures = 0;
  Bytes bytes, rgb;
  for (int i = 2; i < argc; ++i) {
    const char* path = argv[i];
    int width = 0, height = 0;
    if (!read_file(path, bytes) || !decode(path, bytes, rgb, &width, &height)) {
      ++failures;
      continue;
    }
    float logits[2];
    const int status = plasmo_run(&model, rgb.data, width, height, arena, model.arena_bytes, nullptr, logits);
    if (status != PLASMO_OK) {
      error_line(path, "inference failed");
      ++failures;
      continue;
    }
    const double p = 1.0 / (1.0 + exp(static_cast<double>(logits[0]) - static_cast<double>(logits[1])));
    printf("%s\t%s\t%.6f\n", path, p >= model.threshold ? "Parasitized" : "Uninfected", p);
  }
  free(bytes.data);
  free(rgb.data);
  free(weights);
  free(arena);
  if (fflush(stdout) != 0) {
    fprintf(stderr, "plasmo-infer: error: cannot write the output\n");
    return 1;
  }
  return failures ? 1 : 0;
}
