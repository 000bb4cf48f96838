#include "models/model_file.h"

#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/io/state.h"

namespace plasmo {

namespace {

std::string list_names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 5; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 5) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

}  // namespace

std::map<std::string, std::string> model_file_metadata(const Model& model,
                                                       const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> metadata = model.meta().to_metadata();
  metadata["format"] = "plasmo";
  for (const auto& [key, value] : extra) metadata[key] = value;
  return metadata;
}

void save_model_file(const std::string& path, const Model& model, const std::map<std::string, std::string>& extra) {
  // state_params()/buffers() hand out pointers; saving only reads through them.
  Model& readable = const_cast<Model&>(model);
  save_state(path, readable.state_params(), readable.buffers(), {}, model_file_metadata(model, extra));
}

std::unique_ptr<Model> load_model_file(const std::string& path, const ModelMeta* meta_override) {
  const SafetensorsFile file = SafetensorsFile::read(path);
  const ModelMeta meta = meta_override ? *meta_override : ModelMeta::from_metadata(file.metadata(), path);
  auto model = make_model(meta);
  const LoadResult result = load_state(file, model->state_params(), model->buffers(), {}, false);
  if (!result.missing.empty())
    throw FormatError(path + ": not a " + meta.arch + " of width " + model->meta().to_metadata()["width"] +
                      " and input " + std::to_string(meta.input_size) + ": missing " + list_names(result.missing));
  std::vector<std::string> unknown;
  // A training checkpoint also holds optimizer state, generator states and a copy of the best epoch
  // (train/checkpoint): its current weights load as a model, the rest is not the model's.
  for (const std::string& name : result.unexpected)
    if (name.rfind("optim.", 0) != 0 && name.rfind("best.", 0) != 0 && name.rfind("rng.", 0) != 0)
      unknown.push_back(name);
  if (!unknown.empty())
    throw FormatError(path + ": tensors that " + meta.arch + " does not have: " + list_names(unknown));
  return model;
}

}  // namespace plasmo
