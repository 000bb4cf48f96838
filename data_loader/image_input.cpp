#include "data_loader/image_input.h"

#include "engine/error.h"

namespace plasmo::data {

ImageInput::ImageInput(int image_size, const Normalization& norm) : image_size_(image_size), transform_(norm) {
  if (image_size < 1 || image_size > kMaxInputSize)
    throw UsageError("image size must be in [1, " + std::to_string(kMaxInputSize) + "], got " +
                     std::to_string(image_size));
}

bool ImageInput::decode_resize_memory(const uint8_t* bytes, size_t size, uint8_t* planar, std::string* reason) {
  if (!decode_image(bytes, size, image_, reason)) return false;
  resizer_.resize_to_planar(image_.rgb.data(), image_.height, image_.width, image_size_, image_size_, planar);
  return true;
}

bool ImageInput::load_memory(const uint8_t* bytes, size_t size, float* out, std::string* reason) {
  const size_t plane = static_cast<size_t>(image_size_) * image_size_;
  planar_.resize(3 * plane);
  if (!decode_resize_memory(bytes, size, planar_.data(), reason)) return false;
  normalize_planar(planar_.data(), plane, transform_, out);
  return true;
}

bool ImageInput::load_file(const std::string& path, float* out, std::string* reason) {
  if (!read_file(path, file_bytes_, reason)) return false;
  return load_memory(file_bytes_.data(), file_bytes_.size(), out, reason);
}

}  // namespace plasmo::data
