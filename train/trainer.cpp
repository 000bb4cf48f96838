#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>

#include "engine/error.h"
#include "engine/io/crc32.h"
#include "engine/io/safetensors.h"
#include "engine/io/state.h"
#include "engine/loss.h"
#include "engine/optim.h"
#include "engine/schedule.h"
#include "engine/threads.h"
#include "models/model.h"
#include "models/model_file.h"
#include "train/checkpoint.h"
#include "train/finite.h"
#include "train/metrics.h"
#include "train/state_copy.h"

namespace plasmo::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Validation costs about a third of training per image (forward only).
constexpr double kValidationCost = 1.0 / 3.0;

// The data's identity: per side, the image count and a CRC-32 of "relative path<TAB>label\n" in index
// order. A resumed run must see the same split of the same files (moving the folder is fine).
std::string split_identity(const data::Dataset& data, const data::Split& split) {
  const std::string root = data.root() + "/";
  auto side = [&](const std::vector<int>& indices) {
    uint32_t crc = 0;
    for (int index : indices) {
      const data::Sample& sample = data.samples()[static_cast<size_t>(index)];
      std::string line = sample.path.compare(0, root.size(), root) == 0 ? sample.path.substr(root.size()) : sample.path;
      line += '\t' + std::to_string(sample.label) + '\n';
      crc = crc32(line.data(), line.size(), crc);
    }
    return std::to_string(indices.size()) + " images, crc32 " + crc32_hex(crc);
  };
  return "train " + side(split.train) + "; val " + side(split.val);
}

// The reconstruction target: the input's pixels back in [0, 1], v/255 = x * std + mean per channel
// (clamped: the normalization's rounding may step just outside). Dataset normalization only; with the
// foreground one the batcher keeps the pixels (Batch::pixels).
void pixels_of(const Tensor& x, const data::Normalization& norm, Tensor& target) {
  target.resize(x.shape());
  const int N = x.dim(0), C = x.dim(1);
  const size_t plane = static_cast<size_t>(x.dim(2)) * x.dim(3);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      const float* in = x.data() + (static_cast<size_t>(n) * C + c) * plane;
      float* out = target.data() + (static_cast<size_t>(n) * C + c) * plane;
      for (size_t p = 0; p < plane; ++p) {
        const float v = in[p] * norm.std[c] + norm.mean[c];
        out[p] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
      }
    }
}

void check_output_folder(const std::string& path, const char* option) {
  if (path.empty()) return;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code error;
  if (!parent.empty() && !std::filesystem::is_directory(parent, error))
    throw UsageError(std::string("--") + option + " " + path + ": folder " + parent.string() + " does not exist");
}

class Run {
 public:
  Run(const TrainOptions& options, TrainObserver& observer) : options_(options), observer_(observer) {}
  TrainResult go();

 private:
  void load_data();
  void build_model();
  void resume();
  void start_phase(Phase phase);
  void train_epoch(int epoch_index, Phase phase, int phase_epoch, EpochRecord& record);
  void validate(Phase phase, EpochRecord& record);
  bool keep_if_best(const EpochRecord& record);
  void save(Phase phase);
  void write_model_file();
  Metadata model_metadata() const;
  // The autoencoder's target for the current batch_: its pixels in [0, 1].
  const Tensor& reconstruction_target() {
    if (norm_.foreground) return batch_.pixels;
    pixels_of(batch_.images, norm_, target_);
    return target_;
  }
  [[noreturn]] void diverged(const std::string& what, Phase phase, int phase_epoch, int batch) const;
  int total_epochs() const { return options_.pretrain_epochs + options_.epochs; }
  Phase phase_of(int epoch_index) const {
    return epoch_index < options_.pretrain_epochs ? Phase::Pretrain : Phase::Classifier;
  }

