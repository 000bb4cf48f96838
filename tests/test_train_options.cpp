// train/: option resolution and resume merging, the CSV history, progress text, the divergence check,
// the best-state copy.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>

#include "engine/error.h"
#include "engine/tensor.h"
#include "train/finite.h"
#include "train/history.h"
#include "train/options.h"
#include "train/progress.h"
#include "train/state_copy.h"

using namespace plasmo;
using namespace plasmo::train;

namespace {

TrainRequest basic(const std::string& model) {
  TrainRequest request;
  request.model = model;
  request.data = "cells";
  request.out = "out/model.safetensors";
  return request;
}

// The message of the UsageError that `fn` throws ("" when it throws none).
template <class Fn>
std::string usage_error(Fn&& fn) {
  try {
    fn();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("train options: per-model defaults (the seed report's settings)") {
  const TrainOptions ae = resolve_options(basic("autoencoder"));
  CHECK(ae.size == 32);
  CHECK(ae.width == 1.0);
  CHECK(ae.epochs == 50);
  CHECK(ae.pretrain_epochs == 10);
  CHECK(ae.batch == 32);
  CHECK(ae.optimizer == "sgd");
  CHECK(ae.lr == 1e-3);
  REQUIRE(ae.momentum.has_value());
  CHECK(*ae.momentum == 0.9);
  CHECK(ae.schedule == "constant");
  CHECK(ae.augment == Augment::On);
  CHECK(ae.val_frac == 0.2);
  CHECK(ae.seed == 1);
  CHECK(ae.checkpoint == "out/model.safetensors.ckpt");

  for (const char* cnn : {"resnet18", "mobilenetv2"}) {
    const TrainOptions o = resolve_options(basic(cnn));
    CHECK(o.size == 64);
    CHECK(o.lr == 1e-2);
    CHECK(o.schedule == "exp:0.9478");
    CHECK(o.pretrain_epochs == 0);
    CHECK(*o.momentum == 0.9);
  }
}

TEST_CASE("train options: another optimizer takes its own lr default and no momentum") {
  TrainRequest request = basic("resnet18");
  request.optimizer = "adam";
  TrainOptions o = resolve_options(request);
  CHECK(o.lr == 1e-3);
  CHECK_FALSE(o.momentum.has_value());
  request.optimizer = "rmsprop";
  request.momentum = 0.5;
  o = resolve_options(request);
  CHECK(o.lr == 1e-3);
  CHECK(*o.momentum == 0.5);
  request.lr = 0.02;
  CHECK(resolve_options(request).lr == 0.02);
}

TEST_CASE("train options: bad values are usage errors naming the option") {
  auto with = [](auto change, const std::string& model = "autoencoder") {
    TrainRequest request = basic(model);
    change(request);
    return usage_error([&] { resolve_options(request); });
  };
  CHECK(with([](TrainRequest& r) { r.model.reset(); }).find("--model") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.model = "vgg"; }).find("unknown model 'vgg'") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.data.reset(); }).find("--data") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.out.reset(); }).find("--out") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.size = 20; }).find("multiple of 8") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.size = 4; }, "resnet18").find("--size") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.width = 0.5; }).find("--width") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.width = 0.0; }, "mobilenetv2").find("--width") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.epochs = 0; }).find("--epochs") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.batch = 0; }).find("--batch") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.limit = 1; }).find("--limit") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.lr = 0.0; }).find("--lr") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.lr = std::nan(""); }).find("--lr") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.momentum = 1.0; }).find("--momentum") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.optimizer = "adam", r.momentum = 0.9; }).find("adam") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.optimizer = "lbfgs"; }).find("--optimizer") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.weight_decay = -1.0; }).find("--weight-decay") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.val_frac = 1.0; }).find("--val-frac") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.augment = "yes"; }).find("--augment") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.schedule = "linear"; }).find("linear") != std::string::npos);
  CHECK(with([](TrainRequest& r) { r.pretrain_epochs = 3; }, "resnet18").find("--pretrain-epochs") !=
        std::string::npos);
  CHECK(with([](TrainRequest& r) { r.freeze_encoder = true; }, "resnet18").find("--freeze-encoder") !=
        std::string::npos);
  CHECK(with([](TrainRequest& r) { r.checkpoint = "out/model.safetensors"; }).find("--checkpoint") !=
        std::string::npos);
  // The good ones pass.
  CHECK(with([](TrainRequest& r) { r.augment = "vflip", r.size = 24, r.freeze_encoder = true; }).empty());
}

