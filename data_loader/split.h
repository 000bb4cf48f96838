// Train/validation split by patient: all cells of a patient land on one side, never both (cells of one
// patient on both sides leak, and inflate accuracy).
//
// How the patients are chosen, deterministically from the seed:
//   1. A candidate: the patients, sorted by ID, shuffled with Rng::derive(seed, kSplitStream, attempt).
//      They fall in two strata: patients with at least one Parasitized cell, and healthy ones
//      (Uninfected cells only). Within each stratum, walking the shuffled order, a patient goes to
//      validation when that brings the stratum's validation counts closer to val_frac x (its
//      Parasitized images) and val_frac x (its Uninfected images), closeness being the sum over the
//      two classes of the squared relative gap; else to training. A 600-cell patient is not taken
//      when the target is 200 cells away; smaller ones fill the gap.
//   2. 64 candidates (attempt 0..63); the one whose per-class image fractions in validation are
//      closest to val_frac (squared gaps, plus a quarter of the squared gap of the patient fraction)
//      wins, the earliest on ties. So about val_frac of each class's images, and of the patients,
//      are in validation, and each class is balanced between the sides as far as whole patients allow.
//   3. With val_frac > 0 and at least two patients, neither side is left empty.
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
  std::vector<int> train, val;            // indices into the samples, ascending
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
