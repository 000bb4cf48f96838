#include "eval/run_eval.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "data_loader/split.h"
#include "data_loader/synth.h"
#include "engine/error.h"
#include "eval/cases.h"
#include "eval/score.h"
#include "models/model_file.h"

namespace plasmo::eval {

EvalRun run_evaluation(const EvalOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const bool fixed_threshold = !std::isnan(options.threshold), target = !std::isnan(options.target_sensitivity);
  if (fixed_threshold && target) throw UsageError("give --threshold or --target-sensitivity, not both");
  if (fixed_threshold && !(options.threshold >= 0.0 && options.threshold <= 1.0))
    throw UsageError("--threshold must be in [0, 1], got " + std::to_string(options.threshold));
  if (target && !(options.target_sensitivity > 0.0 && options.target_sensitivity <= 1.0))
    throw UsageError("--target-sensitivity must be in (0, 1], got " + std::to_string(options.target_sensitivity));
  if (options.batch_size < 1) throw UsageError("--batch must be >= 1");
  if (!options.split_side.empty() && options.split_side != "val" && options.split_side != "train")
    throw UsageError("--split must be val or train, got '" + options.split_side + "'");

  EvalRun run;
  run.batch_size = options.batch_size;
  run.model = load_model_file(options.model_path);
  run.norm = model_normalization(run.model->meta());

  data::LoadOptions load;
  load.image_size = run.model->input_size();
  load.cache_dir = options.cache_dir;
  load.use_cache = options.use_cache;
  load.limit = options.limit;
  if (options.progress) load.progress = [&](int done, int total) { options.progress("decode", done, total); };
  const data::Dataset data = data::Dataset::load(options.data_dir, load);
  run.skipped = data.skipped();

  std::vector<int> indices(data.size());
  std::iota(indices.begin(), indices.end(), 0);
  if (!options.split_side.empty()) {
    const data::Split split = data::split_by_patient(data.samples(), options.val_frac, options.split_seed);
    indices = options.split_side == "val" ? split.val : split.train;
    const data::SideCounts counts = data::count_side(data.samples(), indices);
    char note[256];
    std::snprintf(note, sizeof note,
                  "%s side of the patient split (val-frac %g, seed %llu): %d patients, %d Parasitized, "
                  "%d Uninfected images",
                  options.split_side.c_str(), options.val_frac, static_cast<unsigned long long>(options.split_seed),
                  counts.patients_total, counts.images[1], counts.images[0]);
    run.split_note = note;
    if (indices.empty())
      throw UsageError("the " + options.split_side + " side of the split of " + options.data_dir +
                       " is empty (val-frac " + std::to_string(options.val_frac) + ")");
  }

  const std::vector<double> p = score_dataset(
      *run.model, data, indices, run.norm, options.batch_size, options.tta,
      options.progress
          ? std::function<void(int, int)>([&](int done, int total) { options.progress("score", done, total); })
          : std::function<void(int, int)>());

  EvalOutcome& outcome = run.outcome;
  outcome.model_path = options.model_path;
  outcome.data_path = options.data_dir;
  outcome.arch = run.model->arch();
  outcome.input_size = run.model->input_size();
  outcome.tta = options.tta;
  outcome.skipped = static_cast<int64_t>(run.skipped.size());
  outcome.images.reserve(indices.size());
  for (const int i : indices) {
    const data::Sample& sample = data.samples()[i];
    outcome.images.push_back({sample.path, sample.patient, sample.label, p[i]});
  }
  double threshold = fixed_threshold ? options.threshold : run.model->meta().threshold;
  if (target) {
    threshold = threshold_for_sensitivity(outcome.scored(), options.target_sensitivity);
    outcome.target_sensitivity = options.target_sensitivity;
  }
  compute_outcome_metrics(outcome, threshold);
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

namespace {

std::string file_stem(const std::string& path) { return std::filesystem::path(path).stem().string(); }

}  // namespace

std::vector<std::string> write_heatmap_samples(
    Model& model, const EvalRun& run, const std::string& dir, int per_kind,
    const std::function<void(const std::string&, const std::string&)>& on_error) {
  if (per_kind < 1) throw UsageError("heatmaps per kind must be >= 1");
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error || !std::filesystem::is_directory(dir))
    throw IoError("cannot create the heatmap folder '" + dir + "'" + (error ? ": " + error.message() : ""));
  const EvalOutcome& outcome = run.outcome;
  std::vector<std::string> written;
  std::string index = "file\tkind\tlabel\tp_parasitized\tmethod\tsource\n";
  for (CaseKind kind : kCaseKinds) {
    const std::vector<size_t> chosen = select_cases(outcome, kind, per_kind);
    const std::vector<CellHeat> cells = compute_cell_heats(model, run.norm, outcome, chosen, run.batch_size, on_error);
    for (size_t rank = 0; rank < cells.size(); ++rank) {
      const ImageResult& image = outcome.images[cells[rank].image_index];
      char prefix[32];
      std::snprintf(prefix, sizeof prefix, "%s_%02zu_", case_name(kind), rank + 1);
      const std::string name = prefix + file_stem(image.path) + ".png";
      const std::string path = (std::filesystem::path(dir) / name).string();
      data::write_file(path, heatmap_png_full_size(cells[rank]));
      written.push_back(path);
      char p_text[32];
      std::snprintf(p_text, sizeof p_text, "%.6f", image.p);
      index += name + "\t" + case_name(kind) + "\t" + data::class_name(image.label) + "\t" + p_text + "\t" +
               cam_method_name(cells[rank].heat.method) + "\t" + image.path + "\n";
    }
  }
  data::write_file((std::filesystem::path(dir) / "index.tsv").string(),
                   std::vector<uint8_t>(index.begin(), index.end()));
  return written;
}

std::vector<GalleryCell> misclassified_gallery(
    Model& model, const EvalRun& run, int limit, int size,
    const std::function<void(const std::string&, const std::string&)>& on_error) {
  std::vector<size_t> chosen = select_misclassified(run.outcome);
  if (limit >= 0 && chosen.size() > static_cast<size_t>(limit)) chosen.resize(static_cast<size_t>(limit));
  const std::vector<CellHeat> cells =
      compute_cell_heats(model, run.norm, run.outcome, chosen, run.batch_size, on_error);
  std::vector<GalleryCell> gallery;
  gallery.reserve(cells.size());
  for (const CellHeat& cell : cells) {
    const ImageResult& image = run.outcome.images[cell.image_index];
    CellPngs pngs = render_cell_pngs(cell, size);
    GalleryCell entry;
    entry.path = image.path;
    entry.patient = image.patient;
    entry.label = image.label;
    entry.p = image.p;
    entry.method = cam_method_name(cell.heat.method);
    entry.cell_png = std::move(pngs.cell);
    entry.heat_png = std::move(pngs.heat);
    gallery.push_back(std::move(entry));
  }
  return gallery;
}

}  // namespace plasmo::eval
