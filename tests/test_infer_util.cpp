// Helpers for the inference-core tests (see test_infer_util.h).
#include "tests/test_infer_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "engine/infer/infer_internal.h"
#include "engine/infer/infer_safetensors.h"
#include "engine/rng.h"
#include "models/model.h"
#include "models/model_file.h"

// stb_image_write's one compiled copy is the library's (data_loader/stb_image_write_impl.cpp).
#include <stb/stb_image_write.h>

namespace plasmo::testing {

namespace fs = std::filesystem;

StEntry f32_entry(const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& values) {
  StEntry entry;
  entry.name = name;
  entry.shape = shape;
  entry.bytes.resize(values.size() * 4);
  std::memcpy(entry.bytes.data(), values.data(), entry.bytes.size());
  return entry;
}

namespace {

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::vector<uint8_t> encode_safetensors_bytes(const std::vector<StEntry>& entries,
                                              const std::map<std::string, std::string>& metadata, bool with_crc) {
  std::vector<uint8_t> data;
  for (const StEntry& entry : entries) data.insert(data.end(), entry.bytes.begin(), entry.bytes.end());
  std::map<std::string, std::string> meta = metadata;
  if (with_crc) {
    char text[16];
    std::snprintf(text, sizeof text, "%08x", plasmo_infer::crc32(data.data(), data.size()));
    meta["crc32"] = text;
  }
  std::string header = "{";
  if (!meta.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : meta) {
      header += (first ? "" : ",") + json_string(key) + ":" + json_string(value);
      first = false;
    }
    header += "}";
  }
  size_t offset = 0;
  for (const StEntry& entry : entries) {
    if (header.size() > 1) header += ",";
    header += json_string(entry.name) + ":{\"dtype\":\"" + entry.dtype + "\",\"shape\":[";
    for (size_t axis = 0; axis < entry.shape.size(); ++axis)
      header += (axis ? "," : "") + std::to_string(entry.shape[axis]);
    header +=
        "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + entry.bytes.size()) + "]}";
    offset += entry.bytes.size();
  }
  header += "}";
  while ((8 + header.size()) % 8) header += ' ';
  std::vector<uint8_t> file(8);
  uint64_t length = header.size();
  for (int i = 0; i < 8; ++i) file[i] = static_cast<uint8_t>(length >> (8 * i));
  file.insert(file.end(), header.begin(), header.end());
  file.insert(file.end(), data.begin(), data.end());
  return file;
}

namespace {

struct Collector {
  std::vector<StEntry>* entries;
  Rng* rng;
};

std::vector<float> uniform_values(Rng& rng, size_t count, float lo, float hi) {
  std::vector<float> values(count);
  for (float& value : values) value = rng.uniform(lo, hi);
  return values;
}

int collect(void* opaque, const plasmo_op& op, const plasmo_infer::OpNames& names) {
  Collector& collector = *static_cast<Collector*>(opaque);
  Rng& rng = *collector.rng;
  if (op.kind == PLASMO_OP_GAP) return PLASMO_OK;
  const std::string layer = names.layer;
  const int64_t channels = op.out_channels;
  std::vector<int64_t> shape;
  if (op.kind == PLASMO_OP_CONV)
    shape = {channels, op.in_channels / op.groups, op.kernel, op.kernel};
  else
    shape = {channels, static_cast<int64_t>(op.in_channels) * op.in_height * op.in_width};
  const size_t count = static_cast<size_t>(shape[0]) * shape[1] * (shape.size() == 4 ? shape[2] * shape[3] : 1);
  const float fan_in = static_cast<float>(count / static_cast<size_t>(channels));
  const float bound = std::sqrt(6.0f / fan_in);
  collector.entries->push_back(f32_entry(layer + ".weight", shape, uniform_values(rng, count, -bound, bound)));
  if (names.layer_has_bias)
    collector.entries->push_back(f32_entry(layer + ".bias", {channels}, uniform_values(rng, channels, -0.1f, 0.1f)));
  if (names.bn[0]) {
    const std::string bn = names.bn;
    collector.entries->push_back(f32_entry(bn + ".weight", {channels}, uniform_values(rng, channels, 0.5f, 1.5f)));
    collector.entries->push_back(f32_entry(bn + ".bias", {channels}, uniform_values(rng, channels, -0.2f, 0.2f)));
    collector.entries->push_back(
        f32_entry(bn + ".running_mean", {channels}, uniform_values(rng, channels, -0.2f, 0.2f)));
    collector.entries->push_back(f32_entry(bn + ".running_var", {channels}, uniform_values(rng, channels, 0.5f, 1.5f)));
    StEntry tracked;
    tracked.name = bn + ".num_batches_tracked";
    tracked.dtype = "I64";
    tracked.bytes = {7, 0, 0, 0, 0, 0, 0, 0};
    collector.entries->push_back(tracked);
  }
  return PLASMO_OK;
}

}  // namespace

