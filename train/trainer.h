// The training loop of `plasmo train` (options: train/options.h; checkpoint: train/checkpoint.h; logs:
// train/history.h).
//
// A run: load the data folder (data_loader, through its cache) -> split by patient (val_frac, seed) ->
// mean/std on the training side (into the model file) -> build the model (models/) -> for each epoch:
//   1. the training side, shuffled and augmented per (seed, epoch, image), in batches: forward, loss,
//      backward, optimizer step. A loss or gradient that is NaN or Inf stops the run with a NumericError
//      naming the epoch and batch, before the step: the checkpoint and the model file keep the last good
//      epoch.
//   2. the validation side (held-out patients) in eval mode: loss, accuracy, sensitivity, specificity.
//   3. classifier epochs: when the validation loss is the lowest so far (or there is no validation side),
//      the model file (`out`) is rewritten with these weights: it always holds the best epoch.
//   4. the checkpoint (everything needed to resume), then the CSV logs.
// The autoencoder first runs `pretrain_epochs` reconstruction epochs (MSE between the sigmoid output and
// the input pixels in [0, 1], RMSprop), then its classifier epochs.
//
// Determinism: same options, data and thread count -> bit-identical weights; a run resumed from any epoch's
// checkpoint ends with the same bytes as one that never stopped (tests/test_train_resume.cpp).
//
// Nothing here prints: the observer receives everything worth showing.
#pragma once
#include <string>
#include <vector>

#include "data_loader/batcher.h"
#include "data_loader/dataset.h"
#include "data_loader/split.h"
#include "train/history.h"
#include "train/options.h"
#include "train/progress.h"

namespace plasmo::train {

class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  virtual void on_loading(int done, int total) {}                             // decoding images (calling thread)
  virtual void on_loaded(const data::Dataset& dataset) {}                     // report(), skipped() files
  virtual void on_split(const data::SplitSummary& summary) {}                 // once, before the first epoch
  virtual void on_note(const std::string& text) {}                            // resume facts, warnings
  virtual void on_batch(const BatchProgress& progress) {}                     // after every training batch
  virtual void on_epoch(const EpochRecord& record, int epochs, bool best) {}  // after the epoch is saved
  // Called with every training batch before its forward; may change it. A test hook (NaN injection).
  virtual void on_train_batch(Phase phase, int epoch, int batch, data::Batch& images) {}
};

struct TrainResult {
  std::vector<EpochRecord> history;  // the whole run's, including epochs before a resume
  int epochs_run = 0;                // epochs trained by this call
  int best_epoch = 0;                // classifier epoch (from 1) kept in the model file
  double best_val_loss = 0.0;        // NaN without validation
  int images_train = 0, images_val = 0, skipped = 0;
  std::string out, checkpoint;
};

// TrainRequest -> TrainOptions: resolve_options, or for --resume the checkpoint's options merged with the
// request (resolve_resume_options; reads the checkpoint's metadata).
TrainOptions prepare_options(const TrainRequest& request);

// Runs (or continues, when options.resume is set) a training run. Throws UsageError for bad options or
// a checkpoint that does not fit the data, NumericError on divergence, IoError / FormatError for files.
TrainResult run_training(const TrainOptions& options, TrainObserver& observer);

}  // namespace plasmo::train
