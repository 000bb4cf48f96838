#include "eval/report_json.h"

#include <cmath>
#include <cstdio>

#include "engine/error.h"
#include "eval/json_text.h"

namespace plasmo::eval {

namespace {

std::string confusion_json(const Confusion& c) {
  return "{\"tp\": " + json_number(c.tp) + ", \"fp\": " + json_number(c.fp) + ", \"tn\": " + json_number(c.tn) +
         ", \"fn\": " + json_number(c.fn) + "}";
}

std::string patient_summary_json(const PatientSummary& s) {
  return "{\"patients\": " + json_number(int64_t{s.patients}) + ", \"infected\": " + json_number(int64_t{s.infected}) +
         ", \"healthy\": " + json_number(int64_t{s.healthy}) +
         ", \"macro_accuracy\": " + json_number(s.macro_accuracy) +
         ", \"macro_sensitivity\": " + json_number(s.macro_sensitivity) +
         ", \"macro_specificity\": " + json_number(s.macro_specificity) +
         ", \"worst_accuracy\": " + json_number(s.worst_accuracy) +
         ", \"worst_patient\": " + json_string(s.worst_patient) +
         ", \"infected_flagged\": " + json_number(int64_t{s.infected_flagged}) +
         ", \"healthy_clear\": " + json_number(int64_t{s.healthy_clear}) +
         ", \"flag_sensitivity\": " + json_number(s.flag_sensitivity) +
         ", \"flag_specificity\": " + json_number(s.flag_specificity) + "}";
}

std::string patient_row_json(const PatientRow& row) {
  return "{\"patient\": " + json_string(row.patient) + ", \"n\": " + json_number(row.confusion.n()) +
         ", \"parasitized\": " + json_number(row.confusion.positives()) +
         ", \"uninfected\": " + json_number(row.confusion.negatives()) +
         ", \"accuracy\": " + json_number(row.accuracy) + ", \"sensitivity\": " + json_number(row.sensitivity) +
         ", \"specificity\": " + json_number(row.specificity) + ", \"mean_p\": " + json_number(row.mean_p) +
         ", \"confusion\": " + confusion_json(row.confusion) + "}";
}

// Seconds to the millisecond: more digits would be noise.
double round_ms(double seconds) { return std::round(seconds * 1000.0) / 1000.0; }

}  // namespace

std::string metrics_json(const EvalOutcome& outcome) {
  const Metrics& m = outcome.metrics;
  std::string json =
      "{\"n\": " + json_number(m.n) + ", \"accuracy\": " + json_number(m.accuracy) +
      ", \"precision\": " + json_number(m.precision) + ", \"sensitivity\": " + json_number(m.sensitivity) +
      ", \"specificity\": " + json_number(m.specificity) + ",\n \"f1\": " + json_number(m.f1) +
      ", \"auc\": " + json_number(m.auc) + ", \"loss\": " + json_number(m.loss) +
      ", \"threshold\": " + json_number(m.threshold) + ",\n \"confusion\": " + confusion_json(m.confusion) +
      ", \"skipped\": " + json_number(outcome.skipped) + ", \"seconds\": " + json_number(round_ms(outcome.seconds));
  json += ",\n \"model\": " + json_string(outcome.model_path) + ", \"data\": " + json_string(outcome.data_path) +
          ", \"arch\": " + json_string(outcome.arch) + ", \"input\": " + json_number(int64_t{outcome.input_size}) +
          ", \"tta\": " + (outcome.tta ? "true" : "false");
  if (!std::isnan(outcome.target_sensitivity))
    json += ", \"target_sensitivity\": " + json_number(outcome.target_sensitivity);
  json += ",\n \"patients\": " + patient_summary_json(outcome.patient_summary);
  json += ",\n \"per_patient\": [";
  for (size_t i = 0; i < outcome.patients.size(); ++i)
    json += (i ? ",\n  " : "\n  ") + patient_row_json(outcome.patients[i]);
  json += outcome.patients.empty() ? "]}\n" : "\n ]}\n";
  return json;
}

void write_text_file(const std::string& path, const std::string& text) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) throw IoError(path + ": cannot open for writing");
  const size_t written = std::fwrite(text.data(), 1, text.size(), file);
  const bool closed = std::fclose(file) == 0;
  if (written != text.size() || !closed) throw IoError(path + ": write failed (disk full?)");
}

}  // namespace plasmo::eval
