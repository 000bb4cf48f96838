// What one evaluation produced, as the writers (stdout table, metrics JSON, HTML report) read it.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "eval/metrics.h"

namespace plasmo::eval {

// One evaluated image.
struct ImageResult {
  std::string path;
  std::string patient;
  int label = 0;   // 1 = Parasitized
  double p = 0.0;  // p(Parasitized), averaged over the flips with TTA
  bool predicted_positive(double threshold) const { return p >= threshold; }
};

struct EvalOutcome {
  std::string model_path, data_path, arch;
  int input_size = 0;
  bool tta = false;
  // The target of --target-sensitivity when it chose the threshold; NaN otherwise.
  double target_sensitivity = std::numeric_limits<double>::quiet_NaN();

  Metrics metrics;
  int64_t skipped = 0;  // files that could not be read or decoded
  double seconds = 0;   // wall time of the evaluation (loading, inference, metrics)
  std::vector<PatientRow> patients;
  PatientSummary patient_summary;

  std::vector<ImageResult> images;  // in data order
  std::vector<RocPoint> roc;

  std::vector<Scored> scored() const;
  std::vector<std::string> patient_ids() const;
};

// Fills metrics, patients, patient_summary and roc of `outcome` from its images at `threshold`.
void compute_outcome_metrics(EvalOutcome& outcome, double threshold);

}  // namespace plasmo::eval
