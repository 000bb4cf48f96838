// The dataset cache: the decoded, resized uint8 images of one data folder at one size S, so a second
// run starts in well under a second instead of decoding every PNG again.
//
// Where: a cache folder, never next to the images (the data may be read-only): the folder given
// (--cache), else $XDG_CACHE_HOME/plasmo, else $HOME/.cache/plasmo. One file per (data folder, S):
//   <cache dir>/dataset-s<S>-<16 hex digits of hash64(absolute data folder path)>[-n<limit>].bin
//
// Key: hash64 over the format version, S, and for every discovered file its path (relative to the
// data folder), label, size and mtime (ns). Any changed, added, removed or touched file changes the key, and the whole
// cache is rebuilt.
//
// File layout (little-endian; 80-byte header, then two sections):
//   0  char[8]  "PLASMOC" "\x01"
//   8  u32      format version (kCacheVersion)      12 u32  S
//   16 u64      key                                 24 u64  files (discovered)
//   32 u64      images (decoded; <= files)          40 u64  meta bytes
//   48 u64      hash64(meta section)                56 u64  pixel checksum (pixel_checksum())
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

namespace plasmo {
class ThreadPool;
}

namespace plasmo::data {

constexpr uint32_t kCacheVersion = 2;
constexpr size_t kPixelHashBlock = size_t{8} << 20;  // the pixel checksum hashes 8 MiB blocks in parallel

// The pixel bytes of a dataset: either heap memory (decoded now; not zero-filled) or a read-only
// private mapping of a verified cache file (no copy: the page cache backs it). A cache file is only
// ever replaced by rename, never rewritten in place, so a mapping stays valid while in use.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(ByteBuffer&& other) noexcept { *this = std::move(other); }
  ByteBuffer& operator=(ByteBuffer&& other) noexcept;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ~ByteBuffer() { release(); }

  void allocate(size_t bytes);  // heap, writable
  // Maps `file_bytes` of the open file read-only; data() then starts `offset` bytes in and holds
  // `bytes` bytes. False when mmap fails.
  bool map(int fd, size_t file_bytes, size_t offset, size_t bytes);
  // Restricts data() to [offset, offset + bytes) of the current view (offset + bytes <= size()).
  void narrow(size_t offset, size_t bytes);
  uint8_t* data() { return data_; }  // writable only when allocate()d
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool mapped() const { return map_base_ != nullptr; }

 private:
  void release();
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::unique_ptr<uint8_t[]> heap_;
  void* map_base_ = nullptr;
  size_t map_bytes_ = 0;
};

struct CacheContents {
  std::vector<uint8_t> decoded;      // per discovered file: 1 decoded, 0 skipped
  std::vector<std::string> reasons;  // per skipped file, in file order
  ByteBuffer pixels;                 // decoded images, [images][3][S][S] (mapped after read_cache)
  size_t images() const;
};

// $XDG_CACHE_HOME/plasmo, else $HOME/.cache/plasmo; "" when neither variable is set.
std::string default_cache_dir();
std::string cache_file_path(const std::string& cache_dir, const std::string& data_root, int image_size, int limit = 0);
uint64_t cache_key(const std::vector<Sample>& samples, const std::string& data_root, int image_size);

// hash64 over the hash64 of each kPixelHashBlock-byte block (the last one shorter): blocks are hashed
// in parallel on the pool, and the result does not depend on the thread count.
uint64_t pixel_checksum(const uint8_t* pixels, size_t size, ThreadPool& pool);

// True when `path` holds a valid cache for (key, files, S); `contents` is then filled. False with the
// reason ("no cache yet", "stale: the image files changed", "corrupt: pixel checksum mismatch", ...)
// otherwise. The file is mapped (no copy) and its pixel checksum computed in parallel on the pool.
bool read_cache(const std::string& path, uint64_t key, size_t files, int image_size, CacheContents& contents,
                std::string* why_not, ThreadPool& pool);

// Writes atomically (temporary file + rename), creating the folder. Throws IoError on failure.
void write_cache(const std::string& path, uint64_t key, int image_size, const CacheContents& contents,
                 ThreadPool& pool);

}  // namespace plasmo::data
