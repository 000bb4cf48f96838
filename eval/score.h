// Running a model over images: p(Parasitized) per image, with optional test-time flips, and the
// Grad-CAM heat maps of a batch.
#pragma once
#include <functional>
#include <vector>

#include "data_loader/dataset.h"
#include "data_loader/normalize.h"
#include "engine/tensor.h"
#include "eval/heatmap.h"
#include "models/model.h"

namespace plasmo::eval {

// The model file's normalization (ModelMeta normalize, mean, std) as the data loader's. FormatError unless 3
// of each, or for an unknown normalize.
data::Normalization model_normalization(const ModelMeta& meta);

// p(Parasitized) = softmax(z)[1] = 1 / (1 + exp(z_uninfected - z_parasitized)), in double: the one
// formula eval and predict use.
double parasitized_probability(float logit_uninfected, float logit_parasitized);

// Test-time augmentation: the 8 symmetries of the square (dihedral group D4): the image, its left-right
// mirror, both mirrors (180 degrees), its top-bottom mirror, and the same four of its transpose (which
// give the 90-degree rotations and the diagonal mirrors). A cell has no up, left or orientation, so each
// view is as valid as the original. p is the mean over the views.
constexpr int kTtaViews = 8;

// images [N, 3, S, S] (normalized) -> p[N]. With tta, `images` is flipped/transposed in place through the views
// and restored bit for bit before returning. p is resized to N.
void score_batch(Model& model, Tensor& images, bool tta, std::vector<double>& p);

// The images `indices` of `data` (ascending), in batches of batch_size; p has data.size() entries, set at
// those indices (the rest 0). progress(done, total) after each batch.
std::vector<double> score_dataset(Model& model, const data::Dataset& data, const std::vector<int>& indices,
                                  const data::Normalization& norm, int batch_size, bool tta,
                                  const std::function<void(int, int)>& progress = {});

// Grad-CAM (heatmap.h) of each image of images [N, 3, S, S]: one forward in eval mode and one backward
// of d z_Parasitized (dlogits = (0, 1) per image) through the model's features hook. The images are
// independent in eval mode, so one batch gives each image its own map. Parameter gradients are
// touched (added to); callers evaluating a trained model do not use them.
std::vector<HeatMap> class_activation_maps(Model& model, const Tensor& images);

}  // namespace plasmo::eval
