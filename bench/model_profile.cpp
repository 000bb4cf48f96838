#include "bench/model_profile.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <stdexcept>

#include "engine/layers/conv2d.h"
#include "engine/layers/residual.h"
#include "engine/loss.h"
#include "engine/net.h"

namespace plasmo::bench {
namespace {

double thread_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string group_of(const Layer& layer) {
  const std::string kind = layer.kind();
  if (const auto* conv = dynamic_cast<const Conv2d*>(&layer)) {
    const std::string k = std::to_string(conv->kernel());
    const bool depthwise = conv->groups() > 1 && conv->groups() == conv->in_channels();
    return (depthwise ? "dw" : "conv") + k + "x" + k;
  }
  if (kind == "BatchNorm2d") return "batchnorm";
  if (kind == "ReLU" || kind == "ReLU6" || kind == "Sigmoid") return "activation";
  if (kind == "MaxPool2d" || kind == "AvgPool2d" || kind == "GlobalAvgPool") return "pool";
  if (kind == "Dense") return "dense";
  if (kind == "Upsample") return "upsample";
  return "other";  // Flatten, Dropout
}

// Walks a model, timing every leaf. Pass p accumulates into samples[entry][p]; entries are created on the
// first walk and must come out in the same order on every later walk.
class Profiler {
 public:
  Profiler(Model& model, int batch) : model_(model), batch_(batch), infos_(model.describe()) {}

  void begin_pass() { leaf_ = 0; }

  const Tensor& forward(const Tensor& x, Mode mode) {
    const Tensor& features = forward_layer(model_.trunk(), "", x, mode);
    return forward_layer(model_.head(), "", features, mode);
  }
  void backward(const Tensor& dlogits) {
    const Tensor& dfeatures = backward_layer(model_.head(), "", dlogits);
    backward_layer(model_.trunk(), "", dfeatures);
  }
  void check_leaf_count() const {
    if (leaf_ != infos_.size())
      throw std::logic_error("profile: walked " + std::to_string(leaf_) + " leaves, describe() lists " +
                             std::to_string(infos_.size()));
  }

  void check_backward_done() const {
    if (leaf_ != 0) throw std::logic_error("profile: backward met fewer leaves than forward");
  }

  // A timed piece of work outside the layers: loss, optimizer step.
  template <class Fn>
  void extra(const char* name, const char* group, Fn&& fn) {
    const double start = thread_seconds();
    fn();
    add_sample(name, "", group, thread_seconds() - start, 0, nullptr);
  }

  std::vector<LayerTime> result() const {
    std::vector<LayerTime> out = entries_;
    for (size_t i = 0; i < out.size(); ++i) {
      out[i].forward = median(forward_samples_[i]);
      out[i].backward = median(backward_samples_[i]);
    }
    return out;
  }

 private:
  // Forward entries are appended in forward order on the first pass; backward finds them by name.
  size_t entry(const std::string& name, const std::string& summary, const std::string& group) {
    auto it = index_.find(name);
    if (it != index_.end()) return it->second;
    entries_.push_back(LayerTime{name, summary, group});
    forward_samples_.emplace_back();
    backward_samples_.emplace_back();
    index_[name] = entries_.size() - 1;
    return entries_.size() - 1;
  }
  void add_sample(const std::string& name, const std::string& summary, const std::string& group, double seconds,
                  int pass_kind, LayerTime* flops_from) {
    const size_t e = entry(name, summary, group);
    if (flops_from) {
      entries_[e].forward_flops = flops_from->forward_flops;
      entries_[e].backward_flops = flops_from->backward_flops;
    }
    (pass_kind == 1 ? backward_samples_ : forward_samples_)[e].push_back(seconds);
  }

  const Tensor& forward_layer(Layer& layer, const std::string& name, const Tensor& x, Mode mode) {
    if (auto* seq = dynamic_cast<Sequential*>(&layer)) {
      const Tensor* current = &x;
      for (size_t i = 0; i < seq->size(); ++i)
        current = &forward_layer(seq->at(i), join(name, seq->name_at(i)), *current, mode);
      return *current;
    }
    if (auto* block = dynamic_cast<Residual*>(&layer)) {
      const double start = thread_seconds();
      const Tensor& y = block->forward(x, mode);
      const double whole = thread_seconds() - start;
      // The leaves again, one by one, with the same inputs (the block's own y is untouched).
      const double before = leaves_forward_total_;
      walk_leaves_forward(block->body(), x, mode);
      if (block->shortcut()) walk_leaves_forward(*block->shortcut(), x, mode);
      add_sample(name + ".(add)", "residual add" + std::string(block->relu_after() ? " + ReLU" : ""), "residual add",
                 std::max(0.0, whole - (leaves_forward_total_ - before)), 0, nullptr);
      return y;
    }
    return forward_leaf(layer, x, mode);
  }
  void walk_leaves_forward(Sequential& seq, const Tensor& x, Mode mode) {
    const Tensor* current = &x;
    for (size_t i = 0; i < seq.size(); ++i) current = &forward_layer(seq.at(i), "", *current, mode);
  }

