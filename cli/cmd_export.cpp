// `plasmo export --model FILE --c DIR`: the model as C++ sources a firmware compiles with its own toolchain.
//
// DIR/ receives:
//   plasmo.h            the API (C and C++): plasmo_classify(rgb, width, height, arena) -> p(Parasitized) or a
//                       negative error code; the model's constants (arena bytes, input size, threshold)
//   plasmo_model.cpp    the generated op table (one commented row per layer) and the API's functions
//   plasmo_weights.h    the weights as one const float array, BatchNorm already folded into the convolutions
//                       (printed with 9 significant digits: every float reads back bit for bit)
//   plasmo_infer.h, infer_*.cpp, infer_*.h   the inference core (engine/infer/), copied as is
// The weights are folded by the same core code plasmo-infer uses, so the exported model computes exactly what
// plasmo-infer computes. Nothing in the classify path uses a file system, malloc or printf.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/error.h"
#include "engine/infer/infer_internal.h"

namespace plasmo::cli {

// The core's sources, embedded by make (build/gen/infer_sources.cpp).
struct EmbeddedFile {
  const char* name;
  const char* text;
};
extern const EmbeddedFile kInferSources[];
extern const int kInferSourceCount;

namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> read_model_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open the model file");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw IoError(path + ": cannot read the model file");
  return bytes;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw IoError(path.string() + ": cannot write");
}

