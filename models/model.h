// Model: a classifier network (input [N, 3, S, S] -> logits [N, 2]) built from engine layers, as the
// trainer, the evaluator and `plasmo info` use it. Class index 0 = Uninfected, 1 = Parasitized.
//
// Structure. Every model is two Sequentials run one after the other, plus (autoencoder) a decoder:
//   trunk:   input -> the output of the last conv stage ("features", [N, C, h, w])
//   head:    features -> logits [N, 2]              (pooling, flatten, dense layers)
//   decoder: features -> reconstruction [N, 3, S, S] (autoencoder only; sigmoid output in [0, 1])
// The split is the Grad-CAM hook: features() is the last forward's trunk output and features_grad() the
// gradient of the loss with respect to it from the last backward (the head's input gradient).
//   resnet18:    trunk = conv1 ... layer4 (layer4's output, S/32 per side); head = avgpool, flatten, fc
//   mobilenetv2: trunk = features.0 ... features.18 (S/32 per side); head = avgpool, flatten, classifier
//   autoencoder: trunk = enc1 ... enc3 + ReLU (before the last max-pool: S/4 per side, 4 channels);
//                head = pool3, flatten, fc1, ReLU, fc2; decoder = pool3, dec1 ... dec4, sigmoid.
//                The encoder of DESIGN.md is trunk + pool3.
//
// Names. params(), state_params() and buffers() carry PyTorch's state_dict names ("layer1.0.conv1.weight",
// "features.3.conv.1.0.weight", "enc1.bias", "bn1.running_mean", "bn1.num_batches_tracked"), in state_dict
// order, so a PyTorch export loads as is and a plasmo model file loads in PyTorch.
//
// Lifecycle (the layer contract, engine/layer.h): forward(x, mode) keeps a pointer to x, which the caller
// keeps alive and unchanged until backward returns; backward ADDS into the parameter gradients (zero them
// with zero_grads() or the optimizer's zero_grad() before each batch). A forward is followed by at most one
// backward of the same path (classifier: forward/backward; autoencoder pretraining: reconstruct/
// reconstruct_backward); the two paths share the trunk's buffers, so they cannot interleave. After the
// first batch of a given size nothing is allocated.
//
// Input gradient. By default the first layer skips dx (training does not need it) and backward returns an
// empty tensor; set_needs_input_grad(true) makes backward return dL/dx [N, 3, S, S] (saliency, tests).
//
// Freezing (autoencoder, `--freeze-encoder`): set_freeze_encoder(true) drops the trunk's parameters from
// params() and reconstruction_params() and skips the trunk's backward altogether (unless the input gradient
// is wanted); features_grad() is still computed. state_params() always lists everything.
//
// Randomness: the initialisation is drawn from Rng(seed) in state_dict order, with the arch's rule
// (resnet18 and mobilenetv2 as torchvision, the autoencoder with PyTorch's layer defaults); Dropout
// (mobilenetv2's classifier.0) has its own generator seeded from Rng::derive(seed, "dropout"), listed by
// rngs() so a checkpoint can save and restore it.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/layer.h"
#include "engine/net.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace plasmo {

// What builds a model: the registry key and the knobs of `plasmo train` / `plasmo info`.
struct ModelConfig {
  std::string arch;       // "autoencoder", "resnet18", "mobilenetv2" (model_names())
  double width = 1.0;     // channel multiplier (resnet18, mobilenetv2); the autoencoder takes only 1
  int input_size = 0;     // H = W of the input; 0 = the arch's default (default_input_size())
  uint64_t seed = 0;      // initialisation and dropout masks
  float dropout = -1.0f;  // mobilenetv2's classifier dropout probability; < 0 = torchvision's 0.2
};

// The model file's metadata (DESIGN.md "The model file"): what a reader needs to rebuild the network and to
// feed it. mean/std/threshold are set by training and evaluation; a model starts with 0, 1 and 0.5.
struct ModelMeta {
  std::string arch;
  double width = 1.0;
  int input_size = 0;  // images are resized to input_size x input_size, 3 channels
  std::vector<std::string> classes = {"Uninfected", "Parasitized"};
  std::vector<float> mean = {0.0f, 0.0f, 0.0f};
  std::vector<float> std = {1.0f, 1.0f, 1.0f};
  // Input normalization: "dataset" (x = (v / 255 - mean) / std) or "foreground" (per image, over the
  // cell's pixels; mean and std unused: data_loader/normalize.h).
  std::string normalize = "dataset";
  double threshold = 0.5;  // on p(Parasitized)

  // The string map of `__metadata__`: arch, width ("0.25", "1.0"), input ("3x64x64"), classes
  // ("Uninfected,Parasitized"), mean, std ("0.5,0.5,0.5"), threshold, and normalize ("foreground") when
  // it is not "dataset" (so dataset-normalized files are written as before). Numbers are written in the
  // shortest form that reads back to the same value.
  std::map<std::string, std::string> to_metadata() const;
  // The reverse; `source` names the file in errors. arch and input are required; mean, std absent = 0
  // and 1; normalize absent = dataset (else dataset or foreground); threshold absent = 0.5; classes absent =
  // Uninfected,Parasitized; width absent = 1.0. Other keys are ignored. FormatError for a value that does not parse or
  // does not fit (input not 3xSxS, two classes, three mean/std values, std > 0, threshold in [0, 1]).
  static ModelMeta from_metadata(const std::map<std::string, std::string>& metadata, const std::string& source);
};

