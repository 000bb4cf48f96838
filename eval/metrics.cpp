#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "engine/error.h"

namespace plasmo::eval {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Finite scores and 0/1 labels; the sorts below need a strict weak order, which NaN breaks.
void check_scores(const std::vector<Scored>& scores, const char* what) {
  for (size_t i = 0; i < scores.size(); ++i) {
    if (scores[i].label != 0 && scores[i].label != 1)
      throw UsageError(std::string(what) + ": label " + std::to_string(scores[i].label) + " of image " +
                       std::to_string(i) + " is not 0 (Uninfected) or 1 (Parasitized)");
    if (!std::isfinite(scores[i].p))
      throw NumericError(std::string(what) + ": p(Parasitized) of image " + std::to_string(i) + " is not finite");
  }
}

// Indices of `scores` ordered by p descending; equal p keep index order (stable), so results do not depend
// on the sort implementation.
std::vector<size_t> order_descending(const std::vector<Scored>& scores) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a].p > scores[b].p; });
  return order;
}

// Mean of the defined (non-NaN) values, NaN when there are none.
struct MeanOfDefined {
  double sum = 0;
  int count = 0;
  void add(double value) {
    if (std::isnan(value)) return;
    sum += value;
    ++count;
  }
  double mean() const { return count ? sum / count : kNaN; }
};

}  // namespace

double ratio(int64_t numerator, int64_t denominator) {
  return denominator == 0 ? kNaN : static_cast<double>(numerator) / static_cast<double>(denominator);
}

Confusion confusion_at(const std::vector<Scored>& scores, double threshold) {
  check_scores(scores, "confusion_at");
  Confusion c;
  for (const Scored& s : scores) {
    const bool predicted_positive = s.p >= threshold;
    if (s.label == kPositive)
      ++(predicted_positive ? c.tp : c.fn);
    else
      ++(predicted_positive ? c.fp : c.tn);
  }
  return c;
}

double accuracy(const Confusion& c) { return ratio(c.tp + c.tn, c.n()); }
double precision(const Confusion& c) { return ratio(c.tp, c.tp + c.fp); }
double sensitivity(const Confusion& c) { return ratio(c.tp, c.tp + c.fn); }
double specificity(const Confusion& c) { return ratio(c.tn, c.tn + c.fp); }
double f1_score(const Confusion& c) { return ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn); }

double auc_mann_whitney(const std::vector<Scored>& scores) {
  check_scores(scores, "auc");
  const int64_t n = static_cast<int64_t>(scores.size());
  std::vector<size_t> order = order_descending(scores);
  std::reverse(order.begin(), order.end());  // ascending p; ranks 1..n
  // Twice the mid-rank of a tie group occupying ranks [first, last] is first + last: an integer.
  int64_t twice_rank_sum_positive = 0, positives = 0;
  for (int64_t begin = 0; begin < n;) {
    int64_t end = begin + 1;
    while (end < n && scores[order[end]].p == scores[order[begin]].p) ++end;
    const int64_t twice_mid_rank = (begin + 1) + end;  // ranks begin+1 .. end
    for (int64_t i = begin; i < end; ++i) {
      if (scores[order[i]].label != kPositive) continue;
      twice_rank_sum_positive += twice_mid_rank;
      ++positives;
    }
    begin = end;
  }
  const int64_t negatives = n - positives;
  if (positives == 0 || negatives == 0) return kNaN;
  // U = R_pos - n_pos (n_pos + 1) / 2;  AUC = U / (n_pos n_neg) = (2 R_pos - n_pos (n_pos + 1)) / (2 n_pos n_neg).
  const int64_t twice_u = twice_rank_sum_positive - positives * (positives + 1);
  return static_cast<double>(twice_u) / (2.0 * static_cast<double>(positives) * static_cast<double>(negatives));
}

double mean_loss(const std::vector<Scored>& scores) {
  check_scores(scores, "mean_loss");
  if (scores.empty()) return kNaN;
  double sum = 0;
  for (const Scored& s : scores) {
    const double p_true = s.label == kPositive ? s.p : 1.0 - s.p;
    sum += -std::log(std::max(p_true, kLossFloor));
  }
  return sum / static_cast<double>(scores.size());
}

Metrics compute_metrics(const std::vector<Scored>& scores, double threshold) {
  Metrics m;
  m.n = static_cast<int64_t>(scores.size());
  m.threshold = threshold;
  m.confusion = confusion_at(scores, threshold);
  m.accuracy = accuracy(m.confusion);
  m.precision = precision(m.confusion);
  m.sensitivity = sensitivity(m.confusion);
  m.specificity = specificity(m.confusion);
  m.f1 = f1_score(m.confusion);
  m.auc = auc_mann_whitney(scores);
  m.loss = mean_loss(scores);
  return m;
}

