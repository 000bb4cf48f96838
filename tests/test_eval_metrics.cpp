// Evaluation metrics against hand-computed confusion matrices, AUC (Mann-Whitney with mid-ranks) against
// hand-worked values and a brute-force pair count, the ROC curve, the threshold for a target
// sensitivity, and the per-patient figures.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/rng.h"
#include "eval/metrics.h"

using namespace plasmo;
using namespace plasmo::eval;

namespace {

// Five Parasitized and five Uninfected images; the hand-worked figures are in the test cases.
std::vector<Scored> ten_images() {
  return {{1, 0.9}, {1, 0.8}, {1, 0.6}, {1, 0.4}, {1, 0.3}, {0, 0.7}, {0, 0.5}, {0, 0.2}, {0, 0.1}, {0, 0.05}};
}

// AUC by definition: over all (positive, negative) pairs, 1 when the positive scores higher, 1/2 on a tie.
double auc_by_pairs(const std::vector<Scored>& scores) {
  double wins = 0;
  int64_t pairs = 0;
  for (const Scored& positive : scores) {
    if (positive.label != 1) continue;
    for (const Scored& negative : scores) {
      if (negative.label != 0) continue;
      ++pairs;
      wins += positive.p > negative.p ? 1.0 : positive.p == negative.p ? 0.5 : 0.0;
    }
  }
  return wins / static_cast<double>(pairs);
}

double trapezoid_area(const std::vector<RocPoint>& points) {
  double area = 0;
  for (size_t i = 1; i < points.size(); ++i)
    area += (points[i].fpr - points[i - 1].fpr) * (points[i].tpr + points[i - 1].tpr) / 2;
  return area;
}

}  // namespace

TEST_CASE("Eval metrics: confusion matrix and rates at threshold 0.55, hand-computed") {
  // p >= 0.55: Parasitized 0.9 0.8 0.6 -> tp 3, 0.4 0.3 -> fn 2; Uninfected 0.7 -> fp 1, 0.5 0.2 0.1 0.05 -> tn 4.
  const Metrics m = compute_metrics(ten_images(), 0.55);
  CHECK(m.n == 10);
  CHECK(m.confusion.tp == 3);
  CHECK(m.confusion.fn == 2);
  CHECK(m.confusion.fp == 1);
  CHECK(m.confusion.tn == 4);
  CHECK(m.accuracy == doctest::Approx(0.7).epsilon(1e-15));     // 7 / 10
  CHECK(m.precision == doctest::Approx(0.75).epsilon(1e-15));   // 3 / 4
  CHECK(m.sensitivity == doctest::Approx(0.6).epsilon(1e-15));  // 3 / 5
  CHECK(m.specificity == doctest::Approx(0.8).epsilon(1e-15));  // 4 / 5
  CHECK(m.f1 == doctest::Approx(6.0 / 9.0).epsilon(1e-15));     // 2*3 / (2*3 + 1 + 2)
  CHECK(m.threshold == 0.55);
  // 20 of the 25 (positive, negative) pairs are ordered right: 5 + 5 + 4 + 3 + 3.
  CHECK(m.auc == doctest::Approx(0.8).epsilon(1e-15));
  // -1/10 (ln .9 + ln .8 + ln .6 + ln .4 + ln .3 + ln .3 + ln .5 + ln .8 + ln .9 + ln .95).
  CHECK(m.loss == doctest::Approx(0.5236510573183585).epsilon(1e-12));
}

TEST_CASE("Eval metrics: a score equal to the threshold is predicted Parasitized") {
  // Uninfected 0.5 at threshold 0.5 -> fp; at 0.55 it was tn.
  const Confusion c = confusion_at(ten_images(), 0.5);
  CHECK(c.tp == 3);
  CHECK(c.fp == 2);
  CHECK(c.tn == 3);
  CHECK(c.fn == 2);
  CHECK(f1_score(c) == doctest::Approx(0.6));  // 6 / (6 + 2 + 2)
}

