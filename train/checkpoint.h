// The training checkpoint: one safetensors file (DESIGN.md "The model file") written after every epoch,
// atomically (write to FILE.tmp, fsync, rename), so a killed run leaves either the previous checkpoint or
// the new one, never half of one. It holds everything a resumed run needs to continue bit-identically:
//   tensors   the model's parameters and buffers under their PyTorch names (the current epoch's weights;
//             a non-strict load_state reads them as a model)
//             optim.<param>.<state> and optim.step      the current phase's optimizer (engine/optim.h)
//             rng.<name>                                 random generators (Dropout's), I64 bit patterns
//             best.<name>                                the best epoch's parameters and buffers
//   metadata  the model's (arch, width, input, classes, mean, std, threshold, format), plus
//             epoch (epochs completed, pretraining and classifier together), step (optimizer steps of both
//             phases), seed, phase, optimizer, best_epoch, best_val_loss, split (the data's identity),
//             threads, history / pretrain_history (the CSV rows so far), and every option as train.*.
// The shuffling and augmentation need no state: they are functions of (seed, epoch, image).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/io/safetensors.h"
#include "engine/optim.h"
#include "models/model.h"
#include "train/history.h"
#include "train/state_copy.h"

namespace plasmo::train {

// The counters and records of a run, as checkpoint metadata.
struct RunProgress {
  int epochs_done = 0;  // pretraining + classifier epochs completed
  int64_t steps = 0;    // optimizer steps, both phases
  int best_epoch = 0;   // classifier epoch (from 1) with the lowest validation loss so far; 0 = none
  double best_val_loss = 0.0;
  std::vector<EpochRecord> history;  // both phases, in order
  std::string split;                 // data identity: see split_identity() in trainer.cpp
  int threads = 0;                   // the thread count that wrote it (bit-identity needs the same)
};

void progress_to_metadata(const RunProgress& progress, Metadata& metadata);
RunProgress progress_from_metadata(const Metadata& metadata, const std::string& source);

// Writes the checkpoint. `optimizer` may be null (no step taken yet); `best` may be empty.
void save_checkpoint(const std::string& path, Model& model, Optimizer* optimizer, StateCopy& best,
                     const Metadata& metadata);

// Loads a checkpoint read by the caller into the model (all parameters, buffers and generators), the
// optimizer (when not null: its state must be in the file) and `best` (when `load_best`: it must already
// hold a capture of the model, which gives the shapes). FormatError naming the file and the missing
// tensors, or a shape that differs; nothing is changed then.
void load_checkpoint(const SafetensorsFile& file, Model& model, Optimizer* optimizer, StateCopy& best, bool load_best);

}  // namespace plasmo::train