  const TrainOptions& options_;
  TrainObserver& observer_;
  data::Dataset dataset_;
  data::Split split_;
  data::Normalization norm_;
  std::unique_ptr<data::Batcher> train_batcher_, val_batcher_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Optimizer> optimizer_;
  std::optional<Phase> optimizer_phase_;
  std::optional<Schedule> schedule_;
  StateCopy best_;
  RunProgress progress_;
  int last_saved_epoch_ = -1;  // epochs_done of the checkpoint on disk (-1: none yet)

  // Reused every batch: no allocation after the first.
  data::Batch batch_;
  Tensor dlogits_, target_, drecon_;

  // ETA bookkeeping (this call only).
  Clock::time_point run_start_;
  double units_done_ = 0.0;
};

TrainResult Run::go() {
  check_output_folder(options_.out, "out");
  check_output_folder(options_.checkpoint, "checkpoint");
  check_output_folder(options_.log, "log");
  load_data();
  build_model();
  progress_.split = split_identity(dataset_, split_);
  progress_.threads = thread_count();
  progress_.best_val_loss = kNaN;
  if (!options_.resume.empty()) resume();

  const int first = progress_.epochs_done;
  run_start_ = Clock::now();
  for (int epoch_index = first; epoch_index < total_epochs(); ++epoch_index) {
    const Phase phase = phase_of(epoch_index);
    const int phase_epoch = phase == Phase::Pretrain ? epoch_index : epoch_index - options_.pretrain_epochs;
    if (optimizer_phase_ != phase) start_phase(phase);
    const Clock::time_point epoch_start = Clock::now();
    EpochRecord record;
    record.phase = phase;
    record.epoch = phase_epoch + 1;
    record.lr = phase == Phase::Pretrain ? kPretrainLr : schedule_->lr_at(phase_epoch);
    optimizer_->set_lr(record.lr);
    train_epoch(epoch_index, phase, phase_epoch, record);
    validate(phase, record);
    record.seconds = seconds_since(epoch_start);
    progress_.history.push_back(record);
    progress_.epochs_done = epoch_index + 1;
    const bool best = phase == Phase::Classifier && keep_if_best(record);
    save(phase);
    observer_.on_epoch(record, phase == Phase::Pretrain ? options_.pretrain_epochs : options_.epochs, best);
  }

  // The model file from the best copy: written already when it improved, written again here so that a run
  // resumed with another --out (or one already complete) still leaves it; the bytes are the same.
  if (best_.empty()) throw UsageError("no classifier epoch was trained: nothing to write to " + options_.out);
  write_model_file();

  TrainResult result;
  result.history = progress_.history;
  result.epochs_run = total_epochs() > first ? total_epochs() - first : 0;
  result.best_epoch = progress_.best_epoch;
  result.best_val_loss = progress_.best_val_loss;
  result.images_train = static_cast<int>(split_.train.size());
  result.images_val = static_cast<int>(split_.val.size());
  result.skipped = static_cast<int>(dataset_.skipped().size());
  result.out = options_.out;
  result.checkpoint = options_.checkpoint;
  return result;
}

void Run::load_data() {
  data::LoadOptions load;
  load.image_size = options_.size;
  load.cache_dir = options_.cache;
  load.limit = options_.limit;
  load.progress = [this](int done, int total) { observer_.on_loading(done, total); };
  dataset_ = data::Dataset::load(options_.data, load);
  observer_.on_loaded(dataset_);
  split_ = data::split_by_patient(dataset_.samples(), options_.val_frac, options_.seed);
  observer_.on_split(split_.summary);
  if (split_.train.empty()) throw UsageError("no training images left after the split of " + options_.data);
  if (options_.val_frac > 0.0 && split_.val.empty())
    observer_.on_note("no validation images (one patient only?): the last epoch is kept instead of the best");
  // The train split's mean/std are computed in both modes: they are the dataset normalization, and in
  // foreground mode they still go to the file (unused there) and identify the images on --resume.
  norm_ = data::compute_normalization(dataset_, split_.train);
  norm_.foreground = options_.normalize == "foreground";

  data::AugmentConfig augment = data::AugmentConfig::table2(options_.augment == Augment::OnVflip);
  train_batcher_ =
      std::make_unique<data::Batcher>(dataset_, split_.train, norm_, options_.batch, options_.seed, augment);
  if (!split_.val.empty())
    val_batcher_ = std::make_unique<data::Batcher>(dataset_, split_.val, norm_, options_.batch, options_.seed,
                                                   data::AugmentConfig::none());
  // Foreground normalization cannot be inverted: the reconstruction target comes from the batcher.
  if (norm_.foreground && options_.pretrain_epochs > 0) {
    train_batcher_->set_keep_pixels(true);
    if (val_batcher_) val_batcher_->set_keep_pixels(true);
  }
}

