#include "engine/io/header_json.h"

#include <set>

#include "engine/error.h"

namespace plasmo {
namespace {

class Cursor {
 public:
  Cursor(const char* text, size_t size, const std::string& source) : text_(text), size_(size), source_(source) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(source_ + ": header JSON at byte " + std::to_string(pos_) + ": " + what);
  }

  void skip_space() {
    while (pos_ < size_ && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool at_end() const { return pos_ >= size_; }
  // Next non-space character without consuming it ('\0' at the end).
  char peek() {
    skip_space();
    return pos_ < size_ ? text_[pos_] : '\0';
  }
  bool consume(char expected) {
    if (peek() != expected) return false;
    ++pos_;
    return true;
  }
  void expect(char expected, const std::string& context) {
    if (!consume(expected)) fail(std::string("expected '") + expected + "' " + context + found());
  }
  // ", found 'x'" or ", found the end of the header"
  std::string found() {
    char c = peek();
    if (at_end()) return ", found the end of the header";
    if (c >= 0x20 && c < 0x7f) return std::string(", found '") + c + "'";
    return ", found byte " + std::to_string(static_cast<unsigned char>(c));
  }

  std::string string_value(const std::string& context) {
    if (peek() != '"') fail("expected a string " + context + found());
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= size_) fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("control character " + std::to_string(c) + " inside a string");
      if (c == '\\') {
        escape(out);
        continue;
      }
      // Bytes >= 0x80 belong to UTF-8 sequences, validated for the whole header up front.
      out += static_cast<char>(c);
      ++pos_;
    }
  }

