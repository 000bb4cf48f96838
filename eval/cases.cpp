#include "eval/cases.h"

#include <algorithm>
#include <cmath>

#include "data_loader/image_input.h"
#include "data_loader/resize.h"
#include "data_loader/synth.h"
#include "engine/error.h"
#include "eval/score.h"

namespace plasmo::eval {

const char* case_name(CaseKind kind) {
  switch (kind) {
    case CaseKind::TruePositive:
      return "tp";
    case CaseKind::FalsePositive:
      return "fp";
    case CaseKind::TrueNegative:
      return "tn";
    case CaseKind::FalseNegative:
      return "fn";
  }
  return "?";
}

CaseKind case_of(const ImageResult& image, double threshold) {
  const bool called_positive = image.predicted_positive(threshold);
  if (image.label == kPositive) return called_positive ? CaseKind::TruePositive : CaseKind::FalseNegative;
  return called_positive ? CaseKind::FalsePositive : CaseKind::TrueNegative;
}

std::vector<size_t> select_cases(const EvalOutcome& outcome, CaseKind kind, int count) {
  const double threshold = outcome.metrics.threshold;
  std::vector<size_t> chosen;
  for (size_t i = 0; i < outcome.images.size(); ++i)
    if (case_of(outcome.images[i], threshold) == kind) chosen.push_back(i);
  const bool called_positive = kind == CaseKind::TruePositive || kind == CaseKind::FalsePositive;
  std::stable_sort(chosen.begin(), chosen.end(), [&](size_t a, size_t b) {
    return called_positive ? outcome.images[a].p > outcome.images[b].p : outcome.images[a].p < outcome.images[b].p;
  });
  if (count >= 0 && chosen.size() > static_cast<size_t>(count)) chosen.resize(static_cast<size_t>(count));
  return chosen;
}

std::vector<size_t> select_misclassified(const EvalOutcome& outcome) {
  const double threshold = outcome.metrics.threshold;
  std::vector<size_t> chosen;
  for (size_t i = 0; i < outcome.images.size(); ++i) {
    const CaseKind kind = case_of(outcome.images[i], threshold);
    if (kind == CaseKind::FalsePositive || kind == CaseKind::FalseNegative) chosen.push_back(i);
  }
  std::stable_sort(chosen.begin(), chosen.end(), [&](size_t a, size_t b) {
    return std::fabs(outcome.images[a].p - threshold) > std::fabs(outcome.images[b].p - threshold);
  });
  return chosen;
}

std::vector<CellHeat> compute_cell_heats(Model& model, const data::Normalization& norm, const EvalOutcome& outcome,
                                         const std::vector<size_t>& indices, int batch_size,
                                         const std::function<void(const std::string&, const std::string&)>& on_error) {
  if (batch_size < 1) throw UsageError("compute_cell_heats: batch size must be >= 1");
  const int S = model.input_size();
  const size_t image_floats = static_cast<size_t>(3) * S * S;
  data::ImageInput input(S, norm);
  std::vector<uint8_t> file_bytes;
  std::vector<CellHeat> cells;
  Tensor batch;
  for (size_t begin = 0; begin < indices.size();) {
    std::vector<CellHeat> pending;
    std::vector<float> pixels;
    // Fill a batch with readable files.
    for (; begin < indices.size() && static_cast<int>(pending.size()) < batch_size; ++begin) {
      const ImageResult& image = outcome.images[indices[begin]];
      CellHeat cell;
      cell.image_index = indices[begin];
      std::string reason;
      pixels.resize((pending.size() + 1) * image_floats);
      if (!data::read_file(image.path, file_bytes, &reason) ||
          !data::decode_image(file_bytes.data(), file_bytes.size(), cell.cell, &reason) ||
          !input.load_memory(file_bytes.data(), file_bytes.size(), pixels.data() + pending.size() * image_floats,
                             &reason)) {
        if (on_error) on_error(image.path, reason);
        pixels.resize(pending.size() * image_floats);
        continue;
      }
      pending.push_back(std::move(cell));
    }
    if (pending.empty()) continue;
    batch.resize(Shape{static_cast<int>(pending.size()), 3, S, S});
    std::copy(pixels.begin(), pixels.end(), batch.data());
    std::vector<HeatMap> maps = class_activation_maps(model, batch);
    for (size_t i = 0; i < pending.size(); ++i) {
      pending[i].heat = std::move(maps[i]);
      cells.push_back(std::move(pending[i]));
    }
  }
  return cells;
}

namespace {

// Planar [3][H][W] -> interleaved [H][W][3].
data::Image interleave(const std::vector<uint8_t>& planar, int height, int width) {
  data::Image image;
  image.height = height, image.width = width;
  image.rgb.resize(static_cast<size_t>(height) * width * 3);
  const size_t plane = static_cast<size_t>(height) * width;
  for (size_t i = 0; i < plane; ++i)
    for (int c = 0; c < 3; ++c) image.rgb[i * 3 + c] = planar[c * plane + i];
  return image;
}

data::Image blended(const data::Image& cell, const HeatMap& heat) {
  data::Image out;
  out.height = cell.height, out.width = cell.width;
  out.rgb = render_heatmap(cell.rgb.data(), cell.height, cell.width, heat);
  return out;
}

}  // namespace

CellPngs render_cell_pngs(const CellHeat& cell_heat, int size) {
  if (size < 1) throw UsageError("render_cell_pngs: size must be >= 1");
  data::Resizer resizer;
  std::vector<uint8_t> planar(static_cast<size_t>(3) * size * size);
  resizer.resize_to_planar(cell_heat.cell.rgb.data(), cell_heat.cell.height, cell_heat.cell.width, size, size,
                           planar.data());
  const data::Image resized = interleave(planar, size, size);
  return {data::encode_png(resized), data::encode_png(blended(resized, cell_heat.heat))};
}

std::vector<uint8_t> heatmap_png_full_size(const CellHeat& cell_heat) {
  return data::encode_png(blended(cell_heat.cell, cell_heat.heat));
}

}  // namespace plasmo::eval
