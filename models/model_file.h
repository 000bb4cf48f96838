// Model files (DESIGN.md "The model file"): a Model's state_dict plus its metadata in one safetensors file. What train
// writes at the end, and what eval, predict, export and info read.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "models/model.h"

namespace plasmo {

// The metadata plasmo writes for `model`: format=plasmo and ModelMeta's keys (arch, width, input, classes, mean, std,
// threshold), plus `extra` (a checkpoint's epoch, step, seed; extra wins on a clash).
std::map<std::string, std::string> model_file_metadata(const Model& model,
                                                       const std::map<std::string, std::string>& extra = {});

// Writes every parameter and buffer of `model` under its PyTorch name with model_file_metadata(model, extra),
// atomically (temporary file + rename), crc32 included. IoError when the file cannot be written.
void save_model_file(const std::string& path, const Model& model, const std::map<std::string, std::string>& extra = {});

// Reads a model file: the architecture from its metadata (ModelMeta::from_metadata), then every parameter and buffer by
// name. FormatError (naming the file) when the metadata does not describe a model, when a tensor of the architecture is
// missing or has another shape, or when the file holds tensors the model does not know, apart from a checkpoint's
// optimizer state ("optim." names), which is skipped. `meta_override` (not null) replaces the file's metadata: for a
// bare PyTorch state_dict, which has none.
std::unique_ptr<Model> load_model_file(const std::string& path, const ModelMeta* meta_override = nullptr);

}  // namespace plasmo