// A named random stream a checkpoint must save (Dropout's generator).
struct NamedRng {
  std::string name;  // "classifier.0.rng"
  Rng* rng;
};

class Model {
 public:
  static constexpr int kClasses = 2;

  // Takes the parts built by an arch's builder (models/builders.h); decoder may be null.
  Model(ModelMeta meta, std::unique_ptr<Sequential> trunk, std::unique_ptr<Sequential> head,
        std::unique_ptr<Sequential> decoder = nullptr);
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // ---- identity ---------------------------------------------------------------------------------------
  const std::string& arch() const { return meta_.arch; }
  double width() const { return meta_.width; }
  int input_size() const { return meta_.input_size; }
  Shape input_shape(int batch = 1) const;     // [batch, 3, S, S]
  Shape features_shape(int batch = 1) const;  // [batch, C, h, w] of the trunk's output
  ModelMeta& meta() { return meta_; }         // the trainer sets mean/std, the evaluator the threshold
  const ModelMeta& meta() const { return meta_; }

  // ---- classifier path ----------------------------------------------------------------------------------
  // x [N, 3, S, S] (ShapeError otherwise) -> logits [N, 2].
  const Tensor& forward(const Tensor& x, Mode mode);
  // dlogits [N, 2] = dL/dlogits -> dL/dx when set_needs_input_grad(true), else an empty tensor.
  const Tensor& backward(const Tensor& dlogits);
  // Only the head's backward: dlogits -> dL/dfeatures (returned, and kept for features_grad()). For Grad-CAM,
  // which needs no trunk gradients; the head's parameter gradients are still added to.
  const Tensor& backward_features(const Tensor& dlogits);
  // The Grad-CAM hook: the trunk's output of the last forward / reconstruct, and dL/dfeatures of the last
  // backward or backward_features (UsageError before a forward / a backward of the classifier path).
  const Tensor& features() const;
  const Tensor& features_grad() const;

  // ---- reconstruction path (autoencoder) -------------------------------------------------------------------
  bool has_decoder() const { return decoder_ != nullptr; }
  // x [N, 3, S, S] -> sigmoid(decoder(encoder(x))) [N, 3, S, S]. UsageError without a decoder.
  const Tensor& reconstruct(const Tensor& x, Mode mode);
  // drecon = dL/drecon [N, 3, S, S] -> dL/dx (or empty, as backward()).
  const Tensor& reconstruct_backward(const Tensor& drecon);

  // ---- parameters and state -----------------------------------------------------------------------------
  // What an optimizer trains on the classifier path: trunk (unless frozen) and head, PyTorch names.
  std::vector<Param> params();
  // What pretraining trains: trunk (unless frozen) and decoder. UsageError without a decoder.
  std::vector<Param> reconstruction_params();
  // Every parameter in state_dict order (trunk, decoder, head): what a model file holds.
  std::vector<Param> state_params();
  // BatchNorm running statistics and num_batches_tracked, state_dict order.
  std::vector<Buffer> buffers();
  std::vector<NamedRng> rngs();
  void zero_grads();  // every parameter's gradient, frozen or not

  void set_freeze_encoder(bool frozen);
  bool encoder_frozen() const { return freeze_encoder_; }
  void set_needs_input_grad(bool needed);
  bool needs_input_grad() const { return needs_input_grad_; }

  // ---- description (`plasmo info`) -------------------------------------------------------------------------
  // One row per leaf layer for one image: the classifier path (trunk then head) / the reconstruction path
  // (trunk then decoder). Row names are the layers' PyTorch module names ("layer1.0.conv1").
  std::vector<LayerInfo> describe() const;
  std::vector<LayerInfo> describe_reconstruction() const;
  int64_t param_count() const;  // all parameters (state_params), PyTorch's sum(p.numel())
  int64_t macs() const;         // conv + dense multiply-accumulates of the classifier path per image

  Sequential& trunk() { return *trunk_; }
  Sequential& head() { return *head_; }
  Sequential* decoder() { return decoder_.get(); }

 private:
  void check_input(const Tensor& x, const char* what) const;

  ModelMeta meta_;
  std::unique_ptr<Sequential> trunk_, head_, decoder_;
  bool freeze_encoder_ = false;
  bool needs_input_grad_ = false;
  const Tensor* features_ = nullptr;       // trunk output of the last forward / reconstruct
  const Tensor* features_grad_ = nullptr;  // head's dx of the last backward
  Tensor empty_;
};

// ---- the registry ---------------------------------------------------------------------------------------
// "autoencoder", "resnet18", "mobilenetv2".
std::vector<std::string> model_names();
// 32 for the autoencoder, 64 for the others. UsageError for an unknown name.
int default_input_size(const std::string& arch);
// Builds and initialises a model. UsageError for an unknown arch (the message lists the names), a width
// not in (0, 8] (the autoencoder: not 1), an input size outside [8, 4096] (the autoencoder: not a multiple
// of 8), a dropout > 1.
std::unique_ptr<Model> make_model(const ModelConfig& config);
std::unique_ptr<Model> make_model(const std::string& arch, double width, int input_size, uint64_t seed);
// The architecture a model file's metadata describes (arch, width, input), initialised from `seed`, with
// the metadata's mean, std, threshold and classes; its weights are still to be loaded.
std::unique_ptr<Model> make_model(const ModelMeta& meta, uint64_t seed = 0);

}  // namespace plasmo
