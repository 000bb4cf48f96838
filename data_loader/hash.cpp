#include "data_loader/hash.h"

#include <cstring>

namespace plasmo::data {

namespace {
constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t kPrime3 = 0x165667B19E3779F9ULL;
constexpr uint64_t kPrime4 = 0x85EBCA77C2B2AE63ULL;
constexpr uint64_t kPrime5 = 0x27D4EB2F165667C5ULL;

uint64_t rotl(uint64_t value, int bits) { return (value << bits) | (value >> (64 - bits)); }
uint64_t read64(const uint8_t* p) {
  uint64_t value;
  std::memcpy(&value, p, 8);  // little-endian hosts only matter for cache portability, not correctness
  return value;
}
uint64_t lane_step(uint64_t lane, uint64_t word) { return rotl(lane + word * kPrime2, 31) * kPrime1; }
uint64_t merge_lane(uint64_t hash, uint64_t lane) { return (hash ^ lane_step(0, lane)) * kPrime1 + kPrime4; }
}  // namespace

uint64_t hash64(const void* data, size_t size, uint64_t seed) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  const uint8_t* end = p + size;
  uint64_t hash;
  if (size >= 32) {
    uint64_t lane0 = seed + kPrime1 + kPrime2, lane1 = seed + kPrime2, lane2 = seed, lane3 = seed - kPrime1;
    for (; p + 32 <= end; p += 32) {
      lane0 = lane_step(lane0, read64(p));
      lane1 = lane_step(lane1, read64(p + 8));
      lane2 = lane_step(lane2, read64(p + 16));
      lane3 = lane_step(lane3, read64(p + 24));
    }
    hash = rotl(lane0, 1) + rotl(lane1, 7) + rotl(lane2, 12) + rotl(lane3, 18);
    hash = merge_lane(hash, lane0);
    hash = merge_lane(hash, lane1);
    hash = merge_lane(hash, lane2);
    hash = merge_lane(hash, lane3);
  } else {
    hash = seed + kPrime5;
  }
  hash += static_cast<uint64_t>(size);
  for (; p + 8 <= end; p += 8) hash = rotl(hash ^ lane_step(0, read64(p)), 27) * kPrime1 + kPrime4;
  for (; p < end; ++p) hash = rotl(hash ^ (*p * kPrime5), 11) * kPrime1;
  // Final avalanche: every input bit affects every output bit.
  hash ^= hash >> 33;
  hash *= kPrime2;
  hash ^= hash >> 29;
  hash *= kPrime3;
  hash ^= hash >> 32;
  return hash;
}

void KeyHasher::add(const void* data, size_t size) { bytes_.append(static_cast<const char*>(data), size); }

}  // namespace plasmo::data
