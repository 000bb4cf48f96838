// Train/validation split by patient: all cells of a patient land on one side, never both (cells of one
// patient on both sides leak, and inflate accuracy).
//
// How the patients are chosen, deterministically from the seed:
//   1. Patients are sorted by ID and shuffled with Rng::derive(seed, kSplitStream).
//   2. They are split into two strata: patients with at least one Parasitized cell, and healthy ones
//      (Uninfected cells only), so both sides see both kinds.
//   3. Within each stratum, walking the shuffled order, a patient goes to validation when adding it
//      brings the stratum's validation image count closer to val_frac x (the stratum's images); else
//      to training. So about val_frac of the images (not only of the patients) is in validation: a
//      600-cell patient is not taken when the target is 200 cells away, smaller ones fill the gap.
//   4. With val_frac > 0 and at least two patients, neither side is left empty.
// val_frac = 0 puts everything in training. The same samples and seed always give the same split;
// another seed gives another.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data_loader/discover.h"

namespace plasmo::data {

struct SideCounts {
  int images[2] = {0, 0};    // [label]
  int patients[2] = {0, 0};  // [label]: patients with at least one cell of that class on this side
  int patients_total = 0;
  int images_total() const { return images[0] + images[1]; }
};

struct SplitSummary {
  SideCounts train, val;
  double val_frac = 0.0;
  uint64_t seed = 0;
};

struct Split {
  std::vector<int> train, val;          // indices into the samples, ascending
  std::vector<std::string> val_patients;  // sorted
  SplitSummary summary;
};

// Throws UsageError when val_frac is outside [0, 1).
Split split_by_patient(const std::vector<Sample>& samples, double val_frac, uint64_t seed);

// Counts images and patients per class for a set of sample indices.
SideCounts count_side(const std::vector<Sample>& samples, const std::vector<int>& indices);

// The table the CLI prints (several lines, each ending in '\n'), e.g.
//   split by patient: val-frac 0.2, seed 1
//           patients   Parasitized (patients)   Uninfected (patients)   images
//   train        140          9512 (108)              9600 (140)         19112
//   val           35          2373 (27)               2392 (35)           4765
std::string format_split_summary(const SplitSummary& summary);

}  // namespace plasmo::data
