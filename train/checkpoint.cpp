#include "train/checkpoint.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "engine/error.h"
#include "engine/io/state.h"
#include "train/options.h"

namespace plasmo::train {

namespace {

const std::string& require(const Metadata& metadata, const char* key, const std::string& source) {
  auto it = metadata.find(key);
  if (it == metadata.end())
    throw FormatError(source + ": not a plasmo training checkpoint: no '" + key + "' in the metadata");
  return it->second;
}

long long integer(const Metadata& metadata, const char* key, const std::string& source) {
  const std::string& text = require(metadata, key, source);
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || value < 0)
    throw FormatError(source + ": metadata '" + key + "' is '" + text + "', expected a count");
  return value;
}

// Generators as I64 tensors: the 64-bit state's bit pattern.
struct RngSlots {
  std::vector<NamedRng> rngs;
  std::vector<int64_t> values;
  std::vector<Buffer> entries;
  explicit RngSlots(Model& model) : rngs(model.rngs()), values(rngs.size()) {
    for (size_t i = 0; i < rngs.size(); ++i) {
      const uint64_t state = rngs[i].rng->state();
      std::memcpy(&values[i], &state, sizeof state);
      Buffer entry;
      entry.name = "rng." + rngs[i].name;
      entry.i64 = &values[i];
      entries.push_back(entry);
    }
  }
  void apply() {
    for (size_t i = 0; i < rngs.size(); ++i) {
      uint64_t state = 0;
      std::memcpy(&state, &values[i], sizeof state);
      rngs[i].rng->set_state(state);
    }
  }
};

}  // namespace

void progress_to_metadata(const RunProgress& p, Metadata& m) {
  m["epoch"] = std::to_string(p.epochs_done);
  m["step"] = std::to_string(p.steps);
  m["best_epoch"] = std::to_string(p.best_epoch);
  m["best_val_loss"] = number_text(p.best_val_loss);
  m["history"] = history_csv(p.history, Phase::Classifier);
  m["pretrain_history"] = history_csv(p.history, Phase::Pretrain);
  m["split"] = p.split;
  m["threads"] = std::to_string(p.threads);
}

RunProgress progress_from_metadata(const Metadata& m, const std::string& source) {
  RunProgress p;
  p.epochs_done = static_cast<int>(integer(m, "epoch", source));
  p.steps = integer(m, "step", source);
  p.best_epoch = static_cast<int>(integer(m, "best_epoch", source));
  const std::string& best = require(m, "best_val_loss", source);
  char* end = nullptr;
  p.best_val_loss = std::strtod(best.c_str(), &end);
  if (best.empty() || *end != '\0')
    throw FormatError(source + ": metadata 'best_val_loss' is '" + best + "', expected a number");
  p.history = parse_history_csv(require(m, "pretrain_history", source), Phase::Pretrain, source);
  for (const EpochRecord& r : parse_history_csv(require(m, "history", source), Phase::Classifier, source))
    p.history.push_back(r);
  p.split = require(m, "split", source);
  p.threads = static_cast<int>(integer(m, "threads", source));
  return p;
}

void save_checkpoint(const std::string& path, Model& model, Optimizer* optimizer, StateCopy& best,
                     const Metadata& metadata) {
  RngSlots rngs(model);
  std::vector<Buffer> extras = rngs.entries;
  if (optimizer)
    for (const Buffer& entry : optimizer->state()) extras.push_back(entry);
  for (const Param& param : best.params("best.")) {
    Buffer entry;
    entry.name = param.name;
    entry.f32 = param.value;
    extras.push_back(entry);
  }
  for (const Buffer& entry : best.buffers("best.")) extras.push_back(entry);
  save_state(path, model.state_params(), model.buffers(), extras, metadata);
}

void load_checkpoint(const SafetensorsFile& file, Model& model, Optimizer* optimizer, StateCopy& best, bool load_best) {
  RngSlots rngs(model);
  std::vector<Buffer> extras = rngs.entries;
  if (optimizer)
    for (const Buffer& entry : optimizer->state()) extras.push_back(entry);
  if (load_best) {
    if (best.empty()) throw UsageError("load_checkpoint: the best-state copy must be captured before loading into it");
    for (const Param& param : best.params("best.")) {
      Buffer entry;
      entry.name = param.name;
      entry.f32 = param.value;
      extras.push_back(entry);
    }
    for (const Buffer& entry : best.buffers("best.")) extras.push_back(entry);
  }
  // Every tensor asked for must be in the file, checked before anything is copied. The file may carry
  // more (the other phase's optimizer state, a best copy not asked for): load_state is not strict.
  std::set<std::string> present;
  for (const TensorInfo& info : file.tensors()) present.insert(info.name);
  std::vector<std::string> missing;
  for (const Param& param : model.state_params())
    if (!present.count(param.name)) missing.push_back(param.name);
  for (const Buffer& buffer : model.buffers())
    if (!present.count(buffer.name)) missing.push_back(buffer.name);
  for (const Buffer& entry : extras)
    if (!present.count(entry.name)) missing.push_back(entry.name);
  if (!missing.empty()) {
    std::string names;
    for (size_t i = 0; i < missing.size() && i < kMaxListedNames; ++i) names += (i ? ", " : "") + missing[i];
    if (missing.size() > kMaxListedNames) names += ", ...";
    throw FormatError(file.source() + ": checkpoint lacks " + std::to_string(missing.size()) +
                      " tensors the run needs (" + names + ")");
  }
  load_state(file, model.state_params(), model.buffers(), extras, /*strict=*/false);
  rngs.apply();
}

}  // namespace plasmo::train
