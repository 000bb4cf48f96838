// Resuming: a run stopped after any epoch and continued with --resume ends with the same bytes as one
// that never stopped (model file and every checkpoint tensor: weights, BatchNorm statistics, optimizer
// state, Dropout's generator, the best copy), and the same log apart from the timing columns.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "engine/error.h"
#include "engine/io/safetensors.h"
#include "engine/threads.h"
#include "models/model_file.h"
#include "tests/test_helpers.h"
#include "tests/test_train_util.h"
#include "train/trainer.h"

using namespace plasmo;
using namespace plasmo::train;
using namespace plasmo::train_testing;
using plasmo::testing::ThreadCountGuard;

namespace {

struct Killed {};

// Stops the run (as a kill would) once `stop_after` epochs of both phases are saved.
class KillingObserver : public RecordingObserver {
 public:
  explicit KillingObserver(int stop_after) : stop_after_(stop_after) {}
  void on_epoch(const EpochRecord& record, int phase_epochs, bool best) override {
    RecordingObserver::on_epoch(record, phase_epochs, best);
    if (static_cast<int>(this->epochs.size()) == stop_after_) throw Killed{};
  }

 private:
  int stop_after_;
};

// The log without its timing columns (images_per_s, seconds), which differ between runs.
std::string log_without_timing(const std::string& path) {
  std::string out;
  const std::string text = file_text(path);
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    std::string line = text.substr(start, end - start);
    for (int drop = 0; drop < 2; ++drop) line.resize(line.rfind(','));
    out += line + '\n';
    start = end + 1;
  }
  return out;
}

// Every tensor of two safetensors files: same names, same dtypes and shapes, same bytes.
void check_same_tensors(const std::string& expected_path, const std::string& actual_path) {
  const SafetensorsFile expected = SafetensorsFile::read(expected_path);
  const SafetensorsFile actual = SafetensorsFile::read(actual_path);
  REQUIRE(expected.tensors().size() == actual.tensors().size());
  for (const TensorInfo& info : expected.tensors()) {
    const TensorInfo* other = actual.find(info.name);
    REQUIRE_MESSAGE(other != nullptr, info.name);
    REQUIRE(other->end - other->begin == info.end - info.begin);
    CHECK_MESSAGE(std::equal(expected.raw(info), expected.raw(info) + (info.end - info.begin), actual.raw(*other)),
                  info.name << " differs");
  }
}

// Runs `request` straight through, then again stopped after `stop_after` epochs and resumed; compares.
void check_resume_identical(TrainRequest request, int stop_after) {
  TempDir straight, stopped;
  request.out = straight / "model.safetensors";
  request.log = straight / "log.csv";
  RecordingObserver observer;
  run_training(prepare_options(request), observer);

  request.out = stopped / "model.safetensors";
  request.log = stopped / "log.csv";
  KillingObserver killer(stop_after);
  CHECK_THROWS_AS(run_training(prepare_options(request), killer), Killed);

  TrainRequest resume;
  resume.resume = stopped / "model.safetensors.ckpt";
  RecordingObserver resumed;
  const TrainResult result = run_training(prepare_options(resume), resumed);
  CHECK(result.epochs_run == static_cast<int>(observer.epochs.size()) - stop_after);
  CHECK(resumed.epochs.size() == observer.epochs.size() - static_cast<size_t>(stop_after));
  CHECK(result.history.size() == observer.epochs.size());

  CHECK(file_bytes(straight / "model.safetensors") == file_bytes(stopped / "model.safetensors"));
  check_same_tensors(straight / "model.safetensors.ckpt", stopped / "model.safetensors.ckpt");
  CHECK(log_without_timing(straight / "log.csv") == log_without_timing(stopped / "log.csv"));
  if (request.model == std::string("autoencoder"))
    CHECK(log_without_timing(straight / "log.pretrain.csv") == log_without_timing(stopped / "log.pretrain.csv"));
}

}  // namespace

TEST_CASE("train resume: resnet18, 2 epochs straight = 1 epoch, then --resume with --epochs 2 (bytes equal)") {
  ThreadCountGuard threads(2);
  TempDir straight, split;
  TrainRequest request = tiny_request("resnet18", synthetic_cells(48, 11), straight.path());
  request.optimizer = "sgd";  // momentum buffers, exponential decay: state that must survive
  request.schedule = "exp:0.9";
  request.augment = "on";
  request.epochs = 2;
  RecordingObserver observer;
  run_training(prepare_options(request), observer);

  request.out = split / "model.safetensors";
  request.epochs = 1;
  run_training(prepare_options(request), observer);
  TrainRequest resume;
  resume.resume = split / "model.safetensors.ckpt";
  resume.epochs = 2;
  RecordingObserver resumed;
  run_training(prepare_options(resume), resumed);
  REQUIRE(resumed.epochs.size() == 1);
  CHECK(resumed.epochs[0].epoch == 2);
  CHECK(resumed.epochs[0].lr == doctest::Approx(0.009));

  const std::vector<uint8_t> expected = file_bytes(straight / "model.safetensors");
  CHECK(expected.size() > 1000);
  CHECK(expected == file_bytes(split / "model.safetensors"));
  check_same_tensors(straight / "model.safetensors.ckpt", split / "model.safetensors.ckpt");
}

