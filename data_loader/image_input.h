// One image file (or its bytes) -> model input [3][S][S], through exactly the steps the dataset uses
// (decode, resize to uint8, normalize), so eval and predict see what training saw. Needs only
// decode, resize, normalize and stb_image: small enough for the inference-only binary.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data_loader/decode.h"
#include "data_loader/normalize.h"
#include "data_loader/resize.h"

namespace plasmo::data {

constexpr int kMaxInputSize = 1024;  // largest S accepted

// Owns its buffers: keep one per thread; no allocation once images stop growing.
class ImageInput {
 public:
  // Throws UsageError for S outside [1, kMaxInputSize].
  ImageInput(int image_size, const Normalization& norm);
  int image_size() const { return image_size_; }
  // out: 3 * S * S floats. False (with the reason) when the file cannot be read or decoded.
  bool load_file(const std::string& path, float* out, std::string* reason);
  bool load_memory(const uint8_t* bytes, size_t size, float* out, std::string* reason);
  // The uint8 planar [3][S][S] image before normalization (what the dataset and its cache hold).
  bool decode_resize_memory(const uint8_t* bytes, size_t size, uint8_t* planar, std::string* reason);

 private:
  int image_size_;
  InputTransform transform_;
  std::vector<uint8_t> file_bytes_, planar_;
  Image image_;
  Resizer resizer_;
};

}  // namespace plasmo::data