TEST_CASE("train options: metadata round trip keeps every value exactly") {
  TrainRequest request = basic("mobilenetv2");
  request.width = 0.35;
  request.lr = 0.0123456789;
  request.weight_decay = 4e-5;
  request.schedule = "cosine";
  request.epochs = 7;
  request.augment = "vflip";
  request.val_frac = 0.15;
  request.limit = 500;
  request.seed = 18446744073709551615ull;
  request.log = "log.csv";
  request.cache = "/tmp/c";
  const TrainOptions o = resolve_options(request);
  CHECK(o.schedule == "cosine:7:0");
  Metadata metadata;
  options_to_metadata(o, metadata);
  const TrainOptions back = options_from_metadata(metadata, "ckpt");
  CHECK(back.model == o.model);
  CHECK(back.width == o.width);
  CHECK(back.lr == o.lr);
  CHECK(back.weight_decay == o.weight_decay);
  CHECK(back.schedule == o.schedule);
  CHECK(back.epochs == o.epochs);
  CHECK(back.augment == o.augment);
  CHECK(back.val_frac == o.val_frac);
  CHECK(back.limit == o.limit);
  CHECK(back.seed == o.seed);
  CHECK(back.momentum == o.momentum);
  CHECK(back.log == std::filesystem::absolute("log.csv").string());  // paths become absolute
  CHECK(back.cache == "/tmp/c");
  CHECK(back.out == std::filesystem::absolute("out/model.safetensors").string());
  metadata.erase("train.lr");
  CHECK_THROWS_AS(options_from_metadata(metadata, "ckpt"), FormatError);
}

TEST_CASE("train options: a resumed run keeps the checkpoint's options and refuses different ones") {
  TrainRequest first = basic("resnet18");
  first.epochs = 2;
  first.lr = 0.05;
  first.log = "a.csv";
  Metadata saved;
  options_to_metadata(resolve_options(first), saved);

  TrainRequest resume;
  resume.resume = "run.ckpt";
  TrainOptions o = resolve_resume_options(resume, saved, "run.ckpt");
  CHECK(o.model == "resnet18");
  CHECK(o.lr == 0.05);
  CHECK(o.epochs == 2);
  CHECK(o.log == std::filesystem::absolute("a.csv").string());
  CHECK(o.out == std::filesystem::absolute("out/model.safetensors").string());
  CHECK(o.checkpoint == "run.ckpt");  // continues in the file it read
  CHECK(o.resume == "run.ckpt");

  resume.epochs = 5;  // more epochs: allowed
  resume.lr = 0.05;   // the same value: allowed
  resume.out = "elsewhere.safetensors";
  o = resolve_resume_options(resume, saved, "run.ckpt");
  CHECK(o.epochs == 5);
  CHECK(o.out == "elsewhere.safetensors");

  resume.lr = 0.01;
  const std::string message = usage_error([&] { resolve_resume_options(resume, saved, "run.ckpt"); });
  CHECK(message.find("--lr 0.01 differs from the checkpoint's 0.05") != std::string::npos);
  resume.lr.reset();
  resume.batch = 16;
  CHECK(usage_error([&] { resolve_resume_options(resume, saved, "run.ckpt"); }).find("--batch") != std::string::npos);
  resume.batch.reset();
  resume.schedule = "exp:0.9478";  // the default, resolved the same
  CHECK(usage_error([&] { resolve_resume_options(resume, saved, "run.ckpt"); }).empty());
}

TEST_CASE("train options: the pretraining log sits next to the log") {
  CHECK(pretrain_log_path("") == "");
  CHECK(pretrain_log_path("run.csv") == "run.pretrain.csv");
  CHECK(pretrain_log_path("logs/run") == "logs/run.pretrain.csv");
  CHECK(pretrain_log_path("a.b/run") == "a.b/run.pretrain.csv");
}

