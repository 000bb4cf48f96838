// A network's named state in a safetensors file: parameters, buffers (BatchNorm running statistics and
// num_batches_tracked), extra entries (optimizer state, counters) and string metadata. Names are the
// PyTorch names the layers give (engine/layer.h), so a PyTorch state_dict saved as safetensors loads as is.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/io/safetensors.h"
#include "engine/layer.h"
#include "engine/tensor.h"

namespace plasmo {

// Saves `params` (their values; gradients are not saved), `buffers` and `extras` under their names, with
// `metadata` (crc32 is added), atomically (write_safetensors). A Buffer's f32 tensor is saved as F32 with
// its shape; its i64 value as an I64 scalar (shape []), as PyTorch saves num_batches_tracked.
// UsageError for a duplicate name or a tensor without memory; IoError when the file cannot be written.
void save_state(const std::string& path, const std::vector<Param>& params, const std::vector<Buffer>& buffers,
                const std::vector<Buffer>& extras = {}, const Metadata& metadata = {});

struct LoadResult {
  Metadata metadata;
  std::vector<std::string> missing;     // asked for but absent from the file (only when not strict)
  std::vector<std::string> unexpected;  // in the file but not asked for (only when not strict)
};

// Fills the given tensors (and i64 values) by name from `path`. All checks come before any copy, so a
// refused file leaves every tensor as it was:
// - a tensor present in both with a different shape: FormatError "<file>: tensor '<name>': expected shape
//   [..], found [..]" (always, strict or not); likewise a float tensor where an I64 is expected or back;
// - strict: any missing or unexpected name is a FormatError listing all of them (the first
//   kMaxListedNames of each kind, then a count); not strict: they are returned in LoadResult and the
//   tensors present in both are loaded.
// F16 and BF16 tensors are widened into float targets.
LoadResult load_state(const std::string& path, const std::vector<Param>& params, const std::vector<Buffer>& buffers,
                      const std::vector<Buffer>& extras = {}, bool strict = true);
// The same from a file already read (e.g. after looking at its metadata to build the network).
LoadResult load_state(const SafetensorsFile& file, const std::vector<Param>& params, const std::vector<Buffer>& buffers,
                      const std::vector<Buffer>& extras = {}, bool strict = true);

constexpr size_t kMaxListedNames = 20;

// Only the metadata; reads the header, not the tensors (the crc32 is not checked).
Metadata read_metadata(const std::string& path);

// Every tensor of a file, for tools and tests. Floating tensors (F32, F16, BF16 widened) become Tensors,
// which hold at most 4 dims (FormatError for more); I64 tensors keep their values and shape.
struct I64Tensor {
  std::vector<int64_t> shape;
  std::vector<int64_t> values;
};
struct TensorMap {
  Metadata metadata;
  std::map<std::string, Tensor> f32;
  std::map<std::string, I64Tensor> i64;
};
TensorMap read_tensor_map(const std::string& path);
TensorMap to_tensor_map(const SafetensorsFile& file);
// Writes a TensorMap (F32 and I64) with its metadata, atomically.
void write_tensor_map(const std::string& path, const TensorMap& tensors);

}  // namespace plasmo
