// The `plasmo` subcommands. Each command file registers itself with a static CommandRegistrar, so
// adding a command touches no other file. A command takes its arguments (after the command name) and
// returns the exit status; errors are thrown (UsageError -> 2, any other Error -> 1) and printed once
// by main.
#pragma once
#include <string>
#include <vector>

namespace plasmo::cli {

using Argv = std::vector<std::string>;

struct Command {
  const char* name;
  const char* synopsis;  // one line for `plasmo --help`
  int (*run)(const Argv& args);
  int order;  // position in `plasmo --help` (train 10, eval 20, predict 30, info 40, export 50, synth 60, bench 70)
};

// All registered commands, sorted by order.
std::vector<Command> commands();

struct CommandRegistrar {
  explicit CommandRegistrar(const Command& command);
};

// Options every command accepts: --threads N (sets the pool), --seed N, --quiet. Returns the option
// names so a command can add them to its own sets.
void apply_common_options(const class Args& args);

}  // namespace plasmo::cli
