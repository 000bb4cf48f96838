#include "engine/io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include "engine/error.h"
#include "engine/io/crc32.h"
#include "engine/io/header_json.h"

namespace plasmo {

// Tensor data is copied with memcpy in the host's byte order; the format is little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return "F32";
    case DType::I64:
      return "I64";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
  }
  return "?";
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return 4;
    case DType::I64:
      return 8;
    case DType::F16:
      return 2;
    case DType::BF16:
      return 2;
  }
  return 0;
}

size_t TensorInfo::numel() const {
  size_t count = 1;
  for (int64_t size : shape) count *= static_cast<size_t>(size);
  return count;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    if (axis) text += ", ";
    text += std::to_string(shape[axis]);
  }
  return text + "]";
}

namespace {

std::string range_str(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

bool parse_dtype(const std::string& name, DType& dtype) {
  for (DType candidate : {DType::F32, DType::I64, DType::F16, DType::BF16})
    if (name == dtype_name(candidate)) {
      dtype = candidate;
      return true;
    }
  return false;
}

uint64_t read_le64(const uint8_t* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = value << 8 | bytes[i];
  return value;
}

[[noreturn]] void throw_too_short(const std::string& source, uint64_t size) {
  throw FormatError(source + ": file is " + std::to_string(size) +
                    " bytes, shorter than the 8-byte header length; truncated or not a safetensors file");
}

// Checks the 8-byte length field against the file size; returns the header length N.
uint64_t check_header_length(const uint8_t* first8, uint64_t file_size, const std::string& source) {
  uint64_t header_size = read_le64(first8);
  if (header_size > kMaxSafetensorsHeader)
    throw FormatError(source + ": header length " + std::to_string(header_size) + " is absurd (limit " +
                      std::to_string(kMaxSafetensorsHeader) + " bytes); not a safetensors file?");
  if (header_size > file_size - 8)
    throw FormatError(source + ": header length " + std::to_string(header_size) + " runs past the end of the file (" +
                      std::to_string(file_size) + " bytes); truncated file?");
  return header_size;
}

// Parses the JSON header and checks every entry against a data section of `data_size` bytes.
SafetensorsHeader validate_header(const char* json, size_t json_size, uint64_t data_size, const std::string& source) {
  ParsedHeader parsed = parse_header_json(json, json_size, source);
  SafetensorsHeader header;
  header.metadata = std::move(parsed.metadata);
  header.tensors.reserve(parsed.entries.size());
  for (HeaderEntry& entry : parsed.entries) {
    const std::string where = source + ": tensor '" + entry.name + "': ";
    TensorInfo info;
    if (!parse_dtype(entry.dtype, info.dtype))
      throw FormatError(where + "unsupported dtype '" + entry.dtype + "' (plasmo reads F32, I64, F16, BF16)");
    // numel * element size, refusing overflow: each dimension is < 2^63, and the product must stay
    // below 2^63 bytes too.
    const uint64_t limit = uint64_t{1} << 63;
    uint64_t bytes = dtype_size(info.dtype);
    bool overflow = false;
    for (uint64_t size : entry.shape) {
      info.shape.push_back(static_cast<int64_t>(size));
      if (size != 0 && bytes > limit / size) overflow = true;
      if (!overflow) bytes *= size;
    }
    bool empty = std::find(entry.shape.begin(), entry.shape.end(), uint64_t{0}) != entry.shape.end();
    if (overflow && !empty) throw FormatError(where + "shape " + shape_str(info.shape) + " is absurdly large");
    if (empty) bytes = 0;
    if (entry.end < entry.begin)
      throw FormatError(where + "data_offsets " + range_str(entry.begin, entry.end) + " end before they begin");
    if (entry.end - entry.begin != bytes)
      throw FormatError(where + "shape " + shape_str(info.shape) + " of " + entry.dtype + " needs " +
                        std::to_string(bytes) + " bytes but data_offsets " + range_str(entry.begin, entry.end) +
                        " hold " + std::to_string(entry.end - entry.begin));
    if (entry.end > data_size)
      throw FormatError(where + "data_offsets " + range_str(entry.begin, entry.end) +
                        " run past the end of the data section (" + std::to_string(data_size) +
                        " bytes); truncated file?");
    info.name = std::move(entry.name);
    info.begin = entry.begin;
    info.end = entry.end;
    header.tensors.push_back(std::move(info));
  }
  // The byte ranges, sorted, must tile [0, data_size): each begins where the previous ended.
  std::sort(header.tensors.begin(), header.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.name < b.name;
  });
  uint64_t covered = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo& info : header.tensors) {
    if (info.begin > covered)
      throw FormatError(source + ": hole in the data section: bytes " + range_str(covered, info.begin) +
                        " before tensor '" + info.name + "' belong to no tensor");
    if (info.begin < covered)
      throw FormatError(source + ": tensors '" + previous->name + "' " + range_str(previous->begin, previous->end) +
                        " and '" + info.name + "' " + range_str(info.begin, info.end) + " overlap");
    covered = info.end;
    previous = &info;
  }
  if (covered != data_size)
    throw FormatError(source + ": the data section has " + std::to_string(data_size) + " bytes but the tensors cover " +
                      std::to_string(covered) + " (trailing bytes or a missing tensor)");
  return header;
}

