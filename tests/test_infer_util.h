// Helpers for the inference-core tests (tests/test_infer*.cpp): a small safetensors writer that can also
// write broken files, model files with deterministic random weights for any of the three architectures,
// temporary folders, running a command and capturing its output.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/infer/plasmo_infer.h"

namespace plasmo {
class Model;
}

namespace plasmo::testing {

// One tensor to write: dtype "F32", "F16", "BF16" or "I64", its raw little-endian bytes.
struct StEntry {
  std::string name;
  std::string dtype = "F32";
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

StEntry f32_entry(const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& values);

// The bytes of a safetensors file (header padded with spaces to a multiple of 8; crc32 added to the
// metadata when with_crc).
std::vector<uint8_t> encode_safetensors_bytes(const std::vector<StEntry>& entries,
                                              const std::map<std::string, std::string>& metadata, bool with_crc = true);

// Every tensor a plasmo model file of (arch, width, input_size) holds for the classifier, as the planner
// names them (conv/dense weight and bias, BatchNorm weight, bias, running_mean, running_var and an I64
// num_batches_tracked), plus the autoencoder's decoder (dec1..dec4, unused by the classifier).
// Deterministic random values from `seed`, scaled so activations stay O(1) through deep networks:
// conv/dense W ~ U(-sqrt(6/fan_in), +), biases U(-0.1, 0.1), gamma U(0.5, 1.5), beta U(-0.2, 0.2),
// running_mean U(-0.2, 0.2), running_var U(0.5, 1.5).
std::vector<StEntry> random_model_tensors(const std::string& arch, double width, int input_size, uint64_t seed);

// The metadata of such a file: arch, width, input, mean, std, threshold, classes, format.
std::map<std::string, std::string> model_metadata(const std::string& arch, double width, int input_size);

// random_model_tensors + model_metadata, encoded.
std::vector<uint8_t> random_model_file(const std::string& arch, double width, int input_size, uint64_t seed);

// Non-trivial BatchNorm statistics and affine parameters for an engine model (a fresh model has mean 0,
// var 1, gamma 1, beta 0, which folding would leave almost untouched) and small non-zero biases: rank-1
// "*.weight" (gamma) U(0.5, 1.5), other rank-1 parameters U(-0.2, 0.2), running_var U(0.5, 1.5), other
// float buffers U(-0.3, 0.3).
void randomise_state(Model& model, uint64_t seed);

// save_model_file(path, model); returns path.
std::string save_model(const Model& model, const std::string& path);

// A loaded core model that owns its storage.
struct CoreModel {
  plasmo_model model{};
  std::vector<plasmo_op> ops = std::vector<plasmo_op>(PLASMO_MAX_OPS);
  std::vector<float> weights;
  plasmo_error error{};
  int status = PLASMO_OK;
};
CoreModel load_core_model(const std::vector<uint8_t>& file);

// A fresh empty folder under the system temp dir, removed by the destructor.
struct TempDir {
  std::string path;
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes);
std::vector<uint8_t> read_bytes(const std::string& path);

// Runs `command` through /bin/sh; returns the exit status and fills stdout (stderr is left alone unless
// the command redirects it).
int run_command(const std::string& command, std::string* output);

// The folder holding build/plasmo (from PLASMO_BIN, which `make test` sets, else the current folder when
// it holds `plasmo`), or "" when unknown.
std::string build_dir();

// How to run plasmo / plasmo-infer: $PLASMO_BIN / $PLASMO_INFER_BIN when set (test-arm sets wrappers that
// run them under qemu), else build_dir()/plasmo, build_dir()/plasmo-infer. infer_binary() is the ELF file.
std::string plasmo_command();
std::string infer_command();
std::string infer_binary();

// Writes a PNG of 8-bit RGB (stb_image_write); _channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
void write_png(const std::string& path, int width, int height, const std::vector<uint8_t>& rgb);
void write_png_channels(const std::string& path, int width, int height, int channels,
                        const std::vector<uint8_t>& pixels);
// Writes a baseline JPEG of 8-bit RGB at `quality` (stb_image_write).
void write_jpg(const std::string& path, int width, int height, const std::vector<uint8_t>& rgb, int quality = 90);

// A smooth random RGB image (low-frequency colour blobs plus noise): something like a cell crop.
std::vector<uint8_t> random_image(int width, int height, uint64_t seed);

}  // namespace plasmo::testing
