// models/model_file.h: a model saved and loaded back is the same model; PyTorch exports, bare state_dicts, checkpoints
// and mismatched files.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/io/state.h"
#include "engine/rng.h"
#include "models/model.h"
#include "models/model_file.h"
#include "tests/gradcheck.h"
#include "tests/test_helpers.h"
#include "tests/test_models_paths.h"

using namespace plasmo;
using plasmo::testing::same_values;

namespace {

// A file name in a fresh temporary folder, removed with it.
struct TempDir {
  std::string path;
  TempDir() {
    char pattern[] = "/tmp/plasmo-models-XXXXXX";
    REQUIRE(mkdtemp(pattern) != nullptr);
    path = pattern;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

void require_same_state(Model& a, Model& b) {
  std::vector<Param> pa = a.state_params(), pb = b.state_params();
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    REQUIRE(pa[i].name == pb[i].name);
    REQUIRE(pa[i].value->shape() == pb[i].value->shape());
    INFO(pa[i].name);
    CHECK(same_values(*pa[i].value, *pb[i].value));
  }
  std::vector<Buffer> ba = a.buffers(), bb = b.buffers();
  REQUIRE(ba.size() == bb.size());
  for (size_t i = 0; i < ba.size(); ++i) {
    REQUIRE(ba[i].name == bb[i].name);
    if (ba[i].f32)
      CHECK(same_values(*ba[i].f32, *bb[i].f32));
    else
      REQUIRE(*ba[i].i64 == *bb[i].i64);
  }
}

}  // namespace

TEST_CASE("Model file: save and load give the same model, metadata and logits") {
  TempDir dir;
  for (const char* arch : {"autoencoder", "resnet18", "mobilenetv2"}) {
    INFO(arch);
    auto model = make_model(arch, std::string(arch) == "autoencoder" ? 1.0 : 0.25, 32, 3);
    Tensor x(model->input_shape(2));
    Rng rng(4);
    testing::fill_uniform(x, rng, -1.0f, 1.0f);
    model->forward(x, Mode::Train);  // moves the BatchNorm running statistics away from 0 / 1
    model->meta().mean = {0.5f, 0.45f, 0.4f};
    model->meta().std = {0.25f, 0.2f, 0.3f};
    model->meta().threshold = 0.42;
    const std::string path = dir.file(std::string(arch) + ".safetensors");
    save_model_file(path, *model, {{"epoch", "7"}});

    const Metadata metadata = read_metadata(path);
    CHECK(metadata.at("format") == "plasmo");
    CHECK(metadata.at("arch") == arch);
    CHECK(metadata.at("input") == "3x32x32");
    CHECK(metadata.at("epoch") == "7");
    CHECK(metadata.count("crc32") == 1);

    auto loaded = load_model_file(path);
    require_same_state(*model, *loaded);
    CHECK(loaded->meta().mean == model->meta().mean);
    CHECK(loaded->meta().std == model->meta().std);
    CHECK(loaded->meta().threshold == 0.42);
    CHECK(loaded->width() == model->width());
    const Tensor a = model->forward(x, Mode::Eval).clone();
    const Tensor& b = loaded->forward(x, Mode::Eval);
    CHECK(same_values(a, b));
  }
}

TEST_CASE("Model file: a PyTorch export loads by name, a bare state_dict with the architecture given") {
  // The parity fixture's weights were written by tools/make_parity_fixtures.py from a torchvision state_dict (metadata
  // arch/width/input, no `format`).
  const std::string path = testing::fixture_path("resnet18_w0.0625_weights.safetensors");
  auto model = load_model_file(path);
  CHECK(model->arch() == "resnet18");
  CHECK(model->width() == 0.0625);
  CHECK(model->input_size() == 40);
  const TensorMap file = read_tensor_map(path);
  for (const Param& p : model->state_params()) {
    const Tensor& expected = file.f32.at(p.name);
    INFO(p.name);
    CHECK(same_values(*p.value, expected));
  }
  for (const Buffer& b : model->buffers())
    if (b.i64) CHECK(*b.i64 == file.i64.at(b.name).values.at(0));  // num_batches_tracked, 5 in the fixture

  // the same tensors without metadata: the architecture must be given
  TempDir dir;
  const std::string bare = dir.file("bare.safetensors");
  save_state(bare, model->state_params(), model->buffers());
  CHECK_THROWS_AS(load_model_file(bare), FormatError);
  ModelMeta meta;
  meta.arch = "resnet18";
  meta.width = 0.0625;
  meta.input_size = 40;
  auto from_bare = load_model_file(bare, &meta);
  require_same_state(*model, *from_bare);
}

TEST_CASE("Model file: checkpoints load, mismatched files are refused naming the file") {
  TempDir dir;
  auto model = make_model("resnet18", 0.25, 32, 1);
  // a checkpoint: the model plus optimizer state under optim. names
  Tensor momentum(Shape{2, 128});
  int64_t step = 3;
  const std::string checkpoint = dir.file("checkpoint.safetensors");
  save_state(checkpoint, model->state_params(), model->buffers(),
             {Buffer{"optim.fc.weight.momentum_buffer", &momentum, nullptr}, Buffer{"optim.step", nullptr, &step}},
             model_file_metadata(*model, {{"epoch", "2"}}));
  auto loaded = load_model_file(checkpoint);
  require_same_state(*model, *loaded);

  // another tensor the model does not know
  Tensor stray(Shape{3});
  const std::string extra = dir.file("extra.safetensors");
  save_state(extra, model->state_params(), model->buffers(), {Buffer{"head.weight", &stray, nullptr}},
             model_file_metadata(*model));
  try {
    load_model_file(extra);
    FAIL("a file with an unknown tensor was accepted");
  } catch (const FormatError& e) {
    CHECK(std::string(e.what()).find(extra) != std::string::npos);
    CHECK(std::string(e.what()).find("head.weight") != std::string::npos);
  }

  // metadata that names another width: shapes differ
  const std::string lying = dir.file("lying.safetensors");
  auto meta = model_file_metadata(*model);
  meta["width"] = "0.5";
  save_state(lying, model->state_params(), model->buffers(), {}, meta);
  CHECK_THROWS_AS(load_model_file(lying), FormatError);

  // metadata that names another architecture: tensors missing
  meta = model_file_metadata(*model);
  meta["arch"] = "mobilenetv2";
  save_state(lying, model->state_params(), model->buffers(), {}, meta);
  try {
    load_model_file(lying);
    FAIL("a resnet18 file was loaded as mobilenetv2");
  } catch (const FormatError& e) {
    CHECK(std::string(e.what()).find("missing") != std::string::npos);
    CHECK(std::string(e.what()).find("features.0.0.weight") != std::string::npos);
  }
  CHECK_THROWS_AS(load_model_file(dir.file("absent.safetensors")), IoError);
}
