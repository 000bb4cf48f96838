// The per-epoch record of a run and its CSV logs.
//
// Classifier epochs (`--log FILE.csv`), exactly these columns, one row per epoch, epoch counted from 1:
//   epoch,lr,train_loss,train_acc,val_loss,val_acc,val_sensitivity,val_specificity,images_per_s,seconds
// train_* are the means over the epoch's training batches (train mode, augmented, as Keras reports them);
// val_* come from the held-out patients in eval mode; sensitivity = TP / (TP + FN) and specificity =
// TN / (TN + FP) with Parasitized the positive class at p >= 0.5. Without validation (--val-frac 0) the
// val_* cells are empty. images_per_s counts training images over the training part of the epoch;
// seconds is the epoch's training and validation (not the saving after).
//
// Autoencoder pretraining epochs (pretrain_log_path(log)), one row per epoch:
//   epoch,lr,train_mse,val_mse,images_per_s,seconds
//
// The rows of a run so far travel inside its checkpoint (metadata "history", "pretrain_history": the
// same CSV text), so a resumed run rewrites the whole log and it matches the checkpoint it came from.
#pragma once
#include <string>
#include <vector>

namespace plasmo::train {

enum class Phase { Pretrain, Classifier };
const char* phase_name(Phase phase);  // "pretrain", "classifier"

struct EpochRecord {
  Phase phase = Phase::Classifier;
  int epoch = 0;  // within its phase, from 1
  double lr = 0.0;
  double train_loss = 0.0, train_acc = 0.0;  // acc: classifier only
  bool has_val = false;
  double val_loss = 0.0, val_acc = 0.0, val_sensitivity = 0.0, val_specificity = 0.0;
  double images_per_s = 0.0, seconds = 0.0;
};

extern const char* const kClassifierColumns;  // the header line, without '\n'
extern const char* const kPretrainColumns;

// The CSV text (header + one line per record of the given phase; records of the other phase are skipped).
std::string history_csv(const std::vector<EpochRecord>& records, Phase phase);
// The reverse, for a checkpoint's history; `source` names the file in errors (FormatError).
std::vector<EpochRecord> parse_history_csv(const std::string& text, Phase phase, const std::string& source);

// Writes text to path atomically (path + ".tmp", then rename); IoError naming the file on failure.
void write_text_file_atomic(const std::string& path, const std::string& text);

}  // namespace plasmo::train
