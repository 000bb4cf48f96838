// The model file: safetensors (https://huggingface.co/docs/safetensors), byte for byte as the reference
// implementation lays it out:
//   [8 bytes]  N, the header length, unsigned little-endian
//   [N bytes]  JSON: {"__metadata__": {str: str, ...}, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}
//              padded with spaces so 8 + N is a multiple of 8
//   [rest]     the data section: each tensor's elements, row-major, little-endian, at [begin, end)
// The tensors' byte ranges must tile the data section exactly: no holes, no overlaps, nothing after.
//
// plasmo writes F32 and I64; reads F32, I64, F16 and BF16 (floating types widened to float). Every
// file it writes carries `crc32` in its metadata (CRC-32 of the data section, 8 lowercase hex digits);
// a file carrying it is checked on read. Anything that does not add up is refused with a FormatError
// naming the file and the problem; an unreadable file gives an IoError.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace plasmo {

enum class DType { F32, I64, F16, BF16 };

const char* dtype_name(DType dtype);  // "F32"
size_t dtype_size(DType dtype);       // bytes per element

using Metadata = std::map<std::string, std::string>;

// Header lengths above this are refused as absurd (the reference implementation's limit).
constexpr uint64_t kMaxSafetensorsHeader = 100000000;

// One tensor of a validated file.
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;   // [] for a scalar
  uint64_t begin = 0, end = 0;  // byte range within the data section
  size_t numel() const;         // product of shape (1 for a scalar)
};

// "[2, 3]" for error messages ("[]" for a scalar).
std::string shape_str(const std::vector<int64_t>& shape);

// Header only: metadata and tensor list, validated against the file's size (offsets, sizes, dtypes)
// but without reading the data section, so the crc32 is not checked.
struct SafetensorsHeader {
  Metadata metadata;
  std::vector<TensorInfo> tensors;  // in data order (ascending offsets)
};
SafetensorsHeader read_safetensors_header(const std::string& path);

// A whole file held in memory and fully validated (including the crc32 when present).
class SafetensorsFile {
 public:
  // Parses the bytes of a whole file; `source` names it in errors. The in-memory entry point (tests, fuzzing).
  static SafetensorsFile parse(const uint8_t* bytes, size_t size, const std::string& source);
  static SafetensorsFile parse(std::vector<uint8_t> bytes, const std::string& source);
  static SafetensorsFile read(const std::string& path);

  const std::string& source() const { return source_; }
  const Metadata& metadata() const { return header_.metadata; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }  // in data order
  const TensorInfo* find(const std::string& name) const;                      // null when absent

  // Copies a tensor's numel() elements into `out`. read_f32 widens F16 and BF16 and refuses I64;
  // read_i64 takes only I64 (FormatError naming file, tensor and dtype otherwise).
  void read_f32(const TensorInfo& info, float* out) const;
  void read_i64(const TensorInfo& info, int64_t* out) const;
  // The raw little-endian bytes of a tensor (end - begin of them).
  const uint8_t* raw(const TensorInfo& info) const { return bytes_.data() + data_start_ + info.begin; }

 private:
  std::string source_;
  std::vector<uint8_t> bytes_;  // the whole file (parse) or only its data section (read)
  size_t data_start_ = 0;       // where the data section starts in bytes_
  SafetensorsHeader header_;
};

// A tensor to write: the caller's memory, numel(shape) elements of `dtype` (F32 or I64).
struct TensorSource {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // may be null when the tensor has no elements
};

// The bytes of a file holding `tensors` and `metadata`. The data section is ordered as the reference
// implementation orders it: by dtype alignment, widest first (I64 before F32), then by name (byte-wise);
// the header lists the tensors in that same order after __metadata__ (keys sorted). `crc32` is added to
// the metadata (replacing any given). UsageError for an empty, duplicate or "__metadata__" name, a
// negative dimension, a dtype other than F32/I64, or text that is not UTF-8.
std::vector<uint8_t> encode_safetensors(const std::vector<TensorSource>& tensors, const Metadata& metadata);

// Writes the same bytes to `path` atomically: into path + ".tmp", fsync, rename over `path`, fsync the
// folder. On failure the .tmp file is removed, an existing `path` is left untouched, and IoError is thrown.
void write_safetensors(const std::string& path, const std::vector<TensorSource>& tensors, const Metadata& metadata);

}  // namespace plasmo
