// Progress text for `plasmo train` (the CLI prints it; this file only formats): a one-line bar redrawn on
// a terminal, a plain line for logs, and the summary line of each epoch.
#pragma once
#include <string>

#include "train/history.h"

namespace plasmo::train {

struct BatchProgress {
  Phase phase = Phase::Classifier;
  int epoch = 0, epochs = 0;   // within the phase, from 1
  int batch = 0, batches = 0;  // from 1
  double loss = 0.0;           // mean over the epoch's batches so far
  double images_per_s = 0.0;   // training images of this epoch so far / its training time
  double eta_seconds = -1.0;   // rest of the run; < 0 = not known yet
};

// "42s", "3:07", "1:02:03"; "?" for a negative or non-finite time.
std::string format_duration(double seconds);

// "epoch 3/50 [########--------] 120/597 loss 0.2345  312 img/s  ETA 12:34", cut to `columns` characters
// (the bar shrinks first). Pretraining epochs read "pretrain 3/10".
std::string progress_bar_line(const BatchProgress& progress, int columns);
// The same facts without the bar, for a log file or a pipe.
std::string progress_plain_line(const BatchProgress& progress);

// "epoch 3/50  lr 0.0095  train loss 0.2345 acc 0.9123  val loss 0.2012 acc 0.9301 sens 0.9412 spec 0.9187
//  312 img/s  61.2 s  best" (pretraining: "pretrain 3/10  lr 0.001  train mse 0.0123  val mse 0.0119 ...").
std::string epoch_summary_line(const EpochRecord& record, int epochs, bool best);

}  // namespace plasmo::train