  // A non-negative integer below 2^63: digits only, no leading zero (except "0" itself).
  uint64_t integer_value(const std::string& context) {
    char c = peek();
    if (c < '0' || c > '9') fail("expected a non-negative integer " + context + found());
    size_t start = pos_;
    uint64_t value = 0;
    while (pos_ < size_ && text_[pos_] >= '0' && text_[pos_] <= '9') {
      uint64_t digit = static_cast<uint64_t>(text_[pos_] - '0');
      if (value > (kLimit - digit) / 10) fail("integer too large " + context);
      value = value * 10 + digit;
      ++pos_;
    }
    if (pos_ - start > 1 && text_[start] == '0') fail("integer with a leading zero " + context);
    if (pos_ < size_ && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E'))
      fail("expected an integer " + context + ", found a fraction or exponent");
    return value;
  }

 private:
  static constexpr uint64_t kLimit = (uint64_t{1} << 63) - 1;

  unsigned hex4() {
    if (size_ - pos_ < 4) fail("truncated \\u escape");
    unsigned value = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      unsigned nibble;
      if (c >= '0' && c <= '9')
        nibble = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        nibble = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        nibble = static_cast<unsigned>(c - 'A' + 10);
      else
        fail("bad hex digit in a \\u escape");
      value = value << 4 | nibble;
    }
    return value;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  // At a backslash: one JSON escape.
  void escape(std::string& out) {
    ++pos_;
    if (pos_ >= size_) fail("unterminated string");
    char c = text_[pos_++];
    switch (c) {
      case '"':
        out += '"';
        return;
      case '\\':
        out += '\\';
        return;
      case '/':
        out += '/';
        return;
      case 'b':
        out += '\b';
        return;
      case 'f':
        out += '\f';
        return;
      case 'n':
        out += '\n';
        return;
      case 'r':
        out += '\r';
        return;
      case 't':
        out += '\t';
        return;
      case 'u':
        break;
      default:
        --pos_;
        fail("unknown escape '\\" + std::string(1, c) + "'");
    }
    unsigned code = hex4();
    if (code >= 0xDC00 && code <= 0xDFFF) fail("lone low surrogate in a \\u escape");
    if (code >= 0xD800 && code <= 0xDBFF) {
      // A high surrogate must be followed by \u and a low surrogate: one code point above U+FFFF.
      if (size_ - pos_ < 2 || text_[pos_] != '\\' || text_[pos_ + 1] != 'u')
        fail("lone high surrogate in a \\u escape");
      pos_ += 2;
      unsigned low = hex4();
      if (low < 0xDC00 || low > 0xDFFF) fail("high surrogate not followed by a low one");
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, code);
  }

  const char* text_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& source_;
};

void parse_metadata(Cursor& cursor, std::map<std::string, std::string>& metadata) {
  cursor.expect('{', "to open __metadata__");
  if (cursor.consume('}')) return;
  do {
    std::string key = cursor.string_value("as a __metadata__ key");
    cursor.expect(':', "after a __metadata__ key");
    std::string value = cursor.string_value("as the value of __metadata__ key '" + key + "' (values are strings)");
    if (!metadata.emplace(key, std::move(value)).second) cursor.fail("duplicate __metadata__ key '" + key + "'");
  } while (cursor.consume(','));
  cursor.expect('}', "to close __metadata__");
}

void parse_entry(Cursor& cursor, HeaderEntry& entry) {
  const std::string where = " in tensor '" + entry.name + "'";
  bool has_dtype = false, has_shape = false, has_offsets = false;
  cursor.expect('{', "to open the entry" + where);
  if (!cursor.consume('}')) {
    do {
      std::string key = cursor.string_value("as a key" + where);
      cursor.expect(':', "after key '" + key + "'" + where);
      if (key == "dtype") {
        if (has_dtype) cursor.fail("duplicate key 'dtype'" + where);
        has_dtype = true;
        entry.dtype = cursor.string_value("as the dtype" + where);
      } else if (key == "shape") {
        if (has_shape) cursor.fail("duplicate key 'shape'" + where);
        has_shape = true;
        cursor.expect('[', "to open the shape" + where);
        if (!cursor.consume(']')) {
          do {
            if (entry.shape.size() == kMaxHeaderRank)
              cursor.fail("more than " + std::to_string(kMaxHeaderRank) + " dimensions" + where);
            entry.shape.push_back(cursor.integer_value("in the shape" + where));
          } while (cursor.consume(','));
          cursor.expect(']', "to close the shape" + where);
        }
      } else if (key == "data_offsets") {
        if (has_offsets) cursor.fail("duplicate key 'data_offsets'" + where);
        has_offsets = true;
        cursor.expect('[', "to open data_offsets" + where);
        entry.begin = cursor.integer_value("as the first data offset" + where);
        cursor.expect(',', "between the two data offsets" + where);
        entry.end = cursor.integer_value("as the second data offset" + where);
        cursor.expect(']', "after the two data offsets" + where);
      } else {
        cursor.fail("unknown key '" + key + "'" + where + " (expected dtype, shape, data_offsets)");
      }
    } while (cursor.consume(','));
    cursor.expect('}', "to close the entry" + where);
  }
  if (!has_dtype) cursor.fail("missing 'dtype'" + where);
  if (!has_shape) cursor.fail("missing 'shape'" + where);
  if (!has_offsets) cursor.fail("missing 'data_offsets'" + where);
}

}  // namespace

size_t utf8_error_offset(const char* text, size_t size) {
  size_t pos = 0;
  while (pos < size) {
    unsigned char lead = static_cast<unsigned char>(text[pos]);
    if (lead < 0x80) {
      ++pos;
      continue;
    }
    size_t continuation;
    uint32_t code, minimum;
    if (lead >= 0xC2 && lead <= 0xDF) {
      continuation = 1, code = lead & 0x1Fu, minimum = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      continuation = 2, code = lead & 0x0Fu, minimum = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      continuation = 3, code = lead & 0x07u, minimum = 0x10000;
    } else {
      return pos;
    }
    if (size - pos <= continuation) return pos;
    for (size_t i = 1; i <= continuation; ++i) {
      unsigned char next = static_cast<unsigned char>(text[pos + i]);
      if ((next & 0xC0u) != 0x80u) return pos;
      code = code << 6 | (next & 0x3Fu);
    }
    // Overlong encodings, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (code < minimum || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return pos;
    pos += continuation + 1;
  }
  return size;
}

ParsedHeader parse_header_json(const char* text, size_t size, const std::string& source) {
  Cursor cursor(text, size, source);
  ParsedHeader header;
  // The reference writer starts the header with '{' immediately; whitespace before it is refused too.
  if (size == 0 || text[0] != '{') cursor.fail("the header must start with '{'");
  size_t bad_utf8 = utf8_error_offset(text, size);
  if (bad_utf8 != size)
    throw FormatError(source + ": header JSON at byte " + std::to_string(bad_utf8) + ": invalid UTF-8");
  cursor.expect('{', "to open the header");
  if (!cursor.consume('}')) {
    bool has_metadata = false;
    std::set<std::string> names;
    do {
      std::string name = cursor.string_value("as a tensor name");
      cursor.expect(':', "after a tensor name");
      if (name == "__metadata__") {
        if (has_metadata) cursor.fail("duplicate __metadata__");
        has_metadata = true;
        parse_metadata(cursor, header.metadata);
        continue;
      }
      if (!names.insert(name).second) cursor.fail("duplicate tensor name '" + name + "'");
      header.entries.emplace_back();
      header.entries.back().name = std::move(name);
      parse_entry(cursor, header.entries.back());
    } while (cursor.consume(','));
    cursor.expect('}', "to close the header");
  }
  cursor.skip_space();
  if (!cursor.at_end()) cursor.fail("unexpected text after the header object" + cursor.found());
  return header;
}

}  // namespace plasmo
