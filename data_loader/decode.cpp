#include "data_loader/decode.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <stb/stb_image.h>

namespace plasmo::data {

namespace {

struct StbPixels {  // frees stb's malloc'd buffer on every path
  unsigned char* data = nullptr;
  ~StbPixels() { stbi_image_free(data); }
};

bool fail(Image& out, std::string* reason, const std::string& why) {
  out.height = out.width = 0;
  out.rgb.clear();
  if (reason) *reason = why;
  return false;
}

bool looks_like_png(const uint8_t* bytes, size_t size) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return size >= 8 && std::memcmp(bytes, kSignature, 8) == 0;
}
bool looks_like_jpeg(const uint8_t* bytes, size_t size) {
  return size >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff;
}

// stb_image grows its buffer for a PNG's IDAT chunk to the length the chunk header declares before
// reading the data, so a 100-byte file can ask for gigabytes (found by fuzz/fuzz_decode.cpp). stb
// reads chunks one after another (length, type, data, CRC) up to IEND and fails on any shortfall;
// here every chunk up to IEND must lie inside the file before stb starts, so stb never allocates
// for data that is not there.
// Also refused: an empty IDAT chunk before any image data, where stb calls memcpy(NULL, ..., 0)
// (undefined behaviour that stops UBSan builds; no real encoder writes one).
// Returns nullptr when the chunks are fine, else the reason.
const char* png_chunk_problem(const uint8_t* bytes, size_t size) {
  size_t position = 8;  // after the signature
  bool seen_image_data = false;
  while (position + 12 <= size) {
    const uint64_t length = (static_cast<uint64_t>(bytes[position]) << 24) | (bytes[position + 1] << 16) |
                            (bytes[position + 2] << 8) | bytes[position + 3];
    if (length > size - position - 12) return "truncated or corrupt PNG: a chunk runs past the end of the file";
    const uint8_t* type = bytes + position + 4;
    if (std::memcmp(type, "IEND", 4) == 0) return nullptr;
    if (std::memcmp(type, "IDAT", 4) == 0) {
      if (length == 0 && !seen_image_data) return "unsupported PNG: an empty IDAT chunk before the image data";
      seen_image_data = true;
    }
    position += 12 + static_cast<size_t>(length);
  }
  return "truncated PNG: no IEND chunk";
}

// stb_image 2.27 (Debian's) trusts the code counts of a JPEG Huffman table (DHT): more than 256
// codes overrun its tables (a heap overflow found by fuzz/fuzz_decode.cpp; stb 2.28 added the check).
// So before stb sees a JPEG, every Huffman table stb could ever parse is checked here, mirroring stb's
// own reading: after SOI, the leading APPn/COM segments are skipped by length exactly as stb skips
// them (FF fill bytes and stray bytes between segments included); from the first other marker on,
// every FF C4 in the file is read as stb would read a DHT segment, table after table. That is a
// superset of what stb parses (entropy-coded data cannot hold FF C4), so no oversized table gets through.
bool jpeg_huffman_tables_ok(const uint8_t* bytes, size_t size) {
  auto byte_at = [&](size_t position) -> unsigned {
    return position < size ? bytes[position] : 0u;
  };  // stb reads 0 past the end
  // Leading SOI and APPn / COM segments.
  size_t position = 0;
  while (position < size && bytes[position] == 0xff) ++position;  // FF fill, then D8
  ++position;                                                     // the SOI byte
  while (position < size) {
    if (bytes[position] != 0xff) {  // a stray byte: stb skips it
      ++position;
      continue;
    }
    size_t marker_at = position;
    while (marker_at < size && bytes[marker_at] == 0xff) ++marker_at;
    const unsigned marker = byte_at(marker_at);
    const bool skipped_by_length = (marker >= 0xe0 && marker <= 0xef) || marker == 0xfe;
    if (!skipped_by_length) break;  // from here on, every FF C4 is checked
    const size_t length = (byte_at(marker_at + 1) << 8) | byte_at(marker_at + 2);
    position = marker_at + 1 + length;
  }
  for (size_t at = position; at + 1 < size; ++at) {
    if (bytes[at] != 0xff || bytes[at + 1] != 0xc4) continue;
    // stb's DHT loop: L = length - 2; while L > 0: q, 16 counts, n = sum(counts) values.
    long remaining = static_cast<long>((byte_at(at + 2) << 8) | byte_at(at + 3)) - 2;
    size_t table = at + 4;
    while (remaining > 0 && table < size) {
      const unsigned q = byte_at(table);
      if ((q >> 4) > 1 || (q & 15) > 3) break;  // stb refuses this segment itself
      unsigned codes = 0;
      for (int length = 0; length < 16; ++length) codes += byte_at(table + 1 + length);
      if (codes > 256) return false;
      remaining -= 17 + static_cast<long>(codes);
      table += 17 + codes;
    }
  }
  return true;
}

}  // namespace

