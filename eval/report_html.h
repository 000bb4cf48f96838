// The evaluation report (`plasmo eval --report FILE.html`): one self-contained HTML file. Everything is
// inline: CSS in a <style> element, charts as <svg> (svg_chart.h), cell images as PNG data: URIs. No
// scripts and no URL to anything outside the file, so it opens offline, from an e-mail, years later.
//
// Sections: run (model, data, threshold and how it was chosen), metrics table and confusion matrix, ROC
// curve with the operating point, training curves (when the training CSV log is given), patients
// (summary and per-patient table, worst first), misclassified cells with their heatmaps (most
// confident mistakes first, up to a limit), skipped files, and the definitions used.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "eval/outcome.h"
#include "eval/training_log.h"

namespace plasmo::eval {

// One cell of the gallery: the image and its heatmap as PNG bytes.
struct GalleryCell {
  std::string path, patient;
  int label = 0;
  double p = 0.0;
  std::string method;  // cam_method_name()
  std::vector<uint8_t> cell_png, heat_png;
};

struct SkippedEntry {
  std::string path, reason;
};

struct ReportInputs {
  const EvalOutcome* outcome = nullptr;       // required
  const TrainingLog* training_log = nullptr;  // optional
  std::string training_log_path;
  std::vector<GalleryCell> misclassified;  // shown, in this order
  int64_t misclassified_total = 0;         // all of them (the gallery may show fewer)
  std::vector<SkippedEntry> skipped;
};

// The whole document. UsageError when inputs.outcome is null.
std::string report_html(const ReportInputs& inputs);

// "data:image/png;base64,..." for PNG bytes.
std::string png_data_uri(const std::vector<uint8_t>& png);

}  // namespace plasmo::eval
