// ModelMeta <-> the model file's `__metadata__` strings (DESIGN.md "The model file").
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "engine/error.h"
#include "models/model.h"

namespace plasmo {

namespace {

// The shortest %g form that reads back to the same double ("0.25", "1e-05"); "1.0" rather than "1" so a
// width reads as a number with a point, as Python's repr writes it.
std::string format_number(double value) {
  char text[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  std::string out = text;
  if (out.find_first_of(".eEn") == std::string::npos) out += ".0";
  return out;
}

// Floats are written from their float value, so 0.485f gives "0.485", not "0.485000014".
std::string format_float(float value) {
  char text[40];
  for (int precision = 1; precision <= 9; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, static_cast<double>(value));
    if (std::strtof(text, nullptr) == value) break;
  }
  return text;
}

std::string join_floats(const std::vector<float>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + format_float(values[i]);
  return out;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

double parse_double(const std::string& text, const std::string& key, const std::string& source) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(value))
    throw FormatError(source + ": metadata '" + key + "' is '" + text + "', expected a number");
  return value;
}

int parse_positive_int(const std::string& text, const std::string& key, const std::string& source) {
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || value < 1 || value > 1000000)
    throw FormatError(source + ": metadata '" + key + "' has '" + text + "', expected a positive integer");
  return static_cast<int>(value);
}

std::vector<float> parse_floats(const std::string& text, const std::string& key, const std::string& source) {
  std::vector<float> values;
  for (const std::string& part : split(text, ','))
    values.push_back(static_cast<float>(parse_double(part, key, source)));
  if (values.size() != 3)
    throw FormatError(source + ": metadata '" + key + "' is '" + text + "', expected 3 values (one per channel)");
  return values;
}

}  // namespace

std::map<std::string, std::string> ModelMeta::to_metadata() const {
  std::map<std::string, std::string> out;
  out["arch"] = arch;
  out["width"] = format_number(width);
  out["input"] = "3x" + std::to_string(input_size) + "x" + std::to_string(input_size);
  std::string names;
  for (size_t i = 0; i < classes.size(); ++i) names += (i ? "," : "") + classes[i];
  out["classes"] = names;
  out["mean"] = join_floats(mean);
  out["std"] = join_floats(std);
  if (normalize != "dataset") out["normalize"] = normalize;
  out["threshold"] = format_number(threshold);
  return out;
}

ModelMeta ModelMeta::from_metadata(const std::map<std::string, std::string>& metadata, const std::string& source) {
  auto find = [&metadata](const char* key) -> const std::string* {
    auto it = metadata.find(key);
    return it == metadata.end() ? nullptr : &it->second;
  };
  ModelMeta meta;
  const std::string* arch = find("arch");
  if (!arch || arch->empty())
    throw FormatError(source +
                      ": no 'arch' in the metadata: not a plasmo model file (a bare state_dict "
                      "needs --arch)");
  meta.arch = *arch;
  if (const std::string* width = find("width")) {
    meta.width = parse_double(*width, "width", source);
    if (!(meta.width > 0.0)) throw FormatError(source + ": metadata 'width' is '" + *width + "', expected > 0");
  }
  const std::string* input = find("input");
  if (!input) throw FormatError(source + ": no 'input' in the metadata (expected e.g. 3x64x64)");
  const std::vector<std::string> dims = split(*input, 'x');
  if (dims.size() != 3 || dims[0] != "3" || dims[1] != dims[2])
    throw FormatError(source + ": metadata 'input' is '" + *input + "', expected 3xSxS (square RGB)");
  meta.input_size = parse_positive_int(dims[1], "input", source);
  if (const std::string* classes = find("classes")) {
    meta.classes = split(*classes, ',');
    if (meta.classes.size() != 2)
      throw FormatError(source + ": metadata 'classes' is '" + *classes + "', expected two names");
  }
  if (const std::string* mean = find("mean")) meta.mean = parse_floats(*mean, "mean", source);
  if (const std::string* std_text = find("std")) {
    meta.std = parse_floats(*std_text, "std", source);
    for (float s : meta.std)
      if (!(s > 0.0f)) throw FormatError(source + ": metadata 'std' is '" + *std_text + "', expected values > 0");
  }
  if (const std::string* normalize = find("normalize")) {
    if (*normalize != "dataset" && *normalize != "foreground")
      throw FormatError(source + ": metadata 'normalize' is '" + *normalize + "', expected dataset or foreground");
    meta.normalize = *normalize;
  }
  if (const std::string* threshold = find("threshold")) {
    meta.threshold = parse_double(*threshold, "threshold", source);
    if (meta.threshold < 0.0 || meta.threshold > 1.0)
      throw FormatError(source + ": metadata 'threshold' is '" + *threshold + "', expected a value in [0, 1]");
  }
  return meta;
}

}  // namespace plasmo