void check_crc(const Metadata& metadata, const uint8_t* data, size_t data_size, const std::string& source) {
  auto found = metadata.find("crc32");
  if (found == metadata.end()) return;
  uint32_t expected;
  if (!parse_crc32_hex(found->second, expected))
    throw FormatError(source + ": crc32 metadata '" + found->second + "' is not 8 lowercase hex digits");
  uint32_t actual = crc32(data, data_size);
  if (actual != expected)
    throw FormatError(source + ": crc32 mismatch: metadata says " + found->second + ", the data section has " +
                      crc32_hex(actual) + " (file corrupted)");
}

// ---- files ---------------------------------------------------------------------------------------

std::string errno_text() { return std::strerror(errno); }

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

int open_for_reading(const std::string& path, uint64_t& size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError("cannot open " + path + ": " + errno_text());
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    std::string why = errno_text();
    ::close(fd);
    throw IoError("cannot read " + path + ": " + why);
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    throw IoError("cannot read " + path + ": not a regular file");
  }
  size = static_cast<uint64_t>(info.st_size);
  return fd;
}

// Reads exactly `size` bytes (the file was measured before, so a short read means it shrank).
void read_exactly(int fd, uint8_t* out, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t got = ::read(fd, out, size);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw IoError("cannot read " + path + ": " + errno_text());
    if (got == 0) throw FormatError(path + ": file ended early while reading (changed while being read?)");
    out += got;
    size -= static_cast<size_t>(got);
  }
}

// Reads and validates the length field and the header of an open file of `size` bytes, leaving the
// file position at the data section, which starts at byte `data_start`.
SafetensorsHeader read_header(int fd, uint64_t size, const std::string& path, size_t& data_start) {
  if (size < 8) throw_too_short(path, size);
  uint8_t first8[8];
  read_exactly(fd, first8, 8, path);
  uint64_t header_size = check_header_length(first8, size, path);
  std::string json(static_cast<size_t>(header_size), '\0');
  read_exactly(fd, reinterpret_cast<uint8_t*>(&json[0]), json.size(), path);
  data_start = static_cast<size_t>(8 + header_size);
  return validate_header(json.data(), json.size(), size - data_start, path);
}

void write_all(int fd, const void* data, size_t size, const std::string& path) {
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t put = ::write(fd, bytes, size);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) throw IoError("cannot write " + path + ": " + errno_text());
    bytes += put;
    size -= static_cast<size_t>(put);
  }
}

// ---- writing -------------------------------------------------------------------------------------

