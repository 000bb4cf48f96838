#include "train/options.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "engine/error.h"
#include "engine/schedule.h"
#include "models/model.h"

namespace plasmo::train {

namespace {

const char* kPrefix = "train.";

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

Augment parse_augment(const std::string& text) {
  if (text == "on") return Augment::On;
  if (text == "off") return Augment::Off;
  if (text == "vflip") return Augment::OnVflip;
  throw UsageError("--augment wants on, off or vflip (on plus vertical flips), got '" + text + "'");
}

std::string parse_normalize(const std::string& text) {
  if (text == "dataset" || text == "foreground") return text;
  throw UsageError("--normalize wants dataset (the training images' mean/std) or foreground (per image), got '" + text +
                   "'");
}

void check_range(bool ok, const std::string& option, const std::string& value, const char* want) {
  if (!ok) throw UsageError("--" + option + " " + want + ", got " + value);
}

// The checks every resolved option set passes, fresh or resumed.
void check_options(const TrainOptions& o) {
  arch_defaults(o.model);  // the name
  check_range(o.size >= 8 && o.size <= 4096, "size", std::to_string(o.size), "must be in [8, 4096]");
  if (o.model == "autoencoder") {
    check_range(o.size % 8 == 0, "size", std::to_string(o.size),
                "must be a multiple of 8 for the autoencoder (three 2x2 poolings)");
    check_range(o.width == 1.0, "width", number_text(o.width), "must be 1 for the autoencoder (it has no multiplier)");
  } else {
    check_range(std::isfinite(o.width) && o.width > 0.0 && o.width <= 8.0, "width", number_text(o.width),
                "must be in (0, 8]");
    if (o.pretrain_epochs != 0)
      throw UsageError("--pretrain-epochs is for the autoencoder only (model " + o.model + ")");
    if (o.freeze_encoder) throw UsageError("--freeze-encoder is for the autoencoder only (model " + o.model + ")");
  }
  check_range(o.epochs >= 1, "epochs", std::to_string(o.epochs), "must be at least 1");
  check_range(o.pretrain_epochs >= 0, "pretrain-epochs", std::to_string(o.pretrain_epochs), "must be at least 0");
  check_range(o.batch >= 1, "batch", std::to_string(o.batch), "must be at least 1");
  check_range(o.limit == 0 || o.limit >= 2, "limit", std::to_string(o.limit),
              "must be 0 (all images) or at least 2 (one per class)");
  if (o.optimizer != "sgd" && o.optimizer != "adam" && o.optimizer != "rmsprop")
    throw UsageError("--optimizer wants sgd, adam or rmsprop, got '" + o.optimizer + "'");
  check_range(std::isfinite(o.lr) && o.lr > 0.0, "lr", number_text(o.lr), "must be a positive number");
  if (o.momentum) {
    if (o.optimizer == "adam") throw UsageError("--momentum does not apply to adam (it has betas instead)");
    check_range(std::isfinite(*o.momentum) && *o.momentum >= 0.0 && *o.momentum < 1.0, "momentum",
                number_text(*o.momentum), "must be in [0, 1)");
  }
  check_range(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0, "weight-decay", number_text(o.weight_decay),
              "must be >= 0");
  check_range(o.val_frac >= 0.0 && o.val_frac < 1.0, "val-frac", number_text(o.val_frac), "must be in [0, 1)");
  if (o.data.empty()) throw UsageError("missing required option --data");
  if (o.out.empty()) throw UsageError("missing required option --out");
  if (o.checkpoint == o.out) throw UsageError("--checkpoint must differ from --out (" + o.out + ")");
}

std::string get(const Metadata& metadata, const std::string& key, const std::string& source) {
  auto it = metadata.find(kPrefix + key);
  if (it == metadata.end())
    throw FormatError(source + ": not a plasmo training checkpoint: no '" + kPrefix + key + "' in the metadata");
  return it->second;
}

double get_double(const Metadata& metadata, const std::string& key, const std::string& source) {
  const std::string text = get(metadata, key, source);
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE)
    throw FormatError(source + ": metadata '" + kPrefix + key + "' is '" + text + "', expected a number");
  return value;
}

long long get_integer(const Metadata& metadata, const std::string& key, const std::string& source) {
  const std::string text = get(metadata, key, source);
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || value < 0 || value > 2147483647LL)
    throw FormatError(source + ": metadata '" + kPrefix + key + "' is '" + text + "', expected an integer");
  return value;
}

// Paths go into a checkpoint absolute, so a run resumes from any folder ("" stays "").
std::string absolute_path(const std::string& path) {
  if (path.empty()) return path;
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(path, error);
  return error ? path : absolute.lexically_normal().string();
}

}  // namespace

const char* augment_name(Augment augment) {
  switch (augment) {
    case Augment::Off:
      return "off";
    case Augment::On:
      return "on";
    case Augment::OnVflip:
      return "vflip";
  }
  return "on";
}

