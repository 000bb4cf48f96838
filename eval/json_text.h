// Pieces of JSON text: numbers and strings written so that any value gives valid JSON.
#pragma once
#include <cstdint>
#include <string>

namespace plasmo::eval {

// The shortest decimal that reads back (strtod) as the same double: 0.97 -> "0.97", 1 -> "1",
// 1e-05 -> "1e-05". NaN and +-Inf, which JSON cannot hold, -> "null".
std::string json_number(double value);
std::string json_number(int64_t value);
// A quoted JSON string: '"' and '\' escaped, control characters as \n, \t or \u00XX, bytes that are not
// valid UTF-8 replaced by \ufffd (so a strange file name cannot break the document).
std::string json_string(const std::string& text);

}  // namespace plasmo::eval
