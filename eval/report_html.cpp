#include "eval/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/error.h"
#include "eval/base64.h"
#include "eval/svg_chart.h"

namespace plasmo::eval {

namespace {

constexpr const char* kBlue = "#1f77b4";
constexpr const char* kOrange = "#ff7f0e";
constexpr const char* kGreen = "#2ca02c";
constexpr const char* kRed = "#d62728";
constexpr const char* kPurple = "#9467bd";

std::string format(const char* pattern, double value) {
  if (!std::isfinite(value)) return "n/a";
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}
std::string percent(double fraction) { return std::isfinite(fraction) ? format("%.2f%%", 100.0 * fraction) : "n/a"; }
std::string count(int64_t value) { return std::to_string(value); }
std::string esc(const std::string& text) { return html_escape(text); }

// The file name without its folders (gallery captions).
std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

const char* kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1d1d1f;
       max-width: 1060px; margin: 24px auto; padding: 0 20px; line-height: 1.4; }
h1 { font-size: 26px; margin-bottom: 4px; }
h2 { font-size: 19px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 32px; }
.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { padding: 4px 10px; border: 1px solid #ddd; text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f6; }
td.l, th.l { text-align: left; }
.run td:first-child { text-align: left; color: #555; }
.run td:last-child { text-align: left; }
.row { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; }
.confusion td { width: 110px; height: 44px; text-align: center; font-size: 17px; }
.confusion .ok { background: #e3f4e3; }
.confusion .bad { background: #fbe3e1; }
.confusion small { display: block; font-size: 11px; color: #555; }
.gallery { display: flex; flex-wrap: wrap; gap: 14px; }
.cell { border: 1px solid #ddd; border-radius: 6px; padding: 6px; width: 204px; font-size: 11.5px; }
.cell img { width: 96px; height: 96px; image-rendering: auto; background: #000; }
.cell .pair { display: flex; gap: 6px; }
.cell .cap { margin-top: 4px; overflow-wrap: anywhere; }
.fp { color: #b3261e; font-weight: bold; }
.fn { color: #8a4b00; font-weight: bold; }
.note { color: #555; font-size: 13px; }
.scroll { max-height: 520px; overflow-y: auto; display: inline-block; }
dl { font-size: 13px; } dt { font-weight: bold; margin-top: 6px; } dd { margin-left: 16px; }
)";

std::string run_section(const EvalOutcome& outcome, const ReportInputs& inputs) {
  const Metrics& m = outcome.metrics;
  std::string threshold_note =
      std::isnan(outcome.target_sensitivity)
          ? "given"
          : "chosen on this data for sensitivity &ge; " + esc(format("%.4g", outcome.target_sensitivity));
  std::string html = "<table class=\"run\">\n";
  const auto row = [&](const std::string& key, const std::string& value) {
    html += "<tr><td>" + key + "</td><td>" + value + "</td></tr>\n";
  };
  row("model", esc(outcome.model_path) + (outcome.arch.empty() ? ""
                                                               : " (" + esc(outcome.arch) + ", input " +
                                                                     std::to_string(outcome.input_size) + " px)"));
  row("data", esc(outcome.data_path));
  row("images", count(m.n) + " evaluated (" + count(m.confusion.positives()) + " Parasitized, " +
                    count(m.confusion.negatives()) + " Uninfected), " + count(outcome.skipped) + " skipped");
  row("threshold", "p(Parasitized) &ge; " + esc(format("%.6g", m.threshold)) + " (" + threshold_note + ")");
  row("test-time flips", outcome.tta ? "yes (probabilities averaged over the 8 mirrors and rotations)" : "no");
  row("time", esc(format("%.2f s", outcome.seconds)));
  if (inputs.training_log) row("training log", esc(inputs.training_log_path));
  html += "</table>\n";
  return html;
}

std::string metrics_section(const EvalOutcome& outcome) {
  const Metrics& m = outcome.metrics;
  const Confusion& c = m.confusion;
  std::string html =
      "<h2>Metrics</h2>\n<div class=\"row\">\n<table>\n<tr><th class=\"l\">metric</th><th>value</th></tr>\n";
  const auto row = [&](const std::string& name, const std::string& value) {
    html += "<tr><td class=\"l\">" + name + "</td><td>" + value + "</td></tr>\n";
  };
  row("accuracy", percent(m.accuracy));
  row("sensitivity (recall)", percent(m.sensitivity));
  row("specificity", percent(m.specificity));
  row("precision", percent(m.precision));
  row("F1", format("%.4f", m.f1));
  row("AUC", format("%.4f", m.auc));
  row("loss (cross-entropy)", format("%.4f", m.loss));
  row("images", count(m.n));
  html += "</table>\n";
  html +=
      "<table class=\"confusion\">\n<tr><th></th><th>predicted Parasitized</th><th>predicted Uninfected</th></tr>\n";
  html += "<tr><th class=\"l\">actual Parasitized</th><td class=\"ok\">" + count(c.tp) +
          "<small>true positives</small></td><td class=\"bad\">" + count(c.fn) +
          "<small>false negatives</small></td></tr>\n";
  html += "<tr><th class=\"l\">actual Uninfected</th><td class=\"bad\">" + count(c.fp) +
          "<small>false positives</small></td><td class=\"ok\">" + count(c.tn) +
          "<small>true negatives</small></td></tr>\n";
  html += "</table>\n</div>\n";
  return html;
}

std::string roc_section(const EvalOutcome& outcome) {
  std::string html = "<h2>ROC curve</h2>\n";
  if (outcome.roc.empty()) return html + "<p class=\"note\">No ROC curve: the data holds only one class.</p>\n";
  ChartSpec spec;
  spec.title = "ROC curve (AUC " + format("%.4f", outcome.metrics.auc) + ")";
  spec.x_label = "false-positive rate (1 - specificity)";
  spec.y_label = "true-positive rate (sensitivity)";
  spec.width = 460, spec.height = 420;
  spec.x_min = 0, spec.x_max = 1, spec.y_min = 0, spec.y_max = 1;
  spec.diagonal = true;
  ChartSeries roc{"model", kBlue, {}, {}};
  for (const RocPoint& point : outcome.roc) roc.x.push_back(point.fpr), roc.y.push_back(point.tpr);
  spec.series.push_back(std::move(roc));
  spec.markers.push_back({1.0 - outcome.metrics.specificity, outcome.metrics.sensitivity,
                          "threshold " + format("%.4g", outcome.metrics.threshold), kRed});
  html += "<div class=\"row\">\n" + svg_line_chart(spec);
  // The same curve zoomed on the corner where good classifiers live.
  spec.title = "top-left corner";
  spec.x_max = 0.2, spec.y_min = 0.8;
  spec.diagonal = false;
  html += svg_line_chart(spec) + "</div>\n";
  return html;
}

std::string training_section(const ReportInputs& inputs) {
  std::string html = "<h2>Training curves</h2>\n";
  const TrainingLog* log = inputs.training_log;
  if (!log) return html + "<p class=\"note\">No training log given (plasmo eval --log TRAIN.csv).</p>\n";
  if (log->rows.empty()) return html + "<p class=\"note\">The training log holds no epochs.</p>\n";
  std::vector<double> epochs = log->column("epoch");
  bool usable = true;
  for (size_t r = 0; r < epochs.size(); ++r)
    usable = usable && std::isfinite(epochs[r]) && (r == 0 || epochs[r] > epochs[r - 1]);
  if (!usable)  // repeated or missing epoch numbers (two phases): plot by row
    for (size_t r = 0; r < epochs.size(); ++r) epochs[r] = static_cast<double>(r + 1);
  const bool markers = epochs.size() <= 40;
  const auto series = [&](const char* column, const char* name, const char* colour, bool dashed) {
    ChartSeries s{name, colour, epochs, log->column(column), dashed, markers};
    return s;
  };
  ChartSpec loss;
  loss.title = "loss", loss.x_label = "epoch", loss.y_label = "cross-entropy";
  loss.width = 480, loss.height = 330;
  loss.series = {series("train_loss", "train", kBlue, false), series("val_loss", "validation", kOrange, false)};
  ChartSpec accuracy;
  accuracy.title = "accuracy", accuracy.x_label = "epoch", accuracy.y_label = "fraction";
  accuracy.width = 480, accuracy.height = 330;
  accuracy.series = {series("train_acc", "train accuracy", kBlue, false),
                     series("val_acc", "validation accuracy", kOrange, false),
                     series("val_sensitivity", "val sensitivity", kRed, true),
                     series("val_specificity", "val specificity", kGreen, true)};
  html += "<div class=\"row\">\n" + svg_line_chart(loss) + svg_line_chart(accuracy) + "</div>\n";
  std::vector<std::string> missing;
  for (const char* column : {"epoch", "train_loss", "val_loss", "train_acc", "val_acc"})
    if (!log->has(column)) missing.push_back(column);
  if (!missing.empty()) {
    html += "<p class=\"note\">Columns missing from the log:";
    for (const std::string& column : missing) html += " " + esc(column);
    html += ".</p>\n";
  }
  return html;
}

std::string patients_section(const EvalOutcome& outcome) {
  const PatientSummary& s = outcome.patient_summary;
  std::string html = "<h2>Patients</h2>\n";
  html += "<p>" + std::to_string(s.patients) + " patients: " + std::to_string(s.infected) +
          " with Parasitized cells, " + std::to_string(s.healthy) +
          " healthy. Each patient counts once here, however many cells it has.</p>\n";
  html += "<table>\n<tr><th class=\"l\">patient-level figure</th><th>value</th></tr>\n";
  const auto row = [&](const std::string& name, const std::string& value) {
    html += "<tr><td class=\"l\">" + name + "</td><td>" + value + "</td></tr>\n";
  };
  row("mean per-patient accuracy", percent(s.macro_accuracy));
  row("mean per-patient sensitivity (infected patients)", percent(s.macro_sensitivity));
  row("mean per-patient specificity", percent(s.macro_specificity));
  row("worst patient accuracy",
      percent(s.worst_accuracy) + (s.worst_patient.empty() ? "" : " (" + esc(s.worst_patient) + ")"));
  row("infected patients with &ge; 1 cell flagged", std::to_string(s.infected_flagged) + " of " +
                                                        std::to_string(s.infected) + " (" +
                                                        percent(s.flag_sensitivity) + ")");
  row("healthy patients with no cell flagged",
      std::to_string(s.healthy_clear) + " of " + std::to_string(s.healthy) + " (" + percent(s.flag_specificity) + ")");
  html += "</table>\n";

  std::vector<const PatientRow*> rows;
  for (const PatientRow& r : outcome.patients) rows.push_back(&r);
  // Worst first; undefined accuracy (no cells) last; ties by ID.
  std::stable_sort(rows.begin(), rows.end(), [](const PatientRow* a, const PatientRow* b) {
    const double x = std::isnan(a->accuracy) ? 2.0 : a->accuracy, y = std::isnan(b->accuracy) ? 2.0 : b->accuracy;
    return x < y;
  });
  html += "<p class=\"note\">Per patient, lowest accuracy first. n/a: undefined (no cells of that class).</p>\n";
  html +=
      "<div class=\"scroll\"><table>\n<tr><th class=\"l\">patient</th><th>cells</th><th>Parasitized</th>"
      "<th>Uninfected</th><th>accuracy</th><th>sensitivity</th><th>specificity</th><th>FP</th><th>FN</th>"
      "<th>mean p</th></tr>\n";
  for (const PatientRow* r : rows)
    html += "<tr><td class=\"l\">" + esc(r->patient) + "</td><td>" + count(r->confusion.n()) + "</td><td>" +
            count(r->confusion.positives()) + "</td><td>" + count(r->confusion.negatives()) + "</td><td>" +
            percent(r->accuracy) + "</td><td>" + percent(r->sensitivity) + "</td><td>" + percent(r->specificity) +
            "</td><td>" + count(r->confusion.fp) + "</td><td>" + count(r->confusion.fn) + "</td><td>" +
            format("%.3f", r->mean_p) + "</td></tr>\n";
  html += "</table></div>\n";
  return html;
}

std::string gallery_section(const ReportInputs& inputs, double threshold) {
  std::string html = "<h2>Misclassified cells</h2>\n";
  if (inputs.misclassified_total == 0) return html + "<p>None: every cell was classified correctly.</p>\n";
  html += "<p class=\"note\">" + std::to_string(inputs.misclassified.size()) + " of " +
          std::to_string(inputs.misclassified_total) + " misclassified cells at threshold " +
          format("%.4g", threshold) +
          ", most confident mistakes first. Left: the cell; right: "
          "the class-activation heatmap over it (bright = evidence for Parasitized; Grad-CAM, or the mean activation "
          "map where Grad-CAM finds no positive evidence).</p>\n<div class=\"gallery\">\n";
  for (const GalleryCell& cell : inputs.misclassified) {
    const bool false_positive = cell.label == 0;  // misclassified Uninfected = called Parasitized
    html += "<div class=\"cell\"><div class=\"pair\"><img alt=\"cell\" src=\"" + png_data_uri(cell.cell_png) +
            "\"><img alt=\"heatmap\" src=\"" + png_data_uri(cell.heat_png) + "\"></div>\n<div class=\"cap\">" +
            (false_positive ? "<span class=\"fp\">false positive</span>" : "<span class=\"fn\">false negative</span>") +
            " &middot; p = " + format("%.4f", cell.p) + "<br>patient " + esc(cell.patient) + " &middot; " +
            esc(cell.method) + "<br>" + esc(base_name(cell.path)) + "</div></div>\n";
  }
  html += "</div>\n";
  return html;
}

std::string skipped_section(const ReportInputs& inputs) {
  if (inputs.skipped.empty()) return "";
  std::string html = "<h2>Skipped files</h2>\n<p>" + std::to_string(inputs.skipped.size()) +
                     " files could not be read or decoded and are not in the figures above.</p>\n<ul>\n";
  for (const SkippedEntry& entry : inputs.skipped)
    html += "<li>" + esc(entry.path) + ": " + esc(entry.reason) + "</li>\n";
  return html + "</ul>\n";
}

const char* kDefinitions = R"(<h2>Definitions</h2>
<dl>
<dt>positive</dt><dd>Parasitized; a cell is called Parasitized when p(Parasitized) &ge; the threshold.</dd>
<dt>accuracy, sensitivity, specificity, precision, F1</dt><dd>(TP+TN)/n, TP/(TP+FN), TN/(TN+FP), TP/(TP+FP),
2TP/(2TP+FP+FN). A ratio with a zero denominator is undefined and shown as n/a (null in the JSON).</dd>
<dt>AUC</dt><dd>Exact area under the ROC curve: the Mann-Whitney statistic with tied scores counting one half.</dd>
<dt>loss</dt><dd>Mean cross-entropy of the predicted probability of the true class, floored at 1e-12.</dd>
<dt>patient figures</dt><dd>Each patient's cells scored on their own, then averaged over patients; a patient is
flagged when at least one of its cells is called Parasitized.</dd>
</dl>
)";

}  // namespace

std::string png_data_uri(const std::vector<uint8_t>& png) { return "data:image/png;base64," + base64_encode(png); }

std::string report_html(const ReportInputs& inputs) {
  if (!inputs.outcome) throw UsageError("report_html: no evaluation outcome given");
  const EvalOutcome& outcome = *inputs.outcome;
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<title>plasmo evaluation: " + esc(base_name(outcome.model_path)) + "</title>\n<style>" + kStyle +
          "</style>\n</head>\n<body>\n";
  html += "<h1>plasmo evaluation report</h1>\n<p class=\"sub\">Parasitized / Uninfected thin-smear cells, accuracy " +
          percent(outcome.metrics.accuracy) + ", AUC " + format("%.4f", outcome.metrics.auc) + "</p>\n";
  html += run_section(outcome, inputs);
  html += metrics_section(outcome);
  html += roc_section(outcome);
  html += training_section(inputs);
  html += patients_section(outcome);
  html += gallery_section(inputs, outcome.metrics.threshold);
  html += skipped_section(inputs);
  html += kDefinitions;
  html += "</body>\n</html>\n";
  return html;
}

}  // namespace plasmo::eval
