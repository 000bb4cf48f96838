#include <doctest/doctest.h>

#include <cstring>

#include "data_loader/decode.h"
#include "tests/test_data_util.h"

using namespace plasmo;
using namespace plasmo::data;
using plasmo::testing::make_png;

namespace {
// A 16 x 16 JPEG of the constant colour (180, 120, 140), written by PIL (quality 95). Embedded rather
// than written with stb_image_write, whose JPEG encoder shifts negative ints (UBSan stops SAN builds).
const std::vector<uint8_t> kJpeg16 = {
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01,
    0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x02, 0x01, 0x01, 0x01, 0x02,
    0x02, 0x02, 0x02, 0x02, 0x04, 0x03, 0x02, 0x02, 0x02, 0x02, 0x05, 0x04, 0x04, 0x03, 0x04, 0x06, 0x05, 0x06,
    0x06, 0x06, 0x05, 0x06, 0x06, 0x06, 0x07, 0x09, 0x08, 0x06, 0x07, 0x09, 0x07, 0x06, 0x06, 0x08, 0x0b, 0x08,
    0x09, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x06, 0x08, 0x0b, 0x0c, 0x0b, 0x0a, 0x0c, 0x09, 0x0a, 0x0a, 0x0a, 0xff,
    0xdb, 0x00, 0x43, 0x01, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x05, 0x03, 0x03, 0x05, 0x0a, 0x07, 0x06, 0x07,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0xff, 0xc0, 0x00, 0x11,
    0x08, 0x00, 0x10, 0x00, 0x10, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xc4, 0x00,
    0x15, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x06, 0xff, 0xc4, 0x00, 0x14, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xc4, 0x00, 0x15, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0xff, 0xc4, 0x00, 0x14, 0x11, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xda, 0x00,
    0x0c, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3f, 0x00, 0xb0, 0x00, 0x5c, 0x1f, 0xff, 0xd9};

bool decode(const std::vector<uint8_t>& bytes, Image& image, std::string* reason = nullptr) {
  return decode_image(bytes.data(), bytes.size(), image, reason);
}
}  // namespace

TEST_CASE("decode: an 8-bit RGB PNG round-trips exactly") {
  const Image original = plasmo::testing::test_image(13, 9, 1);
  Image decoded;
  std::string reason;
  REQUIRE(decode(encode_png(original), decoded, &reason));
  CHECK(decoded.width == 13);
  CHECK(decoded.height == 9);
  CHECK(decoded.rgb == original.rgb);
}

TEST_CASE("decode: RGBA is composited on black, opaque pixels keep their value") {
  // 4 x 1 RGBA, 8-bit: alpha 255, 128, 1, 0.
  const std::vector<uint8_t> rows = {200, 100, 50, 255, 200, 100, 50, 128, 200, 100, 50, 1, 200, 100, 50, 0};
  Image image;
  REQUIRE(decode(make_png(4, 1, 8, 6, rows), image));
  REQUIRE(image.rgb.size() == 12);
  for (int x = 0; x < 4; ++x)
    for (int c = 0; c < 3; ++c) {
      const unsigned alpha = rows[x * 4 + 3];
      CHECK(image.rgb[x * 3 + c] == (rows[x * 4 + c] * alpha + 127) / 255);  // round(c * a / 255)
    }
  CHECK(image.rgb[0] == 200);  // opaque: exact
  CHECK(image.rgb[9] == 0);    // transparent: black
}

TEST_CASE("decode: grayscale and gray+alpha PNGs become R = G = B") {
  Image image;
  REQUIRE(decode(make_png(3, 1, 8, 0, {0, 77, 255}), image));
  const uint8_t expected[9] = {0, 0, 0, 77, 77, 77, 255, 255, 255};
  CHECK(std::memcmp(image.rgb.data(), expected, 9) == 0);
  REQUIRE(decode(make_png(2, 1, 8, 4, {100, 255, 100, 0}), image));  // gray+alpha
  const uint8_t expected_alpha[6] = {100, 100, 100, 0, 0, 0};
  CHECK(std::memcmp(image.rgb.data(), expected_alpha, 6) == 0);
}

TEST_CASE("decode: 16-bit PNGs come out as 8-bit (the high byte)") {
  // 2 x 1 RGB, 16-bit big-endian samples.
  const std::vector<uint8_t> rows = {0xff, 0xff, 0x80, 0x10, 0x00, 0x00, 0x12, 0x34, 0xab, 0xcd, 0x01, 0xff};
  Image image;
  std::string reason;
  REQUIRE_MESSAGE(decode(make_png(2, 1, 16, 2, rows), image, &reason), reason);
  const uint8_t expected[6] = {0xff, 0x80, 0x00, 0x12, 0xab, 0x01};
  CHECK(std::memcmp(image.rgb.data(), expected, 6) == 0);
  // 16-bit grayscale too.
  REQUIRE(decode(make_png(1, 1, 16, 0, {0x7f, 0xee}), image));
  CHECK(image.rgb == std::vector<uint8_t>{0x7f, 0x7f, 0x7f});
}