void Run::build_model() {
  ModelConfig config;
  config.arch = options_.model;
  config.width = options_.width;
  config.input_size = options_.size;
  config.seed = options_.seed;
  model_ = make_model(config);
  model_->meta().mean.assign(norm_.mean, norm_.mean + 3);
  model_->meta().std.assign(norm_.std, norm_.std + 3);
  model_->meta().normalize = options_.normalize;
  schedule_ = parse_schedule(options_.schedule, options_.lr, options_.epochs);
}

void Run::resume() {
  const SafetensorsFile file = SafetensorsFile::read(options_.resume);
  const Metadata& metadata = file.metadata();
  const RunProgress saved = progress_from_metadata(metadata, options_.resume);
  if (saved.split != progress_.split)
    throw UsageError(options_.resume + ": the data differ from the checkpoint's (checkpoint: " + saved.split +
                     "; now: " + progress_.split + ")");
  // The checkpoint's mean/std, compared as floats (the text may be written with more digits).
  auto find = [&](const char* key) {
    auto it = metadata.find(key);
    return it == metadata.end() ? std::string() : it->second;
  };
  const data::Normalization saved_norm = data::Normalization::parse(find("mean"), find("std"), options_.resume);
  for (int channel = 0; channel < 3; ++channel)
    if (saved_norm.mean[channel] != norm_.mean[channel] || saved_norm.std[channel] != norm_.std[channel])
      throw UsageError(options_.resume + ": the training images' mean/std differ from the checkpoint's (" +
                       find("mean") + " / " + find("std") + " vs " + data::Normalization::format(norm_.mean) + " / " +
                       data::Normalization::format(norm_.std) + "): the images changed");
  if (saved.threads != progress_.threads)
    observer_.on_note("the checkpoint was written with " + std::to_string(saved.threads) + " threads, this run uses " +
                      std::to_string(progress_.threads) + ": it continues correctly but not bit-identically");

  // The optimizer of the next epoch's phase; its state is in the file unless that phase starts now.
  const int next = saved.epochs_done;
  if (next < total_epochs()) {
    start_phase(phase_of(next));
  }
  const bool same_phase = next > 0 && next < total_epochs() && phase_of(next - 1) == phase_of(next);
  if (same_phase) {
    const std::string kind = find("optimizer");
    if (kind != optimizer_->kind())
      throw FormatError(options_.resume + ": holds " + kind + " state, the run continues with " + optimizer_->kind());
  }
  const bool has_best = saved.best_epoch > 0;
  if (has_best) best_.capture(model_->state_params(), model_->buffers());
  load_checkpoint(file, *model_, same_phase ? optimizer_.get() : nullptr, best_, has_best);
  const int threads = progress_.threads;
  const std::string split = progress_.split;
  progress_ = saved;
  progress_.threads = threads;
  progress_.split = split;
  last_saved_epoch_ = saved.epochs_done;
  if (next >= total_epochs())
    observer_.on_note("the checkpoint has " + std::to_string(next) + " epochs done of " +
                      std::to_string(total_epochs()) + ": nothing left to train; writing the best model");
  else
    observer_.on_note("resuming from " + options_.resume + " after " + std::to_string(next) + " epochs (" +
                      std::to_string(saved.steps) + " steps)");
}