TEST_CASE("train resume: autoencoder stopped in pretraining, at the phase change, and in the classifier phase") {
  ThreadCountGuard threads(2);
  TrainRequest request = tiny_request("autoencoder", synthetic_cells(48, 11), "");
  request.pretrain_epochs = 2;
  request.epochs = 2;
  request.augment = "vflip";
  request.optimizer = "sgd";
  for (int stop_after : {1, 2, 3}) {
    CAPTURE(stop_after);
    check_resume_identical(request, stop_after);
  }
  request.freeze_encoder = true;
  check_resume_identical(request, 3);
}

TEST_CASE("train resume: mobilenetv2 (Dropout's generator, BatchNorm statistics) continues bit-identically") {
  ThreadCountGuard threads(2);
  TrainRequest request = tiny_request("mobilenetv2", synthetic_cells(32, 7), "");
  request.batch = 16;
  check_resume_identical(request, 1);
}

TEST_CASE("train resume: refuses other data and conflicting options; notes another thread count") {
  ThreadCountGuard threads(2);
  TempDir dir;
  TrainRequest request = tiny_request("autoencoder", synthetic_cells(48, 11), dir.path());
  request.epochs = 1;
  RecordingObserver observer;
  run_training(prepare_options(request), observer);
  const std::string checkpoint = dir / "model.safetensors.ckpt";
  const std::vector<uint8_t> before = file_bytes(checkpoint);

  TrainRequest other_data;
  other_data.resume = checkpoint;
  other_data.data = synthetic_cells(32, 7);
  RecordingObserver quiet;
  try {
    run_training(prepare_options(other_data), quiet);
    FAIL("a checkpoint resumed on other data");
  } catch (const UsageError& e) {
    CHECK(std::string(e.what()).find("the data differ from the checkpoint's") != std::string::npos);
  }

  TrainRequest conflicting;
  conflicting.resume = checkpoint;
  conflicting.batch = 4;
  CHECK_THROWS_AS(prepare_options(conflicting), UsageError);
  CHECK(file_bytes(checkpoint) == before);  // refusals leave the checkpoint alone

  // Done already: nothing to train, the model is written again; with one thread a note says the run is
  // no longer bit-identical.
  set_thread_count(1);
  TrainRequest again;
  again.resume = checkpoint;
  RecordingObserver notes;
  const TrainResult result = run_training(prepare_options(again), notes);
  CHECK(result.epochs_run == 0);
  bool noted = false;
  for (const std::string& note : notes.notes) noted |= note.find("2 threads, this run uses 1") != std::string::npos;
  CHECK(noted);

  TrainRequest truncated;
  truncated.resume = dir / "truncated.ckpt";
  std::vector<uint8_t> half(before.begin(), before.begin() + static_cast<long>(before.size() / 2));
  FILE* f = std::fopen(truncated.resume.c_str(), "wb");
  REQUIRE(f);
  std::fwrite(half.data(), 1, half.size(), f);
  std::fclose(f);
  CHECK_THROWS_AS(run_training(prepare_options(truncated), quiet), FormatError);
}

TEST_CASE("train checkpoint: loads as a model (eval/predict accept it), its weights the run's last epoch") {
  ThreadCountGuard threads(1);
  TempDir dir;
  TrainRequest request = tiny_request("resnet18", synthetic_cells(48, 11), dir.path());
  request.epochs = 1;
  RecordingObserver observer;
  run_training(prepare_options(request), observer);
  std::unique_ptr<Model> from_checkpoint = load_model_file(dir / "model.safetensors.ckpt");
  std::unique_ptr<Model> from_model = load_model_file(dir / "model.safetensors");
  // One epoch: the last epoch is the best one, so both files hold the same weights.
  std::vector<Param> a = from_checkpoint->state_params(), b = from_model->state_params();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].value->size() == b[i].value->size());
    CHECK_MESSAGE(std::equal(a[i].value->data(), a[i].value->data() + a[i].value->size(), b[i].value->data()),
                  a[i].name);
  }
}
