// Binary classification metrics from scored images. Positive = Parasitized = label 1; an image is
// predicted Parasitized when its p(Parasitized) >= threshold.
//
//   accuracy    = (tp + tn) / n
//   precision   = tp / (tp + fp)        (positive predictive value)
//   sensitivity = tp / (tp + fn)        (recall, true-positive rate)
//   specificity = tn / (tn + fp)        (true-negative rate)
//   f1          = 2 tp / (2 tp + fp + fn)   (the harmonic mean of precision and sensitivity when both exist)
//
// 0/0 is undefined, never guessed: a ratio whose denominator is zero is NaN here (precision with no
// predicted positives, sensitivity with no Parasitized images, specificity with no Uninfected ones, f1
// with neither positives nor predicted positives, accuracy of an empty set, AUC with one class missing).
// Reports show it as "n/a" and the metrics JSON writes null. f1 = 0 (not undefined) when there are
// positives or predicted positives but tp = 0.
//
// AUC: the exact area under the ROC curve, the Mann-Whitney U statistic over n_pos * n_neg pairs,
//   AUC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg),
// R_pos the sum of the positives' ranks among all scores, ascending, tied scores sharing the mean of
// their ranks (mid-ranks), so a tied positive/negative pair counts 1/2. Computed in integers (twice
// the ranks), then divided once: exact up to the final rounding.
//
// Loss: mean cross-entropy of the probabilities, -1/n sum log(max(p_true, kLossFloor)), p_true = p for
// a Parasitized image and 1 - p for an Uninfected one, in double. The floor caps one confident mistake
// at -log(1e-12) = 27.6 instead of infinity.
//
// Scores must be finite (NumericError names the index otherwise) and labels 0 or 1 (UsageError).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace plasmo::eval {

constexpr int kPositive = 1;  // Parasitized
constexpr double kLossFloor = 1e-12;

// One image's outcome: its true label and the model's p(Parasitized).
struct Scored {
  int label = 0;
  double p = 0.0;
};

struct Confusion {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
  int64_t n() const { return tp + fp + tn + fn; }
  int64_t positives() const { return tp + fn; }  // Parasitized images
  int64_t negatives() const { return tn + fp; }  // Uninfected images
};

// numerator / denominator, NaN when the denominator is 0.
double ratio(int64_t numerator, int64_t denominator);

Confusion confusion_at(const std::vector<Scored>& scores, double threshold);

double accuracy(const Confusion& c);
double precision(const Confusion& c);
double sensitivity(const Confusion& c);
double specificity(const Confusion& c);
double f1_score(const Confusion& c);

double auc_mann_whitney(const std::vector<Scored>& scores);  // NaN when a class is absent
double mean_loss(const std::vector<Scored>& scores);         // NaN for an empty list

// Everything the metrics JSON holds but `skipped` and `seconds`.
struct Metrics {
  int64_t n = 0;
  double accuracy = 0, precision = 0, sensitivity = 0, specificity = 0, f1 = 0, auc = 0, loss = 0;
  double threshold = 0.5;
  Confusion confusion;
};
Metrics compute_metrics(const std::vector<Scored>& scores, double threshold);

// ROC curve: one point per distinct score, walking the threshold down from above the highest score
// (0, 0) to the lowest (1, 1). Point i is the rates at "p >= threshold"; the first point has threshold
// +infinity. Empty when a class is absent. The trapezoid area under these points equals the AUC.
struct RocPoint {
  double threshold;
  double fpr;  // 1 - specificity
  double tpr;  // sensitivity
};
std::vector<RocPoint> roc_curve(const std::vector<Scored>& scores);

// The highest threshold whose sensitivity on `scores` is >= target: with the Parasitized scores sorted
// descending, p_1 >= p_2 >= ..., it is p_k for the smallest k with k / n_pos >= target. Any higher
// threshold drops p_k's positive, and every tie of p_k is included. UsageError when target is outside
// (0, 1] or there is no Parasitized image.
double threshold_for_sensitivity(const std::vector<Scored>& scores, double target_sensitivity);

// ---- per patient --------------------------------------------------------------------------------------
// The NIH set has 1 to 600+ Parasitized cells per patient, so a few patients dominate every cell-level
// figure; these give each patient one vote.
struct PatientRow {
  std::string patient;
  Confusion confusion;                                    // that patient's cells at the threshold
  double accuracy = 0, sensitivity = 0, specificity = 0;  // NaN as above (a healthy patient has no sensitivity)
  double mean_p = 0;                                      // mean p(Parasitized) over the patient's cells
};

// Patient-level summary.
//   macro figures: the mean over patients of their accuracy / sensitivity / specificity, each over the
//     patients where it is defined (sensitivity: infected patients only);
//   worst_accuracy: the lowest per-patient accuracy and whose;
//   slide rule "a patient is flagged when at least one cell is predicted Parasitized": infected
//     patients (any Parasitized cell) flagged = patient-level tp, healthy patients (no Parasitized cell)
//     not flagged = patient-level tn, and the sensitivity / specificity of that rule.
struct PatientSummary {
  int patients = 0, infected = 0, healthy = 0;
  double macro_accuracy = 0, macro_sensitivity = 0, macro_specificity = 0;
  double worst_accuracy = 0;
  std::string worst_patient;
  int infected_flagged = 0, healthy_clear = 0;
  double flag_sensitivity = 0, flag_specificity = 0;
};

// patients[i] is the patient of scores[i] (same length; UsageError otherwise). Rows sorted by patient ID.
std::vector<PatientRow> per_patient(const std::vector<Scored>& scores, const std::vector<std::string>& patients,
                                    double threshold);
PatientSummary summarize_patients(const std::vector<PatientRow>& rows);

}  // namespace plasmo::eval
