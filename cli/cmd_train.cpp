// `plasmo train`: command-line options -> train::TrainRequest -> train::run_training, with the progress
// shown on stderr (a redrawn bar on a terminal, a plain line every few seconds otherwise) and the
// results on stdout (the split, one line per epoch, the model kept).
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "data_loader/split.h"
#include "engine/error.h"
#include "train/options.h"
#include "train/progress.h"
#include "train/trainer.h"

namespace plasmo::cli {

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kTerminalRedrawSeconds = 0.1;
constexpr double kPlainLineSeconds = 5.0;

void print_help() {
  std::printf(
      "usage: plasmo train --model NAME --data DIR --out FILE [options]\n"
      "       plasmo train --resume FILE.ckpt [options]\n\n"
      "Trains a classifier (Parasitized / Uninfected) on a data folder (Parasitized/ and Uninfected/, or\n"
      "cell_images/ holding them), validates on held-out patients every epoch and keeps the epoch with the\n"
      "lowest validation loss in --out.\n\n"
      "what and where:\n"
      "  --model NAME          autoencoder | resnet18 | mobilenetv2\n"
      "  --data DIR            the images (read only: nothing is written next to them)\n"
      "  --out FILE            the model file (safetensors): the best epoch, rewritten when it improves\n"
      "  --checkpoint FILE     written after every epoch, atomically (default: OUT.ckpt; with --resume,\n"
      "                        the resumed file)\n"
      "  --resume FILE         continue the run that wrote this checkpoint: same options, same data; the\n"
      "                        result is bit-identical to an uninterrupted run with the same --threads.\n"
      "                        Options given must match the checkpoint's; --epochs may raise the total\n"
      "  --log FILE.csv        per-epoch log: epoch,lr,train_loss,train_acc,val_loss,val_acc,\n"
      "                        val_sensitivity,val_specificity,images_per_s,seconds (the autoencoder's\n"
      "                        pretraining epochs go to FILE.pretrain.csv: epoch,lr,train_mse,val_mse,...)\n"
      "  --cache DIR           the decoded-image cache (default $XDG_CACHE_HOME/plasmo or ~/.cache/plasmo)\n\n"
      "model and data:\n"
      "  --size N              input N x N (images are resized); the autoencoder needs a multiple of 8\n"
      "  --width W             channel multiplier (resnet18, mobilenetv2; 1.0 = torchvision's)\n"
      "  --val-frac F          fraction of the patients held out for validation (default 0.2)\n"
      "  --limit N             use only N images (half per class, evenly spread): quick runs\n"
      "  --augment MODE        on (rotation 20 deg, scale/shift/shear 0.05, horizontal flips), off, or\n"
      "                        vflip (on plus vertical flips); default on\n"
      "  --normalize MODE      dataset: x = (v/255 - mean) / std with the training images' mean/std\n"
      "                        (default); foreground: per image, over the cell's pixels (r+g+b > 30),\n"
      "                        x = (v - m) / max(s, 1) with the cell's own mean m and std s, background 0.\n"
      "                        Stored in the model file (metadata 'normalize')\n\n"
      "optimization:\n"
      "  --epochs N            classifier epochs\n"
      "  --batch N             images per batch\n"
      "  --optimizer NAME      sgd | adam | rmsprop (adam and rmsprop default to lr 1e-3)\n"
      "  --lr X                base learning rate\n"
      "  --momentum X          sgd, rmsprop\n"
      "  --weight-decay X      L2 (PyTorch's coupled weight decay), default 0\n"
      "  --schedule SPEC       constant | step:SIZE[:GAMMA] | exp:GAMMA | cosine[:T_MAX[:ETA_MIN]] (per epoch)\n"
      "  --pretrain-epochs E   autoencoder: E epochs of reconstruction first (MSE, RMSprop lr 1e-3)\n"
      "  --freeze-encoder      autoencoder: train only the dense layers after pretraining (default: fine-tune)\n\n"
      "common: --threads N, --seed N (default 1), --quiet (no progress, split or epoch lines; skipped\n"
      "        images are still named on stderr)\n\n"
      "defaults per model:\n%s\n"
      "A loss or gradient that turns NaN or Inf stops the run (exit status 1) naming the epoch and batch;\n"
      "the last checkpoint and model file are left as they were.\n",
      train::defaults_table().c_str());
}

int terminal_columns() {
  winsize size{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS")) {
    const int value = std::atoi(columns);
    if (value > 0) return value;
  }
  return 80;
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

class CliObserver : public train::TrainObserver {
 public:
  explicit CliObserver(bool quiet) : quiet_(quiet), terminal_(::isatty(STDERR_FILENO) == 1) {}

  void on_loading(int done, int total) override {
    if (quiet_ || !due(done == total)) return;
    if (terminal_) {
      std::fprintf(stderr, "\rloading images: %d/%d\033[K", done, total);
      bar_shown_ = true;
    } else {
      std::fprintf(stderr, "loading images: %d/%d\n", done, total);
    }
  }

  void on_loaded(const data::Dataset& dataset) override {
    clear_bar();
    for (const data::SkippedFile& file : dataset.skipped())
      std::fprintf(stderr, "plasmo: warning: skipped %s: %s\n", file.path.c_str(), file.reason.c_str());
    if (!dataset.skipped().empty())
      std::fprintf(stderr, "plasmo: warning: %zu unreadable images skipped\n", dataset.skipped().size());
    if (quiet_) return;
    const data::LoadReport& report = dataset.report();
    const char* cache = report.cache == data::CacheStatus::Hit          ? "from the cache"
                        : report.cache == data::CacheStatus::Built      ? "decoded, cache written"
                        : report.cache == data::CacheStatus::NotWritten ? "decoded, cache not written"
                                                                        : "decoded, no cache";
    std::printf("data: %d images of %dx%d from %s (%s, %.1f s)%s%s\n", dataset.size(), dataset.image_size(),
                dataset.image_size(), dataset.root().c_str(), cache, report.seconds,
                report.cache_note.empty() ? "" : ": ", report.cache_note.c_str());
    std::fflush(stdout);
  }

  void on_split(const data::SplitSummary& summary) override {
    if (quiet_) return;
    std::fputs(data::format_split_summary(summary).c_str(), stdout);
    std::fflush(stdout);
  }

  void on_note(const std::string& text) override {
    if (quiet_) return;
    clear_bar();
    std::fprintf(stderr, "plasmo: %s\n", text.c_str());
  }

  void on_batch(const train::BatchProgress& progress) override {
    if (quiet_) return;
    const bool last = progress.batch == progress.batches;
    if (terminal_) {
      if (!due(last)) return;
      std::fprintf(stderr, "\r%s\033[K", train::progress_bar_line(progress, terminal_columns() - 1).c_str());
      bar_shown_ = true;
    } else if (due(false)) {
      std::fprintf(stderr, "%s\n", train::progress_plain_line(progress).c_str());
    }
  }

  void on_epoch(const train::EpochRecord& record, int epochs, bool best) override {
    if (quiet_) return;
    clear_bar();
    std::printf("%s\n", train::epoch_summary_line(record, epochs, best).c_str());
    std::fflush(stdout);
  }

  void finish() { clear_bar(); }

 private:
  // True when a line is due: always for `force` on a terminal, else after the interval.
  bool due(bool force) {
    const double interval = terminal_ ? kTerminalRedrawSeconds : kPlainLineSeconds;
    if (!started_) {
      started_ = true;
      last_ = Clock::now();
      return terminal_ || force;
    }
    if ((force && terminal_) || seconds_since(last_) >= interval) {
      last_ = Clock::now();
      return true;
    }
    return false;
  }
  void clear_bar() {
    if (bar_shown_) std::fprintf(stderr, "\r\033[K");
    bar_shown_ = false;
  }

  bool quiet_, terminal_;
  bool bar_shown_ = false, started_ = false;
  Clock::time_point last_;
};

int run_train(const Argv& argv) {
  const Args args(
      argv,
      {"model",   "data",      "out",      "checkpoint", "resume",          "log",      "cache",        "size",
       "width",   "epochs",    "batch",    "lr",         "optimizer",       "momentum", "weight-decay", "schedule",
       "augment", "normalize", "val-frac", "limit",      "pretrain-epochs", "threads",  "seed"},
      {"freeze-encoder", "quiet", "help"});
  if (args.has("help")) {
    print_help();
    return 0;
  }
  if (!args.positional().empty())
    throw UsageError("train takes no file arguments (got '" + args.positional()[0] + "'); see plasmo train --help");
  apply_common_options(args);

  train::TrainRequest request;
  auto text = [&](const char* name, std::optional<std::string>& field) {
    if (args.has(name)) field = args.get(name);
  };
  auto integer = [&](const char* name, std::optional<int>& field) {
    if (args.has(name)) field = args.get_int(name, 0);
  };
  auto number = [&](const char* name, std::optional<double>& field) {
    if (args.has(name)) field = args.get_double(name, 0.0);
  };
  text("model", request.model);
  text("data", request.data);
  text("out", request.out);
  text("checkpoint", request.checkpoint);
  text("log", request.log);
  text("cache", request.cache);
  text("optimizer", request.optimizer);
  text("schedule", request.schedule);
  text("augment", request.augment);
  text("normalize", request.normalize);
  request.resume = args.get("resume");
  integer("size", request.size);
  integer("epochs", request.epochs);
  integer("batch", request.batch);
  integer("limit", request.limit);
  integer("pretrain-epochs", request.pretrain_epochs);
  number("width", request.width);
  number("lr", request.lr);
  number("momentum", request.momentum);
  number("weight-decay", request.weight_decay);
  number("val-frac", request.val_frac);
  if (args.has("freeze-encoder")) request.freeze_encoder = true;
  if (args.has("seed")) {
    const long long seed = args.get_i64("seed", 1);
    if (seed < 0) throw UsageError("--seed wants a non-negative integer");
    request.seed = static_cast<uint64_t>(seed);
  }

  const train::TrainOptions options = train::prepare_options(request);
  CliObserver observer(args.has("quiet"));
  train::TrainResult result;
  try {
    result = train::run_training(options, observer);
  } catch (...) {
    observer.finish();
    throw;
  }
  observer.finish();
  if (!args.has("quiet")) {
    if (std::isnan(result.best_val_loss))
      std::printf("saved epoch %d (no validation) to %s; checkpoint %s\n", result.best_epoch, result.out.c_str(),
                  result.checkpoint.c_str());
    else
      std::printf("saved the best epoch, %d (val loss %.4f), to %s; checkpoint %s\n", result.best_epoch,
                  result.best_val_loss, result.out.c_str(), result.checkpoint.c_str());
  }
  return 0;
}

const CommandRegistrar registrar({"train", "train a model on a data folder: --model NAME --data DIR --out FILE",
                                  run_train, 10});

}  // namespace

}  // namespace plasmo::cli
