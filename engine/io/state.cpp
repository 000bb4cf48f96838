#include "engine/io/state.h"

#include <climits>
#include <set>

#include "engine/error.h"

namespace plasmo {
namespace {

std::vector<int64_t> dims_of(const Shape& shape) {
  std::vector<int64_t> dims;
  for (int axis = 0; axis < shape.rank; ++axis) dims.push_back(shape[axis]);
  return dims;
}

bool same_shape(const Shape& shape, const std::vector<int64_t>& dims) {
  if (static_cast<size_t>(shape.rank) != dims.size()) return false;
  for (int axis = 0; axis < shape.rank; ++axis)
    if (shape[axis] != dims[static_cast<size_t>(axis)]) return false;
  return true;
}

// One thing to save or load: a float tensor or a single int64.
struct Slot {
  std::string name;
  Tensor* f32 = nullptr;
  int64_t* i64 = nullptr;
};

std::vector<Slot> slots_of(const std::vector<Param>& params, const std::vector<Buffer>& buffers,
                           const std::vector<Buffer>& extras, const char* who) {
  std::vector<Slot> slots;
  std::set<std::string> names;
  auto add = [&](const std::string& name, Tensor* f32, int64_t* i64) {
    if (!names.insert(name).second) throw UsageError(std::string(who) + ": name '" + name + "' given twice");
    if ((f32 == nullptr) == (i64 == nullptr))
      throw UsageError(std::string(who) + ": '" + name + "' must have exactly one of a tensor or an int64");
    if (f32 && f32->empty()) throw UsageError(std::string(who) + ": tensor '" + name + "' has no memory");
    slots.push_back({name, f32, i64});
  };
  for (const Param& param : params) add(param.name, param.value, nullptr);
  for (const Buffer& buffer : buffers) add(buffer.name, buffer.f32, buffer.i64);
  for (const Buffer& extra : extras) add(extra.name, extra.f32, extra.i64);
  return slots;
}

std::string name_list(const std::vector<std::string>& names) {
  std::string text;
  for (size_t index = 0; index < names.size() && index < kMaxListedNames; ++index) {
    if (index) text += ", ";
    text += names[index];
  }
  if (names.size() > kMaxListedNames) text += ", ... and " + std::to_string(names.size() - kMaxListedNames) + " more";
  return text;
}

Shape shape_for_tensor(const SafetensorsFile& file, const TensorInfo& info) {
  if (info.shape.size() > 4)
    throw FormatError(file.source() + ": tensor '" + info.name + "' has shape " + shape_str(info.shape) +
                      "; plasmo tensors have at most 4 dims");
  Shape shape;
  shape.rank = static_cast<int>(info.shape.size());
  for (size_t axis = 0; axis < info.shape.size(); ++axis) {
    if (info.shape[axis] > INT_MAX)
      throw FormatError(file.source() + ": tensor '" + info.name + "' has shape " + shape_str(info.shape) +
                        "; a dimension is too large");
    shape.dims[axis] = static_cast<int>(info.shape[axis]);
  }
  return shape;
}

}  // namespace

void save_state(const std::string& path, const std::vector<Param>& params, const std::vector<Buffer>& buffers,
                const std::vector<Buffer>& extras, const Metadata& metadata) {
  std::vector<Slot> slots = slots_of(params, buffers, extras, "save_state");
  std::vector<TensorSource> sources;
  sources.reserve(slots.size());
  for (const Slot& slot : slots) {
    if (slot.f32)
      sources.push_back({slot.name, DType::F32, dims_of(slot.f32->shape()), slot.f32->data()});
    else
      sources.push_back({slot.name, DType::I64, {}, slot.i64});
  }
  write_safetensors(path, sources, metadata);
}

LoadResult load_state(const std::string& path, const std::vector<Param>& params, const std::vector<Buffer>& buffers,
                      const std::vector<Buffer>& extras, bool strict) {
  return load_state(SafetensorsFile::read(path), params, buffers, extras, strict);
}

LoadResult load_state(const SafetensorsFile& file, const std::vector<Param>& params, const std::vector<Buffer>& buffers,
                      const std::vector<Buffer>& extras, bool strict) {
  std::vector<Slot> slots = slots_of(params, buffers, extras, "load_state");
  std::map<std::string, const TensorInfo*> in_file;
  for (const TensorInfo& info : file.tensors()) in_file.emplace(info.name, &info);

  LoadResult result;
  result.metadata = file.metadata();
  // Pass 1: match names, check dtypes and shapes; nothing is written yet.
  std::vector<std::pair<const Slot*, const TensorInfo*>> matches;
  std::set<std::string> wanted;
  for (const Slot& slot : slots) {
    wanted.insert(slot.name);
    auto found = in_file.find(slot.name);
    if (found == in_file.end()) {
      result.missing.push_back(slot.name);
      continue;
    }
    const TensorInfo& info = *found->second;
    const std::string where = file.source() + ": tensor '" + slot.name + "': ";
    if (slot.f32) {
      if (info.dtype == DType::I64) throw FormatError(where + "expected a float tensor, found dtype I64");
      if (!same_shape(slot.f32->shape(), info.shape))
        throw FormatError(where + "expected shape " + slot.f32->shape().str() + ", found " + shape_str(info.shape));
    } else {
      if (info.dtype != DType::I64)
        throw FormatError(where + "expected dtype I64, found " + std::string(dtype_name(info.dtype)));
      if (!info.shape.empty())
        throw FormatError(where + "expected shape [] (an I64 scalar), found " + shape_str(info.shape));
    }
    matches.emplace_back(&slot, &info);
  }
  for (const TensorInfo& info : file.tensors())
    if (!wanted.count(info.name)) result.unexpected.push_back(info.name);

  if (strict && (!result.missing.empty() || !result.unexpected.empty())) {
    std::string message = file.source() + ": tensors do not match the network:";
    if (!result.missing.empty())
      message += " missing " + std::to_string(result.missing.size()) + " (" + name_list(result.missing) + ")";
    if (!result.missing.empty() && !result.unexpected.empty()) message += ";";
    if (!result.unexpected.empty())
      message += " unexpected " + std::to_string(result.unexpected.size()) + " (" + name_list(result.unexpected) + ")";
    throw FormatError(message);
  }

  // Pass 2: copy.
  for (const auto& match : matches) {
    if (match.first->f32)
      file.read_f32(*match.second, match.first->f32->data());
    else
      file.read_i64(*match.second, match.first->i64);
  }
  return result;
}

Metadata read_metadata(const std::string& path) { return read_safetensors_header(path).metadata; }

TensorMap to_tensor_map(const SafetensorsFile& file) {
  TensorMap map;
  map.metadata = file.metadata();
  for (const TensorInfo& info : file.tensors()) {
    if (info.dtype == DType::I64) {
      I64Tensor& entry = map.i64[info.name];
      entry.shape = info.shape;
      entry.values.resize(info.numel());
      file.read_i64(info, entry.values.data());
    } else {
      Tensor tensor(shape_for_tensor(file, info));
      file.read_f32(info, tensor.data());
      map.f32.emplace(info.name, std::move(tensor));
    }
  }
  return map;
}

TensorMap read_tensor_map(const std::string& path) { return to_tensor_map(SafetensorsFile::read(path)); }

void write_tensor_map(const std::string& path, const TensorMap& tensors) {
  std::vector<TensorSource> sources;
  for (const auto& entry : tensors.f32) {
    if (entry.second.empty()) throw UsageError("write_tensor_map: tensor '" + entry.first + "' has no memory");
    sources.push_back({entry.first, DType::F32, dims_of(entry.second.shape()), entry.second.data()});
  }
  for (const auto& entry : tensors.i64) {
    size_t count = 1;
    for (int64_t size : entry.second.shape) count *= static_cast<size_t>(size < 0 ? 0 : size);
    if (count != entry.second.values.size())
      throw UsageError("write_tensor_map: I64 tensor '" + entry.first + "' has shape " + shape_str(entry.second.shape) +
                       " but " + std::to_string(entry.second.values.size()) + " values");
    sources.push_back({entry.first, DType::I64, entry.second.shape, entry.second.values.data()});
  }
  write_safetensors(path, sources, tensors.metadata);
}

}  // namespace plasmo