// A C string literal's contents: backslash, quote and anything outside printable ASCII escaped (octal).
std::string c_string(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\%03o", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Text safe inside a /* */ comment.
std::string comment_text(std::string text) {
  for (size_t at; (at = text.find("*/")) != std::string::npos;) text.replace(at, 2, "* /");
  return text;
}

std::string float_literal(float value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9ef", static_cast<double>(value));  // 9 digits: exact round trip
  return text;
}

std::string double_literal(double value) {
  char text[40];
  std::snprintf(text, sizeof text, "%.17g", value);
  std::string out = text;
  if (out.find_first_of(".eE") == std::string::npos) out += ".0";
  return out;
}

// What the planner says about each op, for the comments.
struct OpDoc {
  std::string layer, bn;
};

int collect_names(void* context, const plasmo_op&, const plasmo_infer::OpNames& names) {
  static_cast<std::vector<OpDoc>*>(context)->push_back({names.layer, names.bn});
  return PLASMO_OK;
}

const char* activation_name(int activation) {
  return activation == PLASMO_ACT_RELU ? " + ReLU" : activation == PLASMO_ACT_RELU6 ? " + ReLU6" : "";
}

std::string describe_op(const plasmo_op& op, const OpDoc& doc) {
  std::ostringstream text;
  const std::string in =
      std::to_string(op.in_channels) + "x" + std::to_string(op.in_height) + "x" + std::to_string(op.in_width);
  const std::string out =
      std::to_string(op.out_channels) + "x" + std::to_string(op.out_height) + "x" + std::to_string(op.out_width);
  if (op.kind == PLASMO_OP_CONV) {
    text << doc.layer << (doc.bn.empty() ? "" : " + " + doc.bn) << ": conv" << int(op.kernel) << "x" << int(op.kernel)
         << "/" << int(op.stride) << " pad " << int(op.padding);
    if (op.groups > 1) text << " depthwise";
    if (op.residual != PLASMO_NONE) text << " + residual";
    text << activation_name(op.activation);
    if (op.pool_kernel)
      text << " + maxpool" << int(op.pool_kernel) << "x" << int(op.pool_kernel) << "/" << int(op.pool_stride) << " pad "
           << int(op.pool_padding);
  } else if (op.kind == PLASMO_OP_GAP) {
    text << "global average pool";
  } else {
    text << doc.layer << ": dense" << activation_name(op.activation);
  }
  text << ", " << in << " -> " << out;
  return comment_text(text.str());
}

std::string weights_header(const plasmo_model& model, const std::vector<plasmo_op>& ops, const std::vector<OpDoc>& docs,
                           const std::string& source) {
  std::ostringstream text;
  text << "/* Generated by `plasmo export` from " << source << ": the " << model.weight_count
       << " float weights of the model, BatchNorm folded\n"
          " * into the convolutions (W' = W * g, b' = beta + g * (b - mean), g = gamma / sqrt(var + 1e-5)).\n"
          " * Included once, by plasmo_model.cpp. */\n"
          "#ifndef PLASMO_WEIGHTS_H\n#define PLASMO_WEIGHTS_H\n\n"
       << "static const float plasmo_weights[" << (model.weight_count ? model.weight_count : 1) << "] = {\n";
  auto block = [&](const char* what, const std::string& name, uint32_t offset, size_t count) {
    text << "    /* [" << offset << "] " << name << " " << what << ", " << count << " values */\n";
    for (size_t i = 0; i < count; ++i) {
      text << (i % 6 == 0 ? "    " : " ") << float_literal(model.weights[offset + i]) << ",";
      if (i % 6 == 5 || i + 1 == count) text << "\n";
    }
  };
  for (size_t i = 0; i < ops.size(); ++i) {
    const plasmo_op& op = ops[i];
    if (op.kind == PLASMO_OP_GAP) continue;
    const size_t per_channel = op.kind == PLASMO_OP_CONV
                                   ? static_cast<size_t>(op.in_channels / op.groups) * op.kernel * op.kernel
                                   : static_cast<size_t>(op.in_channels) * op.in_height * op.in_width;
    const std::string name = comment_text(docs[i].layer);
    block(docs[i].bn.empty() ? "weight" : "weight (BatchNorm folded)", name, op.weight, per_channel * op.out_channels);
    if (op.bias != PLASMO_NONE)
      block(docs[i].bn.empty() ? "bias" : "bias (BatchNorm folded)", name, op.bias, op.out_channels);
  }
  if (!model.weight_count) text << "    0.0f,\n";
  text << "};\n\n#endif /* PLASMO_WEIGHTS_H */\n";
  return text.str();
}

std::string api_header(const plasmo_model& model, const std::string& source) {
  std::ostringstream text;
  const std::string side = std::to_string(model.input_size);
  text << "/* plasmo.h: the classifier exported by `plasmo export` from " << source << "\n"
       << " * (" << plasmo_arch_name(model.arch) << ", width " << double_literal(model.width) << ", input 3x" << side
       << "x" << side << ").\n"
       << R"( *
 * Build: compile every .cpp of this folder with your toolchain (C++11 or later; -fno-exceptions -fno-rtti
 * are fine, no C++ runtime library is needed), e.g.
 *   arm-none-eabi-g++ -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os -fno-exceptions -fno-rtti
 *     -ffp-contract=off -ffunction-sections -fdata-sections -c *.cpp     (link with -Wl,--gc-sections)
 * -ffp-contract=off keeps the arithmetic identical to plasmo's on the host; without it results differ by
 * rounding only. This header is C and C++: a C program includes it and links the objects (libm for expf).
 *
 * Use:
 *   static float arena[PLASMO_ARENA_BYTES / 4];            // any 4-byte aligned memory of that size
 *   float p = plasmo_classify(rgb, width, height, arena);  // rgb: 8-bit RGB, interleaved, rows top down
 *   if (p < 0) { error: (int)p is a PLASMO_ERR_* code }    // else p = probability of Parasitized
 *   int parasitized = p >= PLASMO_THRESHOLD;
 * The image may have any size up to PLASMO_MAX_IMAGE_SIDE a side: it is resized to the model's input as the
 * training data were (area average when shrinking, bilinear when growing), then normalized as in training
 * (PLASMO_NORMALIZE: the dataset's mean/std, or per image over the cell's own pixels).
 * plasmo_classify uses no heap, no file system and no printf; it writes only the arena; the weights and the
 * op table are const (flash). It is reentrant: each caller passes its own arena.
 *
 * Error codes (plasmo_infer.h): PLASMO_ERR_ARGUMENT (rgb null, a side <= 0 or too large), PLASMO_ERR_ARENA
 * (arena null or not 4-byte aligned).
 *
 * Field update without recompiling: plasmo_load_model_file reads a model file (safetensors bytes in memory,
 * e.g. a flash partition) and refuses one of another architecture or width (PLASMO_ERR_ARCH) or another
 * input size (PLASMO_ERR_INPUT) with an error code; a damaged file gives PLASMO_ERR_FORMAT, wrong tensors
 * PLASMO_ERR_TENSOR. On success it fills `weights` (PLASMO_WEIGHT_COUNT floats, RAM) and `model`; classify
 * with plasmo_classify_model(&model, ...). It needs about 8 KB of stack and the C library's strtod.
 */
#ifndef PLASMO_H
#define PLASMO_H

#include "plasmo_infer.h"

#ifdef __cplusplus
extern "C" {
#endif

)";
  text << "#define PLASMO_MODEL_ARCH \"" << plasmo_arch_name(model.arch) << "\"\n"
       << "#define PLASMO_MODEL_WIDTH " << double_literal(model.width) << "\n"
       << "#define PLASMO_INPUT_SIZE " << model.input_size << "        /* images are resized to this side */\n"
       << "#define PLASMO_ARENA_BYTES " << model.arena_bytes << "u   /* scratch one inference needs, exactly */\n"
       << "#define PLASMO_WEIGHT_COUNT " << model.weight_count << "u  /* floats of weights (const) */\n"
       << "#define PLASMO_OP_COUNT " << model.op_count << "\n"
       << "#define PLASMO_NORMALIZE "
       << (model.normalize == PLASMO_NORMALIZE_FOREGROUND ? "PLASMO_NORMALIZE_FOREGROUND" : "PLASMO_NORMALIZE_DATASET")
       << "  /* input normalization (plasmo_infer.h) */\n"
       << "#define PLASMO_THRESHOLD " << double_literal(model.threshold) << "   /* p >= threshold: Parasitized */\n"
       << R"(
/* The exported model: op table and weights in const memory. */
extern const plasmo_model plasmo_exported_model;

/* PLASMO_ARENA_BYTES. */
size_t plasmo_arena_bytes(void);

/* p(Parasitized) in [0, 1] for an 8-bit RGB image, or a negative PLASMO_ERR_* code. */
float plasmo_classify(const uint8_t* rgb, int width, int height, void* arena);

/* The same with another model of this architecture (from plasmo_load_model_file). */
float plasmo_classify_model(const plasmo_model* model, const uint8_t* rgb, int width, int height, void* arena);

/* Loads a model file of the same architecture, width and input size (see above). error may be null. */
int plasmo_load_model_file(const uint8_t* file, size_t size, float* weights, plasmo_model* model, plasmo_error* error);

#ifdef __cplusplus
}
#endif

#endif /* PLASMO_H */
)";
  return text.str();
}

