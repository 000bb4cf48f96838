// The `plasmo` subcommands. Each takes its arguments (after the command name) and returns the exit
// status; errors are thrown (UsageError -> 2, any other Error -> 1) and printed once by main.
#pragma once
#include <string>
#include <vector>

namespace plasmo::cli {

using Argv = std::vector<std::string>;

struct Command {
  const char* name;
  const char* synopsis;  // one line for `plasmo --help`
  int (*run)(const Argv& args);
};

// All commands, in the order `plasmo --help` lists them (cli/main.cpp).
const std::vector<Command>& commands();

}  // namespace plasmo::cli