std::vector<RocPoint> roc_curve(const std::vector<Scored>& scores) {
  check_scores(scores, "roc_curve");
  int64_t positives = 0;
  for (const Scored& s : scores) positives += s.label == kPositive;
  const int64_t negatives = static_cast<int64_t>(scores.size()) - positives;
  if (positives == 0 || negatives == 0) return {};
  const std::vector<size_t> order = order_descending(scores);
  std::vector<RocPoint> points;
  points.push_back({std::numeric_limits<double>::infinity(), 0.0, 0.0});
  int64_t tp = 0, fp = 0;
  const size_t n = order.size();
  for (size_t begin = 0; begin < n;) {
    size_t end = begin;
    const double threshold = scores[order[begin]].p;
    // Lowering the threshold to `threshold` admits the whole tie group at once.
    for (; end < n && scores[order[end]].p == threshold; ++end) ++(scores[order[end]].label == kPositive ? tp : fp);
    points.push_back({threshold, static_cast<double>(fp) / negatives, static_cast<double>(tp) / positives});
    begin = end;
  }
  return points;
}

double threshold_for_sensitivity(const std::vector<Scored>& scores, double target_sensitivity) {
  check_scores(scores, "threshold_for_sensitivity");
  if (!(target_sensitivity > 0.0 && target_sensitivity <= 1.0))
    throw UsageError("target sensitivity must be in (0, 1], got " + std::to_string(target_sensitivity));
  std::vector<double> positive_p;
  for (const Scored& s : scores)
    if (s.label == kPositive) positive_p.push_back(s.p);
  if (positive_p.empty())
    throw UsageError("no Parasitized image in the data: a threshold for a target sensitivity needs some");
  std::sort(positive_p.begin(), positive_p.end(), std::greater<double>());
  const int64_t n_pos = static_cast<int64_t>(positive_p.size());
  // The smallest k with k / n_pos >= target, with the same double division the reported sensitivity uses
  // (ceil(target * n_pos) can be off by one when target * n_pos rounds across an integer).
  int64_t k = static_cast<int64_t>(std::ceil(target_sensitivity * static_cast<double>(n_pos)));
  k = std::clamp<int64_t>(k, 1, n_pos);
  while (k > 1 && ratio(k - 1, n_pos) >= target_sensitivity) --k;
  while (k < n_pos && ratio(k, n_pos) < target_sensitivity) ++k;
  return positive_p[static_cast<size_t>(k - 1)];
}

std::vector<PatientRow> per_patient(const std::vector<Scored>& scores, const std::vector<std::string>& patients,
                                    double threshold) {
  check_scores(scores, "per_patient");
  if (patients.size() != scores.size())
    throw UsageError("per_patient: " + std::to_string(scores.size()) + " scores but " +
                     std::to_string(patients.size()) + " patient IDs");
  std::map<std::string, std::vector<Scored>> by_patient;
  for (size_t i = 0; i < scores.size(); ++i) by_patient[patients[i]].push_back(scores[i]);
  std::vector<PatientRow> rows;
  rows.reserve(by_patient.size());
  for (const auto& [patient, cells] : by_patient) {
    PatientRow row;
    row.patient = patient;
    row.confusion = confusion_at(cells, threshold);
    row.accuracy = accuracy(row.confusion);
    row.sensitivity = sensitivity(row.confusion);
    row.specificity = specificity(row.confusion);
    double sum_p = 0;
    for (const Scored& s : cells) sum_p += s.p;
    row.mean_p = sum_p / static_cast<double>(cells.size());
    rows.push_back(std::move(row));
  }
  return rows;
}

PatientSummary summarize_patients(const std::vector<PatientRow>& rows) {
  PatientSummary summary;
  MeanOfDefined acc, sens, spec;
  summary.worst_accuracy = kNaN;
  for (const PatientRow& row : rows) {
    ++summary.patients;
    acc.add(row.accuracy);
    sens.add(row.sensitivity);
    spec.add(row.specificity);
    if (!std::isnan(row.accuracy) && !(row.accuracy >= summary.worst_accuracy)) {
      summary.worst_accuracy = row.accuracy;
      summary.worst_patient = row.patient;
    }
    const bool flagged = row.confusion.tp + row.confusion.fp > 0;
    if (row.confusion.positives() > 0) {
      ++summary.infected;
      summary.infected_flagged += flagged;
    } else {
      ++summary.healthy;
      summary.healthy_clear += !flagged;
    }
  }
  summary.macro_accuracy = acc.mean();
  summary.macro_sensitivity = sens.mean();
  summary.macro_specificity = spec.mean();
  summary.flag_sensitivity = ratio(summary.infected_flagged, summary.infected);
  summary.flag_specificity = ratio(summary.healthy_clear, summary.healthy);
  return summary;
}

}  // namespace plasmo::eval
