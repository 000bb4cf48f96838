#include "models/model.h"

#include <string>
#include <utility>

#include "engine/error.h"
#include "engine/layers/dropout.h"

namespace plasmo {

Model::Model(ModelMeta meta, std::unique_ptr<Sequential> trunk, std::unique_ptr<Sequential> head,
             std::unique_ptr<Sequential> decoder)
    : meta_(std::move(meta)), trunk_(std::move(trunk)), head_(std::move(head)), decoder_(std::move(decoder)) {
  if (!trunk_ || !head_) throw UsageError("model " + meta_.arch + ": trunk and head are required");
  // The head and the decoder always pass a gradient back: to the trunk and to the Grad-CAM hook.
  head_->set_needs_input_grad(true);
  if (decoder_) decoder_->set_needs_input_grad(true);
  trunk_->set_needs_input_grad(needs_input_grad_);
  // Shapes are checked once here: a builder bug shows at construction, not at the first batch.
  const Shape logits = head_->out_shape(trunk_->out_shape(input_shape(1)));
  if (logits != Shape{1, kClasses})
    throw ShapeError("model " + meta_.arch + ": logits are " + logits.str() + " for one image, expected [1, 2]");
  if (decoder_) {
    const Shape recon = decoder_->out_shape(trunk_->out_shape(input_shape(1)));
    if (recon != input_shape(1))
      throw ShapeError("model " + meta_.arch + ": the reconstruction is " + recon.str() + ", expected " +
                       input_shape(1).str());
  }
}

Shape Model::input_shape(int batch) const { return Shape{batch, 3, meta_.input_size, meta_.input_size}; }

Shape Model::features_shape(int batch) const { return trunk_->out_shape(input_shape(batch)); }

void Model::check_input(const Tensor& x, const char* what) const {
  const Shape& s = x.shape();
  if (s.rank != 4 || s.n() < 1 || s.c() != 3 || s.h() != meta_.input_size || s.w() != meta_.input_size)
    throw ShapeError("model " + meta_.arch + ": " + what + " is " + s.str() + ", expected [N, 3, " +
                     std::to_string(meta_.input_size) + ", " + std::to_string(meta_.input_size) + "]");
}

// ---- classifier path ------------------------------------------------------------------------------------

const Tensor& Model::forward(const Tensor& x, Mode mode) {
  check_input(x, "input x");
  features_ = &trunk_->forward(x, mode);
  features_grad_ = nullptr;
  return head_->forward(*features_, mode);
}

const Tensor& Model::backward_features(const Tensor& dlogits) {
  if (features_ == nullptr) throw UsageError("model " + meta_.arch + ": backward called before forward");
  const Shape expected{features_->dim(0), kClasses};
  if (dlogits.shape() != expected)
    throw ShapeError("model " + meta_.arch + ": gradient dlogits is " + dlogits.shape().str() + ", expected " +
                     expected.str());
  features_grad_ = &head_->backward(dlogits);
  return *features_grad_;
}

const Tensor& Model::backward(const Tensor& dlogits) {
  backward_features(dlogits);
  // A frozen trunk learns nothing: skip its backward unless someone wants dL/dx.
  if (freeze_encoder_ && !needs_input_grad_) return empty_;
  const Tensor& dx = trunk_->backward(*features_grad_);
  return needs_input_grad_ ? dx : empty_;
}

const Tensor& Model::features() const {
  if (features_ == nullptr) throw UsageError("model " + meta_.arch + ": features() before any forward");
  return *features_;
}

const Tensor& Model::features_grad() const {
  if (features_grad_ == nullptr)
    throw UsageError("model " + meta_.arch + ": features_grad() needs a backward of the classifier path");
  return *features_grad_;
}

// ---- reconstruction path --------------------------------------------------------------------------------

const Tensor& Model::reconstruct(const Tensor& x, Mode mode) {
  if (!decoder_) throw UsageError("model " + meta_.arch + " has no decoder (only the autoencoder reconstructs)");
  check_input(x, "input x");
  features_ = &trunk_->forward(x, mode);
  features_grad_ = nullptr;
  return decoder_->forward(*features_, mode);
}

const Tensor& Model::reconstruct_backward(const Tensor& drecon) {
  if (!decoder_) throw UsageError("model " + meta_.arch + " has no decoder (only the autoencoder reconstructs)");
  if (features_ == nullptr)
    throw UsageError("model " + meta_.arch + ": reconstruct_backward called before reconstruct");
  check_input(drecon, "gradient drecon");
  if (drecon.dim(0) != features_->dim(0))
    throw ShapeError("model " + meta_.arch + ": gradient drecon is " + drecon.shape().str() + " for a batch of " +
                     std::to_string(features_->dim(0)));
  const Tensor& dfeatures = decoder_->backward(drecon);
  if (freeze_encoder_ && !needs_input_grad_) return empty_;
  const Tensor& dx = trunk_->backward(dfeatures);
  return needs_input_grad_ ? dx : empty_;
}

// ---- parameters and state -------------------------------------------------------------------------------

std::vector<Param> Model::params() {
  std::vector<Param> out;
  if (!freeze_encoder_) trunk_->params("", out);
  head_->params("", out);
  return out;
}

std::vector<Param> Model::reconstruction_params() {
  if (!decoder_) throw UsageError("model " + meta_.arch + " has no decoder (only the autoencoder reconstructs)");
  std::vector<Param> out;
  if (!freeze_encoder_) trunk_->params("", out);
  decoder_->params("", out);
  return out;
}

std::vector<Param> Model::state_params() {
  std::vector<Param> out;
  trunk_->params("", out);
  if (decoder_) decoder_->params("", out);
  head_->params("", out);
  return out;
}

std::vector<Buffer> Model::buffers() {
  std::vector<Buffer> out;
  trunk_->buffers("", out);
  if (decoder_) decoder_->buffers("", out);
  head_->buffers("", out);
  return out;
}

std::vector<NamedRng> Model::rngs() {
  std::vector<NamedRng> out;
  // Module names are only known while walking the Sequentials; Dropout sits directly in a named
  // Sequential in every model here (mobilenetv2's classifier.0), so a two-level walk names it.
  auto walk = [&out](Sequential& seq, const std::string& prefix, auto& self) -> void {
    for (size_t i = 0; i < seq.size(); ++i) {
      const std::string name = prefix.empty() ? seq.name_at(i) : prefix + "." + seq.name_at(i);
      if (auto* dropout = dynamic_cast<Dropout*>(&seq.at(i)))
        out.push_back({name + ".rng", &dropout->rng()});
      else if (auto* child = dynamic_cast<Sequential*>(&seq.at(i)))
        self(*child, name, self);
    }
  };
  walk(*trunk_, "", walk);
  if (decoder_) walk(*decoder_, "", walk);
  walk(*head_, "", walk);
  return out;
}

void Model::zero_grads() {
  for (Param& p : state_params()) p.grad->zero();
}

void Model::set_freeze_encoder(bool frozen) { freeze_encoder_ = frozen; }

void Model::set_needs_input_grad(bool needed) {
  needs_input_grad_ = needed;
  trunk_->set_needs_input_grad(needed);
}

// ---- description ----------------------------------------------------------------------------------------

std::vector<LayerInfo> Model::describe() const {
  std::vector<LayerInfo> rows;
  trunk_->describe("", input_shape(1), rows);
  head_->describe("", trunk_->out_shape(input_shape(1)), rows);
  return rows;
}

std::vector<LayerInfo> Model::describe_reconstruction() const {
  if (!decoder_) throw UsageError("model " + meta_.arch + " has no decoder (only the autoencoder reconstructs)");
  std::vector<LayerInfo> rows;
  trunk_->describe("", input_shape(1), rows);
  decoder_->describe("", trunk_->out_shape(input_shape(1)), rows);
  return rows;
}

int64_t Model::param_count() const {
  int64_t total = 0;
  for (const Param& p : const_cast<Model*>(this)->state_params()) total += static_cast<int64_t>(p.value->size());
  return total;
}

int64_t Model::macs() const { return trunk_->macs(input_shape(1)) + head_->macs(features_shape(1)); }

}  // namespace plasmo
