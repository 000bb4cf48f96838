// Text (a fixed-capacity string builder) and the error helpers: messages without printf or a heap.
#include <string.h>

#include "infer_internal.h"

namespace plasmo_infer {

Text& Text::add(const char* text) { return add(text, strlen(text)); }

Text& Text::add(const char* text, size_t count) {
  for (size_t i = 0; i < count && length + 1 < capacity; ++i) out[length++] = text[i];
  if (capacity) out[length] = '\0';
  return *this;
}

Text& Text::add_uint(unsigned long long value) {
  char digits[24];
  int count = 0;
  do {
    digits[count++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value);
  while (count) add(&digits[--count], 1);
  return *this;
}

Text& Text::add_int(long long value) {
  if (value >= 0) return add_uint(static_cast<unsigned long long>(value));
  add("-");
  return add_uint(0ull - static_cast<unsigned long long>(value));
}

int fail(plasmo_error* error, int code, const char* message) { return fail3(error, code, message, "", ""); }

int fail3(plasmo_error* error, int code, const char* first, const char* second, const char* third) {
  if (error) {
    error->code = code;
    Text(error->message, sizeof error->message).add(first).add(second).add(third);
  }
  return code;
}

}  // namespace plasmo_infer