// serde_json's escaping, so the header matches the reference implementation's: quote, backslash and
// control characters escaped (\b \f \n \r \t, others \u00xx), everything else (UTF-8 included) as is.
void append_json_string(std::string& out, const std::string& text) {
  static const char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : text) {
    unsigned char byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (byte < 0x20) {
          out += "\\u00";
          out += kHex[byte >> 4];
          out += kHex[byte & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void require_utf8(const std::string& text, const char* what) {
  if (utf8_error_offset(text.data(), text.size()) != text.size())
    throw UsageError(std::string("safetensors writer: ") + what + " is not valid UTF-8");
}

// What a writer needs: the tensors in data order with their byte counts, and the padded header.
struct WritePlan {
  std::vector<const TensorSource*> order;
  std::vector<size_t> bytes;
  std::string header;
};

WritePlan plan_write(const std::vector<TensorSource>& tensors, const Metadata& metadata) {
  WritePlan plan;
  std::set<std::string> names;
  for (const TensorSource& tensor : tensors) {
    const std::string where = "safetensors writer: tensor '" + tensor.name + "': ";
    if (tensor.name.empty() || tensor.name == "__metadata__")
      throw UsageError("safetensors writer: invalid tensor name '" + tensor.name + "'");
    require_utf8(tensor.name, "a tensor name");
    if (!names.insert(tensor.name).second) throw UsageError(where + "duplicate name");
    if (tensor.dtype != DType::F32 && tensor.dtype != DType::I64)
      throw UsageError(where + "plasmo writes F32 and I64, not " + dtype_name(tensor.dtype));
    for (int64_t size : tensor.shape)
      if (size < 0) throw UsageError(where + "negative dimension in shape " + shape_str(tensor.shape));
    plan.order.push_back(&tensor);
  }
  // The reference order: widest dtype first (8-byte I64 before 4-byte F32, so with the header padded to
  // 8 bytes every tensor starts aligned to its element size), then by name.
  std::sort(plan.order.begin(), plan.order.end(), [](const TensorSource* a, const TensorSource* b) {
    if (dtype_size(a->dtype) != dtype_size(b->dtype)) return dtype_size(a->dtype) > dtype_size(b->dtype);
    return a->name < b->name;
  });

  uint32_t crc = 0;
  for (const TensorSource* tensor : plan.order) {
    size_t count = 1;
    for (int64_t size : tensor->shape) count *= static_cast<size_t>(size);
    size_t bytes = count * dtype_size(tensor->dtype);
    if (bytes > 0 && tensor->data == nullptr)
      throw UsageError("safetensors writer: tensor '" + tensor->name + "' has no data");
    plan.bytes.push_back(bytes);
    if (bytes > 0) crc = crc32(tensor->data, bytes, crc);
  }

  Metadata with_crc = metadata;
  with_crc["crc32"] = crc32_hex(crc);
  std::string& json = plan.header;
  json = "{\"__metadata__\":{";
  bool first = true;
  for (const auto& entry : with_crc) {
    require_utf8(entry.first, "a metadata key");
    require_utf8(entry.second, "a metadata value");
    if (!first) json += ',';
    first = false;
    append_json_string(json, entry.first);
    json += ':';
    append_json_string(json, entry.second);
  }
  json += '}';
  uint64_t offset = 0;
  for (size_t index = 0; index < plan.order.size(); ++index) {
    const TensorSource& tensor = *plan.order[index];
    json += ',';
    append_json_string(json, tensor.name);
    json += ":{\"dtype\":\"";
    json += dtype_name(tensor.dtype);
    json += "\",\"shape\":[";
    for (size_t axis = 0; axis < tensor.shape.size(); ++axis) {
      if (axis) json += ',';
      json += std::to_string(tensor.shape[axis]);
    }
    json += "],\"data_offsets\":[" + std::to_string(offset) + ",";
    offset += plan.bytes[index];
    json += std::to_string(offset) + "]}";
  }
  json += '}';
  // Pad with spaces to a multiple of 8 so the data section starts 8-byte aligned.
  json.append((8 - json.size() % 8) % 8, ' ');
  return plan;
}

void le64(uint64_t value, uint8_t out[8]) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
}

float half_to_float(uint16_t half) {
  uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  uint32_t exponent = (half >> 10) & 0x1Fu;
  uint32_t mantissa = half & 0x3FFu;
  uint32_t bits;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | mantissa << 13;  // inf, or NaN keeping its payload
  } else if (exponent != 0) {
    bits = sign | (exponent + 127 - 15) << 23 | mantissa << 13;  // rebias 15 -> 127
  } else {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    float magnitude = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
    std::memcpy(&bits, &magnitude, 4);
    bits |= sign;
  }
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

}  // namespace

// ---- SafetensorsFile -----------------------------------------------------------------------------

SafetensorsFile SafetensorsFile::parse(const uint8_t* bytes, size_t size, const std::string& source) {
  return parse(std::vector<uint8_t>(bytes, bytes + size), source);
}

SafetensorsFile SafetensorsFile::parse(std::vector<uint8_t> bytes, const std::string& source) {
  SafetensorsFile file;
  file.source_ = source;
  file.bytes_ = std::move(bytes);
  const uint64_t size = file.bytes_.size();
  if (size < 8) throw_too_short(source, size);
  uint64_t header_size = check_header_length(file.bytes_.data(), size, source);
  file.data_start_ = static_cast<size_t>(8 + header_size);
  file.header_ = validate_header(reinterpret_cast<const char*>(file.bytes_.data() + 8), header_size,
                                 size - file.data_start_, source);
  check_crc(file.header_.metadata, file.bytes_.data() + file.data_start_, size - file.data_start_, source);
  return file;
}

SafetensorsFile SafetensorsFile::read(const std::string& path) {
  // The header is read and validated first, so a large file that is not a model (or lies about its
  // sizes) is refused before its data is read into memory.
  uint64_t size = 0;
  Fd fd(open_for_reading(path, size));
  SafetensorsFile file;
  file.source_ = path;
  size_t data_start = 0;
  file.header_ = read_header(fd.get(), size, path, data_start);
  // Only the data section is kept.
  file.bytes_.resize(static_cast<size_t>(size) - data_start);
  file.data_start_ = 0;
  read_exactly(fd.get(), file.bytes_.data(), file.bytes_.size(), path);
  check_crc(file.header_.metadata, file.bytes_.data(), file.bytes_.size(), path);
  return file;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  for (const TensorInfo& info : header_.tensors)
    if (info.name == name) return &info;
  return nullptr;
}

void SafetensorsFile::read_f32(const TensorInfo& info, float* out) const {
  const uint8_t* bytes = raw(info);
  const size_t count = info.numel();
  switch (info.dtype) {
    case DType::F32:
      if (count) std::memcpy(out, bytes, count * 4);
      return;
    case DType::F16:
      for (size_t i = 0; i < count; ++i)
        out[i] = half_to_float(static_cast<uint16_t>(bytes[2 * i] | bytes[2 * i + 1] << 8));
      return;
    case DType::BF16:
      // bfloat16 is the top half of a float32.
      for (size_t i = 0; i < count; ++i) {
        uint32_t bits = static_cast<uint32_t>(bytes[2 * i] | bytes[2 * i + 1] << 8) << 16;
        std::memcpy(&out[i], &bits, 4);
      }
      return;
    case DType::I64:
      break;
  }
  throw FormatError(source_ + ": tensor '" + info.name + "': expected a floating dtype, found " +
                    dtype_name(info.dtype));
}

void SafetensorsFile::read_i64(const TensorInfo& info, int64_t* out) const {
  if (info.dtype != DType::I64)
    throw FormatError(source_ + ": tensor '" + info.name + "': expected dtype I64, found " + dtype_name(info.dtype));
  if (info.numel()) std::memcpy(out, raw(info), info.numel() * 8);
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  uint64_t size = 0;
  Fd fd(open_for_reading(path, size));
  size_t data_start = 0;
  return read_header(fd.get(), size, path, data_start);
}

// ---- writing -------------------------------------------------------------------------------------

std::vector<uint8_t> encode_safetensors(const std::vector<TensorSource>& tensors, const Metadata& metadata) {
  WritePlan plan = plan_write(tensors, metadata);
  size_t total = 8 + plan.header.size();
  for (size_t bytes : plan.bytes) total += bytes;
  std::vector<uint8_t> out(8);
  out.reserve(total);
  le64(plan.header.size(), out.data());
  out.insert(out.end(), plan.header.begin(), plan.header.end());
  for (size_t index = 0; index < plan.order.size(); ++index) {
    const uint8_t* data = static_cast<const uint8_t*>(plan.order[index]->data);
    if (plan.bytes[index]) out.insert(out.end(), data, data + plan.bytes[index]);
  }
  return out;
}

void write_safetensors(const std::string& path, const std::vector<TensorSource>& tensors, const Metadata& metadata) {
  WritePlan plan = plan_write(tensors, metadata);  // validates before touching the disk
  const std::string tmp = path + ".tmp";
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw IoError("cannot write " + path + ": cannot create " + tmp + ": " + errno_text());
  try {
    uint8_t length[8];
    le64(plan.header.size(), length);
    write_all(fd.get(), length, 8, tmp);
    write_all(fd.get(), plan.header.data(), plan.header.size(), tmp);
    for (size_t index = 0; index < plan.order.size(); ++index)
      write_all(fd.get(), plan.order[index]->data, plan.bytes[index], tmp);
    // The data must be on disk before the rename makes it the file, or a crash could leave `path`
    // pointing at an empty or partial file.
    if (::fsync(fd.get()) != 0) throw IoError("cannot write " + tmp + ": fsync: " + errno_text());
    if (::close(fd.release()) != 0) throw IoError("cannot write " + tmp + ": close: " + errno_text());
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      throw IoError("cannot write " + path + ": rename from " + tmp + ": " + errno_text());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  // Make the rename itself durable. Best effort: the file is complete either way.
  size_t slash = path.find_last_of('/');
  std::string folder = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int folder_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder_fd >= 0) {
    ::fsync(folder_fd);
    ::close(folder_fd);
  }
}

}  // namespace plasmo
