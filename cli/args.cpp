#include "cli/args.h"

#include <cerrno>
#include <cstdlib>

#include "engine/error.h"

namespace plasmo::cli {

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& value_options,
           const std::set<std::string>& flag_options) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      if (arg.size() > 1 && arg[0] == '-' && arg != "-") throw UsageError("unknown option '" + arg + "'");
      positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    bool inline_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    if (value_options.count(name)) {
      if (!inline_value) {
        if (i + 1 >= argv.size()) throw UsageError("option --" + name + " needs a value");
        value = argv[++i];
      }
      values_[name].push_back(value);
    } else if (flag_options.count(name)) {
      if (inline_value) throw UsageError("option --" + name + " takes no value");
      values_[name].push_back("1");
    } else {
      throw UsageError("unknown option '--" + name + "'");
    }
  }
}

bool Args::has(const std::string& name) const { return values_.count(name) > 0; }

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second.back();
}

std::vector<std::string> Args::get_all(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Args::require(const std::string& name) const {
  if (!has(name)) throw UsageError("missing required option --" + name);
  return get(name);
}

long long Args::get_i64(const std::string& name, long long fallback) const {
  if (!has(name)) return fallback;
  const std::string text = get(name);
  char* end = nullptr;
  errno = 0;
  long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE)
    throw UsageError("option --" + name + " wants an integer, got '" + text + "'");
  return value;
}

int Args::get_int(const std::string& name, int fallback) const {
  long long value = get_i64(name, fallback);
  if (value < -2147483647LL || value > 2147483647LL) throw UsageError("option --" + name + " is out of range");
  return static_cast<int>(value);
}

double Args::get_double(const std::string& name, double fallback) const {
  if (!has(name)) return fallback;
  const std::string text = get(name);
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0') throw UsageError("option --" + name + " wants a number, got '" + text + "'");
  return value;
}

}  // namespace plasmo::cli
