// A small command-line parser: `--name value`, `--name=value`, `--flag`, and positional arguments.
// Each command declares the options it takes; anything else is a UsageError (exit status 2).
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

namespace plasmo::cli {

class Args {
 public:
  // value_options take a value; flag_options do not. Options may repeat; get() returns the last.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& value_options,
       const std::set<std::string>& flag_options);

  bool has(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback = "") const;
  std::vector<std::string> get_all(const std::string& name) const;
  std::string require(const std::string& name) const;  // UsageError when absent
  int get_int(const std::string& name, int fallback) const;
  long long get_i64(const std::string& name, long long fallback) const;
  double get_double(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

}  // namespace plasmo::cli