TEST_CASE("decode: palette PNGs expand, with tRNS composited on black") {
  const std::vector<uint8_t> palette = {255, 0, 0, 0, 255, 0, 10, 20, 30};
  Image image;
  std::string reason;
  // 8-bit indices 2, 0, 1.
  REQUIRE_MESSAGE(decode(make_png(3, 1, 8, 3, {2, 0, 1}, palette), image, &reason), reason);
  CHECK(image.rgb == std::vector<uint8_t>{10, 20, 30, 255, 0, 0, 0, 255, 0});
  // 4-bit indices packed two per byte: 1, 2 -> 0x12; entry 1 fully transparent.
  REQUIRE_MESSAGE(decode(make_png(2, 1, 4, 3, {0x12}, palette, {255, 0}), image, &reason), reason);
  CHECK(image.rgb == std::vector<uint8_t>{0, 0, 0, 10, 20, 30});
}

TEST_CASE("decode: a JPEG decodes to RGB close to what was written") {
  Image image;
  std::string reason;
  REQUIRE_MESSAGE(decode(kJpeg16, image, &reason), reason);
  REQUIRE(image.width == 16);
  REQUIRE(image.height == 16);
  const int expected[3] = {180, 120, 140};
  for (size_t i = 0; i < image.rgb.size(); ++i) REQUIRE(std::abs(int(image.rgb[i]) - expected[i % 3]) <= 3);
}

TEST_CASE("decode: truncated, corrupt and foreign bytes are refused with a reason") {
  const std::vector<uint8_t> good = encode_png(plasmo::testing::test_image(20, 20, 2));
  Image image;
  std::string reason;
  for (size_t keep : {size_t{0}, size_t{4}, size_t{8}, size_t{30}, good.size() / 2, good.size() - 13}) {
    std::vector<uint8_t> truncated(good.begin(), good.begin() + static_cast<long>(keep));
    reason.clear();
    CHECK_FALSE(decode(truncated, image, &reason));
    CHECK_FALSE(reason.empty());
    CHECK(image.rgb.empty());
  }
  std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};
  CHECK_FALSE(decode(text, image, &reason));
  CHECK(reason == "not a PNG or JPEG file");
  // Corrupt the compressed data: the zlib stream or CRC no longer adds up.
  std::vector<uint8_t> corrupt = good;
  for (size_t i = 45; i < corrupt.size() - 20; i += 7) corrupt[i] ^= 0x5a;
  CHECK_FALSE(decode(corrupt, image, &reason));
}

TEST_CASE("decode: absurd sizes are refused from the header, before allocating") {
  // Header says 9000 x 2; there is (deliberately) nothing like enough data.
  std::vector<uint8_t> rows(2 * 9000 * 3, 0);
  Image image;
  std::string reason;
  CHECK_FALSE(decode(make_png(9000, 2, 8, 2, rows), image, &reason));
  CHECK(reason.find("too large") != std::string::npos);
  CHECK(reason.find("9000") != std::string::npos);
  // 8192 is allowed.
  std::vector<uint8_t> edge(8192 * 3, 7);
  REQUIRE(decode(make_png(8192, 1, 8, 2, edge), image, &reason));
  CHECK(image.width == 8192);
}

TEST_CASE("decode: files that cannot be read are refused with a reason") {
  plasmo::testing::TempDir dir;
  std::vector<uint8_t> bytes;
  Image image;
  std::string reason;
  CHECK_FALSE(decode_image_file(dir / "missing.png", bytes, image, &reason));
  CHECK(reason.find("cannot open") != std::string::npos);
  CHECK_FALSE(decode_image_file(dir.path(), bytes, image, &reason));  // a folder
  plasmo::testing::write_png(dir / "ok.png", plasmo::testing::test_image(5, 4, 3));
  CHECK(decode_image_file(dir / "ok.png", bytes, image, &reason));
  CHECK(image.width == 5);
}

TEST_CASE("decode: a JPEG Huffman table with more than 256 codes is refused (stb 2.27 would overrun)") {
  // Found by fuzz/fuzz_decode.cpp under UBSan/ASan: stb_image 2.27 fills its code tables without
  // checking the total. Take a valid JPEG and raise the counts of its first DHT table.
  const std::vector<uint8_t>& jpeg = kJpeg16;
  Image image;
  std::string reason;
  REQUIRE(decode(jpeg, image, &reason));
  size_t dht = 0;
  for (size_t i = 2; i + 1 < jpeg.size(); ++i)
    if (jpeg[i] == 0xff && jpeg[i + 1] == 0xc4) {
      dht = i;
      break;
    }
  REQUIRE(dht > 0);
  std::vector<uint8_t> bad = jpeg;
  bad[dht + 5 + 14] = 200;  // counts of code lengths 15 and 16 (bytes after the length and the class byte)
  bad[dht + 5 + 15] = 200;
  CHECK_FALSE(decode(bad, image, &reason));
  CHECK(reason.find("Huffman") != std::string::npos);
  // The same table behind a leading APP segment and FF fill bytes is still found.
  std::vector<uint8_t> with_app = {0xff, 0xd8, 0xff, 0xff, 0xe1, 0x00, 0x06, 0xff, 0xc4, 0x10, 0xff};
  with_app.insert(with_app.end(), bad.begin() + 2, bad.end());
  CHECK_FALSE(decode(with_app, image, &reason));
  CHECK(reason.find("Huffman") != std::string::npos);
}

