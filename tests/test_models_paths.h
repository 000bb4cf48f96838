// Where the models tests find their inputs: the fixtures under tests/fixtures/ and the plasmo binary.
//   fixtures: $PLASMO_FIXTURES, else <source tree>/tests/fixtures with the source tree found from the test
//             binary (<tree>/build/plasmo-tests, or any BUILD= folder one level down), else tests/fixtures
//             and ../tests/fixtures relative to the working directory.
//   plasmo:   $PLASMO_BIN (set by `make test`), else the plasmo next to the test binary.
#pragma once
#include <doctest/doctest.h>

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace plasmo::testing {

// The folder holding the running test binary ("/src/build").
inline std::string test_binary_dir() {
  char exe[PATH_MAX];
  const ssize_t length = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (length <= 0) return ".";
  std::string dir(exe, static_cast<size_t>(length));
  dir.resize(dir.rfind('/'));
  return dir;
}

inline std::string fixture_path(const std::string& name) {
  std::vector<std::string> folders;
  if (const char* env = std::getenv("PLASMO_FIXTURES")) folders.push_back(env);
  std::string tree = test_binary_dir();
  tree.resize(tree.rfind('/'));
  folders.push_back(tree + "/tests/fixtures");
  folders.push_back("tests/fixtures");
  folders.push_back("../tests/fixtures");
  for (const std::string& folder : folders)
    if (std::ifstream(folder + "/" + name).good()) return folder + "/" + name;
  FAIL("fixture " << name << " not found (set PLASMO_FIXTURES to the tests/fixtures folder)");
  return "";
}

inline std::string plasmo_bin() {
  if (const char* env = std::getenv("PLASMO_BIN")) return env;
  return test_binary_dir() + "/plasmo";
}

}  // namespace plasmo::testing
