#include "eval/outcome.h"

namespace plasmo::eval {

std::vector<Scored> EvalOutcome::scored() const {
  std::vector<Scored> scores;
  scores.reserve(images.size());
  for (const ImageResult& image : images) scores.push_back({image.label, image.p});
  return scores;
}

std::vector<std::string> EvalOutcome::patient_ids() const {
  std::vector<std::string> ids;
  ids.reserve(images.size());
  for (const ImageResult& image : images) ids.push_back(image.patient);
  return ids;
}

void compute_outcome_metrics(EvalOutcome& outcome, double threshold) {
  const std::vector<Scored> scores = outcome.scored();
  outcome.metrics = compute_metrics(scores, threshold);
  outcome.patients = per_patient(scores, outcome.patient_ids(), threshold);
  outcome.patient_summary = summarize_patients(outcome.patients);
  outcome.roc = roc_curve(scores);
}

}  // namespace plasmo::eval