TEST_CASE("Eval metrics: 0/0 is undefined (NaN), not guessed; f1 is 0 when tp = 0 with errors") {
  // Only Uninfected images, none predicted Parasitized: precision 0/0, sensitivity 0/0, f1 0/0.
  const Confusion none_positive = confusion_at({{0, 0.1}, {0, 0.2}}, 0.5);
  CHECK(std::isnan(precision(none_positive)));
  CHECK(std::isnan(sensitivity(none_positive)));
  CHECK(std::isnan(f1_score(none_positive)));
  CHECK(specificity(none_positive) == 1.0);
  CHECK(accuracy(none_positive) == 1.0);
  // Parasitized images all missed: precision 0/0 (nothing predicted positive), sensitivity 0, f1 = 0.
  const Confusion all_missed = confusion_at({{1, 0.1}, {1, 0.2}, {0, 0.3}}, 0.5);
  CHECK(std::isnan(precision(all_missed)));
  CHECK(sensitivity(all_missed) == 0.0);
  CHECK(f1_score(all_missed) == 0.0);
  CHECK(std::isnan(specificity(confusion_at({{1, 0.9}}, 0.5))));
  // Empty set.
  const Metrics empty = compute_metrics({}, 0.5);
  CHECK(empty.n == 0);
  CHECK(std::isnan(empty.accuracy));
  CHECK(std::isnan(empty.auc));
  CHECK(std::isnan(empty.loss));
}

TEST_CASE("Eval AUC with ties: hand-worked Mann-Whitney with mid-ranks") {
  // Parasitized 0.8 0.5 0.5 0.2; Uninfected 0.5 0.2 0.1.
  // Ascending ranks: 0.1 -> 1; 0.2 0.2 -> 2.5; 0.5 0.5 0.5 -> 5; 0.8 -> 7.
  // R_pos = 2.5 + 5 + 5 + 7 = 19.5; U = 19.5 - 4*5/2 = 9.5; AUC = 9.5 / (4*3) = 19/24.
  const std::vector<Scored> scores = {{1, 0.8}, {0, 0.5}, {1, 0.5}, {0, 0.2}, {1, 0.5}, {1, 0.2}, {0, 0.1}};
  CHECK(auc_mann_whitney(scores) == 19.0 / 24.0);
  CHECK(auc_by_pairs(scores) == doctest::Approx(19.0 / 24.0));
}

TEST_CASE("Eval AUC: perfect, reversed, all tied, one class missing") {
  CHECK(auc_mann_whitney({{1, 0.9}, {1, 0.8}, {0, 0.2}, {0, 0.1}}) == 1.0);
  CHECK(auc_mann_whitney({{1, 0.1}, {1, 0.2}, {0, 0.8}, {0, 0.9}}) == 0.0);
  CHECK(auc_mann_whitney({{1, 0.5}, {0, 0.5}, {1, 0.5}, {0, 0.5}, {0, 0.5}}) == 0.5);
  CHECK(std::isnan(auc_mann_whitney({{1, 0.9}, {1, 0.8}})));
  CHECK(std::isnan(auc_mann_whitney({{0, 0.9}})));
}

TEST_CASE("Eval AUC: equals the brute-force pair count and the ROC trapezoid area, heavy ties") {
  Rng rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    CAPTURE(trial);
    const int n = 5 + static_cast<int>(rng.below(200));
    const int levels = 1 + static_cast<int>(rng.below(12));  // few distinct scores: many ties
    std::vector<Scored> scores;
    for (int i = 0; i < n; ++i) {
      const int label = static_cast<int>(rng.below(2));
      // Scores drift up with the label so the AUC is not always near 1/2.
      const int level = std::min<int>(levels - 1, static_cast<int>(rng.below(static_cast<uint32_t>(levels))) + label);
      scores.push_back({label, static_cast<double>(level) / levels});
    }
    const double auc = auc_mann_whitney(scores);
    if (std::isnan(auc)) continue;
    CHECK(auc == doctest::Approx(auc_by_pairs(scores)).epsilon(1e-12));
    CHECK(trapezoid_area(roc_curve(scores)) == doctest::Approx(auc).epsilon(1e-12));
  }
}

