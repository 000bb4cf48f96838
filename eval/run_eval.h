// `plasmo eval` without the printing: load the model and the data folder, score every image, choose
// the threshold, compute the metrics; then, on request, the heatmap samples and the report's gallery.
#pragma once
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "data_loader/dataset.h"
#include "eval/outcome.h"
#include "eval/report_html.h"
#include "models/model.h"

namespace plasmo::eval {

struct EvalOptions {
  std::string model_path, data_dir;
  // The decision threshold; NaN = the model file's. Exclusive with target_sensitivity.
  double threshold = std::numeric_limits<double>::quiet_NaN();
  // When set (not NaN): the threshold becomes threshold_for_sensitivity(scores, target) on this data.
  double target_sensitivity = std::numeric_limits<double>::quiet_NaN();
  bool tta = false;
  int batch_size = 64;
  std::string cache_dir;  // "" = the data loader's default cache folder
  bool use_cache = true;
  int limit = 0;  // > 0: that many images (data::limit_samples), for quick runs
  // Which images: all of DIR (""), or one side ("val" or "train") of the patient split that
  // `plasmo train --val-frac val_frac --seed split_seed` makes of the same DIR (data_loader/split.h).
  std::string split_side;
  double val_frac = 0.2;
  uint64_t split_seed = 1;
  // (stage, done, total): stage is "decode" or "score".
  std::function<void(const char*, int, int)> progress;
};

struct EvalRun {
  std::unique_ptr<Model> model;
  std::string split_note;  // with split_side: "val side of the patient split (val-frac 0.2, seed 1): ..."
  data::Normalization norm;
  EvalOutcome outcome;
  std::vector<data::SkippedFile> skipped;
  int batch_size = 64;
};

// UsageError for contradicting options (threshold and target both given, threshold outside [0, 1],
// batch < 1); the errors of load_model_file (models/model_file.h) and Dataset::load.
EvalRun run_evaluation(const EvalOptions& options);

// The two below run `model` (run.model, passed on its own because it is what they change: buffers,
// gradients) over re-read files of run.outcome.
// --heatmaps DIR: for each kind (tp, fp, tn, fn) up to per_kind cells, most confident first, the
// heatmap blended over the cell at its own size, as DIR/<kind>_<rank>_<file name>.png, plus
// DIR/index.tsv (file, kind, label, p, method, source). Creates DIR. Returns the PNG paths written.
std::vector<std::string> write_heatmap_samples(
    Model& model, const EvalRun& run, const std::string& dir, int per_kind,
    const std::function<void(const std::string&, const std::string&)>& on_error);

// The report's gallery: up to `limit` misclassified cells, most confident first, at size x size.
std::vector<GalleryCell> misclassified_gallery(
    Model& model, const EvalRun& run, int limit, int size,
    const std::function<void(const std::string&, const std::string&)>& on_error);

}  // namespace plasmo::eval
