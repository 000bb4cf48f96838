// `plasmo info FILE | --arch NAME [--size N] [--width W]`: the layers of a model, one row each (name, layer,
// output shape, parameters, bytes, MACs per image), and totals; for a model file also its metadata, after
// loading it (every tensor checked against the architecture the metadata names).
//   bytes  = parameters x 4 (float32)
//   MACs   = multiply-accumulates of conv and dense layers for one image (BatchNorm, activations, pooling,
//            upsampling and residual adds are not counted), as tools/count_macs.py counts PyTorch's
//   totals = every parameter of the model (the autoencoder's decoder included, as PyTorch's
//            sum(p.numel())), MACs of the classifier path (and, for the autoencoder, of the reconstruction)
// A bare state_dict without plasmo's metadata needs --arch (and --width / --size when not the defaults).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/error.h"
#include "engine/io/safetensors.h"
#include "models/model.h"
#include "models/model_file.h"

namespace plasmo::cli {

namespace {

const char* kUsage = "usage: plasmo info FILE | --arch NAME [--size N] [--width W]";

// [1, 64, 32, 32] -> "64x32x32"; [1, 2] -> "2"
std::string per_image(const Shape& shape) {
  std::string out;
  for (int axis = 1; axis < shape.rank; ++axis) out += (axis > 1 ? "x" : "") + std::to_string(shape[axis]);
  return out.empty() ? "1" : out;
}

// 11177538 -> "11.18 M"
std::string human(double value) {
  char text[32];
  if (value >= 1e9)
    std::snprintf(text, sizeof text, "%.2f G", value / 1e9);
  else if (value >= 1e6)
    std::snprintf(text, sizeof text, "%.2f M", value / 1e6);
  else if (value >= 1e3)
    std::snprintf(text, sizeof text, "%.1f k", value / 1e3);
  else
    std::snprintf(text, sizeof text, "%.0f", value);
  return text;
}

struct Totals {
  long long params = 0, macs = 0, activation_floats = 0;
};

Totals print_rows(const char* title, const std::vector<LayerInfo>& rows, bool quiet) {
  Totals totals;
  if (!quiet) {
    std::printf("\n%s\n", title);
    std::printf("  %-28s %-46s %-12s %10s %11s %13s\n", "name", "layer", "output", "params", "bytes", "MACs");
  }
  for (const LayerInfo& row : rows) {
    totals.params += row.params;
    totals.macs += row.macs;
    totals.activation_floats += static_cast<long long>(row.out_shape.numel());
    if (!quiet)
      std::printf("  %-28s %-46s %-12s %10lld %11lld %13lld\n", row.name.c_str(), row.summary.c_str(),
                  per_image(row.out_shape).c_str(), static_cast<long long>(row.params),
                  static_cast<long long>(row.params) * 4, static_cast<long long>(row.macs));
  }
  return totals;
}

void print_model(const Model& model) {
  const ModelMeta& meta = model.meta();
  std::printf("model     %s, width %s, input 3x%dx%d, classes %s,%s\n", meta.arch.c_str(),
              meta.to_metadata()["width"].c_str(), meta.input_size, meta.input_size, meta.classes[0].c_str(),
              meta.classes[1].c_str());
}

void print_summary(Model& model, bool quiet) {
  const Totals classifier = print_rows("classifier path (input -> logits)", model.describe(), quiet);
  long long decoder_params = 0, reconstruction_macs = 0;
  if (model.has_decoder()) {
    for (const LayerInfo& row : model.describe_reconstruction()) reconstruction_macs += row.macs;
    // the reconstruction shares the trunk with the classifier: list the decoder's rows only
    std::vector<LayerInfo> decoder_rows;
    model.decoder()->describe("", model.features_shape(1), decoder_rows);
    decoder_params =
        print_rows("decoder (reconstruction path after the trunk; pretraining only)", decoder_rows, quiet).params;
  }
  const long long params = model.param_count();
  if (params != classifier.params + decoder_params)
    throw Error("info: the layer rows add up to " + std::to_string(classifier.params + decoder_params) +
                " parameters, the model has " + std::to_string(params));
  std::printf("\ntotal     %lld parameters (%s), %lld bytes float32\n", params, human(params).c_str(), params * 4);
  std::printf("          %lld MACs per image (%s; conv + dense multiply-accumulates, classifier path)\n",
              classifier.macs, human(static_cast<double>(classifier.macs)).c_str());
  if (model.has_decoder())
    std::printf("          %lld MACs per image for the reconstruction (encoder + decoder)\n", reconstruction_macs);
  std::printf("          %lld bytes of layer outputs per image (float32, classifier path)\n",
              classifier.activation_floats * 4);
}

// The architecture given by --arch, --width, --size.
ModelMeta meta_from_options(const Args& args) {
  ModelMeta meta;
  meta.arch = args.get("arch");
  meta.width = args.get_double("width", 1.0);
  meta.input_size = args.has("size") ? args.get_int("size", 0) : default_input_size(meta.arch);
  return meta;
}

int run_info(const Argv& argv) {
  const Args args(argv, {"arch", "size", "width", "threads", "seed"}, {"quiet"});
  apply_common_options(args);
  const bool quiet = args.has("quiet");
  const std::vector<std::string>& files = args.positional();
  if (files.size() > 1) throw UsageError(std::string("info takes one model file; ") + kUsage);
  if (files.empty() && !args.has("arch")) throw UsageError(std::string("info needs a model file or --arch; ") + kUsage);
  if (!args.has("arch") && (args.has("width") || args.has("size")))
    throw UsageError("--width and --size describe an architecture: use them with --arch");

  if (files.empty()) {
    auto model = make_model(meta_from_options(args));
    print_model(*model);
    print_summary(*model, quiet);
    return 0;
  }

  // A model file: loading checks every tensor against the architecture (from the metadata, or from the
  // options for a bare state_dict).
  const std::string& path = files[0];
  std::unique_ptr<Model> model;
  if (args.has("arch")) {
    const ModelMeta meta = meta_from_options(args);
    model = load_model_file(path, &meta);
  } else {
    model = load_model_file(path);
  }
  const SafetensorsHeader header = read_safetensors_header(path);
  size_t optimizer_tensors = 0;
  for (const TensorInfo& tensor : header.tensors) optimizer_tensors += tensor.name.rfind("optim.", 0) == 0;

  std::printf("file      %s (%zu tensors)\n", path.c_str(), header.tensors.size());
  print_model(*model);
  for (const auto& [key, value] : header.metadata) std::printf("  %-9s %s\n", key.c_str(), value.c_str());
  if (optimizer_tensors) std::printf("checkpoint: %zu optimizer state tensors\n", optimizer_tensors);
  print_summary(*model, quiet);
  return 0;
}

const CommandRegistrar registrar({"info", "layers, parameters, bytes and MACs of a model file or an architecture",
                                  run_info, 40});

}  // namespace

}  // namespace plasmo::cli
