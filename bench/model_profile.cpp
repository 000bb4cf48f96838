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

// Walks a model's trunk and head as Sequential would, in one of two modes (see model_profile.h):
//   Blocks: every Residual runs as a unit (its own forward/backward) and is timed as one;
//   Leaves: every leaf is timed; a Residual's body and shortcut leaves run one by one from the block's
//           input, and the walk continues from the block's output of the last Blocks pass (the same values:
//           same input, same weights).
// A Blocks pass must precede each Leaves pass. Samples accumulate per entry; result() takes medians.
class Profiler {
 public:
  enum class Walk { Blocks, Leaves };

  Profiler(Model& model, int batch) : model_(model), batch_(batch), infos_(model.describe()) {}

  void begin(Walk walk) {
    walk_ = walk;
    leaf_ = 0;
    block_ = 0;
  }

  const Tensor& forward(const Tensor& x, Mode mode) {
    const Tensor& features = forward_layer(model_.trunk(), "", x, mode);
    const Tensor& logits = forward_layer(model_.head(), "", features, mode);
    if (walk_ == Walk::Leaves && leaf_ != infos_.size())
      throw std::logic_error("profile: walked " + std::to_string(leaf_) + " leaves, describe() lists " +
                             std::to_string(infos_.size()));
    return logits;
  }
  void backward(const Tensor& dlogits) {
    block_ = blocks_.size();
    const Tensor& dfeatures = backward_layer(model_.head(), dlogits);
    backward_layer(model_.trunk(), dfeatures);
    if (walk_ == Walk::Leaves && leaf_ != 0) throw std::logic_error("profile: backward met fewer leaves than forward");
  }

  // Work outside the layers (loss, optimizer), timed in Leaves passes.
  template <class Fn>
  void extra(const char* name, const char* group, Fn&& fn) {
    const double start = thread_seconds();
    fn();
    const double seconds = thread_seconds() - start;
    if (walk_ == Walk::Leaves) samples(entry(name, "", group)).forward.push_back(seconds);
  }

  std::vector<LayerTime> result() const {
    std::vector<LayerTime> out = entries_;
    for (size_t i = 0; i < out.size(); ++i) {
      out[i].forward = median(samples_[i].forward);
      out[i].backward = median(samples_[i].backward);
    }
    // A block's "(add)": the block as a unit minus its leaves, each a median (never below 0).
    for (const Block& block : blocks_) {
      double forward = median(block.forward), backward = median(block.backward);
      for (size_t leaf : block.leaves) {
        forward -= out[leaf].forward;
        backward -= out[leaf].backward;
      }
      out[block.add_entry].forward = std::max(0.0, forward);
      out[block.add_entry].backward = std::max(0.0, backward);
    }
    return out;
  }

 private:
  struct Samples {
    std::vector<double> forward, backward;
  };
  struct Block {
    Residual* layer = nullptr;
    std::vector<double> forward, backward;  // the block as a unit, per Blocks pass
    const Tensor* y = nullptr;              // output and input gradient of the last Blocks pass
    const Tensor* dx = nullptr;
    std::vector<size_t> leaves;  // its leaves' entries
    size_t add_entry = 0;
  };

  size_t entry(const std::string& name, const std::string& summary, const std::string& group) {
    auto it = index_.find(name);
    if (it != index_.end()) return it->second;
    entries_.push_back(LayerTime{name, summary, group});
    samples_.emplace_back();
    index_[name] = entries_.size() - 1;
    return entries_.size() - 1;
  }
  Samples& samples(size_t e) { return samples_[e]; }

  // Blocks are numbered in forward order on the first Blocks pass.
  Block& block_at(size_t index, Residual* layer) {
    if (index == blocks_.size()) {
      blocks_.emplace_back();
      blocks_.back().layer = layer;
    }
    if (index >= blocks_.size() || blocks_[index].layer != layer)
      throw std::logic_error("profile: block order changed");
    return blocks_[index];
  }

  const Tensor& forward_layer(Layer& layer, const std::string& name, const Tensor& x, Mode mode) {
    if (auto* seq = dynamic_cast<Sequential*>(&layer)) {
      const Tensor* current = &x;
      for (size_t i = 0; i < seq->size(); ++i)
        current = &forward_layer(seq->at(i), join(name, seq->name_at(i)), *current, mode);
      return *current;
    }
    if (auto* residual = dynamic_cast<Residual*>(&layer)) {
      Block& block = block_at(block_++, residual);
      if (walk_ == Walk::Blocks) {
        const double start = thread_seconds();
        block.y = &residual->forward(x, mode);
        block.forward.push_back(thread_seconds() - start);
        return *block.y;
      }
      if (!block.y) throw std::logic_error("profile: a Leaves pass before any Blocks pass");
      const size_t first = leaf_;
      walk_leaves_forward(residual->body(), x, mode);
      if (residual->shortcut()) walk_leaves_forward(*residual->shortcut(), x, mode);
      if (block.leaves.empty()) {
        for (size_t i = first; i < leaf_; ++i) block.leaves.push_back(leaf_entries_[i]);
        block.add_entry =
            entry(name + ".(add)", residual->relu_after() ? "residual add + ReLU" : "residual add", "residual add");
      }
      return *block.y;
    }
    return forward_leaf(layer, x, mode);
  }
  void walk_leaves_forward(Sequential& seq, const Tensor& x, Mode mode) {
    const Tensor* current = &x;
    for (size_t i = 0; i < seq.size(); ++i) current = &forward_layer(seq.at(i), "", *current, mode);
  }