std::string model_source(const plasmo_model& model, const std::vector<plasmo_op>& ops, const std::vector<OpDoc>& docs,
                         const std::string& source) {
  std::ostringstream text;
  text << "// Generated by `plasmo export` from " << source << ": the op table (one row per layer, see\n"
       << "// plasmo_op in plasmo_infer.h) and the functions of plasmo.h.\n"
       << "#include \"plasmo.h\"\n#include \"plasmo_weights.h\"\n\n"
       << "// kind, activation, kernel, stride, padding, pool kernel/stride/padding, in C/H/W, groups, out C/H/W,\n"
       << "// conv width, weight, bias (floats), src, dst, residual, scratch (arena bytes)\n"
       << "static const plasmo_op plasmo_ops[" << ops.size() << "] = {\n";
  auto offset = [](uint32_t value) {
    return value == PLASMO_NONE ? std::string("PLASMO_NONE") : std::to_string(value) + "u";
  };
  for (size_t i = 0; i < ops.size(); ++i) {
    const plasmo_op& op = ops[i];
    text << "    // " << i << ": " << describe_op(op, docs[i]) << "\n"
         << "    {" << int(op.kind) << ", " << int(op.activation) << ", " << int(op.kernel) << ", " << int(op.stride)
         << ", " << int(op.padding) << ", " << int(op.pool_kernel) << ", " << int(op.pool_stride) << ", "
         << int(op.pool_padding) << ", " << op.in_channels << ", " << op.in_height << ", " << op.in_width << ", "
         << op.groups << ", " << op.out_channels << ", " << op.out_height << ", " << op.out_width << ", "
         << op.conv_width << ", " << offset(op.weight) << ", " << offset(op.bias) << ", " << offset(op.src) << ", "
         << offset(op.dst) << ", " << offset(op.residual) << ", " << offset(op.scratch) << "},\n";
  }
  text << "};\n\n"
       << "extern \"C\" const plasmo_model plasmo_exported_model = {\n"
       << "    " << model.arch << ",  // " << plasmo_arch_name(model.arch) << "\n"
       << "    " << double_literal(model.width) << ",  // width\n"
       << "    " << model.input_size << ",  // input size\n"
       << "    {" << float_literal(model.mean[0]) << ", " << float_literal(model.mean[1]) << ", "
       << float_literal(model.mean[2]) << "},  // mean\n"
       << "    {" << float_literal(model.std[0]) << ", " << float_literal(model.std[1]) << ", "
       << float_literal(model.std[2]) << "},  // std\n"
       << "    "
       << (model.normalize == PLASMO_NORMALIZE_FOREGROUND ? "PLASMO_NORMALIZE_FOREGROUND" : "PLASMO_NORMALIZE_DATASET")
       << ",  // normalize\n"
       << "    " << double_literal(model.threshold) << ",  // threshold\n"
       << "    {\"" << c_string(model.class_names[0]) << "\", \"" << c_string(model.class_names[1]) << "\"},\n"
       << "    plasmo_ops,\n    " << model.op_count << ",\n    plasmo_weights,\n"
       << "    " << model.weight_count << "u,  // weights\n"
       << "    " << model.arena_bytes << "u,  // arena bytes\n"
       << "    " << model.input_offset << "u,  // input offset\n"
       << "    " << model.logits_offset << "u,  // logits offset\n"
       << "};\n\n"
       << R"(extern "C" size_t plasmo_arena_bytes(void) { return PLASMO_ARENA_BYTES; }

extern "C" float plasmo_classify_model(const plasmo_model* model, const uint8_t* rgb, int width, int height, void* arena) {
  if (!model) return static_cast<float>(PLASMO_ERR_ARGUMENT);
  float p = 0.0f;
  const int status = plasmo_run(model, rgb, width, height, arena, model->arena_bytes, &p, nullptr);
  return status == PLASMO_OK ? p : static_cast<float>(status);
}

extern "C" float plasmo_classify(const uint8_t* rgb, int width, int height, void* arena) {
  return plasmo_classify_model(&plasmo_exported_model, rgb, width, height, arena);
}

extern "C" int plasmo_load_model_file(const uint8_t* file, size_t size, float* weights, plasmo_model* model,
                                      plasmo_error* error) {
  return plasmo_load_matching(file, size, &plasmo_exported_model, weights, model, error);
}
)";
  return text.str();
}

