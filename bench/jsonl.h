// Flat JSON lines, the format bench-models and tools/bench_torch.py exchange results in: one object per line,
// values are strings, numbers or booleans, never nested (no objects, no arrays), so no JSON library is needed.
//   JsonLine().add("kind", "result").add("median", 1.5).str()  ->  {"kind": "result", "median": 1.5}
//   parse_json_line(text) -> {{"kind", "result"}, {"median", "1.5"}}  (values as text, quotes removed)
#pragma once
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

namespace plasmo::bench {

class JsonLine {
 public:
  JsonLine& add(const std::string& key, const std::string& value) {
    std::string quoted = "\"";
    for (char c : value) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    return raw(key, quoted + "\"");
  }
  JsonLine& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonLine& add(const std::string& key, double value) {
    char text[64];
    std::snprintf(text, sizeof text, "%.9g", value);
    return raw(key, text);
  }
  JsonLine& add(const std::string& key, int value) { return raw(key, std::to_string(value)); }
  JsonLine& add(const std::string& key, int64_t value) { return raw(key, std::to_string(value)); }
  JsonLine& add(const std::string& key, bool value) { return raw(key, value ? "true" : "false"); }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  JsonLine& raw(const std::string& key, const std::string& value) {
    if (!body_.empty()) body_ += ", ";
    body_ += "\"" + key + "\": " + value;
    return *this;
  }
  std::string body_;
};

using JsonObject = std::map<std::string, std::string>;

// Parses one flat object; returns false (and leaves `out` partial) for anything else: a log line, a cut-off
// line, a nested object or array.
inline bool parse_json_line(const std::string& line, JsonObject& out) {
  size_t i = 0;
  auto skip = [&] {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
  };
  auto string_at = [&](std::string& s) {
    if (i >= line.size() || line[i] != '"') return false;
    for (++i; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) ++i;
      s += line[i];
    }
    if (i >= line.size()) return false;
    ++i;
    return true;
  };
  skip();
  if (i >= line.size() || line[i] != '{') return false;
  ++i;
  for (;;) {
    skip();
    if (i < line.size() && line[i] == '}') return true;
    std::string key, value;
    if (!string_at(key)) return false;
    skip();
    if (i >= line.size() || line[i] != ':') return false;
    ++i;
    skip();
    if (i < line.size() && line[i] == '"') {
      if (!string_at(value)) return false;
    } else {
      while (i < line.size() && line[i] != ',' && line[i] != '}' && line[i] != ' ') value += line[i++];
      // Unquoted: a number or a literal; anything else ({, [) is not flat.
      const bool literal = value == "true" || value == "false" || value == "null";
      if (value.empty() || (!literal && value.find_first_not_of("0123456789+-.eE") != std::string::npos)) return false;
    }
    out[key] = value;
    skip();
    if (i < line.size() && line[i] == ',') {
      ++i;
      continue;
    }
    return i < line.size() && line[i] == '}';
  }
}

}  // namespace plasmo::bench
