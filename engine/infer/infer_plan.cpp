// The planner: (arch, width, input size) -> the op table, the tensor names behind each op, and the arena.
//
// The networks are those of models/ (DESIGN.md "Models"), with the same channel rules:
//   autoencoder   enc1..enc3 conv3x3+ReLU with their 2x2 max-pool fused, fc1 + ReLU, fc2 (flatten is free:
//                 the activations are stored C, H, W as PyTorch flattens them)
//   resnet18      conv1+bn1+ReLU with the 3x3/2 max-pool fused; per BasicBlock conv1+bn1+ReLU,
//                 [downsample.0+downsample.1], conv2+bn2 + shortcut + ReLU; GAP; fc
//                 channels max(1, floor(base * width + 0.5)) (models/builders.h resnet_channels)
//   mobilenetv2   features.0 conv3x3/2+BN+ReLU6; inverted residuals (expand 1x1 + ReLU6, depthwise 3x3 +
//                 ReLU6, project 1x1 [+ x]); features.18 1x1 + ReLU6; GAP; classifier.1
//                 channels torchvision's _make_divisible(c * width, 8) (models/builders.h make_divisible)
//
// Arena: every op's output (and a fused pool's row scratch) is a value with a lifetime [producing op, last
// reading op]. Values are placed largest first at the lowest 16-byte aligned offset that overlaps no placed
// value alive at the same time (TFLite Micro's greedy-by-size planner). Ping-pong between consecutive
// activations falls out of it, and a residual input stays put while its block runs. The arena size is the
// end of the highest value, so the last byte is always written by some op.
#include <string.h>

#include "infer_internal.h"

namespace plasmo_infer {

namespace {

constexpr int kMaxValues = 2 * PLASMO_MAX_OPS + 1;  // the input, one output per op, one scratch per op
constexpr uint32_t kAlign = 16;

struct Value {
  uint64_t bytes;
  int first, last;  // op indices; the logits live until op_count (read after the last op)
  uint64_t offset;
};

// An activation while planning: its value and its shape.
struct Act {
  int value;
  int channels, height, width;
};

struct Planner {
  plasmo_op* ops;
  int max_ops;
  int count = 0;
  Value values[kMaxValues];
  int value_count = 0;
  uint64_t weight_floats = 0;
  OpVisitor visit;
  void* context;
  plasmo_error* error;
  int status = PLASMO_OK;

  int new_value(uint64_t bytes) {
    Value& value = values[value_count];
    value.bytes = bytes;
    value.first = value.last = count;
    value.offset = 0;
    return value_count++;
  }
  void read(int value) { values[value].last = count; }

