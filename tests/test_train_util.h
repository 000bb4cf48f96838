// Helpers for the training tests: temporary folders, synthetic cell folders made once per process, an
// observer that records what the trainer reports, tiny run options, and file bytes.
#pragma once
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data_loader/synth.h"
#include "test_data_util.h"
#include "train/options.h"
#include "train/trainer.h"

namespace plasmo::train_testing {

using plasmo::testing::TempDir;  // test_data_util.h

// A folder of `count` synthetic cells (data_loader/synth.h) from `seed`, written once per test process and
// shared by the tests (removed at exit). Its decoded-image cache lives in cache_dir().
inline const std::string& synthetic_cells(int count, uint64_t seed) {
  static TempDir root;
  static std::map<std::pair<int, uint64_t>, std::string> made;
  auto key = std::make_pair(count, seed);
  auto it = made.find(key);
  if (it != made.end()) return it->second;
  const std::string dir = root / ("cells-" + std::to_string(count) + "-" + std::to_string(seed));
  data::SynthOptions options;
  options.count = count;
  options.seed = seed;
  data::write_synthetic_dataset(dir, options);
  return made[key] = dir;
}

inline const std::string& cache_dir() {
  static TempDir cache;
  return cache.path();
}

class RecordingObserver : public train::TrainObserver {
 public:
  void on_note(const std::string& text) override { notes.push_back(text); }
  void on_epoch(const train::EpochRecord& record, int, bool best) override {
    epochs.push_back(record);
    bests.push_back(best);
  }
  void on_split(const data::SplitSummary& summary) override { split = summary; }
  std::vector<train::EpochRecord> epochs;
  std::vector<bool> bests;
  std::vector<std::string> notes;
  data::SplitSummary split;
};

// A request for a tiny run on `data` writing into `dir`: no augmentation, Adam, constant lr.
inline train::TrainRequest tiny_request(const std::string& model, const std::string& data, const std::string& dir) {
  train::TrainRequest request;
  request.model = model;
  request.data = data;
  request.out = dir + "/model.safetensors";
  request.cache = cache_dir();
  request.augment = "off";
  request.optimizer = "adam";
  request.schedule = "constant";
  request.batch = 8;
  request.epochs = 2;
  if (model == "autoencoder") {
    request.size = 16;
    request.pretrain_epochs = 1;
  } else {
    request.size = 32;
    request.width = model == "resnet18" ? 0.125 : 0.25;
  }
  return request;
}

inline std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace plasmo::train_testing
