// A safetensors model file in memory -> a plasmo_model: metadata, op table, weights with BatchNorm folded.
//
// Metadata (DESIGN.md "The model file"; strings): arch and input ("3xSxS") required; width (1), normalize
// (dataset | foreground; absent = dataset), mean (0,0,0), std (1,1,1), threshold (0.5), classes
// (Uninfected,Parasitized) optional, as models/ reads them. Tensors are
// looked up by the PyTorch names the planner gives each op; tensors the classifier does not use (the
// autoencoder's decoder, num_batches_tracked, optimizer state) are ignored.
//
// BatchNorm folding (eval mode, eps = 1e-5 as PyTorch): for output channel oc,
//   bn(conv(x))[oc] = gamma * (conv(x)[oc] - mean) / sqrt(var + eps) + beta = g * conv(x)[oc] + (beta - g * mean)
//   with g = gamma / sqrt(var + eps), so W'[oc] = g * W[oc] and b'[oc] = beta + g * (b[oc] - mean)  (b = 0 without
//   bias).
// Computed in double, rounded once to float.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer_internal.h"
#include "infer_safetensors.h"

namespace plasmo_infer {

namespace {

constexpr double kBatchNormEps = static_cast<double>(1e-5f);  // the engine's float eps, widened

struct LoadContext {
  const StFile* file;
  float* weights;  // null while only checking
  plasmo_error* error;
};

void add_shape(Text& text, const uint64_t* shape, int rank) {
  text.add("[");
  for (int axis = 0; axis < rank; ++axis) {
    if (axis) text.add(", ");
    text.add_uint(shape[axis]);
  }
  text.add("]");
}

// Looks up stem.suffix and checks it is a float tensor of the expected shape.
int find_tensor(const LoadContext& context, const char* stem, const char* suffix, const uint64_t* shape, int rank,
                StTensor* tensor) {
  char name[64];
  Text(name, sizeof name).add(stem).add(".").add(suffix);
  plasmo_error* error = context.error;
  if (!st_find(*context.file, name, tensor)) return fail3(error, PLASMO_ERR_TENSOR, "tensor '", name, "' is missing");
  if (tensor->dtype == kDTypeI64)
    return fail3(error, PLASMO_ERR_TENSOR, "tensor '", name, "' has dtype I64, expected F32, F16 or BF16");
  bool same = tensor->rank == rank;
  for (int axis = 0; same && axis < rank; ++axis) same = tensor->shape[axis] == shape[axis];
  if (same) return PLASMO_OK;
  if (error) {
    error->code = PLASMO_ERR_TENSOR;
    Text text(error->message, sizeof error->message);
    text.add("tensor '").add(name).add("': expected shape ");
    add_shape(text, shape, rank);
    text.add(", found ");
    add_shape(text, tensor->shape, tensor->rank);
  }
  return PLASMO_ERR_TENSOR;
}

int not_finite(const LoadContext& context, const char* layer) {
  return fail3(context.error, PLASMO_ERR_TENSOR, "layer '", layer,
               "' has NaN or Inf weights (after BatchNorm folding)");
}

// The planner's visitor: checks (and, when context.weights is set, copies and folds) one op's tensors.
int load_op(void* opaque, const plasmo_op& op, const OpNames& names) {
  const LoadContext& context = *static_cast<const LoadContext*>(opaque);
  if (op.kind == PLASMO_OP_GAP) return PLASMO_OK;
  const uint64_t channels = op.out_channels;
  uint64_t weight_shape[4];
  int weight_rank;
  if (op.kind == PLASMO_OP_CONV) {
    weight_shape[0] = channels;
    weight_shape[1] = op.in_channels / op.groups;
    weight_shape[2] = weight_shape[3] = op.kernel;
    weight_rank = 4;
  } else {
    weight_shape[0] = channels;
    weight_shape[1] = static_cast<uint64_t>(op.in_channels) * op.in_height * op.in_width;
    weight_rank = 2;
  }
  StTensor weight, bias, gamma, beta, mean, var;
  int status = find_tensor(context, names.layer, "weight", weight_shape, weight_rank, &weight);
  if (status == PLASMO_OK && names.layer_has_bias)
    status = find_tensor(context, names.layer, "bias", &channels, 1, &bias);
  const bool has_bn = names.bn[0] != '\0';
  if (has_bn) {
    if (status == PLASMO_OK) status = find_tensor(context, names.bn, "weight", &channels, 1, &gamma);
    if (status == PLASMO_OK) status = find_tensor(context, names.bn, "bias", &channels, 1, &beta);
    if (status == PLASMO_OK) status = find_tensor(context, names.bn, "running_mean", &channels, 1, &mean);
    if (status == PLASMO_OK) status = find_tensor(context, names.bn, "running_var", &channels, 1, &var);
  }
  if (status != PLASMO_OK || !context.weights) return status;

  const StFile& file = *context.file;
  auto value = [&file](const StTensor& tensor, size_t index) {
    return static_cast<double>(st_float(file, tensor, index));
  };
  const size_t per_channel = static_cast<size_t>(weight_shape[1]) * (weight_rank == 4 ? op.kernel * op.kernel : 1);
  for (size_t oc = 0; oc < channels; ++oc) {
    const double own_bias = names.layer_has_bias ? value(bias, oc) : 0.0;
    double scale = 1.0, folded_bias = own_bias;
    if (has_bn) {
      scale = value(gamma, oc) / sqrt(value(var, oc) + kBatchNormEps);
      folded_bias = value(beta, oc) + scale * (own_bias - value(mean, oc));
    }
    float* out = context.weights + op.weight + oc * per_channel;
    for (size_t i = 0; i < per_channel; ++i) {
      out[i] = static_cast<float>(value(weight, oc * per_channel + i) * scale);
      if (!isfinite(out[i])) return not_finite(context, names.layer);
    }
    if (op.bias != PLASMO_NONE) {
      context.weights[op.bias + oc] = static_cast<float>(folded_bias);
      if (!isfinite(context.weights[op.bias + oc])) return not_finite(context, names.layer);
    }
  }
  return PLASMO_OK;
}

// ---- metadata -------------------------------------------------------------------------------------------

// A whole string as a finite number (strtod, as models/model_meta.cpp reads it).
bool parse_number(const char* text, double* value) {
  if (!*text) return false;
  char* end = nullptr;
  *value = strtod(text, &end);
  return end && *end == '\0' && isfinite(*value);
}

// "a,b,c" -> three floats.
bool parse_triplet(const char* text, float* values) {
  char part[48];
  const char* cursor = text;
  for (int channel = 0; channel < 3; ++channel) {
    const char* comma = strchr(cursor, ',');
    const size_t length = comma ? static_cast<size_t>(comma - cursor) : strlen(cursor);
    if ((channel < 2) != (comma != nullptr) || length >= sizeof part) return false;
    memcpy(part, cursor, length);
    part[length] = '\0';
    double value;
    if (!parse_number(part, &value)) return false;
    values[channel] = static_cast<float>(value);
    cursor = comma ? comma + 1 : cursor + length;
  }
  return true;
}

// "3xSxS" -> S.
bool parse_input(const char* text, int* side) {
  if (text[0] != '3' || text[1] != 'x') return false;
  const char* cursor = text + 2;
  long sizes[2];
  for (int axis = 0; axis < 2; ++axis) {
    long value = 0;
    const char* digits = cursor;
    while (*cursor >= '0' && *cursor <= '9' && value <= 1000000) value = value * 10 + (*cursor++ - '0');
    if (cursor == digits || value < 1 || value > 1000000) return false;
    sizes[axis] = value;
    if (axis == 0 && *cursor++ != 'x') return false;
  }
  if (*cursor != '\0' || sizes[0] != sizes[1]) return false;
  *side = static_cast<int>(sizes[0]);
  return true;
}

int bad_metadata(plasmo_error* error, const char* key, const char* value, const char* expected) {
  if (error) {
    error->code = PLASMO_ERR_FORMAT;
    Text(error->message, sizeof error->message)
        .add("metadata '")
        .add(key)
        .add("' is '")
        .add(value)
        .add("', expected ")
        .add(expected);
  }
  return PLASMO_ERR_FORMAT;
}

struct Meta {
  int arch = 0;
  double width = 1.0;
  int input_size = 0;
  float mean[3] = {0.0f, 0.0f, 0.0f};
  float std[3] = {1.0f, 1.0f, 1.0f};
  int normalize = PLASMO_NORMALIZE_DATASET;
  double threshold = 0.5;
  char class_names[2][32] = {"Uninfected", "Parasitized"};
};

int read_meta(const StFile& file, Meta* meta, plasmo_error* error) {
  char text[160];
  int found = st_metadata(file, "arch", text, sizeof text);
  if (found <= 0 || !text[0])
    return fail(error, PLASMO_ERR_FORMAT, "no 'arch' in the metadata: not a plasmo model file");
  meta->arch = arch_from_name(text, strlen(text));
  if (!meta->arch)
    return fail3(error, PLASMO_ERR_ARCH, "architecture '", text,
                 "' is not one this code runs (autoencoder, resnet18, mobilenetv2)");
  found = st_metadata(file, "input", text, sizeof text);
  if (found == 0) return fail(error, PLASMO_ERR_FORMAT, "no 'input' in the metadata (expected e.g. 3x64x64)");
  if (found < 0 || !parse_input(text, &meta->input_size))
    return bad_metadata(error, "input", text, "3xSxS (square RGB)");
  found = st_metadata(file, "width", text, sizeof text);
  if (found && (found < 0 || !parse_number(text, &meta->width) || !(meta->width > 0.0)))
    return bad_metadata(error, "width", text, "a number > 0");
  found = st_metadata(file, "normalize", text, sizeof text);
  if (found) {
    if (found > 0 && strcmp(text, "foreground") == 0)
      meta->normalize = PLASMO_NORMALIZE_FOREGROUND;
    else if (found < 0 || strcmp(text, "dataset") != 0)
      return bad_metadata(error, "normalize", text, "dataset or foreground");
  }
  found = st_metadata(file, "mean", text, sizeof text);
  if (found && (found < 0 || !parse_triplet(text, meta->mean)))
    return bad_metadata(error, "mean", text, "3 numbers 'a,b,c'");
  found = st_metadata(file, "std", text, sizeof text);
  if (found && (found < 0 || !parse_triplet(text, meta->std) || !(meta->std[0] > 0.0f) || !(meta->std[1] > 0.0f) ||
                !(meta->std[2] > 0.0f)))
    return bad_metadata(error, "std", text, "3 numbers > 0 'a,b,c'");
  found = st_metadata(file, "threshold", text, sizeof text);
  if (found && (found < 0 || !parse_number(text, &meta->threshold) || meta->threshold < 0.0 || meta->threshold > 1.0))
    return bad_metadata(error, "threshold", text, "a number in [0, 1]");
  found = st_metadata(file, "classes", text, sizeof text);
  if (found) {
    const char* comma = found > 0 ? strchr(text, ',') : nullptr;
    if (!comma || strchr(comma + 1, ',') || static_cast<size_t>(comma - text) >= sizeof meta->class_names[0] ||
        strlen(comma + 1) >= sizeof meta->class_names[1])
      return bad_metadata(error, "classes", text, "two names 'Uninfected,Parasitized' (under 32 bytes each)");
    Text(meta->class_names[0], sizeof meta->class_names[0]).add(text, static_cast<size_t>(comma - text));
    Text(meta->class_names[1], sizeof meta->class_names[1]).add(comma + 1);
  }
  return PLASMO_OK;
}

// Opens the safetensors file and reads its metadata (plasmo_load_plan, plasmo_load_matching).
int open_with_meta(const uint8_t* file_bytes, size_t file_size, StFile* file, Meta* meta, plasmo_error* error) {
  const int status = st_open(file_bytes, file_size, file, error);
  if (status != PLASMO_OK) return status;
  return read_meta(*file, meta, error);
}

// The model's preprocessing, threshold and class names, as the metadata gives them.
void copy_meta(const Meta& meta, plasmo_model* model) {
  memcpy(model->mean, meta.mean, sizeof meta.mean);
  memcpy(model->std, meta.std, sizeof meta.std);
  model->normalize = meta.normalize;
  model->threshold = meta.threshold;
  memcpy(model->class_names, meta.class_names, sizeof meta.class_names);
}

}  // namespace

}  // namespace plasmo_infer

