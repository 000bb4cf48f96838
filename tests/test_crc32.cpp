#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/io/crc32.h"

using namespace plasmo;

namespace {

// The definition, one bit at a time: reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF.
uint32_t crc32_bitwise(const unsigned char* bytes, size_t size) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) {
    crc ^= bytes[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1u) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
  }
  return ~crc;
}

uint32_t crc_of(const std::string& text) { return crc32(text.data(), text.size()); }

}  // namespace

TEST_CASE("CRC-32: known vectors (zlib/IEEE)") {
  CHECK(crc32(nullptr, 0) == 0u);
  CHECK(crc_of("123456789") == 0xcbf43926u);
  CHECK(crc_of("a") == 0xe8b7be43u);
  CHECK(crc_of("abc") == 0x352441c2u);
  CHECK(crc_of("The quick brown fox jumps over the lazy dog") == 0x414fa339u);
  std::vector<unsigned char> zeros(32, 0);
  CHECK(crc32(zeros.data(), zeros.size()) == 0x190a55adu);
  std::vector<unsigned char> ramp(256);
  for (int i = 0; i < 256; ++i) ramp[static_cast<size_t>(i)] = static_cast<unsigned char>(i);
  CHECK(crc32(ramp.data(), ramp.size()) == 0x29058c73u);
}

TEST_CASE("CRC-32: every length, alignment and split matches the bitwise definition") {
  std::vector<unsigned char> bytes(200);
  uint32_t state = 12345;
  for (auto& byte : bytes) {
    state = state * 1103515245u + 12345u;
    byte = static_cast<unsigned char>(state >> 24);
  }
  for (size_t start = 0; start < 8; ++start)
    for (size_t size = 0; start + size <= 80; ++size) {
      const unsigned char* piece = bytes.data() + start;
      uint32_t expected = crc32_bitwise(piece, size);
      REQUIRE(crc32(piece, size) == expected);
      // In two pieces, chained through the previous value.
      size_t split = size / 3;
      REQUIRE(crc32(piece + split, size - split, crc32(piece, split)) == expected);
    }
  CHECK(crc32(bytes.data(), bytes.size()) == crc32_bitwise(bytes.data(), bytes.size()));
}

TEST_CASE("CRC-32: hex text is 8 lowercase digits both ways") {
  CHECK(crc32_hex(0xcbf43926u) == "cbf43926");
  CHECK(crc32_hex(0u) == "00000000");
  CHECK(crc32_hex(0xFFFFFFFFu) == "ffffffff");
  uint32_t value = 0;
  CHECK(parse_crc32_hex("cbf43926", value));
  CHECK(value == 0xcbf43926u);
  CHECK(parse_crc32_hex("00000001", value));
  CHECK(value == 1u);
  for (const char* bad : {"CBF43926", "cbf4392", "cbf439260", "0xcbf439", "cbf4392g", "", " cbf4392"})
    CHECK_MESSAGE(!parse_crc32_hex(bad, value), bad);
}
