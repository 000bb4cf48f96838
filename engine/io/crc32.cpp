#include "engine/io/crc32.h"

#include <array>

namespace plasmo {
namespace {

// Slicing-by-8 tables. tables[0][byte] is the CRC of one byte (the classic table-driven step:
// crc = tables[0][(crc ^ byte) & 0xff] ^ (crc >> 8)); tables[k][byte] advances that byte's CRC by k
// more zero bytes, so eight input bytes are folded with eight independent look-ups per step.
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

constexpr CrcTables make_tables() {
  CrcTables tables{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1u) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    tables[0][byte] = crc;
  }
  for (uint32_t byte = 0; byte < 256; ++byte)
    for (int k = 1; k < 8; ++k) {
      uint32_t previous = tables[k - 1][byte];
      tables[k][byte] = tables[0][previous & 0xffu] ^ (previous >> 8);
    }
  return tables;
}

constexpr CrcTables kTables = make_tables();

}  // namespace

uint32_t crc32(const void* data, size_t size, uint32_t crc) {
  const unsigned char* bytes = static_cast<const unsigned char*>(data);
  crc = ~crc;
  // Eight bytes per step: the first four are xored into the CRC (little-endian order, read byte by
  // byte so any alignment and host works), the last four enter the tables directly.
  while (size >= 8) {
    crc ^= static_cast<uint32_t>(bytes[0]) | static_cast<uint32_t>(bytes[1]) << 8 |
           static_cast<uint32_t>(bytes[2]) << 16 | static_cast<uint32_t>(bytes[3]) << 24;
    crc = kTables[7][crc & 0xffu] ^ kTables[6][(crc >> 8) & 0xffu] ^ kTables[5][(crc >> 16) & 0xffu] ^
          kTables[4][crc >> 24] ^ kTables[3][bytes[4]] ^ kTables[2][bytes[5]] ^ kTables[1][bytes[6]] ^
          kTables[0][bytes[7]];
    bytes += 8;
    size -= 8;
  }
  while (size--) crc = kTables[0][(crc ^ *bytes++) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

std::string crc32_hex(uint32_t crc) {
  static const char kDigits[] = "0123456789abcdef";
  std::string text(8, '0');
  for (int digit = 7; digit >= 0; --digit, crc >>= 4) text[digit] = kDigits[crc & 0xfu];
  return text;
}

bool parse_crc32_hex(const std::string& text, uint32_t& crc) {
  if (text.size() != 8) return false;
  uint32_t value = 0;
  for (char c : text) {
    uint32_t nibble;
    if (c >= '0' && c <= '9')
      nibble = static_cast<uint32_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      nibble = static_cast<uint32_t>(c - 'a' + 10);
    else
      return false;
    value = value << 4 | nibble;
  }
  crc = value;
  return true;
}

}  // namespace plasmo
