#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <set>

#include "data_loader/split.h"
#include "engine/error.h"
#include "engine/rng.h"

using namespace plasmo;
using namespace plasmo::data;

namespace {

// Like the NIH set: 60 patients, a quarter healthy; cells per patient from a few to a few hundred.
std::vector<Sample> patient_samples(uint64_t seed) {
  Rng rng(seed);
  std::vector<Sample> samples;
  for (int patient = 0; patient < 60; ++patient) {
    const bool healthy = patient % 4 == 3;
    const int parasitized = healthy ? 0 : 1 + static_cast<int>(std::exp(rng.uniform(0.0f, 5.0f)));
    const int uninfected = 5 + static_cast<int>(rng.below(60));
    for (int cell = 0; cell < parasitized + uninfected; ++cell) {
      Sample sample;
      sample.patient = "C" + std::to_string(patient) + "P" + std::to_string(patient * 3);
      sample.label = cell < parasitized ? kLabelParasitized : kLabelUninfected;
      sample.path = sample.patient + "_IMG_0_cell_" + std::to_string(cell) + ".png";
      samples.push_back(sample);
    }
  }
  return samples;
}

}  // namespace

TEST_CASE("split: no patient on both sides, every image exactly once, sizes near val_frac") {
  const std::vector<Sample> samples = patient_samples(5);
  std::set<std::string> all_patients;
  for (const Sample& sample : samples) all_patients.insert(sample.patient);
  for (double val_frac : {0.1, 0.2, 0.3}) {
    for (uint64_t seed = 1; seed <= 20; ++seed) {
      const Split split = split_by_patient(samples, val_frac, seed);
      std::set<std::string> train_patients, val_patients;
      std::vector<int> seen(samples.size(), 0);
      for (int i : split.train) {
        train_patients.insert(samples[i].patient);
        seen[i]++;
      }
      for (int i : split.val) {
        val_patients.insert(samples[i].patient);
        seen[i]++;
      }
      for (const std::string& patient : val_patients) REQUIRE(train_patients.count(patient) == 0);
      for (int count : seen) REQUIRE(count == 1);
      CHECK(std::set<std::string>(split.val_patients.begin(), split.val_patients.end()) == val_patients);
      // Images: within 3 percentage points of val_frac (patients are whole, so not exact).
      const double image_frac = static_cast<double>(split.val.size()) / samples.size();
      INFO("val_frac " << val_frac << " seed " << seed << ": images " << image_frac);
      CHECK(std::fabs(image_frac - val_frac) < 0.03);
      // Patients: near val_frac too (within 10 points), and both kinds of patient in validation.
      const double patient_frac = static_cast<double>(val_patients.size()) / all_patients.size();
      CHECK(std::fabs(patient_frac - val_frac) < 0.1);
      CHECK(split.summary.val.patients[kLabelParasitized] > 0);
      CHECK(split.summary.val.patients_total > split.summary.val.patients[kLabelParasitized]);  // some healthy
      // Each class is near val_frac on its own (stratified by patient kind).
      for (int label = 0; label < 2; ++label) {
        const double class_frac = static_cast<double>(split.summary.val.images[label]) /
                                  (split.summary.val.images[label] + split.summary.train.images[label]);
        CHECK(std::fabs(class_frac - val_frac) < 0.03);
      }
    }
  }
}

TEST_CASE("split: same seed, same split; another seed, another split") {
  const std::vector<Sample> samples = patient_samples(9);
  const Split a = split_by_patient(samples, 0.2, 1), b = split_by_patient(samples, 0.2, 1);
  CHECK(a.train == b.train);
  CHECK(a.val == b.val);
  int different = 0;
  for (uint64_t seed = 2; seed < 12; ++seed)
    different += split_by_patient(samples, 0.2, seed).val_patients != a.val_patients;
  CHECK(different == 10);
}

TEST_CASE("split: summary counts match the indices") {
  const std::vector<Sample> samples = patient_samples(3);
  const Split split = split_by_patient(samples, 0.25, 4);
  const SplitSummary& summary = split.summary;
  CHECK(summary.train.images_total() == static_cast<int>(split.train.size()));
  CHECK(summary.val.images_total() == static_cast<int>(split.val.size()));
  CHECK(summary.train.patients_total + summary.val.patients_total == 60);
  CHECK(summary.val.patients_total == static_cast<int>(split.val_patients.size()));
  int parasitized = 0;
  for (const Sample& sample : samples) parasitized += sample.label;
  CHECK(summary.train.images[1] + summary.val.images[1] == parasitized);
  const std::string table = format_split_summary(summary);
  CHECK(table.find("train") != std::string::npos);
  CHECK(table.find("val-frac 0.25, seed 4") != std::string::npos);
  CHECK(table.find(std::to_string(summary.val.images_total())) != std::string::npos);
}

TEST_CASE("split: edge cases") {
  const std::vector<Sample> samples = patient_samples(2);
  const Split none = split_by_patient(samples, 0.0, 1);
  CHECK(none.val.empty());
  CHECK(none.train.size() == samples.size());
  CHECK_THROWS_AS(split_by_patient(samples, 1.0, 1), UsageError);
  CHECK_THROWS_AS(split_by_patient(samples, -0.1, 1), UsageError);
  CHECK_THROWS_AS(split_by_patient(samples, std::nan(""), 1), UsageError);
  // Two patients, a tiny fraction: still one patient on each side.
  std::vector<Sample> two(samples.begin(), samples.begin() + 1);
  Sample other = two[0];
  other.patient = "other";
  two.push_back(other);
  const Split tiny = split_by_patient(two, 0.01, 1);
  CHECK(tiny.train.size() == 1);
  CHECK(tiny.val.size() == 1);
  const Split large = split_by_patient(two, 0.99, 1);
  CHECK(large.train.size() == 1);
  CHECK(large.val.size() == 1);
}
