// The readable summary `plasmo eval` prints on stdout: run, metrics, confusion matrix, patients.
// Undefined figures (0/0, metrics.h) read "n/a".
#pragma once
#include <string>

#include "eval/outcome.h"

namespace plasmo::eval {

std::string metrics_table(const EvalOutcome& outcome);

}  // namespace plasmo::eval