TEST_CASE("Eval ROC curve: hand-computed points, ties admitted together") {
  // Parasitized 0.9 0.6 0.6; Uninfected 0.6 0.2.
  const std::vector<Scored> scores = {{1, 0.9}, {0, 0.6}, {1, 0.6}, {0, 0.2}, {1, 0.6}};
  const std::vector<RocPoint> roc = roc_curve(scores);
  REQUIRE(roc.size() == 4);
  CHECK(std::isinf(roc[0].threshold));
  CHECK(roc[0].fpr == 0.0);
  CHECK(roc[0].tpr == 0.0);
  CHECK(roc[1].threshold == 0.9);
  CHECK(roc[1].fpr == 0.0);
  CHECK(roc[1].tpr == doctest::Approx(1.0 / 3));
  CHECK(roc[2].threshold == 0.6);  // two positives and one negative at once
  CHECK(roc[2].fpr == 0.5);
  CHECK(roc[2].tpr == 1.0);
  CHECK(roc[3].threshold == 0.2);
  CHECK(roc[3].fpr == 1.0);
  CHECK(roc[3].tpr == 1.0);
  CHECK(roc_curve({{1, 0.5}}).empty());
}

TEST_CASE("Eval threshold for a target sensitivity: hand-made case") {
  // Parasitized scores descending: 0.9 0.8 0.8 0.6 0.3 (5); the Uninfected ones do not matter.
  const std::vector<Scored> scores = {{1, 0.8}, {0, 0.95}, {1, 0.3}, {1, 0.9}, {0, 0.1}, {1, 0.6}, {1, 0.8}};
  CHECK(threshold_for_sensitivity(scores, 0.2) == 0.9);   // k = 1
  CHECK(threshold_for_sensitivity(scores, 0.25) == 0.8);  // k = 2 (1/5 < 0.25); 0.8 admits its tie: 3/5
  CHECK(threshold_for_sensitivity(scores, 0.6) == 0.8);   // k = 3
  CHECK(threshold_for_sensitivity(scores, 0.7) == 0.6);   // k = 4
  CHECK(threshold_for_sensitivity(scores, 0.8) == 0.6);
  CHECK(threshold_for_sensitivity(scores, 0.81) == 0.3);  // k = 5
  CHECK(threshold_for_sensitivity(scores, 1.0) == 0.3);
  // The chosen threshold reaches the target, and anything above it does not.
  for (double target : {0.2, 0.25, 0.6, 0.7, 0.8, 0.81, 1.0}) {
    CAPTURE(target);
    const double t = threshold_for_sensitivity(scores, target);
    CHECK(sensitivity(confusion_at(scores, t)) >= target);
    CHECK(sensitivity(confusion_at(scores, std::nextafter(t, 2.0))) < target);
  }
  CHECK_THROWS_AS(threshold_for_sensitivity(scores, 0.0), UsageError);
  CHECK_THROWS_AS(threshold_for_sensitivity(scores, 1.5), UsageError);
  CHECK_THROWS_AS(threshold_for_sensitivity({{0, 0.4}}, 0.9), UsageError);
}

TEST_CASE("Eval threshold for a target sensitivity: target * n rounding across an integer") {
  // 0.07 * 100 = 7.000000000000001 in double, so ceil gives 8; but 7/100 == 0.07: k must be 7.
  std::vector<Scored> scores;
  for (int i = 0; i < 100; ++i) scores.push_back({1, (100 - i) / 100.0});  // 1.00, 0.99, ..., 0.01
  CHECK(threshold_for_sensitivity(scores, 0.07) == 0.94);                  // the 7th largest
  CHECK(sensitivity(confusion_at(scores, 0.94)) == 0.07);
}

