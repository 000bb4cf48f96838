// libFuzzer target: arbitrary bytes into the safetensors reader (`make fuzz`).
// Properties checked beyond "no crash, no leak, no hang, no sanitizer report":
// - the only exception a bad file may raise is FormatError;
// - a file that parses decodes every tensor; re-encoding what was read (floats as F32) parses back to
//   the same names, shapes, values (bit for bit) and metadata; it converts to a TensorMap or is refused
//   with a FormatError (rank > 4).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/error.h"
#include "engine/io/safetensors.h"
#include "engine/io/state.h"

using namespace plasmo;

namespace {

void check(bool ok) {
  if (!ok) std::abort();  // a property failed: libFuzzer records the input as a crash
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    SafetensorsFile file = SafetensorsFile::parse(data, size, "fuzz");
    std::vector<std::vector<float>> floats;
    std::vector<std::vector<int64_t>> ints;
    std::vector<TensorSource> sources;
    for (const TensorInfo& info : file.tensors()) {
      // Validated sizes: numel * element size == end - begin <= input size, so these allocations are bounded.
      check(info.end - info.begin == info.numel() * dtype_size(info.dtype));
      if (info.dtype == DType::I64) {
        ints.emplace_back(info.numel());
        file.read_i64(info, ints.back().data());
      } else {
        floats.emplace_back(info.numel());
        file.read_f32(info, floats.back().data());
      }
    }
    size_t next_float = 0, next_int = 0;
    for (const TensorInfo& info : file.tensors()) {
      bool is_int = info.dtype == DType::I64;
      const void* values = is_int ? static_cast<const void*>(ints[next_int++].data())
                                  : static_cast<const void*>(floats[next_float++].data());
      sources.push_back({info.name, is_int ? DType::I64 : DType::F32, info.shape, values});
    }
    std::vector<uint8_t> again;
    try {
      again = encode_safetensors(sources, file.metadata());
    } catch (const UsageError&) {
      // Names the reader accepts but the writer refuses (an empty name) end the round trip here.
      for (const TensorInfo& info : file.tensors()) check(info.name.empty());
      return 0;
    }
    SafetensorsFile reread = SafetensorsFile::parse(again, "fuzz-reencoded");
    check(reread.tensors().size() == file.tensors().size());
    for (size_t index = 0; index < sources.size(); ++index) {
      const TensorSource& source = sources[index];
      const TensorInfo* info = reread.find(source.name);
      check(info != nullptr);
      check(info->shape == source.shape);
      check(info->dtype == source.dtype);
      size_t bytes = info->end - info->begin;
      check(bytes == 0 || std::memcmp(reread.raw(*info), source.data, bytes) == 0);
    }
    for (const auto& entry : file.metadata())
      if (entry.first != "crc32") check(reread.metadata().at(entry.first) == entry.second);
    // Into Tensors, as tools load a file (refuses rank > 4 and dimensions past int with a FormatError).
    TensorMap map = to_tensor_map(file);
    check(map.f32.size() + map.i64.size() == file.tensors().size());
  } catch (const FormatError&) {
    // Refused cleanly: the expected outcome for most inputs.
  }
  return 0;
}