extern "C" int plasmo_load_plan(const uint8_t* file_bytes, size_t file_size, plasmo_model* model, plasmo_op* ops,
                                int max_ops, plasmo_error* error) {
  using namespace plasmo_infer;
  if (!model || !ops) return fail(error, PLASMO_ERR_ARGUMENT, "plasmo_load_plan: null model or ops");
  StFile file;
  Meta meta;
  int status = open_with_meta(file_bytes, file_size, &file, &meta, error);
  if (status != PLASMO_OK) return status;
  LoadContext context = {&file, nullptr, error};
  status = plan(meta.arch, meta.width, meta.input_size, ops, max_ops, model, load_op, &context, error);
  if (status != PLASMO_OK) return status;
  copy_meta(meta, model);
  return PLASMO_OK;
}

extern "C" int plasmo_load_weights(const uint8_t* file_bytes, size_t file_size, plasmo_model* model, float* weights,
                                   plasmo_error* error) {
  using namespace plasmo_infer;
  if (!model || !weights) return fail(error, PLASMO_ERR_ARGUMENT, "plasmo_load_weights: null model or weights");
  StFile file;
  int status = st_open(file_bytes, file_size, &file, error);
  if (status != PLASMO_OK) return status;
  // Plan again (the op table of `model` is const) and fill the weights as each op is named.
  plasmo_op ops[PLASMO_MAX_OPS];
  plasmo_model planned;
  LoadContext context = {&file, weights, error};
  status = plan(model->arch, model->width, model->input_size, ops, PLASMO_MAX_OPS, &planned, load_op, &context, error);
  if (status != PLASMO_OK) return status;
  if (planned.weight_count != model->weight_count || planned.op_count != model->op_count)
    return fail(error, PLASMO_ERR_ARGUMENT, "plasmo_load_weights: the model was not planned from this architecture");
  model->weights = weights;
  return PLASMO_OK;
}