TEST_CASE("Eval metrics: non-finite scores and bad labels are refused") {
  CHECK_THROWS_AS(compute_metrics({{1, std::numeric_limits<double>::quiet_NaN()}}, 0.5), NumericError);
  CHECK_THROWS_AS(auc_mann_whitney({{1, INFINITY}, {0, 0.1}}), NumericError);
  CHECK_THROWS_AS(compute_metrics({{2, 0.5}}, 0.5), UsageError);
}

TEST_CASE("Eval loss: floored at 1e-12 for a certain mistake") {
  const double loss = mean_loss({{1, 0.0}, {0, 1.0}});
  CHECK(loss == doctest::Approx(-std::log(1e-12)));
  CHECK(mean_loss({{1, 1.0}, {0, 0.0}}) == 0.0);
}

TEST_CASE("Eval per patient: rows and patient-level summary, hand-computed") {
  // A: infected, 2 Parasitized (one missed) + 1 Uninfected (right); B: healthy, 3 Uninfected with one false
  // alarm; C: healthy, 2 Uninfected, both right; D: infected, 1 Parasitized found.
  const std::vector<Scored> scores = {{1, 0.9}, {0, 0.2}, {0, 0.8}, {1, 0.3}, {0, 0.1},
                                      {0, 0.1}, {0, 0.4}, {0, 0.3}, {1, 0.7}};
  const std::vector<std::string> patients = {"A", "B", "B", "A", "A", "B", "C", "C", "D"};
  const std::vector<PatientRow> rows = per_patient(scores, patients, 0.5);
  REQUIRE(rows.size() == 4);
  CHECK(rows[0].patient == "A");
  CHECK(rows[0].confusion.tp == 1);
  CHECK(rows[0].confusion.fn == 1);
  CHECK(rows[0].confusion.tn == 1);
  CHECK(rows[0].accuracy == doctest::Approx(2.0 / 3));
  CHECK(rows[0].sensitivity == 0.5);
  CHECK(rows[0].specificity == 1.0);
  CHECK(rows[0].mean_p == doctest::Approx((0.9 + 0.3 + 0.1) / 3));
  CHECK(rows[1].patient == "B");
  CHECK(rows[1].confusion.fp == 1);
  CHECK(rows[1].confusion.tn == 2);
  CHECK(std::isnan(rows[1].sensitivity));  // a healthy patient has no sensitivity
  CHECK(rows[1].specificity == doctest::Approx(2.0 / 3));
  CHECK(rows[2].accuracy == 1.0);
  CHECK(rows[3].sensitivity == 1.0);
  CHECK(std::isnan(rows[3].specificity));

  const PatientSummary s = summarize_patients(rows);
  CHECK(s.patients == 4);
  CHECK(s.infected == 2);
  CHECK(s.healthy == 2);
  CHECK(s.macro_accuracy == doctest::Approx((2.0 / 3 + 2.0 / 3 + 1 + 1) / 4));
  CHECK(s.macro_sensitivity == doctest::Approx((0.5 + 1.0) / 2));            // A and D
  CHECK(s.macro_specificity == doctest::Approx((1.0 + 2.0 / 3 + 1.0) / 3));  // A, B, C
  CHECK(s.worst_accuracy == doctest::Approx(2.0 / 3));
  CHECK(s.worst_patient == "A");  // tied with B: the first by ID
  CHECK(s.infected_flagged == 2);
  CHECK(s.healthy_clear == 1);  // B raised a false alarm
  CHECK(s.flag_sensitivity == 1.0);
  CHECK(s.flag_specificity == 0.5);
  CHECK_THROWS_AS(per_patient(scores, {"A"}, 0.5), UsageError);
}
