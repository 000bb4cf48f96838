// make_model: names -> builders, with the checks every builder relies on.
#include <cmath>
#include <cstdio>
#include <string>

#include "engine/error.h"
#include "models/builders.h"
#include "models/model.h"

namespace plasmo {

std::vector<std::string> model_names() { return {"autoencoder", "resnet18", "mobilenetv2"}; }

namespace {

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

std::string known_names() {
  std::string out;
  for (const std::string& name : model_names()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

int default_input_size(const std::string& arch) {
  if (arch == "autoencoder") return 32;
  if (arch == "resnet18" || arch == "mobilenetv2") return 64;
  throw UsageError("unknown model '" + arch + "' (known: " + known_names() + ")");
}

std::unique_ptr<Model> make_model(const ModelConfig& requested) {
  ModelConfig config = requested;
  if (config.input_size == 0)
    config.input_size = default_input_size(config.arch);  // also checks the name
  else
    default_input_size(config.arch);
  if (!std::isfinite(config.width) || config.width <= 0.0 || config.width > 8.0)
    throw UsageError("model " + config.arch + ": width " + number(config.width) + " is not in (0, 8]");
  if (config.input_size < 8 || config.input_size > 4096)
    throw UsageError("model " + config.arch + ": input size " + std::to_string(config.input_size) +
                     " is not in [8, 4096]");
  if (config.dropout > 1.0f)
    throw UsageError("model " + config.arch + ": dropout " + number(config.dropout) + " above 1");
  if (config.arch == "autoencoder") {
    if (config.width != 1.0)
      throw UsageError("model autoencoder has no width multiplier (got " + number(config.width) + ")");
    if (config.input_size % 8 != 0)
      throw UsageError("model autoencoder: input size " + std::to_string(config.input_size) +
                       " is not a multiple of 8 (three 2x2 poolings)");
    return build_autoencoder(config);
  }
  if (config.arch == "resnet18") return build_resnet18(config);
  return build_mobilenetv2(config);
}

std::unique_ptr<Model> make_model(const std::string& arch, double width, int input_size, uint64_t seed) {
  ModelConfig config;
  config.arch = arch;
  config.width = width;
  config.input_size = input_size;
  config.seed = seed;
  return make_model(config);
}

std::unique_ptr<Model> make_model(const ModelMeta& meta, uint64_t seed) {
  auto model = make_model(meta.arch, meta.width, meta.input_size, seed);
  model->meta() = meta;
  return model;
}

}  // namespace plasmo