TEST_CASE("train history: CSV columns, empty validation cells, exact rewrite from parsed rows") {
  CHECK(std::string(kClassifierColumns) ==
        "epoch,lr,train_loss,train_acc,val_loss,val_acc,val_sensitivity,val_specificity,images_per_s,seconds");
  std::vector<EpochRecord> records(3);
  records[0].phase = Phase::Pretrain;
  records[0].epoch = 1;
  records[0].lr = 1e-3;
  records[0].train_loss = 0.0123456789;
  records[0].has_val = true;
  records[0].val_loss = 0.011;
  records[1].epoch = 1;
  records[1].lr = 0.01;
  records[1].train_loss = 0.69314718;
  records[1].train_acc = 0.5;
  records[1].has_val = true;
  records[1].val_loss = 0.6;
  records[1].val_acc = 0.75;
  records[1].val_sensitivity = std::numeric_limits<double>::quiet_NaN();  // no positives
  records[1].val_specificity = 1.0;
  records[1].images_per_s = 312.25;
  records[1].seconds = 61.237;
  records[2].epoch = 2;
  records[2].lr = 0.009478;
  records[2].train_loss = 0.5;
  records[2].train_acc = 0.8;
  const std::string csv = history_csv(records, Phase::Classifier);
  CHECK(csv ==
        "epoch,lr,train_loss,train_acc,val_loss,val_acc,val_sensitivity,val_specificity,images_per_s,seconds\n"
        "1,0.01,0.693147,0.5,0.6,0.75,nan,1,312.2,61.24\n"
        "2,0.009478,0.5,0.8,,,,,0.0,0.00\n");
  const std::string pretrain = history_csv(records, Phase::Pretrain);
  CHECK(pretrain == "epoch,lr,train_mse,val_mse,images_per_s,seconds\n1,0.001,0.0123457,0.011,0.0,0.00\n");
  const std::vector<EpochRecord> back = parse_history_csv(csv, Phase::Classifier, "ckpt");
  REQUIRE(back.size() == 2);
  CHECK(back[0].has_val);
  CHECK_FALSE(back[1].has_val);
  CHECK(std::isnan(back[0].val_sensitivity));
  CHECK(history_csv(back, Phase::Classifier) == csv);
  CHECK(history_csv(parse_history_csv(pretrain, Phase::Pretrain, "ckpt"), Phase::Pretrain) == pretrain);
  CHECK_THROWS_AS(parse_history_csv("epoch,lr\n1,2\n", Phase::Classifier, "ckpt"), FormatError);
  CHECK_THROWS_AS(parse_history_csv(std::string(kClassifierColumns) + "\n1,2,3\n", Phase::Classifier, "ckpt"),
                  FormatError);
}

TEST_CASE("train progress: durations, the bar within the terminal width, epoch lines") {
  CHECK(format_duration(42.4) == "42s");
  CHECK(format_duration(187) == "3:07");
  CHECK(format_duration(3723) == "1:02:03");
  CHECK(format_duration(-1) == "?");
  BatchProgress p;
  p.epoch = 3;
  p.epochs = 50;
  p.batch = 120;
  p.batches = 597;
  p.loss = 0.23456;
  p.images_per_s = 312.4;
  p.eta_seconds = 754;
  const std::string bar = progress_bar_line(p, 100);
  CHECK(bar.size() <= 100);
  CHECK(bar.find("epoch 3/50 [######") == 0);
  CHECK(bar.find("120/597 loss 0.2346  312 img/s  ETA 12:34") != std::string::npos);
  CHECK(progress_bar_line(p, 40).size() <= 40);
  CHECK(progress_bar_line(p, 60).find('[') == std::string::npos);  // too narrow for a bar
  CHECK(progress_plain_line(p) == "epoch 3/50 batch 120/597 loss 0.2346 312 img/s ETA 12:34");
  p.phase = Phase::Pretrain;
  CHECK(progress_plain_line(p).find("pretrain 3/50") == 0);

  EpochRecord r;
  r.epoch = 2;
  r.lr = 0.01;
  r.train_loss = 0.5;
  r.train_acc = 0.75;
  r.has_val = true;
  r.val_loss = 0.4;
  r.val_acc = 0.8;
  r.val_sensitivity = 0.9;
  r.val_specificity = 0.7;
  r.images_per_s = 100;
  r.seconds = 12.34;
  CHECK(epoch_summary_line(r, 10, true) ==
        "epoch 2/10  lr 0.01  train loss 0.5000 acc 0.7500  val loss 0.4000 acc 0.8000 sens 0.9000 spec 0.7000  100 "
        "img/s  12.3 s  best");
}