  // Reserves the next op; null (and status set) when the table is full or an earlier step failed.
  plasmo_op* next_op() {
    if (status != PLASMO_OK) return nullptr;
    if (count >= max_ops) {
      status = fail(error, PLASMO_ERR_CAPACITY, "the model needs more ops than the op storage holds");
      return nullptr;
    }
    plasmo_op* op = &ops[count];
    memset(op, 0, sizeof *op);
    op->bias = op->residual = op->scratch = PLASMO_NONE;
    return op;
  }
  // Finishes the op: names it to the visitor and advances.
  void emit(plasmo_op* op, const OpNames& names) {
    if (visit) {
      const int result = visit(context, *op, names);
      if (result != PLASMO_OK) {
        status = result;
        return;
      }
    }
    ++count;
  }
  bool fits16(long long size) {
    if (size >= 1 && size <= 65535) return true;
    if (status == PLASMO_OK)
      status = fail(error, PLASMO_ERR_INPUT, "a layer's size does not fit the op table (1..65535)");
    return false;
  }
};

OpNames names_of(const char* layer_prefix, const char* layer, const char* bn_prefix, const char* bn, bool has_bias) {
  OpNames names;
  Text(names.layer, sizeof names.layer).add(layer_prefix).add(layer);
  Text bn_text(names.bn, sizeof names.bn);
  if (bn) bn_text.add(bn_prefix).add(bn);
  names.layer_has_bias = has_bias;
  return names;
}

struct ConvSpec {
  int out_channels, kernel, stride, padding, groups, activation;
  int residual_value;  // -1: none
  int pool_kernel, pool_stride, pool_padding;
};

Act conv(Planner& planner, const Act& x, const OpNames& names, const ConvSpec& spec) {
  plasmo_op* op = planner.next_op();
  if (!op) return x;
  const int conv_height = (x.height + 2 * spec.padding - spec.kernel) / spec.stride + 1;
  const int conv_width = (x.width + 2 * spec.padding - spec.kernel) / spec.stride + 1;
  int out_height = conv_height, out_width = conv_width;
  if (spec.pool_kernel) {
    out_height = (conv_height + 2 * spec.pool_padding - spec.pool_kernel) / spec.pool_stride + 1;
    out_width = (conv_width + 2 * spec.pool_padding - spec.pool_kernel) / spec.pool_stride + 1;
  }
  if (!planner.fits16(spec.out_channels) || !planner.fits16(conv_height) || !planner.fits16(conv_width) ||
      !planner.fits16(out_height) || !planner.fits16(out_width))
    return x;
  op->kind = PLASMO_OP_CONV;
  op->activation = static_cast<uint8_t>(spec.activation);
  op->kernel = static_cast<uint8_t>(spec.kernel);
  op->stride = static_cast<uint8_t>(spec.stride);
  op->padding = static_cast<uint8_t>(spec.padding);
  op->pool_kernel = static_cast<uint8_t>(spec.pool_kernel);
  op->pool_stride = static_cast<uint8_t>(spec.pool_stride);
  op->pool_padding = static_cast<uint8_t>(spec.pool_padding);
  op->in_channels = static_cast<uint16_t>(x.channels);
  op->in_height = static_cast<uint16_t>(x.height);
  op->in_width = static_cast<uint16_t>(x.width);
  op->groups = static_cast<uint16_t>(spec.groups);
  op->out_channels = static_cast<uint16_t>(spec.out_channels);
  op->out_height = static_cast<uint16_t>(out_height);
  op->out_width = static_cast<uint16_t>(out_width);
  op->conv_width = static_cast<uint16_t>(conv_width);
  op->weight = static_cast<uint32_t>(planner.weight_floats);
  planner.weight_floats +=
      static_cast<uint64_t>(spec.out_channels) * (x.channels / spec.groups) * spec.kernel * spec.kernel;
  if (names.layer_has_bias || names.bn[0]) {
    op->bias = static_cast<uint32_t>(planner.weight_floats);
    planner.weight_floats += spec.out_channels;
  }
  planner.read(x.value);
  op->src = static_cast<uint32_t>(x.value);
  if (spec.residual_value >= 0) {
    planner.read(spec.residual_value);
    op->residual = static_cast<uint32_t>(spec.residual_value);
  }
  const Act y = {planner.new_value(4ull * spec.out_channels * out_height * out_width), spec.out_channels, out_height,
                 out_width};
  op->dst = static_cast<uint32_t>(y.value);
  if (spec.pool_kernel)  // pool_kernel conv rows of every channel
    op->scratch = static_cast<uint32_t>(planner.new_value(4ull * spec.pool_kernel * spec.out_channels * conv_width));
  planner.emit(op, names);
  return y;
}

Act conv_simple(Planner& planner, const Act& x, const OpNames& names, int out_channels, int kernel, int stride,
                int groups, int activation, int residual_value = -1) {
  const ConvSpec spec = {out_channels, kernel, stride, (kernel - 1) / 2, groups, activation, residual_value, 0, 0, 0};
  return conv(planner, x, names, spec);
}

Act gap(Planner& planner, const Act& x) {
  plasmo_op* op = planner.next_op();
  if (!op) return x;
  op->kind = PLASMO_OP_GAP;
  op->in_channels = op->out_channels = static_cast<uint16_t>(x.channels);
  op->in_height = static_cast<uint16_t>(x.height);
  op->in_width = static_cast<uint16_t>(x.width);
  op->out_height = op->out_width = op->conv_width = 1;
  planner.read(x.value);
  op->src = static_cast<uint32_t>(x.value);
  const Act y = {planner.new_value(4ull * x.channels), x.channels, 1, 1};
  op->dst = static_cast<uint32_t>(y.value);
  planner.emit(op, names_of("", "", "", nullptr, false));
  return y;
}

Act dense(Planner& planner, const Act& x, const char* name, int out_features, int activation) {
  plasmo_op* op = planner.next_op();
  if (!op) return x;
  op->kind = PLASMO_OP_DENSE;
  op->activation = static_cast<uint8_t>(activation);
  op->in_channels = static_cast<uint16_t>(x.channels);
  op->in_height = static_cast<uint16_t>(x.height);
  op->in_width = static_cast<uint16_t>(x.width);
  op->groups = 1;
  op->out_channels = static_cast<uint16_t>(out_features);
  op->out_height = op->out_width = op->conv_width = 1;
  op->weight = static_cast<uint32_t>(planner.weight_floats);
  planner.weight_floats += static_cast<uint64_t>(out_features) * x.channels * x.height * x.width;
  op->bias = static_cast<uint32_t>(planner.weight_floats);
  planner.weight_floats += out_features;
  planner.read(x.value);
  op->src = static_cast<uint32_t>(x.value);
  const Act y = {planner.new_value(4ull * out_features), out_features, 1, 1};
  op->dst = static_cast<uint32_t>(y.value);
  planner.emit(op, names_of("", name, "", nullptr, true));
  return y;
}

// ---- the three networks ---------------------------------------------------------------------------------

Act build_autoencoder(Planner& planner, Act x) {
  const char* names[3] = {"enc1", "enc2", "enc3"};
  const int channels[3] = {16, 8, 4};
  for (int stage = 0; stage < 3; ++stage) {
    const ConvSpec spec = {channels[stage], 3, 1, 1, 1, PLASMO_ACT_RELU, -1, 2, 2, 0};
    x = conv(planner, x, names_of("", names[stage], "", nullptr, true), spec);
  }
  x = dense(planner, x, "fc1", 32, PLASMO_ACT_RELU);
  return dense(planner, x, "fc2", 2, PLASMO_ACT_NONE);
}

int resnet_channels(int base, double width) {
  const int channels = static_cast<int>(base * width + 0.5);  // floor of a positive number
  return channels < 1 ? 1 : channels;
}

Act build_resnet18(Planner& planner, Act x, double width) {
  const int stem = resnet_channels(64, width);
  const ConvSpec stem_spec = {stem, 7, 2, 3, 1, PLASMO_ACT_RELU, -1, 3, 2, 1};
  x = conv(planner, x, names_of("", "conv1", "", "bn1", false), stem_spec);
  const int stage_base[4] = {64, 128, 256, 512};
  int in_planes = stem;
  for (int stage = 0; stage < 4; ++stage) {
    const int planes = resnet_channels(stage_base[stage], width);
    for (int block = 0; block < 2; ++block) {
      const int stride = block == 0 && stage > 0 ? 2 : 1;
      char prefix[24];
      Text(prefix, sizeof prefix).add("layer").add_int(stage + 1).add(".").add_int(block).add(".");
      const Act body = conv_simple(planner, x, names_of(prefix, "conv1", prefix, "bn1", false), planes, 3, stride, 1,
                                   PLASMO_ACT_RELU);
      int shortcut = x.value;
      if (stride != 1 || in_planes != planes) {
        const ConvSpec down = {planes, 1, stride, 0, 1, PLASMO_ACT_NONE, -1, 0, 0, 0};
        shortcut = conv(planner, x, names_of(prefix, "downsample.0", prefix, "downsample.1", false), down).value;
      }
      x = conv_simple(planner, body, names_of(prefix, "conv2", prefix, "bn2", false), planes, 3, 1, 1, PLASMO_ACT_RELU,
                      shortcut);
      in_planes = planes;
    }
  }
  x = gap(planner, x);
  return dense(planner, x, "fc", 2, PLASMO_ACT_NONE);
}

// torchvision's _make_divisible(v, 8): the multiple of 8 nearest v (halves up), at least 8, plus 8 when
// that lost more than 10% of v.
int make_divisible(double value) {
  int rounded = static_cast<int>(value + 4.0) / 8 * 8;
  if (rounded < 8) rounded = 8;
  if (rounded < 0.9 * value) rounded += 8;
  return rounded;
}

Act build_mobilenetv2(Planner& planner, Act x, double width) {
  struct Stage {
    int expand_ratio, channels, repeats, stride;
  };
  static const Stage kStages[7] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                   {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int in_channels = make_divisible(32 * width);
  const int last_channels = make_divisible(1280 * (width > 1.0 ? width : 1.0));
  x = conv_simple(planner, x, names_of("", "features.0.0", "", "features.0.1", false), in_channels, 3, 2, 1,
                  PLASMO_ACT_RELU6);
  int index = 1;
  for (const Stage& stage : kStages) {
    const int out_channels = make_divisible(stage.channels * width);
    for (int repeat = 0; repeat < stage.repeats; ++repeat, ++index) {
      const int stride = repeat == 0 ? stage.stride : 1;
      const int hidden = in_channels * stage.expand_ratio;
      char prefix[24];
      Text(prefix, sizeof prefix).add("features.").add_int(index).add(".conv.");
      Act y = x;
      int part = 0;  // conv.<part>: [expand], depthwise, project, BN
      char layer[8], bn[8];
      if (stage.expand_ratio != 1) {
        y = conv_simple(planner, y, names_of(prefix, "0.0", prefix, "0.1", false), hidden, 1, 1, 1, PLASMO_ACT_RELU6);
        part = 1;
      }
      Text(layer, sizeof layer).add_int(part).add(".0");
      Text(bn, sizeof bn).add_int(part).add(".1");
      y = conv_simple(planner, y, names_of(prefix, layer, prefix, bn, false), hidden, 3, stride, hidden,
                      PLASMO_ACT_RELU6);
      Text(layer, sizeof layer).add_int(part + 1);
      Text(bn, sizeof bn).add_int(part + 2);
      const int residual = stride == 1 && in_channels == out_channels ? x.value : -1;
      x = conv_simple(planner, y, names_of(prefix, layer, prefix, bn, false), out_channels, 1, 1, 1, PLASMO_ACT_NONE,
                      residual);
      in_channels = out_channels;
    }
  }
  char last[24], last_bn[24];
  Text(last, sizeof last).add("features.").add_int(index).add(".0");
  Text(last_bn, sizeof last_bn).add("features.").add_int(index).add(".1");
  x = conv_simple(planner, x, names_of("", last, "", last_bn, false), last_channels, 1, 1, 1, PLASMO_ACT_RELU6);
  x = gap(planner, x);
  return dense(planner, x, "classifier.1", 2, PLASMO_ACT_NONE);
}

// ---- arena ----------------------------------------------------------------------------------------------

uint64_t align_up(uint64_t offset) { return (offset + kAlign - 1) / kAlign * kAlign; }

// Greedy by size; returns the arena's size in bytes.
uint64_t place_values(Value* values, int value_count) {
  int order[kMaxValues];
  for (int i = 0; i < value_count; ++i) order[i] = i;
  for (int i = 1; i < value_count; ++i)  // insertion sort: bytes descending, then id ascending
    for (int j = i; j > 0 && values[order[j]].bytes > values[order[j - 1]].bytes; --j) {
      const int swap = order[j];
      order[j] = order[j - 1];
      order[j - 1] = swap;
    }
  uint64_t arena = 0;
  for (int placed = 0; placed < value_count; ++placed) {
    Value& value = values[order[placed]];
    uint64_t offset = 0;
    for (bool moved = true; moved;) {
      moved = false;
      for (int other = 0; other < placed; ++other) {
        const Value& held = values[order[other]];
        const bool same_time = held.first <= value.last && value.first <= held.last;
        const bool same_place = offset < held.offset + held.bytes && held.offset < offset + value.bytes;
        if (same_time && same_place) {
          offset = align_up(held.offset + held.bytes);
          moved = true;
        }
      }
    }
    value.offset = offset;
    if (offset + value.bytes > arena) arena = offset + value.bytes;
  }
  return arena;
}

}  // namespace

int arch_from_name(const char* name, size_t length) {
  static const char* const kNames[3] = {"autoencoder", "resnet18", "mobilenetv2"};
  for (int arch = 0; arch < 3; ++arch)
    if (strlen(kNames[arch]) == length && memcmp(kNames[arch], name, length) == 0) return arch + 1;
  return 0;
}

int plan(int arch, double width, int input_size, plasmo_op* ops, int max_ops, plasmo_model* model, OpVisitor visit,
         void* context, plasmo_error* error) {
  if (!ops || !model || max_ops < 0) return fail(error, PLASMO_ERR_ARGUMENT, "plan: null ops or model");
  if (arch < PLASMO_ARCH_AUTOENCODER || arch > PLASMO_ARCH_MOBILENETV2)
    return fail(error, PLASMO_ERR_ARCH, "unknown architecture (known: autoencoder, resnet18, mobilenetv2)");
  if (!(width > 0.0 && width <= 8.0)) return fail(error, PLASMO_ERR_ARCH, "width multiplier not in (0, 8]");
  if (arch == PLASMO_ARCH_AUTOENCODER && width != 1.0)
    return fail(error, PLASMO_ERR_ARCH, "the autoencoder has no width multiplier (width must be 1)");
  if (input_size < 8 || input_size > 4096) return fail(error, PLASMO_ERR_INPUT, "input size not in [8, 4096]");
  if (arch == PLASMO_ARCH_AUTOENCODER && input_size % 8 != 0)
    return fail(error, PLASMO_ERR_INPUT, "autoencoder input size is not a multiple of 8 (three 2x2 poolings)");

  // Large (about 6 KB): static would be global state, the stack is the caller's; the planner runs at load.
  Planner planner;
  planner.ops = ops;
  planner.max_ops = max_ops;
  planner.visit = visit;
  planner.context = context;
  planner.error = error;
  Act x = {planner.new_value(4ull * 3 * input_size * input_size), 3, input_size, input_size};
  if (arch == PLASMO_ARCH_AUTOENCODER)
    x = build_autoencoder(planner, x);
  else if (arch == PLASMO_ARCH_RESNET18)
    x = build_resnet18(planner, x, width);
  else
    x = build_mobilenetv2(planner, x, width);
  if (planner.status != PLASMO_OK) return planner.status;

  planner.values[x.value].last = planner.count;  // the logits are read after the last op
  const uint64_t arena = place_values(planner.values, planner.value_count);
  if (arena > 0xffffffffull || planner.weight_floats > 0xffffffffull)
    return fail(error, PLASMO_ERR_INPUT, "the model needs more than 4 GiB of arena or weights at this input size");
  for (int i = 0; i < planner.count; ++i) {
    plasmo_op& op = ops[i];
    op.src = static_cast<uint32_t>(planner.values[op.src].offset);
    op.dst = static_cast<uint32_t>(planner.values[op.dst].offset);
    if (op.residual != PLASMO_NONE) op.residual = static_cast<uint32_t>(planner.values[op.residual].offset);
    if (op.scratch != PLASMO_NONE) op.scratch = static_cast<uint32_t>(planner.values[op.scratch].offset);
  }
  model->arch = arch;
  model->width = width;
  model->input_size = input_size;
  model->ops = ops;
  model->op_count = planner.count;
  model->weights = nullptr;
  model->weight_count = static_cast<uint32_t>(planner.weight_floats);
  model->arena_bytes = static_cast<uint32_t>(arena);
  model->input_offset = static_cast<uint32_t>(planner.values[0].offset);
  model->logits_offset = static_cast<uint32_t>(planner.values[x.value].offset);
  return PLASMO_OK;
}

}  // namespace plasmo_infer

extern "C" const char* plasmo_arch_name(int arch) {
  switch (arch) {
    case PLASMO_ARCH_AUTOENCODER:
      return "autoencoder";
    case PLASMO_ARCH_RESNET18:
      return "resnet18";
    case PLASMO_ARCH_MOBILENETV2:
      return "mobilenetv2";
    default:
      return "?";
  }
}

extern "C" int plasmo_plan_arch(const char* arch, double width, int input_size, plasmo_model* model, plasmo_op* ops,
                                int max_ops, plasmo_error* error) {
  using namespace plasmo_infer;
  if (!arch || !model) return fail(error, PLASMO_ERR_ARGUMENT, "plasmo_plan_arch: null argument");
  const int code = arch_from_name(arch, strlen(arch));
  if (!code)
    return fail3(error, PLASMO_ERR_ARCH, "unknown architecture '", arch,
                 "' (known: autoencoder, resnet18, mobilenetv2)");
  const int status = plan(code, width, input_size, ops, max_ops, model, nullptr, nullptr, error);
  if (status != PLASMO_OK) return status;
  for (int channel = 0; channel < 3; ++channel) {
    model->mean[channel] = 0.0f;
    model->std[channel] = 1.0f;
  }
  model->normalize = PLASMO_NORMALIZE_DATASET;
  model->threshold = 0.5;
  Text(model->class_names[0], sizeof model->class_names[0]).add("Uninfected");
  Text(model->class_names[1], sizeof model->class_names[1]).add("Parasitized");
  return PLASMO_OK;
}
