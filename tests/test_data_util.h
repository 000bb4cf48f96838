// Helpers for the data_loader tests: a temporary folder that removes itself, PNG files written with
// stb_image_write, and PNGs built byte by byte for the flavours stb_image_write cannot make (16-bit,
// palette, gray+alpha): zlib "stored" blocks, so no compressor is needed.
#pragma once
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data_loader/decode.h"
#include "data_loader/synth.h"

namespace plasmo::testing {

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/plasmo-test-data-XXXXXX";
    const char* made = ::mkdtemp(pattern);
    path_ = made ? made : "";
  }
  ~TempDir() {
    std::error_code error;
    if (!path_.empty()) std::filesystem::remove_all(path_, error);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline uint32_t png_crc32(const uint8_t* data, size_t size, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

inline void put_be32(std::vector<uint8_t>& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

inline void png_chunk(std::vector<uint8_t>& out, const char type[4], const std::vector<uint8_t>& data) {
  put_be32(out, static_cast<uint32_t>(data.size()));
  std::vector<uint8_t> body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  out.insert(out.end(), body.begin(), body.end());
  put_be32(out, png_crc32(body.data(), body.size()));
}

// A PNG of any IHDR flavour. `rows`: the packed sample bytes of each row, rows concatenated, without
// filter bytes (filter 0 is added). `palette`: PLTE bytes (r, g, b per entry); `transparency`: tRNS.
inline std::vector<uint8_t> make_png(int width, int height, int bit_depth, int color_type,
                                     const std::vector<uint8_t>& rows, const std::vector<uint8_t>& palette = {},
                                     const std::vector<uint8_t>& transparency = {}) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> header;
  put_be32(header, static_cast<uint32_t>(width));
  put_be32(header, static_cast<uint32_t>(height));
  header.insert(header.end(), {static_cast<uint8_t>(bit_depth), static_cast<uint8_t>(color_type), 0, 0, 0});
  png_chunk(png, "IHDR", header);
  if (!palette.empty()) png_chunk(png, "PLTE", palette);
  if (!transparency.empty()) png_chunk(png, "tRNS", transparency);
  // Raw data: a 0 filter byte before each row.
  const size_t row_bytes = height > 0 ? rows.size() / static_cast<size_t>(height) : 0;
  std::vector<uint8_t> raw;
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);
    raw.insert(raw.end(), rows.begin() + static_cast<long>(y * row_bytes),
               rows.begin() + static_cast<long>((y + 1) * row_bytes));
  }
  // zlib: header, stored deflate blocks (<= 65535 bytes), Adler-32.
  std::vector<uint8_t> zlib = {0x78, 0x01};
  size_t offset = 0;
  do {
    const size_t length = std::min<size_t>(65535, raw.size() - offset);
    const bool final_block = offset + length == raw.size();
    zlib.push_back(final_block ? 1 : 0);
    zlib.push_back(static_cast<uint8_t>(length & 0xff));
    zlib.push_back(static_cast<uint8_t>(length >> 8));
    zlib.push_back(static_cast<uint8_t>(~length & 0xff));
    zlib.push_back(static_cast<uint8_t>((~length >> 8) & 0xff));
    zlib.insert(zlib.end(), raw.begin() + static_cast<long>(offset), raw.begin() + static_cast<long>(offset + length));
    offset += length;
  } while (offset < raw.size());
  uint32_t a = 1, b = 0;
  for (uint8_t byte : raw) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  put_be32(zlib, (b << 16) | a);
  png_chunk(png, "IDAT", zlib);
  png_chunk(png, "IEND", {});
  return png;
}

// A small RGB test image: a smooth gradient plus a seed-dependent pattern.
inline data::Image test_image(int width, int height, int seed) {
  data::Image image;
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        image.rgb[(static_cast<size_t>(y) * width + x) * 3 + c] =
            static_cast<uint8_t>((x * 7 + y * 3 + c * 50 + seed * 31 + ((x ^ y) & 7) * 5) & 0xff);
  return image;
}

inline void write_png(const std::string& path, const data::Image& image) {
  data::write_file(path, data::encode_png(image));
}

}  // namespace plasmo::testing
