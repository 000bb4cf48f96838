// The metrics JSON of `plasmo eval --json` (DESIGN.md "Metrics JSON"). The first keys, in this order:
//   n, accuracy, precision, sensitivity, specificity, f1, auc, loss, threshold,
//   confusion {tp, fp, tn, fn}, skipped, seconds
// then extras: model, data, arch, input, tta, target_sensitivity (only when it chose the threshold),
// patients (the patient-level summary, metrics.h) and per_patient (one object per patient, by ID).
// Numbers are the shortest decimals that read back to the same double; an undefined figure (0/0, see
// metrics.h) is written null, so the document is valid JSON whatever the values.
#pragma once
#include <string>

#include "eval/outcome.h"

namespace plasmo::eval {

// The whole document, ending in a newline.
std::string metrics_json(const EvalOutcome& outcome);

// Writes text to a file (replacing it); IoError when it cannot.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace plasmo::eval
