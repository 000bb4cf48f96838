#include "eval/score.h"

#include <cmath>
#include <numeric>

#include "data_loader/batcher.h"
#include "engine/error.h"

namespace plasmo::eval {

data::Normalization model_normalization(const ModelMeta& meta) {
  if (meta.mean.size() != 3 || meta.std.size() != 3)
    throw FormatError("model " + meta.arch + ": mean and std need 3 values each, got " +
                      std::to_string(meta.mean.size()) + " and " + std::to_string(meta.std.size()));
  data::Normalization norm;
  if (meta.normalize == "foreground")
    norm.foreground = true;
  else if (meta.normalize != "dataset")
    throw FormatError("model " + meta.arch + ": normalize '" + meta.normalize + "', expected dataset or foreground");
  for (int channel = 0; channel < 3; ++channel) {
    norm.mean[channel] = meta.mean[channel];
    norm.std[channel] = meta.std[channel];
  }
  return norm;
}

double parasitized_probability(float logit_uninfected, float logit_parasitized) {
  return 1.0 / (1.0 + std::exp(static_cast<double>(logit_uninfected) - static_cast<double>(logit_parasitized)));
}

namespace {

// p of each image for the current content of `images`, added into p_sum.
void add_probabilities(Model& model, const Tensor& images, std::vector<double>& p_sum) {
  const Tensor& logits = model.forward(images, Mode::Eval);
  const int N = images.dim(0);
  for (int n = 0; n < N; ++n) p_sum[n] += parasitized_probability(logits[2 * n], logits[2 * n + 1]);
}

}  // namespace

void score_batch(Model& model, Tensor& images, bool tta, std::vector<double>& p) {
  if (images.rank() != 4) throw ShapeError("score_batch: images must be [N, 3, S, S], got " + images.shape().str());
  const int N = images.dim(0);
  p.assign(N, 0.0);
  add_probabilities(model, images, p);
  if (tta) {
    // Views in a fixed order (so the sum, and p, are the same run after run). The three mirrors of the
    // batch as it stands; flips compose, and the last vflip brings it back.
    const auto add_mirrors = [&] {
      data::hflip_batch(images);  // left-right
      add_probabilities(model, images, p);
      data::vflip_batch(images);  // both (180 degrees)
      add_probabilities(model, images, p);
      data::hflip_batch(images);  // top-bottom
      add_probabilities(model, images, p);
      data::vflip_batch(images);
    };
    add_mirrors();
    data::transpose_batch(images);  // the transpose and its mirrors: the 90-degree rotations, the diagonals
    add_probabilities(model, images, p);
    add_mirrors();
    data::transpose_batch(images);  // the original, bit for bit
    for (double& value : p) value /= kTtaViews;
  }
}

std::vector<double> score_dataset(Model& model, const data::Dataset& data, const std::vector<int>& indices,
                                  const data::Normalization& norm, int batch_size, bool tta,
                                  const std::function<void(int, int)>& progress) {
  if (data.image_size() != model.input_size())
    throw ShapeError("score_dataset: images are " + std::to_string(data.image_size()) + " px, the model " +
                     model.arch() + " takes " + std::to_string(model.input_size()));
  data::Batcher batcher(data, indices, norm, batch_size, /*seed=*/0);
  batcher.start_epoch(0, /*shuffle=*/false, /*augment=*/false);
  data::Batch batch;
  std::vector<double> p_all(data.size()), p_batch;
  int done = 0;
  while (batcher.next(batch)) {
    score_batch(model, batch.images, tta, p_batch);
    for (int i = 0; i < batch.size(); ++i) p_all[batch.indices[i]] = p_batch[i];
    done += batch.size();
    if (progress) progress(done, static_cast<int>(indices.size()));
  }
  return p_all;
}

std::vector<HeatMap> class_activation_maps(Model& model, const Tensor& images) {
  const Tensor& logits = model.forward(images, Mode::Eval);
  const int N = logits.dim(0);
  Tensor dlogits(Shape{N, Model::kClasses});
  for (int n = 0; n < N; ++n) dlogits[2 * n + 1] = 1.0f;  // d z_Parasitized / d z = (0, 1)
  model.backward(dlogits);
  std::vector<HeatMap> maps;
  maps.reserve(N);
  for (int n = 0; n < N; ++n) maps.push_back(grad_cam(model.features(), model.features_grad(), n));
  return maps;
}

}  // namespace plasmo::eval