  const Tensor& forward_leaf(Layer& layer, const Tensor& x, Mode mode) {
    if (leaf_ >= infos_.size()) throw std::logic_error("profile: more leaves than describe() lists");
    const LayerInfo& info = infos_[leaf_++];
    const double start = thread_seconds();
    const Tensor& y = layer.forward(x, mode);
    const double seconds = thread_seconds() - start;
    leaves_forward_total_ += seconds;
    LayerTime flops;
    flops.forward_flops = 2.0 * static_cast<double>(info.macs) * batch_;
    flops.backward_flops = flops.forward_flops * (layer.needs_input_grad() ? 2 : 1);
    add_sample(info.name, info.summary, group_of(layer), seconds, 0, &flops);
    leaf_layers_.resize(std::max(leaf_layers_.size(), leaf_));
    leaf_layers_[leaf_ - 1] = info.name;
    return y;
  }

  const Tensor& backward_layer(Layer& layer, const std::string& name, const Tensor& dy) {
    if (auto* seq = dynamic_cast<Sequential*>(&layer)) {
      const Tensor* current = &dy;
      for (size_t i = seq->size(); i-- > 0;)
        current = &backward_layer(seq->at(i), join(name, seq->name_at(i)), *current);
      return *current;
    }
    if (auto* block = dynamic_cast<Residual*>(&layer)) {
      const double start = thread_seconds();
      const Tensor& dx = block->backward(dy);
      const double whole = thread_seconds() - start;
      // The leaves again from dy (not masked by the block's ReLU: the timing does not depend on the values).
      const double before = leaves_backward_total_;
      if (block->shortcut()) walk_leaves_backward(*block->shortcut(), dy);
      walk_leaves_backward(block->body(), dy);
      add_sample(name + ".(add)", "", "residual add", std::max(0.0, whole - (leaves_backward_total_ - before)), 1,
                 nullptr);
      return dx;
    }
    return backward_leaf(layer, dy);
  }
  void walk_leaves_backward(Sequential& seq, const Tensor& dy) {
    const Tensor* current = &dy;
    for (size_t i = seq.size(); i-- > 0;) current = &backward_layer(seq.at(i), "", *current);
  }

  // Leaves are met in reverse on the way back; the walk forward recorded which name each one has.
  const Tensor& backward_leaf(Layer& layer, const Tensor& dy) {
    if (leaf_ == 0) throw std::logic_error("profile: backward met more leaves than forward");
    const std::string& name = leaf_layers_[--leaf_];
    const double start = thread_seconds();
    const Tensor& dx = layer.backward(dy);
    const double seconds = thread_seconds() - start;
    leaves_backward_total_ += seconds;
    add_sample(name, "", "", seconds, 1, nullptr);
    return dx;
  }

  static std::string join(const std::string& name, const std::string& child) {
    if (child.empty()) return name;
    return name.empty() ? child : name + "." + child;
  }

  Model& model_;
  int batch_;
  std::vector<LayerInfo> infos_;
  std::vector<std::string> leaf_layers_;  // leaf index -> name, from the forward walk
  size_t leaf_ = 0;
  double leaves_forward_total_ = 0, leaves_backward_total_ = 0;
  std::vector<LayerTime> entries_;
  std::vector<std::vector<double>> forward_samples_, backward_samples_;
  std::map<std::string, size_t> index_;
};

}  // namespace

ModelProfile profile_training(Model& model, const Tensor& x, const std::vector<int32_t>& labels, Optimizer& optimizer,
                              int reps, int calls) {
  Tensor dlogits;
  auto step = [&] {
    optimizer.zero_grad();
    const Tensor& logits = model.forward(x, Mode::Train);
    softmax_cross_entropy(logits, labels, dlogits);
    model.backward(dlogits);
    optimizer.step();
  };
  step();  // warm-up: buffers sized, caches and the pool primed
  std::vector<double> steps;
  Profiler profiler(model, x.dim(0));
  for (int r = 0; r < reps; ++r) {
    const double start = thread_seconds();
    for (int c = 0; c < calls; ++c) step();
    steps.push_back((thread_seconds() - start) / calls);
    for (int c = 0; c < calls; ++c) {
      profiler.begin_pass();
      profiler.extra("(zero grad)", "optimizer", [&] { optimizer.zero_grad(); });
      const Tensor* logits = &profiler.forward(x, Mode::Train);
      profiler.check_leaf_count();
      profiler.extra("(loss)", "loss", [&] { softmax_cross_entropy(*logits, labels, dlogits); });
      profiler.backward(dlogits);
      profiler.check_backward_done();
      profiler.extra("(optimizer step)", "optimizer", [&] { optimizer.step(); });
    }
  }
  ModelProfile out;
  out.layers = profiler.result();
  out.step = median(steps);
  return out;
}

ModelProfile profile_inference(Model& model, const Tensor& x, int reps, int calls) {
  model.forward(x, Mode::Eval);  // warm-up
  std::vector<double> runs;
  Profiler profiler(model, x.dim(0));
  for (int r = 0; r < reps; ++r) {
    const double start = thread_seconds();
    for (int c = 0; c < calls; ++c) model.forward(x, Mode::Eval);
    runs.push_back((thread_seconds() - start) / calls);
    for (int c = 0; c < calls; ++c) {
      profiler.begin_pass();
      profiler.forward(x, Mode::Eval);
      profiler.check_leaf_count();
    }
  }
  ModelProfile out;
  out.layers = profiler.result();
  out.step = median(runs);
  return out;
}

}  // namespace plasmo::bench