bool decode_image(const uint8_t* bytes, size_t size, Image& out, std::string* reason) {
  const bool png = looks_like_png(bytes, size);
  if (!png && !looks_like_jpeg(bytes, size)) return fail(out, reason, "not a PNG or JPEG file");
  if (size > static_cast<size_t>(INT_MAX)) return fail(out, reason, "file too large for the decoder");
  const char* kind = png ? "PNG" : "JPEG";
  if (png)
    if (const char* problem = png_chunk_problem(bytes, size)) return fail(out, reason, problem);
  if (!png && !jpeg_huffman_tables_ok(bytes, size))
    return fail(out, reason, "corrupt JPEG: a Huffman table with more than 256 codes");
  const int length = static_cast<int>(size);

  // Header first: refuse absurd sizes before stb allocates anything for the pixels.
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(bytes, length, &width, &height, &channels))
    return fail(out, reason, std::string("corrupt ") + kind + " header: " + stbi_failure_reason());
  if (width <= 0 || height <= 0 || width > kMaxImageSide || height > kMaxImageSide)
    return fail(out, reason,
                "image too large: " + std::to_string(width) + " x " + std::to_string(height) + " px (limit " +
                    std::to_string(kMaxImageSide) + " a side)");

  // Gray and RGB come out as RGB directly; anything with alpha (gray+alpha, RGBA, palette with tRNS)
  // comes out as RGBA and is composited on black below. 16-bit samples are reduced to 8 by stb.
  const bool has_alpha = channels == 2 || channels == 4;
  const int wanted = has_alpha ? 4 : 3;
  int got_width = 0, got_height = 0, got_channels = 0;
  StbPixels pixels;
  pixels.data = stbi_load_from_memory(bytes, length, &got_width, &got_height, &got_channels, wanted);
  if (!pixels.data)
    return fail(out, reason, std::string("truncated or corrupt ") + kind + " data: " + stbi_failure_reason());
  if (got_width != width || got_height != height)  // header and data disagree: do not trust either
    return fail(out, reason, std::string("inconsistent ") + kind + " header");

  const size_t pixel_count = static_cast<size_t>(width) * height;
  out.width = width;
  out.height = height;
  out.rgb.resize(pixel_count * 3);
  if (!has_alpha) {
    std::memcpy(out.rgb.data(), pixels.data, pixel_count * 3);
  } else {
    // Composite on black: c' = round(c * a / 255) = (c * a + 127) / 255 in integers (exact for a = 255).
    const uint8_t* src = pixels.data;
    uint8_t* dst = out.rgb.data();
    for (size_t i = 0; i < pixel_count; ++i, src += 4, dst += 3) {
      const unsigned alpha = src[3];
      for (int channel = 0; channel < 3; ++channel)
        dst[channel] = static_cast<uint8_t>((src[channel] * alpha + 127u) / 255u);
    }
  }
  return true;
}

bool read_file(const std::string& path, std::vector<uint8_t>& bytes, std::string* reason) {
  bytes.clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (reason) *reason = std::string("cannot open: ") + std::strerror(errno);
    return false;
  }
  struct stat info;
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    if (reason) *reason = "not a regular file";
    return false;
  }
  // Read to end of file; the size from fstat is a hint (the file may change while we read).
  size_t capacity = static_cast<size_t>(info.st_size) + 1;
  bytes.resize(capacity);
  size_t filled = 0;
  for (;;) {
    if (filled == bytes.size()) bytes.resize(bytes.size() * 2);
    const ssize_t got = ::read(fd, bytes.data() + filled, bytes.size() - filled);
    if (got < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      bytes.clear();
      if (reason) *reason = std::string("read failed: ") + std::strerror(error);
      return false;
    }
    if (got == 0) break;
    filled += static_cast<size_t>(got);
  }
  ::close(fd);
  bytes.resize(filled);
  return true;
}

bool decode_image_file(const std::string& path, std::vector<uint8_t>& buffer, Image& out, std::string* reason) {
  if (!read_file(path, buffer, reason)) {
    out.height = out.width = 0;
    out.rgb.clear();
    return false;
  }
  return decode_image(buffer.data(), buffer.size(), out, reason);
}

}  // namespace plasmo::data
