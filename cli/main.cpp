// `plasmo`: one binary, one subcommand per job. Errors reach here as typed exceptions and leave as
// one line on stderr, `plasmo: error: ...`, with exit status 2 for bad usage and 1 for failures.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/error.h"
#include "engine/kernels/kernels.h"
#include "engine/threads.h"

namespace plasmo::cli {

namespace {
std::vector<Command>& registry() {
  static std::vector<Command> list;
  return list;
}
}  // namespace

CommandRegistrar::CommandRegistrar(const Command& command) { registry().push_back(command); }

std::vector<Command> commands() {
  std::vector<Command> sorted = registry();
  std::sort(sorted.begin(), sorted.end(), [](const Command& a, const Command& b) { return a.order < b.order; });
  return sorted;
}

void apply_common_options(const Args& args) {
  if (args.has("threads")) {
    int threads = args.get_int("threads", 0);
    if (threads < 1) throw UsageError("--threads wants a positive integer");
    set_thread_count(threads);
  }
}

}  // namespace plasmo::cli

namespace {

void print_help() {
  std::printf(
      "plasmo: malaria parasite detection in thin-blood-smear cell images, with its own neural-network engine\n\n"
      "usage: plasmo COMMAND [options]\n\ncommands:\n");
  for (const auto& command : plasmo::cli::commands()) std::printf("  %-10s %s\n", command.name, command.synopsis);
  std::printf(
      "\ncommon options: --threads N, --seed N, --quiet\n"
      "plasmo --version prints the version and the kernel ISA in use (PLASMO_ISA=ref|avx2|avx512|neon forces one)\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace plasmo;
  try {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
      print_help();
      return argc < 2 ? 2 : 0;
    }
    if (!std::strcmp(argv[1], "--version")) {
      std::printf("plasmo 0.1.0 (kernels: %s)\n", kernels::K().isa);
      return 0;
    }
    for (const auto& command : cli::commands()) {
      if (std::strcmp(argv[1], command.name) != 0) continue;
      cli::Argv args(argv + 2, argv + argc);
      return command.run(args);
    }
    throw UsageError(std::string("unknown command '") + argv[1] + "' (see plasmo --help)");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "plasmo: error: %s\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "plasmo: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plasmo: error: %s\n", e.what());
    return 1;
  }
}
