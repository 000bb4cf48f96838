// The dataset cache: the decoded, resized uint8 images of one data folder at one size S, so a second
// run starts in well under a second instead of decoding every PNG again.
//
// Where: a cache folder, never next to the images (the data may be read-only): the folder given
// (--cache), else $XDG_CACHE_HOME/plasmo, else $HOME/.cache/plasmo. One file per (data folder, S):
//   <cache dir>/dataset-s<S>-<16 hex digits of hash64(absolute data folder path)>[-n<limit>].bin
//
// Key: hash64 over the format version, S, and for every discovered file its path, label, size and
// mtime (ns). Any changed, added, removed or touched file changes the key, and the whole cache is
// rebuilt.
//
// File layout (little-endian; 80-byte header, then two sections):
//   0  char[8]  "PLASMOC" "\x01"
//   8  u32      format version (kCacheVersion)      12 u32  S
//   16 u64      key                                 24 u64  files (discovered)
//   32 u64      images (decoded; <= files)          40 u64  meta bytes
//   48 u64      hash64(meta section)                56 u64  hash64(pixel section)
//   64 u64      pixel bytes = images * 3 * S * S    72 u64  hash64(header bytes 0..71)
//   meta:   files bytes (1 = decoded, 0 = skipped), then per skipped file: u32 length + reason text
//   pixels: images x [3][S][S] uint8, in file order
// A cache is used only when magic, version, S, key, counts, file size and all three checksums agree;
// anything else (truncated, corrupt, stale) is reported and rebuilt, never trusted. Writes go to a
// temporary file renamed into place, so a crash never leaves a half-written cache under the real name.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data_loader/discover.h"

namespace plasmo::data {

constexpr uint32_t kCacheVersion = 1;

// Bytes without zero-filling (a cache read fills them all).
struct ByteBuffer {
  std::unique_ptr<uint8_t[]> data;
  size_t size = 0;
  void allocate(size_t bytes) {
    data.reset(bytes ? new uint8_t[bytes] : nullptr);
    size = bytes;
  }
};

struct CacheContents {
  std::vector<uint8_t> decoded;      // per discovered file: 1 decoded, 0 skipped
  std::vector<std::string> reasons;  // per skipped file, in file order
  ByteBuffer pixels;                 // decoded images, [images][3][S][S]
  size_t images() const;
};

// $XDG_CACHE_HOME/plasmo, else $HOME/.cache/plasmo; "" when neither variable is set.
std::string default_cache_dir();
std::string cache_file_path(const std::string& cache_dir, const std::string& data_root, int image_size, int limit = 0);
uint64_t cache_key(const std::vector<Sample>& samples, int image_size);

// True when `path` holds a valid cache for (key, files, S); `contents` is then filled. False with the
// reason ("no cache yet", "stale: the files changed", "corrupt: pixel checksum mismatch", ...) otherwise.
bool read_cache(const std::string& path, uint64_t key, size_t files, int image_size, CacheContents& contents,
                std::string* why_not);

// Writes atomically (temporary file + rename), creating the folder. Throws IoError on failure.
void write_cache(const std::string& path, uint64_t key, int image_size, const CacheContents& contents);

}  // namespace plasmo::data