  const Tensor& forward_leaf(Layer& layer, const Tensor& x, Mode mode) {
    if (walk_ == Walk::Blocks) return layer.forward(x, mode);
    if (leaf_ >= infos_.size()) throw std::logic_error("profile: more leaves than describe() lists");
    const LayerInfo& info = infos_[leaf_];
    const double start = thread_seconds();
    const Tensor& y = layer.forward(x, mode);
    const double seconds = thread_seconds() - start;
    const size_t e = entry(info.name, info.summary, group_of(layer));
    entries_[e].forward_flops = 2.0 * static_cast<double>(info.macs) * batch_;
    entries_[e].backward_flops = entries_[e].forward_flops * (layer.needs_input_grad() ? 2 : 1);
    samples(e).forward.push_back(seconds);
    if (leaf_entries_.size() <= leaf_) leaf_entries_.resize(leaf_ + 1);
    leaf_entries_[leaf_++] = e;
    return y;
  }

  const Tensor& backward_layer(Layer& layer, const Tensor& dy) {
    if (auto* seq = dynamic_cast<Sequential*>(&layer)) {
      const Tensor* current = &dy;
      for (size_t i = seq->size(); i-- > 0;) current = &backward_layer(seq->at(i), *current);
      return *current;
    }
    if (auto* residual = dynamic_cast<Residual*>(&layer)) {
      Block& block = block_at(--block_, residual);
      if (walk_ == Walk::Blocks) {
        const double start = thread_seconds();
        block.dx = &residual->backward(dy);
        block.backward.push_back(thread_seconds() - start);
        return *block.dx;
      }
      // dy is not masked by the block's ReLU here: a layer's time does not depend on the values.
      if (residual->shortcut()) walk_leaves_backward(*residual->shortcut(), dy);
      walk_leaves_backward(residual->body(), dy);
      return *block.dx;
    }
    if (walk_ == Walk::Blocks) return layer.backward(dy);
    if (leaf_ == 0) throw std::logic_error("profile: backward met more leaves than forward");
    const size_t e = leaf_entries_[--leaf_];
    const double start = thread_seconds();
    const Tensor& dx = layer.backward(dy);
    samples(e).backward.push_back(thread_seconds() - start);
    return dx;
  }
  void walk_leaves_backward(Sequential& seq, const Tensor& dy) {
    const Tensor* current = &dy;
    for (size_t i = seq.size(); i-- > 0;) current = &backward_layer(seq.at(i), *current);
  }

  static std::string join(const std::string& name, const std::string& child) {
    if (child.empty()) return name;
    return name.empty() ? child : name + "." + child;
  }

  Model& model_;
  int batch_;
  std::vector<LayerInfo> infos_;
  Walk walk_ = Walk::Blocks;
  size_t leaf_ = 0;                   // next leaf (forward) / leaves still to meet (backward)
  size_t block_ = 0;                  // next block (forward) / blocks still to meet (backward)
  std::vector<size_t> leaf_entries_;  // leaf index -> entry
  std::vector<Block> blocks_;
  std::vector<LayerTime> entries_;
  std::vector<Samples> samples_;
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
  step();  // warm-up: buffers sized, caches primed
  std::vector<double> steps;
  Profiler profiler(model, x.dim(0));
  for (int r = 0; r < reps; ++r) {
    const double start = thread_seconds();
    for (int c = 0; c < calls; ++c) step();
    steps.push_back((thread_seconds() - start) / calls);
    for (int c = 0; c < calls; ++c) {
      for (auto walk : {Profiler::Walk::Blocks, Profiler::Walk::Leaves}) {
        profiler.begin(walk);
        profiler.extra("(zero grad)", "optimizer", [&] { optimizer.zero_grad(); });
        const Tensor& logits = profiler.forward(x, Mode::Train);
        profiler.extra("(loss)", "loss", [&] { softmax_cross_entropy(logits, labels, dlogits); });
        profiler.backward(dlogits);
        profiler.extra("(optimizer step)", "optimizer", [&] { optimizer.step(); });
      }
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
      for (auto walk : {Profiler::Walk::Blocks, Profiler::Walk::Leaves}) {
        profiler.begin(walk);
        profiler.forward(x, Mode::Eval);
      }
    }
  }
  ModelProfile out;
  out.layers = profiler.result();
  out.step = median(runs);
  return out;
}

}  // namespace plasmo::bench
