// What `plasmo train` is asked to do (TrainRequest: only what the user gave) and what it does
// (TrainOptions: every value resolved, defaults filled per model, checked).
//
// Per-model defaults (arch_defaults(); `plasmo train --help` prints this table from the code):
//                 size  width  epochs  batch  optimizer  lr      momentum  schedule     pretrain
//   autoencoder   32    1.0    50      32     sgd        1e-3    0.9       constant     10 epochs
//   resnet18      64    1.0    50      32     sgd        1e-2    0.9       exp:0.9478   -
//   mobilenetv2   64    1.0    50      32     sgd        1e-2    0.9       exp:0.9478   -
// These are the seed report's settings (SGD, momentum 0.9, lr 1e-2 decayed by 0.9478 per epoch for the
// CNNs; SGD lr 1e-3 momentum 0.9 for the autoencoder's classifier after RMSprop lr 1e-3 pretraining), with
// fewer pretraining epochs (the report used 400). Choosing another optimizer changes the lr default:
// adam and rmsprop 1e-3 whatever the model; momentum then defaults to none (adam has none; rmsprop 0).
// Common to all: --augment on (Table 2), --normalize dataset, --val-frac 0.2 (patients), --seed 1, weight
// decay 0.
//
// The autoencoder trains in two phases: `pretrain_epochs` epochs of reconstruction (MSE, RMSprop lr 1e-3,
// torch.optim's defaults otherwise: alpha 0.99, eps 1e-8), then `epochs` epochs of the classifier
// (cross-entropy, the optimizer above) with the encoder fine-tuned, or frozen with freeze_encoder.
//
// Resuming (resolve_resume_options): the checkpoint holds the options of the run it belongs to. Options
// not given take the checkpoint's value; options that change the result (model, size, width, batch, lr,
// optimizer, momentum, weight decay, schedule, augment, normalize, val-frac, limit, pretrain epochs, freeze,
// seed)
// must equal the checkpoint's when given (UsageError naming both values otherwise); --epochs may change
// (continue a run further); paths (data, out, log, checkpoint, cache) may change.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace plasmo::train {

using Metadata = std::map<std::string, std::string>;

// --augment: off; on = Table 2 (rotation, scale, shift, shear, horizontal flips); vflip = on + vertical flips.
enum class Augment { Off, On, OnVflip };
const char* augment_name(Augment augment);  // "off", "on", "vflip"

struct TrainRequest {
  std::optional<std::string> model, data, out, checkpoint, log, cache;
  std::string resume;  // checkpoint file to continue from; "" = a fresh run
  std::optional<int> size, epochs, batch, limit, pretrain_epochs;
  std::optional<double> width, lr, momentum, weight_decay, val_frac;
  std::optional<std::string> optimizer, schedule, augment, normalize;
  std::optional<bool> freeze_encoder;
  std::optional<uint64_t> seed;
};

struct TrainOptions {
  std::string model;       // registry name (models/model.h)
  std::string data;        // data folder
  std::string out;         // the model file: the best epoch by validation loss
  std::string checkpoint;  // written after every epoch; default out + ".ckpt"
  std::string resume;      // checkpoint to continue from ("" = fresh run)
  std::string log;         // per-epoch CSV ("" = none); the autoencoder's pretraining goes to pretrain_log_path()
  std::string cache;       // data loader cache folder ("" = the loader's default)
  int size = 0;            // input H = W
  double width = 1.0;
  int epochs = 0;           // classifier epochs
  int pretrain_epochs = 0;  // autoencoder reconstruction epochs, before the classifier's
  int batch = 0;
  std::string optimizer;           // sgd | adam | rmsprop (classifier phase)
  double lr = 0.0;                 // base learning rate of the classifier phase
  std::optional<double> momentum;  // unset for adam
  double weight_decay = 0.0;
  std::string schedule;  // resolved spec (Schedule::spec()): "constant", "exp:0.9478", "cosine:50:0"
  Augment augment = Augment::On;
  // Input normalization: "dataset" (the train split's mean/std) or "foreground" (per image over the cell,
  // data_loader/normalize.h); written to the model file's `normalize` metadata.
  std::string normalize = "dataset";
  double val_frac = 0.2;
  int limit = 0;  // > 0: only that many images (data_loader limit_samples)
  bool freeze_encoder = false;
  uint64_t seed = 1;
};

// The pretraining phase's optimizer (the seed report's): RMSprop, lr 1e-3, torch defaults otherwise.
constexpr double kPretrainLr = 1e-3;

// One row of the defaults table.
struct ArchDefaults {
  int size;
  double width;
  int epochs, batch, pretrain_epochs;
  const char* optimizer;
  double lr, momentum;
  const char* schedule;
};
// UsageError for an unknown model name.
ArchDefaults arch_defaults(const std::string& model);
// The table above as text (one line per model), for --help.
std::string defaults_table();

// Fills defaults and checks every value: UsageError naming the option (model, data, out missing; a value
// out of range; --pretrain-epochs / --freeze-encoder with a model other than the autoencoder; --momentum
// with adam; a bad --schedule or --augment).
TrainOptions resolve_options(const TrainRequest& request);

// The options of the run a checkpoint belongs to, with the request's paths and --epochs (see the header
// comment). `checkpoint_path` names the file in errors. FormatError when the metadata lacks an option.
TrainOptions resolve_resume_options(const TrainRequest& request, const Metadata& checkpoint,
                                    const std::string& checkpoint_path);

// The options as checkpoint metadata ("train.model", "train.lr", ...; numbers exact; paths made absolute, so
// a run resumes from any folder) and back.
void options_to_metadata(const TrainOptions& options, Metadata& metadata);
TrainOptions options_from_metadata(const Metadata& metadata, const std::string& source);

// log "run.csv" -> "run.pretrain.csv" ("run" -> "run.pretrain.csv"); "" for "".
std::string pretrain_log_path(const std::string& log);

// Shortest text that reads back as exactly `value` ("0.001", "0.9478", "1e-05").
std::string number_text(double value);

}  // namespace plasmo::train