void Run::start_phase(Phase phase) {
  model_->set_freeze_encoder(phase == Phase::Classifier && options_.freeze_encoder);
  if (phase == Phase::Pretrain) {
    OptimizerOptions pretrain;
    pretrain.lr = kPretrainLr;
    optimizer_ = make_optimizer("rmsprop", model_->reconstruction_params(), pretrain);
  } else {
    OptimizerOptions classifier;
    classifier.lr = options_.lr;
    classifier.momentum = options_.momentum;
    classifier.weight_decay = options_.weight_decay;
    optimizer_ = make_optimizer(options_.optimizer, model_->params(), classifier);
  }
  optimizer_phase_ = phase;
  optimizer_->zero_grad();
}

void Run::train_epoch(int epoch_index, Phase phase, int phase_epoch, EpochRecord& record) {
  const int batches = train_batcher_->batches_per_epoch();
  const int epochs = phase == Phase::Pretrain ? options_.pretrain_epochs : options_.epochs;
  const double images_train = static_cast<double>(split_.train.size());
  const double images_val = static_cast<double>(split_.val.size());
  ClassifierStats stats;
  const Clock::time_point start = Clock::now();
  train_batcher_->start_epoch(epoch_index, /*shuffle=*/true, /*augment=*/options_.augment != Augment::Off);
  for (int b = 0; b < batches; ++b) {
    if (!train_batcher_->next(batch_)) break;
    observer_.on_train_batch(phase, phase_epoch + 1, b + 1, batch_);
    double loss;
    if (phase == Phase::Pretrain) {
      const Tensor& recon = model_->reconstruct(batch_.images, Mode::Train);
      loss = mse_loss(recon, reconstruction_target(), drecon_);
      if (!std::isfinite(loss)) diverged("reconstruction loss is " + number_text(loss), phase, phase_epoch, b + 1);
      stats.add_loss(loss, batch_.size());
      model_->reconstruct_backward(drecon_);
    } else {
      const Tensor& logits = model_->forward(batch_.images, Mode::Train);
      loss = softmax_cross_entropy(logits, batch_.labels, dlogits_);
      if (!std::isfinite(loss)) diverged("loss is " + number_text(loss), phase, phase_epoch, b + 1);
      stats.add(loss, logits, batch_.labels);
      model_->backward(dlogits_);
    }
    if (const Param* bad = first_nonfinite_gradient(optimizer_->params()))
      diverged("the gradient of " + bad->name + " is not finite", phase, phase_epoch, b + 1);
    optimizer_->step();
    optimizer_->zero_grad();
    ++progress_.steps;

    units_done_ += batch_.size();
    BatchProgress progress;
    progress.phase = phase;
    progress.epoch = phase_epoch + 1;
    progress.epochs = epochs;
    progress.batch = b + 1;
    progress.batches = batches;
    progress.loss = stats.loss();
    const double elapsed = seconds_since(start);
    progress.images_per_s = elapsed > 0.0 ? static_cast<double>(stats.images()) / elapsed : 0.0;
    const double per_epoch = images_train + kValidationCost * images_val;
    const double remaining =
        (total_epochs() - epoch_index - 1) * per_epoch + (images_train - stats.images()) + kValidationCost * images_val;
    const double run_elapsed = seconds_since(run_start_);
    progress.eta_seconds = units_done_ > 0.0 && run_elapsed > 0.0 ? remaining * run_elapsed / units_done_ : -1.0;
    observer_.on_batch(progress);
  }
  const double seconds = seconds_since(start);
  record.train_loss = stats.loss();
  record.train_acc = phase == Phase::Classifier ? stats.accuracy() : 0.0;
  record.images_per_s = seconds > 0.0 ? static_cast<double>(stats.images()) / seconds : 0.0;
}