std::string number_text(double value) {
  char text[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

ArchDefaults arch_defaults(const std::string& model) {
  if (model == "autoencoder") return {32, 1.0, 50, 32, 10, "sgd", 1e-3, 0.9, "constant"};
  if (model == "resnet18") return {64, 1.0, 50, 32, 0, "sgd", 1e-2, 0.9, "exp:0.9478"};
  if (model == "mobilenetv2") return {64, 1.0, 50, 32, 0, "sgd", 1e-2, 0.9, "exp:0.9478"};
  throw UsageError("unknown model '" + model + "' (known: " + join_names(model_names()) + ")");
}

std::string defaults_table() {
  std::string out =
      "  model         size  width  epochs  batch  optimizer  lr      momentum  schedule    pretrain-epochs\n";
  for (const std::string& name : model_names()) {
    const ArchDefaults d = arch_defaults(name);
    char line[200];
    std::snprintf(line, sizeof line, "  %-12s  %-4d  %-5s  %-6d  %-5d  %-9s  %-6s  %-8s  %-10s  %s\n", name.c_str(),
                  d.size, number_text(d.width).c_str(), d.epochs, d.batch, d.optimizer, number_text(d.lr).c_str(),
                  number_text(d.momentum).c_str(), d.schedule,
                  name == "autoencoder" ? std::to_string(d.pretrain_epochs).c_str() : "-");
    out += line;
  }
  return out;
}

TrainOptions resolve_options(const TrainRequest& request) {
  if (!request.model) throw UsageError("missing required option --model (" + join_names(model_names()) + ")");
  const ArchDefaults d = arch_defaults(*request.model);
  TrainOptions o;
  o.model = *request.model;
  o.data = request.data.value_or("");
  o.out = request.out.value_or("");
  o.checkpoint = request.checkpoint.value_or(o.out.empty() ? "" : o.out + ".ckpt");
  o.log = request.log.value_or("");
  o.cache = request.cache.value_or("");
  o.size = request.size.value_or(d.size);
  o.width = request.width.value_or(d.width);
  o.epochs = request.epochs.value_or(d.epochs);
  o.pretrain_epochs = request.pretrain_epochs.value_or(d.pretrain_epochs);
  o.batch = request.batch.value_or(d.batch);
  o.optimizer = request.optimizer.value_or(d.optimizer);
  const bool default_optimizer = o.optimizer == d.optimizer;
  o.lr = request.lr.value_or(default_optimizer ? d.lr : 1e-3);
  if (request.momentum)
    o.momentum = request.momentum;
  else if (default_optimizer)
    o.momentum = d.momentum;
  o.weight_decay = request.weight_decay.value_or(0.0);
  o.augment = parse_augment(request.augment.value_or("on"));
  o.normalize = parse_normalize(request.normalize.value_or("dataset"));
  o.val_frac = request.val_frac.value_or(0.2);
  o.limit = request.limit.value_or(0);
  o.freeze_encoder = request.freeze_encoder.value_or(false);
  o.seed = request.seed.value_or(1);
  check_options(o);
  o.schedule = parse_schedule(request.schedule.value_or(d.schedule), o.lr, o.epochs).spec();
  return o;
}

TrainOptions resolve_resume_options(const TrainRequest& request, const Metadata& checkpoint,
                                    const std::string& checkpoint_path) {
  TrainOptions o = options_from_metadata(checkpoint, checkpoint_path);
  auto conflict = [&](const char* option, const std::string& given, const std::string& saved) {
    if (given != saved)
      throw UsageError("--" + std::string(option) + " " + given + " differs from the checkpoint's " + saved + " (" +
                       checkpoint_path + "); leave it out to continue the run as it was started");
  };
  if (request.model) conflict("model", *request.model, o.model);
  if (request.size) conflict("size", std::to_string(*request.size), std::to_string(o.size));
  if (request.width) conflict("width", number_text(*request.width), number_text(o.width));
  if (request.batch) conflict("batch", std::to_string(*request.batch), std::to_string(o.batch));
  if (request.optimizer) conflict("optimizer", *request.optimizer, o.optimizer);
  if (request.lr) conflict("lr", number_text(*request.lr), number_text(o.lr));
  if (request.momentum)
    conflict("momentum", number_text(*request.momentum), o.momentum ? number_text(*o.momentum) : "(none)");
  if (request.weight_decay) conflict("weight-decay", number_text(*request.weight_decay), number_text(o.weight_decay));
  if (request.schedule) {
    // Resolved with the epochs the run started with (cosine's default T_max).
    const int started = static_cast<int>(get_integer(checkpoint, "epochs", checkpoint_path));
    conflict("schedule", parse_schedule(*request.schedule, o.lr, started).spec(), o.schedule);
  }
  if (request.augment) conflict("augment", augment_name(parse_augment(*request.augment)), augment_name(o.augment));
  if (request.normalize) conflict("normalize", parse_normalize(*request.normalize), o.normalize);
  if (request.val_frac) conflict("val-frac", number_text(*request.val_frac), number_text(o.val_frac));
  if (request.limit) conflict("limit", std::to_string(*request.limit), std::to_string(o.limit));
  if (request.pretrain_epochs)
    conflict("pretrain-epochs", std::to_string(*request.pretrain_epochs), std::to_string(o.pretrain_epochs));
  if (request.freeze_encoder) conflict("freeze-encoder", "on", o.freeze_encoder ? "on" : "off");
  if (request.seed) conflict("seed", std::to_string(*request.seed), std::to_string(o.seed));
  if (request.epochs) o.epochs = *request.epochs;
  if (request.data) o.data = *request.data;
  if (request.out) o.out = *request.out;
  if (request.log) o.log = *request.log;
  if (request.cache) o.cache = *request.cache;
  // The checkpoint continues where it was read unless told otherwise.
  o.checkpoint = request.checkpoint.value_or(checkpoint_path);
  o.resume = checkpoint_path;
  check_options(o);
  return o;
}

void options_to_metadata(const TrainOptions& o, Metadata& m) {
  const std::string p = kPrefix;
  m[p + "model"] = o.model;
  m[p + "data"] = absolute_path(o.data);
  m[p + "out"] = absolute_path(o.out);
  m[p + "log"] = absolute_path(o.log);
  m[p + "cache"] = absolute_path(o.cache);
  m[p + "size"] = std::to_string(o.size);
  m[p + "width"] = number_text(o.width);
  m[p + "epochs"] = std::to_string(o.epochs);
  m[p + "pretrain_epochs"] = std::to_string(o.pretrain_epochs);
  m[p + "batch"] = std::to_string(o.batch);
  m[p + "optimizer"] = o.optimizer;
  m[p + "lr"] = number_text(o.lr);
  if (o.momentum) m[p + "momentum"] = number_text(*o.momentum);
  m[p + "weight_decay"] = number_text(o.weight_decay);
  m[p + "schedule"] = o.schedule;
  m[p + "augment"] = augment_name(o.augment);
  m[p + "normalize"] = o.normalize;
  m[p + "val_frac"] = number_text(o.val_frac);
  m[p + "limit"] = std::to_string(o.limit);
  m[p + "freeze_encoder"] = o.freeze_encoder ? "1" : "0";
  m[p + "seed"] = std::to_string(o.seed);
}

TrainOptions options_from_metadata(const Metadata& m, const std::string& source) {
  TrainOptions o;
  o.model = get(m, "model", source);
  o.data = get(m, "data", source);
  o.out = get(m, "out", source);
  o.log = get(m, "log", source);
  o.cache = get(m, "cache", source);
  o.size = static_cast<int>(get_integer(m, "size", source));
  o.width = get_double(m, "width", source);
  o.epochs = static_cast<int>(get_integer(m, "epochs", source));
  o.pretrain_epochs = static_cast<int>(get_integer(m, "pretrain_epochs", source));
  o.batch = static_cast<int>(get_integer(m, "batch", source));
  o.optimizer = get(m, "optimizer", source);
  o.lr = get_double(m, "lr", source);
  if (m.count(kPrefix + std::string("momentum"))) o.momentum = get_double(m, "momentum", source);
  o.weight_decay = get_double(m, "weight_decay", source);
  o.schedule = get(m, "schedule", source);
  try {
    o.augment = parse_augment(get(m, "augment", source));
  } catch (const UsageError&) {
    throw FormatError(source + ": metadata 'train.augment' is '" + get(m, "augment", source) + "'");
  }
  // Checkpoints written before --normalize existed used the dataset normalization.
  const auto normalize = m.find(kPrefix + std::string("normalize"));
  o.normalize = normalize == m.end() ? "dataset" : normalize->second;
  if (o.normalize != "dataset" && o.normalize != "foreground")
    throw FormatError(source + ": metadata 'train.normalize' is '" + o.normalize + "', expected dataset or foreground");
  o.val_frac = get_double(m, "val_frac", source);
  o.limit = static_cast<int>(get_integer(m, "limit", source));
  o.freeze_encoder = get(m, "freeze_encoder", source) == "1";
  const std::string seed = get(m, "seed", source);
  char* end = nullptr;
  errno = 0;
  o.seed = std::strtoull(seed.c_str(), &end, 10);
  if (seed.empty() || *end != '\0' || errno == ERANGE)
    throw FormatError(source + ": metadata 'train.seed' is '" + seed + "', expected an integer");
  return o;
}

std::string pretrain_log_path(const std::string& log) {
  if (log.empty()) return "";
  const size_t slash = log.find_last_of('/');
  const size_t dot = log.find_last_of('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash))
    return log.substr(0, dot) + ".pretrain" + log.substr(dot);
  return log + ".pretrain.csv";
}

}  // namespace plasmo::train
