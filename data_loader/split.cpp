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
}

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

  // Fisher-Yates over the ID-sorted patients.
  std::vector<int> order(patients.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  Rng rng = Rng::derive(seed, kSplitStream);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(static_cast<uint32_t>(i))]);

  if (val_frac > 0.0) {
    for (int infected = 0; infected < 2; ++infected) {
      double stratum_images = 0.0;
      for (const Patient& patient : patients)
        if ((patient.images[1] > 0) == (infected == 1)) stratum_images += patient.images[0] + patient.images[1];
      const double target = val_frac * stratum_images;
      double taken = 0.0;
      for (int index : order) {
        Patient& patient = patients[index];
        if ((patient.images[1] > 0) != (infected == 1)) continue;
        const double size = patient.images[0] + patient.images[1];
        if (std::fabs(taken + size - target) < std::fabs(taken - target)) {
          patient.val = true;
          taken += size;
        }
      }
    }
    if (patients.size() >= 2) {
      auto count_val = [&] { return std::count_if(patients.begin(), patients.end(), [](const Patient& p) { return p.val; }); };
      if (count_val() == 0) patients[order[0]].val = true;
      if (count_val() == static_cast<long>(patients.size())) patients[order[0]].val = false;
    }
  }

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