extern "C" int plasmo_load_matching(const uint8_t* file_bytes, size_t file_size, const plasmo_model* expected,
                                    float* weights, plasmo_model* model, plasmo_error* error) {
  using namespace plasmo_infer;
  if (!expected || !weights || !model) return fail(error, PLASMO_ERR_ARGUMENT, "plasmo_load_matching: null argument");
  StFile file;
  Meta meta;
  int status = open_with_meta(file_bytes, file_size, &file, &meta, error);
  if (status != PLASMO_OK) return status;
  if (meta.arch != expected->arch)
    return fail3(error, PLASMO_ERR_ARCH, "the model file holds a ", plasmo_arch_name(meta.arch),
                 ", not the expected architecture");
  if (meta.width != expected->width) return fail(error, PLASMO_ERR_ARCH, "the model file has another width multiplier");
  if (meta.input_size != expected->input_size)
    return fail(error, PLASMO_ERR_INPUT, "the model file has another input size");
  plasmo_op ops[PLASMO_MAX_OPS];
  plasmo_model planned;
  LoadContext context = {&file, weights, error};
  status = plan(meta.arch, meta.width, meta.input_size, ops, PLASMO_MAX_OPS, &planned, load_op, &context, error);
  if (status != PLASMO_OK) return status;
  if (planned.weight_count != expected->weight_count || planned.op_count != expected->op_count ||
      planned.arena_bytes != expected->arena_bytes)
    return fail(error, PLASMO_ERR_ARCH, "the model file plans differently from the expected model");
  *model = *expected;
  model->weights = weights;
  copy_meta(meta, model);
  return PLASMO_OK;
}
