// The JSON of a safetensors header, parsed strictly and without recursion. The grammar is exactly
// what the format uses, nothing more:
//   header   = '{' [ member *( ',' member ) ] '}'  followed only by whitespace (the writer's padding)
//   member   = string ':' ( metadata | entry )      metadata when the name is "__metadata__"
//   metadata = '{' [ string ':' string *( ',' string ':' string ) ] '}'
//   entry    = '{' "dtype": string, "shape": '[' uint, ... ']', "data_offsets": '[' uint ',' uint ']' '}'
//              (the three keys once each, in any order, and no others)
// Strings are valid UTF-8 with JSON escapes (\uXXXX incl. surrogate pairs); integers are plain digits
// without sign, fraction, exponent or leading zeros, below 2^63. Duplicate names are refused.
// Semantic checks (dtype known, sizes, offsets) belong to safetensors.cpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace plasmo {

struct HeaderEntry {
  std::string name;
  std::string dtype;            // as written, e.g. "F32"
  std::vector<uint64_t> shape;  // [] for a scalar
  uint64_t begin = 0, end = 0;  // data_offsets, relative to the start of the data section
};

struct ParsedHeader {
  std::map<std::string, std::string> metadata;  // "__metadata__", empty when absent
  std::vector<HeaderEntry> entries;             // in the order the header lists them
};

// At most this many dimensions per tensor (PyTorch allows 64; plasmo uses <= 4).
constexpr size_t kMaxHeaderRank = 16;

// Offset of the first byte that is not part of well-formed UTF-8 (no overlongs, no surrogates,
// <= U+10FFFF), or `size` when all of it is.
size_t utf8_error_offset(const char* text, size_t size);

// Throws FormatError "<source>: header JSON at byte <offset>: <what is wrong>" (offset within the
// JSON text, so byte 8 + offset of the file).
ParsedHeader parse_header_json(const char* text, size_t size, const std::string& source);

}  // namespace plasmo
