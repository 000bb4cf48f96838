// `plasmo eval --model FILE --data DIR [--threshold T | --target-sensitivity S] [--json FILE]
//  [--report FILE.html] [--heatmaps DIR] [--log TRAIN.csv] [--tta]`: metrics of a model on a data folder.
// stdout: the readable table (eval/report_text.h); stderr: progress and each skipped file.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/error.h"
#include "eval/report_html.h"
#include "eval/report_json.h"
#include "eval/report_text.h"
#include "eval/run_eval.h"
#include "eval/training_log.h"

namespace plasmo::cli {

namespace {

constexpr int kDefaultHeatmapsPerKind = 8;
constexpr int kDefaultReportCells = 48;
constexpr int kReportCellSize = 96;  // pixels a side of each gallery image

// Progress on stderr: one redrawn line on a terminal, a plain line per quarter otherwise.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), terminal_(::isatty(STDERR_FILENO)) {}
  void operator()(const char* stage, int done, int total) {
    if (!enabled_ || total <= 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (stage != stage_) stage_ = stage, start_ = now, last_quarter_ = -1;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double rate = seconds > 0 ? done / seconds : 0.0;
    if (terminal_) {
      std::fprintf(stderr, "\reval: %s %d/%d images, %.0f images/s, ETA %.0f s   ", stage, done, total, rate,
                   rate > 0 ? (total - done) / rate : 0.0);
      if (done == total) std::fprintf(stderr, "\n");
    } else if (const int quarter = static_cast<int>(4LL * done / total); quarter > last_quarter_ && quarter > 0) {
      last_quarter_ = quarter;
      std::fprintf(stderr, "eval: %s %d/%d images\n", stage, done, total);
    }
  }

 private:
  bool enabled_, terminal_;
  const char* stage_ = nullptr;
  std::chrono::steady_clock::time_point start_;
  int last_quarter_ = -1;
};

void print_unreadable(const std::string& path, const std::string& reason) {
  std::fprintf(stderr, "plasmo: warning: %s: %s (no heatmap)\n", path.c_str(), reason.c_str());
}

const char* kUsage =
    "usage: plasmo eval --model FILE --data DIR [options]\n"
    "  DIR holds Parasitized/ and Uninfected/ (or cell_images/ with them); prints the metrics table\n"
    "  --threshold T            call a cell Parasitized when p >= T (default: the model file's threshold)\n"
    "  --target-sensitivity S   instead, the highest threshold whose sensitivity on DIR is >= S (0 < S <= 1)\n"
    "  --json FILE              the metrics JSON\n"
    "  --report FILE.html       a self-contained HTML report (metrics, ROC, training curves, patients,\n"
    "                           misclassified cells with heatmaps)\n"
    "  --log TRAIN.csv          the training log for the report's training curves\n"
    "  --heatmaps DIR           Grad-CAM heatmaps of the most confident true/false positives/negatives\n"
    "  --heatmap-count N        heatmaps per kind (default 8); --report-cells N: cells in the report (48)\n"
    "  --tta                    average p over the image's 8 mirrors and rotations (test-time augmentation)\n"
    "  --split val|train        only one side of the patient split that plasmo train makes of DIR with the\n"
    "                           same --val-frac F (default 0.2) and --seed N (default 1): the held-out patients\n"
    "  --batch N (64), --limit N (that many images), --cache DIR, --no-cache\n"
    "  --threads N, --seed N, --quiet (no progress)\n";

int run_eval(const Argv& argv) {
  const Args args(argv,
                  {"model", "data", "threshold", "target-sensitivity", "json", "report", "heatmaps", "log", "batch",
                   "cache", "limit", "heatmap-count", "report-cells", "threads", "seed", "split", "val-frac"},
                  {"tta", "no-cache", "quiet", "help"});
  if (args.has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  apply_common_options(args);
  if (!args.positional().empty())
    throw UsageError("eval takes no file arguments (got '" + args.positional()[0] + "'); use --model FILE --data DIR");
  const bool quiet = args.has("quiet");

  eval::EvalOptions options;
  options.model_path = args.require("model");
  options.data_dir = args.require("data");
  constexpr double kUnset = std::numeric_limits<double>::quiet_NaN();
  options.threshold = args.get_double("threshold", kUnset);
  options.target_sensitivity = args.get_double("target-sensitivity", kUnset);
  options.tta = args.has("tta");
  options.batch_size = args.get_int("batch", 64);
  options.cache_dir = args.get("cache");
  options.use_cache = !args.has("no-cache");
  options.limit = args.get_int("limit", 0);
  options.split_side = args.get("split");
  options.val_frac = args.get_double("val-frac", 0.2);
  options.split_seed = static_cast<uint64_t>(args.get_int("seed", 1));
  if (args.has("val-frac") && options.split_side.empty()) throw UsageError("--val-frac needs --split val|train");
  const int heatmaps_per_kind = args.get_int("heatmap-count", kDefaultHeatmapsPerKind);
  const int report_cells = args.get_int("report-cells", kDefaultReportCells);
  if (heatmaps_per_kind < 1) throw UsageError("--heatmap-count must be >= 1");
  if (report_cells < 0) throw UsageError("--report-cells must be >= 0");

  // Read the training log first: a wrong path should fail before minutes of work.
  std::unique_ptr<eval::TrainingLog> log;
  if (args.has("log")) log = std::make_unique<eval::TrainingLog>(eval::read_training_log(args.get("log")));

  Progress progress(!quiet);
  options.progress = [&](const char* stage, int done, int total) { progress(stage, done, total); };
  eval::EvalRun run = eval::run_evaluation(options);
  for (const data::SkippedFile& skipped : run.skipped)
    std::fprintf(stderr, "plasmo: skipped %s: %s\n", skipped.path.c_str(), skipped.reason.c_str());

  if (!run.split_note.empty() && !quiet) std::printf("%s\n", run.split_note.c_str());
  std::fputs(eval::metrics_table(run.outcome).c_str(), stdout);
  std::fflush(stdout);

  if (args.has("json")) {
    eval::write_text_file(args.get("json"), eval::metrics_json(run.outcome));
    if (!quiet) std::printf("metrics JSON: %s\n", args.get("json").c_str());
  }
  if (args.has("heatmaps")) {
    const std::vector<std::string> written =
        eval::write_heatmap_samples(*run.model, run, args.get("heatmaps"), heatmaps_per_kind, print_unreadable);
    if (!quiet)
      std::printf("heatmaps: %zu images in %s (index.tsv lists them)\n", written.size(), args.get("heatmaps").c_str());
  }
  if (args.has("report")) {
    eval::ReportInputs inputs;
    inputs.outcome = &run.outcome;
    inputs.training_log = log.get();
    inputs.training_log_path = args.get("log");
    inputs.misclassified =
        eval::misclassified_gallery(*run.model, run, report_cells, kReportCellSize, print_unreadable);
    inputs.misclassified_total = run.outcome.metrics.confusion.fp + run.outcome.metrics.confusion.fn;
    for (const data::SkippedFile& skipped : run.skipped) inputs.skipped.push_back({skipped.path, skipped.reason});
    eval::write_text_file(args.get("report"), eval::report_html(inputs));
    if (!quiet) std::printf("report: %s\n", args.get("report").c_str());
  }
  return 0;
}

const CommandRegistrar registrar(
    {"eval", "metrics, ROC, heatmaps and an HTML report of a model on a data folder: --model FILE --data DIR", run_eval,
     20});

}  // namespace

}  // namespace plasmo::cli
