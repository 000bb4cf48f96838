// Image files in, 8-bit RGB pixels out: PNG and JPEG through stb_image (stb_image_impl.cpp).
// Every PNG flavour comes out as 8-bit RGB: RGB as is; grayscale replicated to R=G=B; 16-bit reduced
// to 8 (stb keeps the high byte); palette expanded; alpha composited on black (rgb * a / 255, rounded:
// the NIH crops have black backgrounds), so an opaque pixel keeps its exact value.
// Bad bytes never throw: the functions return false and say why, so a loader can skip the file, name
// it and go on. Images with a side over kMaxImageSide are refused from the header, before any pixel
// memory is allocated.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace plasmo::data {

constexpr int kMaxImageSide = 8192;

// 8-bit RGB, rows top to bottom, pixels interleaved: rgb[(y * width + x) * 3 + channel].
struct Image {
  int height = 0;
  int width = 0;
  std::vector<uint8_t> rgb;
};

// Decodes PNG or JPEG bytes into `out` (its buffer is reused when large enough). On failure returns
// false, leaves `out` empty and, when `reason` is given, sets a short reason ("truncated or corrupt
// PNG/JPEG data: ...", "image too large: 9000 x 20 px (limit 8192 a side)", "not a PNG or JPEG file").
bool decode_image(const uint8_t* bytes, size_t size, Image& out, std::string* reason);

// Reads a whole file into `bytes` (reused). False with a reason when it cannot be opened or read.
bool read_file(const std::string& path, std::vector<uint8_t>& bytes, std::string* reason);

// read_file + decode_image; `buffer` holds the file bytes between calls (no allocation once it is big
// enough).
bool decode_image_file(const std::string& path, std::vector<uint8_t>& buffer, Image& out, std::string* reason);

}  // namespace plasmo::data