void Run::validate(Phase phase, EpochRecord& record) {
  if (!val_batcher_) return;
  ClassifierStats stats;
  val_batcher_->start_epoch(0, /*shuffle=*/false, /*augment=*/false);
  while (val_batcher_->next(batch_)) {
    if (phase == Phase::Pretrain) {
      const Tensor& recon = model_->reconstruct(batch_.images, Mode::Eval);
      stats.add_loss(mse_loss(recon, reconstruction_target()), batch_.size());
    } else {
      const Tensor& logits = model_->forward(batch_.images, Mode::Eval);
      stats.add(softmax_cross_entropy(logits, batch_.labels), logits, batch_.labels);
    }
  }
  units_done_ += kValidationCost * static_cast<double>(split_.val.size());
  record.has_val = true;
  record.val_loss = stats.loss();
  if (!std::isfinite(record.val_loss))
    throw NumericError(
        "validation loss is " + number_text(record.val_loss) + " after " +
        (phase == Phase::Pretrain ? "pretraining epoch " : "epoch ") + std::to_string(record.epoch) +
        (last_saved_epoch_ >= 0 ? "; the last good checkpoint is " + options_.checkpoint : std::string()));
  if (phase == Phase::Classifier) {
    record.val_acc = stats.accuracy();
    record.val_sensitivity = stats.sensitivity();
    record.val_specificity = stats.specificity();
  }
}

bool Run::keep_if_best(const EpochRecord& record) {
  const bool improved = !record.has_val || progress_.best_epoch == 0 || record.val_loss < progress_.best_val_loss;
  if (!improved) return false;
  progress_.best_epoch = record.epoch;
  progress_.best_val_loss = record.has_val ? record.val_loss : kNaN;
  best_.capture(model_->state_params(), model_->buffers());
  write_model_file();
  return true;
}

void Run::save(Phase phase) {
  Metadata metadata = model_metadata();
  options_to_metadata(options_, metadata);
  progress_to_metadata(progress_, metadata);
  metadata["phase"] = phase_name(phase);
  metadata["optimizer"] = optimizer_->kind();
  save_checkpoint(options_.checkpoint, *model_, optimizer_.get(), best_, metadata);
  last_saved_epoch_ = progress_.epochs_done;
  if (!options_.log.empty()) {
    write_text_file_atomic(options_.log, history_csv(progress_.history, Phase::Classifier));
    if (options_.pretrain_epochs > 0)
      write_text_file_atomic(pretrain_log_path(options_.log), history_csv(progress_.history, Phase::Pretrain));
  }
}

// The best copy with the model's metadata plus the epoch it comes from (classifier epochs, from 1) and its
// validation loss.
void Run::write_model_file() {
  Metadata metadata = model_metadata();
  metadata["epoch"] = std::to_string(progress_.best_epoch);
  if (!std::isnan(progress_.best_val_loss)) metadata["val_loss"] = number_text(progress_.best_val_loss);
  save_state(options_.out, best_.params(), best_.buffers(), {}, metadata);
}

Metadata Run::model_metadata() const { return model_file_metadata(*model_, {{"seed", std::to_string(options_.seed)}}); }

void Run::diverged(const std::string& what, Phase phase, int phase_epoch, int batch) const {
  std::string message = "training diverged: " + what + " at " + (phase == Phase::Pretrain ? "pretraining " : "") +
                        "epoch " + std::to_string(phase_epoch + 1) + " batch " + std::to_string(batch) + " (lr " +
                        number_text(optimizer_->lr()) + "); ";
  if (last_saved_epoch_ > 0)
    message += "the last good checkpoint is " + options_.checkpoint + " (after " + std::to_string(last_saved_epoch_) +
               " epochs), unchanged";
  else
    message += "no checkpoint was written yet";
  throw NumericError(message);
}

}  // namespace

TrainOptions prepare_options(const TrainRequest& request) {
  if (request.resume.empty()) return resolve_options(request);
  return resolve_resume_options(request, read_metadata(request.resume), request.resume);
}

TrainResult run_training(const TrainOptions& options, TrainObserver& observer) {
  Run run(options, observer);
  return run.go();
}

}  // namespace plasmo::train
