// A minimal safetensors reader for the inference core: no heap, no exceptions, nothing kept but pointers
// into the caller's bytes. (The engine's full reader is engine/io/safetensors.h; this one exists because
// the core is built without exceptions or libstdc++.)
//
// Layout: [8 bytes] N little-endian, [N bytes] JSON header, [rest] data section.
// Header: {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
// open() checks all of it before anything is read: the header length fits the file; the JSON is well formed
// (strings with their escapes, arrays of non-negative integers); every tensor has a known dtype (F32, F16,
// BF16, I64), a shape whose byte size equals end - begin, and end inside the data section; the sizes add up
// to the data section with nothing missing or left over (a truncated or padded file is refused); the
// metadata values are strings; `crc32` (8 hex digits, CRC-32/IEEE of the data section) matches when present.
#ifndef PLASMO_INFER_SAFETENSORS_H
#define PLASMO_INFER_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "plasmo_infer.h"

namespace plasmo_infer {

enum DType { kDTypeF32 = 1, kDTypeF16 = 2, kDTypeBF16 = 3, kDTypeI64 = 4 };

constexpr int kMaxRank = 8;

struct StTensor {
  int dtype;
  int rank;
  uint64_t shape[kMaxRank];
  uint64_t begin, end;  // bytes within the data section
};

struct StFile {
  const char* header;  // the JSON, header_length bytes
  size_t header_length;
  const uint8_t* data;  // the data section
  uint64_t data_size;
};

// Validates the whole file (see above). PLASMO_OK or PLASMO_ERR_FORMAT with a message.
int st_open(const uint8_t* bytes, size_t size, StFile* file, plasmo_error* error);

// The tensor called `name`; false when absent. Call only on an opened file.
bool st_find(const StFile& file, const char* name, StTensor* tensor);

// The metadata value of `key`, unescaped into value[capacity] (zero-terminated). Returns 1 when found,
// 0 when absent, -1 when the value does not fit.
int st_metadata(const StFile& file, const char* key, char* value, size_t capacity);

// Element `index` of a floating tensor as float (F16 and BF16 widened exactly).
float st_float(const StFile& file, const StTensor& tensor, size_t index);

// CRC-32 (zlib / IEEE 802.3, reflected, polynomial 0xEDB88320) of `size` bytes.
uint32_t crc32(const uint8_t* bytes, size_t size);

}  // namespace plasmo_infer

#endif  // PLASMO_INFER_SAFETENSORS_H