std::vector<StEntry> random_model_tensors(const std::string& arch, double width, int input_size, uint64_t seed) {
  std::vector<StEntry> entries;
  Rng rng(seed);
  Collector collector = {&entries, &rng};
  std::vector<plasmo_op> ops(PLASMO_MAX_OPS);
  plasmo_model model{};
  plasmo_error error{};
  const int code = plasmo_infer::arch_from_name(arch.data(), arch.size());
  const int status =
      plasmo_infer::plan(code, width, input_size, ops.data(), PLASMO_MAX_OPS, &model, collect, &collector, &error);
  if (status != PLASMO_OK) throw std::runtime_error(std::string("random_model_tensors: ") + error.message);
  if (arch == "autoencoder") {  // the decoder: in every autoencoder file, never read by the classifier
    const int decoder[4][2] = {{4, 4}, {4, 8}, {8, 16}, {16, 3}};
    for (int layer = 0; layer < 4; ++layer) {
      const std::string name = "dec" + std::to_string(layer + 1);
      const int64_t in = decoder[layer][0], out = decoder[layer][1];
      entries.push_back(f32_entry(name + ".weight", {out, in, 3, 3}, uniform_values(rng, out * in * 9, -0.3f, 0.3f)));
      entries.push_back(f32_entry(name + ".bias", {out}, uniform_values(rng, out, -0.1f, 0.1f)));
    }
  }
  return entries;
}

std::map<std::string, std::string> model_metadata(const std::string& arch, double width, int input_size) {
  char width_text[32];
  std::snprintf(width_text, sizeof width_text, "%g", width);
  std::string width_string = width_text;
  if (width_string.find('.') == std::string::npos) width_string += ".0";
  const std::string side = std::to_string(input_size);
  return {{"format", "plasmo"},       {"arch", arch},
          {"width", width_string},    {"input", "3x" + side + "x" + side},
          {"mean", "0.53,0.42,0.47"}, {"std", "0.21,0.18,0.2"},
          {"threshold", "0.5"},       {"classes", "Uninfected,Parasitized"}};
}

std::vector<uint8_t> random_model_file(const std::string& arch, double width, int input_size, uint64_t seed) {
  return encode_safetensors_bytes(random_model_tensors(arch, width, input_size, seed),
                                  model_metadata(arch, width, input_size));
}

