#include "eval/report_text.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <vector>

namespace plasmo::eval {

namespace {

std::string line(const char* format, ...) __attribute__((format(printf, 1, 2)));
// printf into a string, any length (paths can be long), plus a newline.
std::string line(const char* format, ...) {
  va_list args, copy;
  va_start(args, format);
  va_copy(copy, args);
  const int length = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  std::vector<char> text(static_cast<size_t>(length > 0 ? length : 0) + 1);
  std::vsnprintf(text.data(), text.size(), format, args);
  va_end(args);
  return std::string(text.data()) + "\n";
}

std::string percent(double fraction) {
  if (!std::isfinite(fraction)) return "n/a";
  char text[32];
  std::snprintf(text, sizeof text, "%.2f%%", 100.0 * fraction);
  return text;
}

std::string fixed(double value, int decimals) {
  if (!std::isfinite(value)) return "n/a";
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

}  // namespace

std::string metrics_table(const EvalOutcome& o) {
  const Metrics& m = o.metrics;
  const Confusion& c = m.confusion;
  std::string text;
  text += line("model        %s (%s, %d px)%s", o.model_path.c_str(), o.arch.c_str(), o.input_size,
               o.tta ? ", test-time mirrors and rotations" : "");
  text += line("data         %s", o.data_path.c_str());
  text += line("images       %lld (%lld Parasitized, %lld Uninfected), %lld skipped", static_cast<long long>(m.n),
               static_cast<long long>(c.positives()), static_cast<long long>(c.negatives()),
               static_cast<long long>(o.skipped));
  if (std::isnan(o.target_sensitivity))
    text += line("threshold    %.6g", m.threshold);
  else
    text += line("threshold    %.6g (the highest with sensitivity >= %.6g on this data)", m.threshold,
                 o.target_sensitivity);
  text += "\n";
  text += line("accuracy     %s", percent(m.accuracy).c_str());
  text += line("sensitivity  %s", percent(m.sensitivity).c_str());
  text += line("specificity  %s", percent(m.specificity).c_str());
  text += line("precision    %s", percent(m.precision).c_str());
  text += line("F1           %s", fixed(m.f1, 4).c_str());
  text += line("AUC          %s", fixed(m.auc, 4).c_str());
  text += line("loss         %s", fixed(m.loss, 4).c_str());
  text += "\n";
  text += line("%-20s %22s %22s", "", "predicted Parasitized", "predicted Uninfected");
  text += line("%-20s %22lld %22lld", "actual Parasitized", static_cast<long long>(c.tp), static_cast<long long>(c.fn));
  text += line("%-20s %22lld %22lld", "actual Uninfected", static_cast<long long>(c.fp), static_cast<long long>(c.tn));
  text += "\n";
  const PatientSummary& s = o.patient_summary;
  text += line("patients     %d (%d with Parasitized cells, %d healthy)", s.patients, s.infected, s.healthy);
  text += line("  mean per-patient accuracy %s, sensitivity %s, specificity %s", percent(s.macro_accuracy).c_str(),
               percent(s.macro_sensitivity).c_str(), percent(s.macro_specificity).c_str());
  if (!s.worst_patient.empty())
    text += line("  worst patient %s: accuracy %s", s.worst_patient.c_str(), percent(s.worst_accuracy).c_str());
  text += line("  flagged (>= 1 cell called Parasitized): %d of %d infected, %d of %d healthy", s.infected_flagged,
               s.infected, s.healthy - s.healthy_clear, s.healthy);
  text += line("time         %.2f s", o.seconds);
  return text;
}

}  // namespace plasmo::eval