int run_export(const Argv& argv) {
  const Args args(argv, {"model", "c", "threads", "seed"}, {"quiet"});
  apply_common_options(args);
  if (!args.positional().empty())
    throw UsageError("export takes no positional arguments (got '" + args.positional()[0] +
                     "'); use --model FILE --c DIR");
  const std::string model_path = args.require("model");
  const std::string out_dir = args.require("c");

  const std::vector<uint8_t> file = read_model_file(model_path);
  std::vector<plasmo_op> ops(PLASMO_MAX_OPS);
  plasmo_model model{};
  plasmo_error error{};
  if (plasmo_load_plan(file.data(), file.size(), &model, ops.data(), PLASMO_MAX_OPS, &error) != PLASMO_OK)
    throw FormatError(model_path + ": " + error.message);
  std::vector<float> weights(model.weight_count);
  if (plasmo_load_weights(file.data(), file.size(), &model, weights.data(), &error) != PLASMO_OK)
    throw FormatError(model_path + ": " + error.message);
  ops.resize(static_cast<size_t>(model.op_count));
  // The layer names for the comments: plan again with a visitor (same arch, same table).
  std::vector<OpDoc> docs;
  std::vector<plasmo_op> replanned(PLASMO_MAX_OPS);
  plasmo_model unused{};
  if (plasmo_infer::plan(model.arch, model.width, model.input_size, replanned.data(), PLASMO_MAX_OPS, &unused,
                         collect_names, &docs, &error) != PLASMO_OK ||
      docs.size() != ops.size())
    throw FormatError(model_path + ": cannot name the layers: " + error.message);

  std::error_code failure;
  fs::create_directories(out_dir, failure);
  if (failure || !fs::is_directory(out_dir))
    throw IoError(out_dir + ": cannot create the folder: " + failure.message());
  const std::string source = comment_text(fs::path(model_path).filename().string());
  for (int i = 0; i < kInferSourceCount; ++i)
    write_text(fs::path(out_dir) / kInferSources[i].name, kInferSources[i].text);
  write_text(fs::path(out_dir) / "plasmo_weights.h", weights_header(model, ops, docs, source));
  write_text(fs::path(out_dir) / "plasmo_model.cpp", model_source(model, ops, docs, source));
  write_text(fs::path(out_dir) / "plasmo.h", api_header(model, source));
  if (!args.has("quiet"))
    std::printf("export: wrote %s/ (%s 3x%dx%d: %d ops, %u weights = %u bytes const, arena %u bytes, %d core files)\n",
                out_dir.c_str(), plasmo_arch_name(model.arch), model.input_size, model.input_size, model.op_count,
                model.weight_count, model.weight_count * 4u, model.arena_bytes, kInferSourceCount);
  return 0;
}

const CommandRegistrar registrar({"export", "the model as C++ sources for firmware: --model FILE --c DIR", run_export,
                                  50});

}  // namespace

}  // namespace plasmo::cli
