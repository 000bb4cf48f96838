// `plasmo synth --out DIR --count N [--seed S]`: synthetic cells in the NIH layout (data_loader/synth.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "data_loader/synth.h"
#include "engine/error.h"

namespace plasmo::cli {

namespace {

int run_synth(const Argv& argv) {
  const Args args(argv, {"out", "count", "seed", "threads"}, {"quiet"});
  apply_common_options(args);
  if (!args.positional().empty())
    throw UsageError("synth takes no file arguments (got '" + args.positional()[0] + "'); use --out DIR");
  data::SynthOptions options;
  const std::string out = args.require("out");
  options.count = args.get_int("count", 2000);
  const long long seed = args.get_i64("seed", 1);
  if (seed < 0) throw UsageError("--seed wants a non-negative integer");
  options.seed = static_cast<uint64_t>(seed);
  const bool quiet = args.has("quiet");
  const bool terminal = ::isatty(STDERR_FILENO);
  const auto start = std::chrono::steady_clock::now();
  if (!quiet) {
    // On a terminal: one line redrawn; otherwise a plain line every quarter.
    options.progress = [&, last_reported = 0](int done, int total) mutable {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double rate = seconds > 0 ? done / seconds : 0.0;
      if (terminal) {
        std::fprintf(stderr, "\rsynth: %d/%d images, %.0f images/s, ETA %.0f s ", done, total, rate,
                     rate > 0 ? (total - done) / rate : 0.0);
        if (done == total) std::fprintf(stderr, "\n");
      } else if (done * 4 / total > last_reported * 4 / total || done == total) {
        std::fprintf(stderr, "synth: %d/%d images\n", done, total);
      }
      last_reported = done;
    };
  }
  const data::SynthSummary summary = data::write_synthetic_dataset(out, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (summary.already_present) {
    if (!quiet)
      std::printf("synth: %s already holds these %d images (count %d, seed %llu); nothing written\n", out.c_str(),
                  options.count, options.count, static_cast<unsigned long long>(options.seed));
    return 0;
  }
  if (!quiet)
    std::printf(
        "synth: wrote %d images (%d Parasitized, %d Uninfected) from %d patients (%d healthy) to %s in %.1f s\n",
        summary.parasitized + summary.uninfected, summary.parasitized, summary.uninfected, summary.patients,
        summary.healthy_patients, out.c_str(), seconds);
  return 0;
}

const CommandRegistrar registrar({"synth",
                                  "write synthetic cell images in the NIH layout: --out DIR --count N [--seed S]",
                                  run_synth, 60});

}  // namespace

}  // namespace plasmo::cli
