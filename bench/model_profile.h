// Per-layer timing of one model, for `bench-models --profile`: where a training step (or an inference) spends
// its time. Instrumentation lives here, not in the engine: the profiler walks the model's trunk and head
// itself, calling each leaf layer's forward/backward in the order Sequential would and timing each call.
//
// Residual blocks (BasicBlock, InvertedResidual) cannot be entered without changing the engine, so each
// profiled call runs twice: once with every block as a unit (its own forward/backward, the engine's exact
// path; the block is timed as one), once with the blocks' body and shortcut leaves run one by one from the
// block's input and timed individually (the walk then continues from the block's output of the first run,
// the same values). The block's median minus its leaves' medians is reported as "<block>.(add)": the
// residual add, the ReLU after it and whatever else the block does. Both runs see the caches a real step
// leaves (the layer before has just run). Running twice changes BatchNorm's running statistics: the profiled
// model is for timing only.
//
// Times are CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID): run with one thread. Each entry is the
// median over the repetitions.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/optim.h"
#include "engine/tensor.h"
#include "models/model.h"

namespace plasmo::bench {

struct LayerTime {
  std::string name;           // "layer1.0.conv1", "layer1.0.(add)", "(loss)", "(optimizer step)"
  std::string summary;        // "Conv2d(64->64, k3 s1 p1, no bias)"
  std::string group;          // for totals: "conv3x3", "conv1x1", "dw3x3", "batchnorm", "activation", "pool", ...
  double forward_flops = 0;   // of the whole batch: 2 * MACs (conv, dense); 0 for other layers
  double backward_flops = 0;  // data + weight gradient: 2x forward, or 1x when the input gradient is skipped
  double forward = 0, backward = 0;  // seconds, median over repetitions
};

struct ModelProfile {
  std::vector<LayerTime> layers;  // forward order
  double step = 0;                // seconds of the same work uninstrumented (median), to compare with the sum
};

// One training step per repetition, as bench-models times it: zero_grad, forward (train mode), softmax
// cross-entropy, backward, optimizer step. `calls` steps per repetition (1 for big models).
ModelProfile profile_training(Model& model, const Tensor& x, const std::vector<int32_t>& labels, Optimizer& optimizer,
                              int reps, int calls);
// One forward in eval mode per call (an inference or, with a batch of 1, the single-image latency).
ModelProfile profile_inference(Model& model, const Tensor& x, int reps, int calls);

}  // namespace plasmo::bench
