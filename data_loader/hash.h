// A fast 64-bit non-cryptographic hash for the dataset cache: the cache key (file list, sizes, mtimes,
// S) and the checksums that catch a corrupt or truncated cache file. Four independent lanes of
// multiply-rotate over 32-byte blocks (the structure of xxHash64), so checking a 300 MB cache takes
// tens of milliseconds. Not for security: it detects accidents, not attacks.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace plasmo::data {

uint64_t hash64(const void* data, size_t size, uint64_t seed = 0);

// Incremental key building: append fields, read the hash of all bytes appended so far.
class KeyHasher {
 public:
  void add(const void* data, size_t size);
  void add_u64(uint64_t value) { add(&value, sizeof(value)); }
  void add_string(const std::string& text) {
    add_u64(text.size());
    add(text.data(), text.size());
  }
  uint64_t digest() const { return hash64(bytes_.data(), bytes_.size(), 0x706c61736d6fULL); }

 private:
  std::string bytes_;
};

}  // namespace plasmo::data
