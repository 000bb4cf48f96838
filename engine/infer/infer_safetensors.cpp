// The minimal safetensors reader (infer_safetensors.h): a JSON cursor over the header, nothing copied.
#include "infer_safetensors.h"

#include <string.h>

#include "infer_internal.h"

namespace plasmo_infer {

namespace {

constexpr uint64_t kMaxHeader = 100000000;  // the reference implementation's limit
constexpr size_t kMaxKey = 128;             // longer keys cannot be ours (our names have < 48 bytes)

// ---- JSON -------------------------------------------------------------------------------------------------

struct Cursor {
  const char* at;
  const char* end;

  void skip_space() {
    while (at < end && (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r')) ++at;
  }
  bool take(char expected) {
    skip_space();
    if (at < end && *at == expected) {
      ++at;
      return true;
    }
    return false;
  }
};

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int hex_value(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

// A JSON string; raw/length get the text between the quotes, escapes not decoded.
bool read_string(Cursor& cursor, const char** raw, size_t* length) {
  cursor.skip_space();
  if (cursor.at >= cursor.end || *cursor.at != '"') return false;
  const char* start = ++cursor.at;
  while (cursor.at < cursor.end) {
    const unsigned char c = static_cast<unsigned char>(*cursor.at);
    if (c == '"') {
      *raw = start;
      *length = static_cast<size_t>(cursor.at - start);
      ++cursor.at;
      return true;
    }
    if (c < 0x20) return false;  // control characters must be escaped
    if (c == '\\') {
      if (++cursor.at >= cursor.end) return false;
      const char escape = *cursor.at;
      if (escape == 'u') {
        if (cursor.end - cursor.at < 5) return false;
        for (int i = 1; i <= 4; ++i)
          if (!is_hex(cursor.at[i])) return false;
        cursor.at += 4;
      } else if (escape != '"' && escape != '\\' && escape != '/' && escape != 'b' && escape != 'f' && escape != 'n' &&
                 escape != 'r' && escape != 't') {
        return false;
      }
    }
    ++cursor.at;
  }
  return false;
}

void put_utf8(uint32_t code, char* out, size_t capacity, size_t& length, bool& fits) {
  char bytes[4];
  int count;
  if (code < 0x80) {
    bytes[0] = static_cast<char>(code);
    count = 1;
  } else if (code < 0x800) {
    bytes[0] = static_cast<char>(0xc0 | code >> 6);
    bytes[1] = static_cast<char>(0x80 | (code & 0x3f));
    count = 2;
  } else if (code < 0x10000) {
    bytes[0] = static_cast<char>(0xe0 | code >> 12);
    bytes[1] = static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    bytes[2] = static_cast<char>(0x80 | (code & 0x3f));
    count = 3;
  } else {
    bytes[0] = static_cast<char>(0xf0 | code >> 18);
    bytes[1] = static_cast<char>(0x80 | ((code >> 12) & 0x3f));
    bytes[2] = static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    bytes[3] = static_cast<char>(0x80 | (code & 0x3f));
    count = 4;
  }
  for (int i = 0; i < count; ++i) {
    if (length + 1 >= capacity) {
      fits = false;
      return;
    }
    out[length++] = bytes[i];
  }
}

// Unescapes a string read_string accepted into out[capacity] (zero-terminated). False when it does not fit.
bool decode_string(const char* raw, size_t length, char* out, size_t capacity) {
  size_t written = 0;
  bool fits = capacity > 0;
  for (size_t i = 0; i < length && fits; ++i) {
    char c = raw[i];
    if (c != '\\') {
      if (written + 1 >= capacity) return false;
      out[written++] = c;
      continue;
    }
    c = raw[++i];
    if (c == 'u') {
      uint32_t code = 0;
      for (int k = 1; k <= 4; ++k) code = code << 4 | static_cast<uint32_t>(hex_value(raw[i + k]));
      i += 4;
      // A high surrogate followed by \uDC00..\uDFFF is one code point.
      // (read_string checked that every \u has four hex digits, so i + 6 < length here.)
      if (code >= 0xd800 && code < 0xdc00 && i + 2 < length && raw[i + 1] == '\\' && raw[i + 2] == 'u') {
        uint32_t low = 0;
        for (int k = 3; k <= 6; ++k) low = low << 4 | static_cast<uint32_t>(hex_value(raw[i + k]));
        if (low >= 0xdc00 && low < 0xe000) {
          code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          i += 6;
        }
      }
      put_utf8(code, out, capacity, written, fits);
      continue;
    }
    const char plain = c == 'b' ? '\b' : c == 'f' ? '\f' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
    if (written + 1 >= capacity) return false;
    out[written++] = plain;
  }
  if (!fits) return false;
  out[written] = '\0';
  return true;
}

// A non-negative JSON integer (no sign, fraction or exponent), refusing overflow.
bool read_uint(Cursor& cursor, uint64_t* value) {
  cursor.skip_space();
  const char* start = cursor.at;
  uint64_t result = 0;
  while (cursor.at < cursor.end && *cursor.at >= '0' && *cursor.at <= '9') {
    const uint64_t digit = static_cast<uint64_t>(*cursor.at - '0');
    if (result > (UINT64_MAX - digit) / 10) return false;
    result = result * 10 + digit;
    ++cursor.at;
  }
  const size_t digits = static_cast<size_t>(cursor.at - start);
  if (digits == 0 || (digits > 1 && *start == '0')) return false;
  if (cursor.at < cursor.end && (*cursor.at == '.' || *cursor.at == 'e' || *cursor.at == 'E')) return false;
  *value = result;
  return true;
}

bool skip_value(Cursor& cursor, int depth);

bool skip_number(Cursor& cursor) {
  const char* start = cursor.at;
  if (cursor.at < cursor.end && *cursor.at == '-') ++cursor.at;
  const char* digits = cursor.at;
  while (cursor.at < cursor.end && *cursor.at >= '0' && *cursor.at <= '9') ++cursor.at;
  if (cursor.at == digits) return false;
  if (cursor.at < cursor.end && *cursor.at == '.') {
    const char* fraction = ++cursor.at;
    while (cursor.at < cursor.end && *cursor.at >= '0' && *cursor.at <= '9') ++cursor.at;
    if (cursor.at == fraction) return false;
  }
  if (cursor.at < cursor.end && (*cursor.at == 'e' || *cursor.at == 'E')) {
    ++cursor.at;
    if (cursor.at < cursor.end && (*cursor.at == '+' || *cursor.at == '-')) ++cursor.at;
    const char* exponent = cursor.at;
    while (cursor.at < cursor.end && *cursor.at >= '0' && *cursor.at <= '9') ++cursor.at;
    if (cursor.at == exponent) return false;
  }
  return cursor.at > start;
}

bool skip_literal(Cursor& cursor, const char* word) {
  const size_t length = strlen(word);
  if (static_cast<size_t>(cursor.end - cursor.at) < length || memcmp(cursor.at, word, length) != 0) return false;
  cursor.at += length;
  return true;
}

bool skip_value(Cursor& cursor, int depth) {
  if (depth > 32) return false;
  cursor.skip_space();
  if (cursor.at >= cursor.end) return false;
  const char c = *cursor.at;
  const char* raw;
  size_t length;
  if (c == '"') return read_string(cursor, &raw, &length);
  if (c == '{' || c == '[') {
    const char close = c == '{' ? '}' : ']';
    ++cursor.at;
    if (cursor.take(close)) return true;
    do {
      if (c == '{' && (!read_string(cursor, &raw, &length) || !cursor.take(':'))) return false;
      if (!skip_value(cursor, depth + 1)) return false;
    } while (cursor.take(','));
    return cursor.take(close);
  }
  if (c == 't') return skip_literal(cursor, "true");
  if (c == 'f') return skip_literal(cursor, "false");
  if (c == 'n') return skip_literal(cursor, "null");
  return skip_number(cursor);
}

// An array of non-negative integers, at most `capacity` of them.
bool read_uint_array(Cursor& cursor, uint64_t* values, int capacity, int* count) {
  if (!cursor.take('[')) return false;
  *count = 0;
  if (cursor.take(']')) return true;
  do {
    if (*count >= capacity || !read_uint(cursor, &values[*count])) return false;
    ++*count;
  } while (cursor.take(','));
  return cursor.take(']');
}

bool key_is(const char* raw, size_t length, const char* key) {
  char decoded[kMaxKey];
  return decode_string(raw, length, decoded, sizeof decoded) && strcmp(decoded, key) == 0;
}

// One tensor entry {"dtype": .., "shape": [..], "data_offsets": [b, e]} (other keys skipped).
bool read_entry(Cursor& cursor, StTensor* tensor) {
  if (!cursor.take('{')) return false;
  bool has_dtype = false, has_shape = false, has_offsets = false;
  tensor->dtype = 0;
  if (!cursor.take('}')) {
    do {
      const char* key;
      size_t key_length;
      if (!read_string(cursor, &key, &key_length) || !cursor.take(':')) return false;
      if (key_is(key, key_length, "dtype")) {
        const char* dtype;
        size_t dtype_length;
        if (!read_string(cursor, &dtype, &dtype_length)) return false;
        tensor->dtype = key_is(dtype, dtype_length, "F32")    ? kDTypeF32
                        : key_is(dtype, dtype_length, "F16")  ? kDTypeF16
                        : key_is(dtype, dtype_length, "BF16") ? kDTypeBF16
                        : key_is(dtype, dtype_length, "I64")  ? kDTypeI64
                                                              : -1;
        has_dtype = true;
      } else if (key_is(key, key_length, "shape")) {
        if (!read_uint_array(cursor, tensor->shape, kMaxRank, &tensor->rank)) return false;
        has_shape = true;
      } else if (key_is(key, key_length, "data_offsets")) {
        uint64_t offsets[2];
        int count;
        if (!read_uint_array(cursor, offsets, 2, &count) || count != 2) return false;
        tensor->begin = offsets[0];
        tensor->end = offsets[1];
        has_offsets = true;
      } else if (!skip_value(cursor, 1)) {
        return false;
      }
    } while (cursor.take(','));
    if (!cursor.take('}')) return false;
  }
  return has_dtype && has_shape && has_offsets;
}

// Iterates over the header's top-level entries: next() leaves the cursor at the entry's value.
struct Entries {
  Cursor cursor;
  bool first = true;

  explicit Entries(const StFile& file) : cursor{file.header, file.header + file.header_length} {}
  bool begin() { return cursor.take('{'); }
  // 1: an entry (key set), 0: the end of the object, -1: malformed.
  int next(const char** key, size_t* key_length) {
    if (first) {
      first = false;
      if (cursor.take('}')) return 0;
    } else if (!cursor.take(',')) {
      return cursor.take('}') ? 0 : -1;
    }
    if (!read_string(cursor, key, key_length) || !cursor.take(':')) return -1;
    return 1;
  }
};

size_t dtype_bytes(int dtype) { return dtype == kDTypeF32 ? 4 : dtype == kDTypeI64 ? 8 : 2; }

int format_error(plasmo_error* error, const char* what) {
  return fail3(error, PLASMO_ERR_FORMAT, "bad safetensors file: ", what, "");
}

}  // namespace

uint32_t crc32(const uint8_t* bytes, size_t size) {
  // Four bits at a time: crc = (crc >> 4) ^ table[(crc ^ nibble) & 15].
  static const uint32_t kNibble[16] = {0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
                                       0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
                                       0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c};
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < size; ++i) {
    crc ^= bytes[i];
    crc = (crc >> 4) ^ kNibble[crc & 15];
    crc = (crc >> 4) ^ kNibble[crc & 15];
  }
  return crc ^ 0xffffffffu;
}

int st_open(const uint8_t* bytes, size_t size, StFile* file, plasmo_error* error) {
  if (!bytes || size < 8) return format_error(error, "shorter than the 8-byte header length (truncated?)");
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = header_length << 8 | bytes[i];
  if (header_length > kMaxHeader || header_length > size - 8)
    return format_error(error, "the header length runs past the end of the file (truncated?)");
  file->header = reinterpret_cast<const char*>(bytes + 8);
  file->header_length = static_cast<size_t>(header_length);
  file->data = bytes + 8 + header_length;
  file->data_size = size - 8 - header_length;

  Entries entries(*file);
  if (!entries.begin()) return format_error(error, "the header is not a JSON object");
  uint64_t total = 0, highest_end = 0;
  bool has_crc = false;
  char crc_text[16];
  for (;;) {
    const char* key;
    size_t key_length;
    const int next = entries.next(&key, &key_length);
    if (next < 0) return format_error(error, "malformed JSON header");
    if (next == 0) break;
    if (key_is(key, key_length, "__metadata__")) {  // {str: str, ...}
      Cursor& cursor = entries.cursor;
      if (!cursor.take('{')) return format_error(error, "__metadata__ is not an object");
      if (!cursor.take('}')) {
        do {
          const char *name, *value;
          size_t name_length, value_length;
          if (!read_string(cursor, &name, &name_length) || !cursor.take(':'))
            return format_error(error, "malformed __metadata__");
          if (!read_string(cursor, &value, &value_length))
            return format_error(error, "a __metadata__ value is not a string");
          if (key_is(name, name_length, "crc32")) {
            if (!decode_string(value, value_length, crc_text, sizeof crc_text))
              return format_error(error, "bad crc32 value");
            has_crc = true;
          }
        } while (cursor.take(','));
        if (!cursor.take('}')) return format_error(error, "malformed __metadata__");
      }
      continue;
    }
    StTensor tensor;
    if (!read_entry(entries.cursor, &tensor)) return format_error(error, "malformed tensor entry in the header");
    if (tensor.dtype < 0) return format_error(error, "a tensor has a dtype other than F32, F16, BF16, I64");
    uint64_t bytes_needed = dtype_bytes(tensor.dtype);
    for (int axis = 0; axis < tensor.rank; ++axis) {
      const uint64_t extent = tensor.shape[axis];
      if (extent != 0 && bytes_needed > (uint64_t{1} << 62) / extent) return format_error(error, "absurd tensor shape");
      bytes_needed *= extent;
    }
    if (tensor.end < tensor.begin || tensor.end - tensor.begin != bytes_needed)
      return format_error(error, "a tensor's data_offsets do not match its shape and dtype");
    if (tensor.end > file->data_size)
      return format_error(error, "a tensor's data runs past the end of the file (truncated?)");
    total += bytes_needed;
    if (tensor.end > highest_end) highest_end = tensor.end;
  }
  Cursor& cursor = entries.cursor;
  cursor.skip_space();
  if (cursor.at != cursor.end) return format_error(error, "bytes after the JSON header");
  if (total != file->data_size || highest_end != file->data_size)
    return format_error(error, "the tensors do not tile the data section (truncated or padded file?)");
  if (has_crc) {
    uint32_t expected = 0;
    if (strlen(crc_text) != 8) return format_error(error, "crc32 is not 8 hex digits");
    for (int i = 0; i < 8; ++i) {
      if (!is_hex(crc_text[i])) return format_error(error, "crc32 is not 8 hex digits");
      expected = expected << 4 | static_cast<uint32_t>(hex_value(crc_text[i]));
    }
    if (crc32(file->data, static_cast<size_t>(file->data_size)) != expected)
      return format_error(error, "crc32 mismatch: the data section is corrupt");
  }
  return PLASMO_OK;
}

bool st_find(const StFile& file, const char* name, StTensor* tensor) {
  Entries entries(file);
  if (!entries.begin()) return false;
  const char* key;
  size_t key_length;
  while (entries.next(&key, &key_length) == 1) {
    if (key_is(key, key_length, name) && !key_is(key, key_length, "__metadata__"))
      return read_entry(entries.cursor, tensor);
    if (!skip_value(entries.cursor, 0)) return false;
  }
  return false;
}

int st_metadata(const StFile& file, const char* wanted, char* value, size_t capacity) {
  Entries entries(file);
  if (!entries.begin()) return 0;
  const char* key;
  size_t key_length;
  while (entries.next(&key, &key_length) == 1) {
    if (!key_is(key, key_length, "__metadata__")) {
      if (!skip_value(entries.cursor, 0)) return 0;
      continue;
    }
    Cursor& cursor = entries.cursor;
    if (!cursor.take('{') || cursor.take('}')) return 0;
    do {
      const char *name, *text;
      size_t name_length, text_length;
      if (!read_string(cursor, &name, &name_length) || !cursor.take(':') || !read_string(cursor, &text, &text_length))
        return 0;
      if (key_is(name, name_length, wanted)) return decode_string(text, text_length, value, capacity) ? 1 : -1;
    } while (cursor.take(','));
    return 0;
  }
  return 0;
}

float st_float(const StFile& file, const StTensor& tensor, size_t index) {
  const uint8_t* at = file.data + tensor.begin + index * dtype_bytes(tensor.dtype);
  if (tensor.dtype == kDTypeF32) {
    const uint32_t bits = static_cast<uint32_t>(at[0]) | static_cast<uint32_t>(at[1]) << 8 |
                          static_cast<uint32_t>(at[2]) << 16 | static_cast<uint32_t>(at[3]) << 24;
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
  }
  const uint32_t half = static_cast<uint32_t>(at[0]) | static_cast<uint32_t>(at[1]) << 8;
  uint32_t bits;
  if (tensor.dtype == kDTypeBF16) {
    bits = half << 16;  // bfloat16 is the top half of a float
  } else {
    // IEEE half: sign 1, exponent 5 (bias 15), mantissa 10.
    const uint32_t sign = (half >> 15) << 31, exponent = (half >> 10) & 0x1f, mantissa = half & 0x3ff;
    if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
      const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
      memcpy(&bits, &magnitude, sizeof bits);
      bits |= sign;
    } else if (exponent == 31) {
      bits = sign | 0x7f800000u | mantissa << 13;
    } else {
      bits = sign | (exponent - 15 + 127) << 23 | mantissa << 13;
    }
  }
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

}  // namespace plasmo_infer
