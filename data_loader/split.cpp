#include "data_loader/split.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "engine/error.h"
#include "engine/rng.h"

namespace plasmo::data {

namespace {
constexpr uint64_t kSplitStream = 0x73706c6974ULL;  // "split": keeps this stream apart from shuffles and augmentation
constexpr uint64_t kAttempts = 64;                  // candidate splits per seed; the closest to val_frac wins
}  // namespace

SideCounts count_side(const std::vector<Sample>& samples, const std::vector<int>& indices) {
  SideCounts counts;
  std::set<std::string> patients[2], all;
  for (int index : indices) {
    const Sample& sample = samples[index];
    const int label = sample.label == kLabelParasitized ? 1 : 0;
    counts.images[label]++;
    patients[label].insert(sample.patient);
    all.insert(sample.patient);
  }
  counts.patients[0] = static_cast<int>(patients[0].size());
  counts.patients[1] = static_cast<int>(patients[1].size());
  counts.patients_total = static_cast<int>(all.size());
  return counts;
}

Split split_by_patient(const std::vector<Sample>& samples, double val_frac, uint64_t seed) {
  if (!(val_frac >= 0.0 && val_frac < 1.0))
    throw UsageError("--val-frac must be in [0, 1), got " + std::to_string(val_frac));

  struct Patient {
    std::string id;
    int images[2] = {0, 0};
    bool val = false;
  };
  std::map<std::string, int> index_of;
  std::vector<Patient> patients;
  {
    std::set<std::string> ids;
    for (const Sample& sample : samples) ids.insert(sample.patient);
    for (const std::string& id : ids) {
      index_of[id] = static_cast<int>(patients.size());
      patients.push_back(Patient{id});
    }
    for (const Sample& sample : samples) patients[index_of[sample.patient]].images[sample.label == kLabelParasitized]++;
  }

  // One candidate: shuffle (Fisher-Yates over the ID-sorted patients), then the greedy fill per stratum.
  auto candidate = [&](uint64_t attempt, std::vector<int>& order, std::vector<char>& val) {
    order.resize(patients.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    Rng rng = Rng::derive(seed, kSplitStream, attempt);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(static_cast<uint32_t>(i))]);
    val.assign(patients.size(), 0);
    for (int infected = 0; infected < 2; ++infected) {
      auto in_stratum = [&](const Patient& patient) { return (patient.images[1] > 0) == (infected == 1); };
      double target[2] = {0.0, 0.0};
      for (const Patient& patient : patients)
        if (in_stratum(patient))
          for (int label = 0; label < 2; ++label) target[label] += val_frac * patient.images[label];
      // Sum over the classes of the squared relative gap between validation counts and targets.
      auto distance = [&](const double taken[2]) {
        double sum = 0.0;
        for (int label = 0; label < 2; ++label) {
          const double relative = (taken[label] - target[label]) / (target[label] > 1.0 ? target[label] : 1.0);
          sum += relative * relative;
        }
        return sum;
      };
      double taken[2] = {0.0, 0.0};
      for (int index : order) {
        const Patient& patient = patients[index];
        if (!in_stratum(patient)) continue;
        const double with[2] = {taken[0] + patient.images[0], taken[1] + patient.images[1]};
        if (distance(with) < distance(taken)) {
          val[index] = 1;
          taken[0] = with[0];
          taken[1] = with[1];
        }
      }
    }
  };
  // How far a candidate is from val_frac: per class image fractions, plus the patient fraction at a
  // quarter weight.
  double totals[2] = {0.0, 0.0};
  for (const Patient& patient : patients)
    for (int label = 0; label < 2; ++label) totals[label] += patient.images[label];
  auto score = [&](const std::vector<char>& val) {
    double taken[2] = {0.0, 0.0}, val_patients = 0.0;
    for (size_t p = 0; p < patients.size(); ++p)
      if (val[p]) {
        taken[0] += patients[p].images[0];
        taken[1] += patients[p].images[1];
        val_patients += 1.0;
      }
    double sum = 0.0;
    for (int label = 0; label < 2; ++label)
      if (totals[label] > 0.0)
        sum += (taken[label] / totals[label] - val_frac) * (taken[label] / totals[label] - val_frac);
    const double patient_gap = val_patients / static_cast<double>(patients.size()) - val_frac;
    return sum + 0.25 * patient_gap * patient_gap;
  };

  std::vector<char> is_val(patients.size(), 0);
  if (val_frac > 0.0 && !patients.empty()) {
    std::vector<int> order, best_order;
    std::vector<char> val;
    double best = 0.0;
    for (uint64_t attempt = 0; attempt < kAttempts; ++attempt) {
      candidate(attempt, order, val);
      const double candidate_score = score(val);
      if (attempt == 0 || candidate_score < best) {
        best = candidate_score;
        is_val = val;
        best_order = order;
      }
    }
    if (patients.size() >= 2) {
      const long in_val = std::count(is_val.begin(), is_val.end(), 1);
      if (in_val == 0) is_val[best_order[0]] = 1;
      if (in_val == static_cast<long>(patients.size())) is_val[best_order[0]] = 0;
    }
  }
  for (size_t p = 0; p < patients.size(); ++p) patients[p].val = is_val[p] != 0;

  Split split;
  for (int i = 0; i < static_cast<int>(samples.size()); ++i)
    (patients[index_of[samples[i].patient]].val ? split.val : split.train).push_back(i);
  for (const Patient& patient : patients)
    if (patient.val) split.val_patients.push_back(patient.id);
  split.summary.train = count_side(samples, split.train);
  split.summary.val = count_side(samples, split.val);
  split.summary.val_frac = val_frac;
  split.summary.seed = seed;
  return split;
}

std::string format_split_summary(const SplitSummary& summary) {
  char line[256];
  std::string text;
  std::snprintf(line, sizeof(line), "split by patient: val-frac %g, seed %llu\n", summary.val_frac,
                static_cast<unsigned long long>(summary.seed));
  text += line;
  std::snprintf(line, sizeof(line), "        %8s   %-24s %-24s %7s\n", "patients", "Parasitized (patients)",
                "Uninfected (patients)", "images");
  text += line;
  const SideCounts* sides[2] = {&summary.train, &summary.val};
  const char* names[2] = {"train", "val"};
  for (int side = 0; side < 2; ++side) {
    const SideCounts& counts = *sides[side];
    char parasitized[48], uninfected[48];
    std::snprintf(parasitized, sizeof(parasitized), "%d (%d)", counts.images[1], counts.patients[1]);
    std::snprintf(uninfected, sizeof(uninfected), "%d (%d)", counts.images[0], counts.patients[0]);
    std::snprintf(line, sizeof(line), "%-7s %8d   %-24s %-24s %7d\n", names[side], counts.patients_total, parasitized,
                  uninfected, counts.images_total());
    text += line;
  }
  return text;
}

}  // namespace plasmo::data
