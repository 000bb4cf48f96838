// CRC-32 as zlib, PNG and gzip compute it (IEEE 802.3 polynomial 0x04C11DB7, bit-reflected form
// 0xEDB88320, initial value and final xor 0xFFFFFFFF). crc32("123456789") = 0xcbf43926.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace plasmo {

// CRC of `size` bytes. To checksum data in pieces, pass the previous result as `crc`:
// crc32(b, nb, crc32(a, na)) == crc32(a followed by b). crc32(nullptr, 0) == 0.
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

// 8 lowercase hex digits, as the model file's `crc32` metadata stores it: 0xcbf43926 -> "cbf43926".
std::string crc32_hex(uint32_t crc);

// Parses exactly 8 lowercase hex digits; false for anything else (uppercase, other length, "0x").
bool parse_crc32_hex(const std::string& text, uint32_t& crc);

}  // namespace plasmo