TEST_CASE("train: the divergence check finds NaN and Inf gradients, and only those") {
  Tensor value_a(Shape{3, 5}), grad_a(Shape{3, 5}), value_b(Shape{17}), grad_b(Shape{17});
  std::vector<Param> params = {{"a", &value_a, &grad_a}, {"b", &value_b, &grad_b}};
  grad_a[3] = std::numeric_limits<float>::max();
  grad_a[4] = -std::numeric_limits<float>::denorm_min();
  grad_b[16] = -1e30f;
  CHECK(first_nonfinite_gradient(params) == nullptr);
  grad_b[9] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE(first_nonfinite_gradient(params) != nullptr);
  CHECK(first_nonfinite_gradient(params)->name == "b");
  grad_a[14] = -std::numeric_limits<float>::infinity();
  CHECK(first_nonfinite_gradient(params)->name == "a");

  // Longer tensors go through the blocks of 64: a bad value in a block and in the tail, each found.
  Tensor value_c(Shape{2, 100}), grad_c(Shape{2, 100});
  std::vector<Param> long_params = {{"c", &value_c, &grad_c}};
  for (size_t i = 0; i < grad_c.size(); ++i) grad_c[i] = (i % 2 ? -1.0f : 1.0f) * 3e38f;
  CHECK(first_nonfinite_gradient(long_params) == nullptr);
  grad_c[130] = std::numeric_limits<float>::infinity();
  CHECK(first_nonfinite_gradient(long_params) != nullptr);
  // cppcheck-suppress redundantAssignment ; read through long_params by the CHECK above
  grad_c[130] = 0.0f;
  grad_c[199] = -std::numeric_limits<float>::quiet_NaN();
  CHECK(first_nonfinite_gradient(long_params) != nullptr);
}

TEST_CASE("train: StateCopy keeps a snapshot and reuses its memory") {
  Tensor weight(Shape{2, 3}), grad(Shape{2, 3}), mean(Shape{3});
  int64_t batches = 7;
  weight.fill(1.5f);
  mean.fill(-2.0f);
  std::vector<Param> params = {{"fc.weight", &weight, &grad}};
  Buffer f32_buffer, i64_buffer;
  f32_buffer.name = "bn.running_mean";
  f32_buffer.f32 = &mean;
  i64_buffer.name = "bn.num_batches_tracked";
  i64_buffer.i64 = &batches;
  StateCopy copy;
  CHECK(copy.empty());
  copy.capture(params, {f32_buffer, i64_buffer});
  weight.fill(9.0f);
  batches = 8;
  std::vector<Param> saved = copy.params("best.");
  std::vector<Buffer> saved_buffers = copy.buffers();
  REQUIRE(saved.size() == 1);
  CHECK(saved[0].name == "best.fc.weight");
  CHECK((*saved[0].value)[5] == 1.5f);
  CHECK(saved_buffers[0].name == "bn.running_mean");
  CHECK((*saved_buffers[0].f32)[2] == -2.0f);
  CHECK(*saved_buffers[1].i64 == 7);
  const float* memory = saved[0].value->data();
  copy.capture(params, {f32_buffer, i64_buffer});
  CHECK(copy.params()[0].value->data() == memory);
  CHECK((*copy.params()[0].value)[0] == 9.0f);
  CHECK(*copy.buffers()[1].i64 == 8);
  Tensor other(Shape{3, 2}), other_grad(Shape{3, 2});
  CHECK_THROWS_AS(copy.capture({{"fc.weight", &other, &other_grad}}, {f32_buffer, i64_buffer}), ShapeError);
}

TEST_CASE("train options: --normalize dataset|foreground (default dataset), kept in checkpoints, checked on resume") {
  CHECK(resolve_options(basic("autoencoder")).normalize == "dataset");
  TrainRequest request = basic("autoencoder");
  request.normalize = "foreground";
  const TrainOptions o = resolve_options(request);
  CHECK(o.normalize == "foreground");
  request.normalize = "per-image";
  CHECK(usage_error([&] { resolve_options(request); }).find("--normalize") != std::string::npos);

  Metadata saved;
  options_to_metadata(o, saved);
  CHECK(saved.at("train.normalize") == "foreground");
  CHECK(options_from_metadata(saved, "ckpt").normalize == "foreground");
  TrainRequest resume;
  resume.resume = "run.ckpt";
  CHECK(resolve_resume_options(resume, saved, "run.ckpt").normalize == "foreground");
  resume.normalize = "foreground";
  CHECK(usage_error([&] { resolve_resume_options(resume, saved, "run.ckpt"); }).empty());
  resume.normalize = "dataset";
  CHECK(usage_error([&] {
          resolve_resume_options(resume, saved, "run.ckpt");
        }).find("--normalize dataset differs from the checkpoint's foreground") != std::string::npos);

  // A checkpoint from before --normalize existed: the dataset normalization.
  saved.erase("train.normalize");
  CHECK(options_from_metadata(saved, "ckpt").normalize == "dataset");
  saved["train.normalize"] = "bogus";
  CHECK_THROWS_AS(options_from_metadata(saved, "ckpt"), FormatError);
}
