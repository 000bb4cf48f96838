#include "data_loader/cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "data_loader/hash.h"
#include "engine/error.h"
#include "engine/threads.h"

namespace plasmo::data {

namespace {

constexpr char kMagic[8] = {'P', 'L', 'A', 'S', 'M', 'O', 'C', '\x01'};
constexpr size_t kHeaderBytes = 80;

struct Header {
  uint32_t version = 0, image_size = 0;
  uint64_t key = 0, files = 0, images = 0, meta_bytes = 0, meta_hash = 0, pixel_hash = 0, pixel_bytes = 0;
};

void put_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
void put_u64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

void encode_header(const Header& h, uint8_t* bytes) {
  std::memcpy(bytes, kMagic, 8);
  put_u32(bytes + 8, h.version);
  put_u32(bytes + 12, h.image_size);
  put_u64(bytes + 16, h.key);
  put_u64(bytes + 24, h.files);
  put_u64(bytes + 32, h.images);
  put_u64(bytes + 40, h.meta_bytes);
  put_u64(bytes + 48, h.meta_hash);
  put_u64(bytes + 56, h.pixel_hash);
  put_u64(bytes + 64, h.pixel_bytes);
  put_u64(bytes + 72, hash64(bytes, 72));
}

bool write_exact(int fd, const uint8_t* data, size_t size) {
  while (size > 0) {
    const size_t chunk = size < (size_t{1} << 26) ? size : (size_t{1} << 26);
    const ssize_t put = ::write(fd, data, chunk);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    data += put;
    size -= static_cast<size_t>(put);
  }
  return true;
}

std::vector<uint8_t> encode_meta(const CacheContents& contents) {
  std::vector<uint8_t> meta(contents.decoded);
  for (const std::string& reason : contents.reasons) {
    uint8_t length[4];
    put_u32(length, static_cast<uint32_t>(reason.size()));
    meta.insert(meta.end(), length, length + 4);
    meta.insert(meta.end(), reason.begin(), reason.end());
  }
  return meta;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

ByteBuffer& ByteBuffer::operator=(ByteBuffer&& other) noexcept {
  if (this == &other) return *this;
  release();
  data_ = other.data_;
  size_ = other.size_;
  heap_ = std::move(other.heap_);
  map_base_ = other.map_base_;
  map_bytes_ = other.map_bytes_;
  other.data_ = nullptr;
  other.size_ = 0;
  other.map_base_ = nullptr;
  other.map_bytes_ = 0;
  return *this;
}

void ByteBuffer::release() {
  if (map_base_) ::munmap(map_base_, map_bytes_);
  heap_.reset();
  map_base_ = nullptr;
  map_bytes_ = 0;
  data_ = nullptr;
  size_ = 0;
}

void ByteBuffer::allocate(size_t bytes) {
  release();
  heap_.reset(bytes ? new uint8_t[bytes] : nullptr);
  data_ = heap_.get();
  size_ = bytes;
}

bool ByteBuffer::map(int fd, size_t file_bytes, size_t offset, size_t bytes) {
  release();
  if (file_bytes == 0 || offset + bytes > file_bytes) return false;
  void* base = ::mmap(nullptr, file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  if (base == MAP_FAILED) return false;
  map_base_ = base;
  map_bytes_ = file_bytes;
  data_ = static_cast<uint8_t*>(base) + offset;
  size_ = bytes;
  return true;
}

void ByteBuffer::narrow(size_t offset, size_t bytes) {
  data_ += offset;
  size_ = bytes;
}

uint64_t pixel_checksum(const uint8_t* pixels, size_t size, ThreadPool& pool) {
  const size_t blocks = (size + kPixelHashBlock - 1) / kPixelHashBlock;
  std::vector<uint64_t> block_hashes(blocks);
  pool.parallel_for(static_cast<int64_t>(blocks), [&](int64_t begin, int64_t end, int) {
    for (int64_t block = begin; block < end; ++block) {
      const size_t offset = static_cast<size_t>(block) * kPixelHashBlock;
      block_hashes[block] = hash64(pixels + offset, std::min(kPixelHashBlock, size - offset));
    }
  });
  return hash64(block_hashes.data(), blocks * sizeof(uint64_t));
}

size_t CacheContents::images() const {
  size_t count = 0;
  for (uint8_t flag : decoded) count += flag;
  return count;
}

std::string default_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/plasmo";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/plasmo";
  return "";
}

std::string cache_file_path(const std::string& cache_dir, const std::string& data_root, int image_size, int limit) {
  std::error_code error;
  std::string absolute = std::filesystem::weakly_canonical(data_root, error).string();
  if (error || absolute.empty()) absolute = data_root;
  char name[80];
  const unsigned long long folder_hash = hash64(absolute.data(), absolute.size());
  if (limit > 0)
    std::snprintf(name, sizeof(name), "dataset-s%d-%016llx-n%d.bin", image_size, folder_hash, limit);
  else
    std::snprintf(name, sizeof(name), "dataset-s%d-%016llx.bin", image_size, folder_hash);
  return cache_dir + "/" + name;
}

uint64_t cache_key(const std::vector<Sample>& samples, const std::string& data_root, int image_size) {
  KeyHasher key;
  key.add_u64(kCacheVersion);
  key.add_u64(static_cast<uint64_t>(image_size));
  key.add_u64(samples.size());
  for (const Sample& sample : samples) {
    // Paths relative to the data folder, so `--data x` and `--data /abs/x` share a cache.
    const bool inside =
        sample.path.size() > data_root.size() && sample.path.compare(0, data_root.size(), data_root) == 0;
    key.add_string(inside ? sample.path.substr(data_root.size()) : sample.path);
    key.add_u64(static_cast<uint64_t>(sample.label));
    key.add_u64(sample.file_size);
    key.add_u64(static_cast<uint64_t>(sample.mtime_ns));
  }
  return key.digest();
}

bool read_cache(const std::string& path, uint64_t key, size_t files, int image_size, CacheContents& contents,
                std::string* why_not, ThreadPool& pool) {
  auto refuse = [&](const std::string& why) {
    if (why_not) *why_not = why;
    contents = CacheContents();
    return false;
  };
  Fd file;
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd < 0)
    return refuse(errno == ENOENT ? "no cache yet" : std::string("cannot open: ") + std::strerror(errno));
  struct stat info;
  if (::fstat(file.fd, &info) != 0) return refuse("cannot stat the cache file");

  // Map the whole file; every check below reads the mapping.
  const size_t file_bytes = static_cast<size_t>(info.st_size);
  if (file_bytes < kHeaderBytes) return refuse("corrupt: truncated header");
  ByteBuffer mapping;
  if (!mapping.map(file.fd, file_bytes, 0, file_bytes))
    return refuse(std::string("cannot map: ") + std::strerror(errno));
  const uint8_t* bytes = mapping.data();
  if (std::memcmp(bytes, kMagic, 8) != 0) return refuse("corrupt: not a plasmo cache file");
  if (get_u64(bytes + 72) != hash64(bytes, 72)) return refuse("corrupt: header checksum mismatch");
  Header h;
  h.version = get_u32(bytes + 8);
  h.image_size = get_u32(bytes + 12);
  h.key = get_u64(bytes + 16);
  h.files = get_u64(bytes + 24);
  h.images = get_u64(bytes + 32);
  h.meta_bytes = get_u64(bytes + 40);
  h.meta_hash = get_u64(bytes + 48);
  h.pixel_hash = get_u64(bytes + 56);
  h.pixel_bytes = get_u64(bytes + 64);
  if (h.version != kCacheVersion) return refuse("stale: written by another cache format version");
  if (h.image_size != static_cast<uint32_t>(image_size) || h.key != key || h.files != files)
    return refuse("stale: the image files changed");
  const uint64_t plane_bytes = 3ull * image_size * image_size;
  if (h.images > h.files || h.pixel_bytes != h.images * plane_bytes || h.meta_bytes < h.files ||
      h.meta_bytes > file_bytes || h.pixel_bytes > file_bytes ||
      file_bytes != kHeaderBytes + h.meta_bytes + h.pixel_bytes)
    return refuse("corrupt: sizes do not add up");

  const uint8_t* meta = bytes + kHeaderBytes;
  const size_t meta_bytes = static_cast<size_t>(h.meta_bytes);
  if (hash64(meta, meta_bytes) != h.meta_hash) return refuse("corrupt: metadata checksum mismatch");
  contents.decoded.assign(meta, meta + h.files);
  size_t decoded = 0;
  for (uint8_t flag : contents.decoded) {
    if (flag > 1) return refuse("corrupt: bad flag");
    decoded += flag;
  }
  if (decoded != h.images) return refuse("corrupt: image count mismatch");
  size_t cursor = h.files;
  for (size_t skipped = 0; skipped < h.files - h.images; ++skipped) {
    if (cursor + 4 > meta_bytes) return refuse("corrupt: truncated reasons");
    const uint32_t length = get_u32(meta + cursor);
    cursor += 4;
    if (length > meta_bytes - cursor) return refuse("corrupt: truncated reasons");
    contents.reasons.emplace_back(reinterpret_cast<const char*>(meta + cursor), length);
    cursor += length;
  }
  if (cursor != meta_bytes) return refuse("corrupt: trailing metadata");

  // Pixels: checked in place, blocks in parallel (each worker faults in its own pages).
  const size_t pixels_start = kHeaderBytes + meta_bytes;
  if (pixel_checksum(bytes + pixels_start, static_cast<size_t>(h.pixel_bytes), pool) != h.pixel_hash)
    return refuse("corrupt: pixel checksum mismatch");
  mapping.narrow(pixels_start, static_cast<size_t>(h.pixel_bytes));  // keeps the pages already faulted in
  contents.pixels = std::move(mapping);
  return true;
}

void write_cache(const std::string& path, uint64_t key, int image_size, const CacheContents& contents,
                 ThreadPool& pool) {
  const std::filesystem::path target(path);
  std::error_code error;
  std::filesystem::create_directories(target.parent_path(), error);
  if (error) throw IoError("cannot create cache folder '" + target.parent_path().string() + "': " + error.message());

  const std::vector<uint8_t> meta = encode_meta(contents);
  Header h;
  h.version = kCacheVersion;
  h.image_size = static_cast<uint32_t>(image_size);
  h.key = key;
  h.files = contents.decoded.size();
  h.images = contents.images();
  h.meta_bytes = meta.size();
  h.meta_hash = hash64(meta.data(), meta.size());
  h.pixel_bytes = h.images * 3ull * image_size * image_size;
  if (contents.pixels.size() < h.pixel_bytes) throw IoError("cache '" + path + "': fewer pixel bytes than images");
  h.pixel_hash = pixel_checksum(contents.pixels.data(), h.pixel_bytes, pool);
  uint8_t header[kHeaderBytes];
  encode_header(h, header);

  const std::string temporary = path + ".tmp" + std::to_string(::getpid());
  Fd file;
  file.fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (file.fd < 0) throw IoError("cannot write cache '" + temporary + "': " + std::strerror(errno));
  const bool written = write_exact(file.fd, header, kHeaderBytes) && write_exact(file.fd, meta.data(), meta.size()) &&
                       write_exact(file.fd, contents.pixels.data(), h.pixel_bytes);
  const int close_status = ::close(file.fd);
  file.fd = -1;
  if (!written || close_status != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(temporary.c_str());
    throw IoError("cannot write cache '" + temporary + "': " + why);
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(temporary.c_str());
    throw IoError("cannot rename cache into '" + path + "': " + why);
  }
}

}  // namespace plasmo::data