TEST_CASE("decode: a PNG chunk claiming more bytes than the file holds is refused before stb allocates") {
  // Found by fuzz/fuzz_decode.cpp: stb grows its IDAT buffer to the declared length (here 1 GiB)
  // before reading. A valid 1 x 1 PNG whose IDAT length field is then inflated.
  std::vector<uint8_t> png = make_png(1, 1, 8, 2, {1, 2, 3});
  Image image;
  REQUIRE(decode(png, image));
  size_t idat = 0;
  for (size_t i = 8; i + 4 < png.size(); ++i)
    if (std::memcmp(&png[i], "IDAT", 4) == 0) idat = i - 4;
  REQUIRE(idat > 0);
  png[idat] = 0x40;  // length 0x40000000 + the real length
  std::string reason;
  CHECK_FALSE(decode(png, image, &reason));
  CHECK(reason.find("past the end") != std::string::npos);
  // Trailing bytes after IEND are fine; a file ending before IEND is not.
  std::vector<uint8_t> trailing = make_png(1, 1, 8, 2, {1, 2, 3});
  trailing.push_back(0);
  CHECK(decode(trailing, image));
  std::vector<uint8_t> no_end = make_png(1, 1, 8, 2, {1, 2, 3});
  no_end.resize(no_end.size() - 12);
  CHECK_FALSE(decode(no_end, image, &reason));
}

TEST_CASE("decode: an empty IDAT before the image data is refused (stb would memcpy from NULL)") {
  std::vector<uint8_t> png = make_png(1, 1, 8, 2, {1, 2, 3});
  size_t idat = 0;
  for (size_t i = 8; i + 4 < png.size(); ++i)
    if (std::memcmp(&png[i], "IDAT", 4) == 0) idat = i - 4;
  REQUIRE(idat > 0);
  std::vector<uint8_t> empty_first(png.begin(), png.begin() + static_cast<long>(idat));
  plasmo::testing::png_chunk(empty_first, "IDAT", {});
  empty_first.insert(empty_first.end(), png.begin() + static_cast<long>(idat), png.end());
  Image image;
  std::string reason;
  CHECK_FALSE(decode(empty_first, image, &reason));
  CHECK(reason.find("empty IDAT") != std::string::npos);
}

// Found by `make fuzz` (fuzz/corpus/decode/regression-jpeg-dc-overflow.bin, with its size byte): a
// progressive JPEG whose DC deltas sum past INT_MAX in stb 2.27 (stbi__jpeg_decode_block_prog_dc). The
// Makefile compiles stb with -fwrapv, so the sum wraps and the file decodes to garbage. The guard against
// the undefined overflow is that seed, run by every `make fuzz` (clang's UBSan reports it without the flag;
// GCC's, in the SAN build, does not instrument that line); here, the decode's outcome.
TEST_CASE("decode: a progressive JPEG whose DC sum overflows decodes to garbage or is refused, cleanly") {
  const std::vector<uint8_t> dc_overflow = {
      0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x44,
      0x41, 0x54, 0x36, 0xc8, 0xc1, 0x11, 0xc0, 0x30, 0x08, 0x03, 0x41, 0x66, 0x37, 0x2c, 0x2d, 0x40, 0x57, 0x41,
      0x46, 0x00, 0x4c, 0x00, 0x4e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
      0x00, 0x00, 0x00, 0x00, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f, 0x37, 0x4f, 0x4f, 0x4f, 0x4f, 0x4f,
      0x4f, 0x4f, 0xff, 0xc2, 0x00, 0x11, 0x08, 0x10, 0x0c, 0x02, 0x0a, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01,
      0x03, 0x11, 0x01, 0xff, 0xc4, 0x00, 0x16, 0x00, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x03, 0x05, 0xff, 0xc4, 0x00, 0x15, 0x01, 0x01, 0x01, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x02, 0xff, 0xda, 0x00, 0x0c,
      0x03, 0x01, 0x00, 0x02, 0x10, 0x03, 0x10, 0x00, 0x00, 0x08, 0x00, 0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00,
      0x01, 0x3f, 0x10, 0xc1, 0xdb, 0xc1, 0x41, 0x74, 0x43, 0x50, 0xcd, 0x82, 0x88, 0xff, 0xd9};
  Image image;
  std::string reason;
  if (decode(dc_overflow, image, &reason)) {
    CHECK(image.width == 522);  // the SOF2 header says 4108 rows of 522 pixels
    CHECK(image.height == 4108);
    CHECK(image.rgb.size() == 522u * 4108u * 3u);
  } else {
    CHECK_FALSE(reason.empty());
  }
}