CoreModel load_core_model(const std::vector<uint8_t>& file) {
  CoreModel core;
  core.status = plasmo_load_plan(file.data(), file.size(), &core.model, core.ops.data(), PLASMO_MAX_OPS, &core.error);
  if (core.status != PLASMO_OK) return core;
  core.weights.resize(core.model.weight_count);
  core.status = plasmo_load_weights(file.data(), file.size(), &core.model, core.weights.data(), &core.error);
  return core;
}

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "plasmo-infer-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path, ignored);
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int run_command(const std::string& command, std::string* output) {
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return -1;
  char buffer[4096];
  size_t got;
  if (output) output->clear();
  while ((got = fread(buffer, 1, sizeof buffer, pipe)) > 0)
    if (output) output->append(buffer, got);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string build_dir() {
  const char* plasmo = std::getenv("PLASMO_BIN");
  if (plasmo && *plasmo) return fs::absolute(fs::path(plasmo)).parent_path().string();
  if (fs::exists("plasmo")) return fs::current_path().string();  // run from build/ by hand
  return "";
}

std::string plasmo_command() {
  const char* plasmo = std::getenv("PLASMO_BIN");
  return plasmo && *plasmo ? std::string(plasmo) : build_dir() + "/plasmo";
}

std::string infer_command() {
  const char* infer = std::getenv("PLASMO_INFER_BIN");
  return infer && *infer ? std::string(infer) : infer_binary();
}

std::string infer_binary() { return build_dir() + "/plasmo-infer"; }

namespace {
void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}
}  // namespace

void write_png(const std::string& path, int width, int height, const std::vector<uint8_t>& rgb) {
  write_png_channels(path, width, height, 3, rgb);
}

void write_png_channels(const std::string& path, int width, int height, int channels,
                        const std::vector<uint8_t>& pixels) {
  std::vector<uint8_t> bytes;
  if (!stbi_write_png_to_func(append_bytes, &bytes, width, height, channels, pixels.data(), width * channels))
    throw std::runtime_error("cannot encode " + path);
  write_bytes(path, bytes);
}

void write_jpg(const std::string& path, int width, int height, const std::vector<uint8_t>& rgb, int quality) {
  std::vector<uint8_t> bytes;
  if (!stbi_write_jpg_to_func(append_bytes, &bytes, width, height, 3, rgb.data(), quality))
    throw std::runtime_error("cannot encode " + path);
  write_bytes(path, bytes);
}

std::vector<uint8_t> random_image(int width, int height, uint64_t seed) {
  Rng rng(seed);
  // Three colour blobs on a dark background plus per-pixel noise.
  float cx[3], cy[3], radius[3], colour[3][3];
  for (int blob = 0; blob < 3; ++blob) {
    cx[blob] = rng.uniform(0.2f, 0.8f) * width;
    cy[blob] = rng.uniform(0.2f, 0.8f) * height;
    radius[blob] = rng.uniform(0.15f, 0.4f) * (width < height ? width : height);
    for (int c = 0; c < 3; ++c) colour[blob][c] = rng.uniform(60.0f, 230.0f);
  }
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) {
        float value = 10.0f;
        for (int blob = 0; blob < 3; ++blob) {
          const float dx = (x - cx[blob]) / radius[blob], dy = (y - cy[blob]) / radius[blob];
          value += colour[blob][c] * std::exp(-(dx * dx + dy * dy));
        }
        value += rng.uniform(-12.0f, 12.0f);
        rgb[(static_cast<size_t>(y) * width + x) * 3 + c] = static_cast<uint8_t>(value < 0.0f     ? 0.0f
                                                                                 : value > 255.0f ? 255.0f
                                                                                                  : value);
      }
  return rgb;
}

void randomise_state(Model& model, uint64_t seed) {
  Rng rng(seed);
  for (const Param& param : model.state_params()) {
    if (param.value->rank() != 1) continue;
    const bool gamma = param.name.size() > 7 && param.name.compare(param.name.size() - 7, 7, ".weight") == 0;
    for (size_t i = 0; i < param.value->size(); ++i)
      (*param.value)[i] = gamma ? rng.uniform(0.5f, 1.5f) : rng.uniform(-0.2f, 0.2f);
  }
  for (const Buffer& buffer : model.buffers()) {
    if (!buffer.f32) continue;
    const bool var = buffer.name.find("running_var") != std::string::npos;
    for (size_t i = 0; i < buffer.f32->size(); ++i)
      (*buffer.f32)[i] = var ? rng.uniform(0.5f, 1.5f) : rng.uniform(-0.3f, 0.3f);
  }
}

std::string save_model(const Model& model, const std::string& path) {
  save_model_file(path, model);
  return path;
}

}  // namespace plasmo::testing
