// Which cells get a heatmap, and the heatmap images themselves.
//
// Cases: true/false positives/negatives at the threshold. Within a kind the most confident come first
// (TP and FP by p descending, TN and FN by p ascending), ties by data order, so the gallery opens with
// the mistakes the model was surest of.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data_loader/decode.h"
#include "data_loader/normalize.h"
#include "eval/heatmap.h"
#include "eval/outcome.h"
#include "models/model.h"

namespace plasmo::eval {

enum class CaseKind { TruePositive, FalsePositive, TrueNegative, FalseNegative };
constexpr CaseKind kCaseKinds[] = {CaseKind::TruePositive, CaseKind::FalsePositive, CaseKind::TrueNegative,
                                   CaseKind::FalseNegative};
const char* case_name(CaseKind kind);  // "tp", "fp", "tn", "fn"
CaseKind case_of(const ImageResult& image, double threshold);

// Indices into outcome.images of up to `count` cases of `kind` (count < 0: all), most confident first.
std::vector<size_t> select_cases(const EvalOutcome& outcome, CaseKind kind, int count);
// All misclassified (FP and FN) by confidence |p - threshold| descending, ties by data order.
std::vector<size_t> select_misclassified(const EvalOutcome& outcome);

// One cell re-read from its file, with its heat map.
struct CellHeat {
  size_t image_index = 0;  // into outcome.images
  data::Image cell;        // the original pixels
  HeatMap heat;
};

// Re-reads the chosen files, runs them through the model in batches (the same decode, resize and
// normalization as the evaluation), and computes their Grad-CAM maps. A file that can no longer be
// read is left out, its path and reason passed to on_error.
std::vector<CellHeat> compute_cell_heats(Model& model, const data::Normalization& norm, const EvalOutcome& outcome,
                                         const std::vector<size_t>& indices, int batch_size,
                                         const std::function<void(const std::string&, const std::string&)>& on_error);

// The cell resized to size x size (the data loader's resize) and its heat-blended twin, as PNG bytes.
struct CellPngs {
  std::vector<uint8_t> cell, heat;
};
CellPngs render_cell_pngs(const CellHeat& cell_heat, int size);
// The heat blended over the cell at the cell's own size, as PNG bytes.
std::vector<uint8_t> heatmap_png_full_size(const CellHeat& cell_heat);

}  // namespace plasmo::eval
