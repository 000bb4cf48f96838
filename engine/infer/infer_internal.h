// Pieces the core's files share (not part of the public API in plasmo_infer.h).
#ifndef PLASMO_INFER_INTERNAL_H
#define PLASMO_INFER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "plasmo_infer.h"

namespace plasmo_infer {

// ---- a fixed-capacity string builder (no heap, no printf) ----------------------------------------------
struct Text {
  char* out;
  size_t capacity;  // bytes of out, including the terminating zero
  size_t length;

  Text(char* buffer, size_t size) : out(buffer), capacity(size), length(0) {
    if (capacity) out[0] = '\0';
  }
  Text& add(const char* text);
  Text& add(const char* text, size_t count);  // count bytes of text (need not be terminated)
  Text& add_int(long long value);
  Text& add_uint(unsigned long long value);
};

// Sets error->code and error->message (when error is not null) and returns code.
int fail(plasmo_error* error, int code, const char* message);
// The same with message = first + second + third.
int fail3(plasmo_error* error, int code, const char* first, const char* second, const char* third);

// ---- the planner ------------------------------------------------------------------------------------------
// The tensor names behind one op: conv (or dense) "enc1" -> enc1.weight, enc1.bias; bn "layer1.0.bn1" ->
// .weight, .bias, .running_mean, .running_var (empty when the op has no BatchNorm).
struct OpNames {
  char layer[48];
  char bn[48];
  bool layer_has_bias;  // the conv / dense has its own bias tensor
};

// Called for every op as the planner emits it (before arena planning: src/dst/residual/scratch are not
// final). Returns PLASMO_OK to go on, or an error code that stops the planning.
typedef int (*OpVisitor)(void* context, const plasmo_op& op, const OpNames& names);

// Plans arch/width/input_size into ops[max_ops] and model (all fields but weights, mean, std, threshold,
// class names), calling visit(context, ...) for each op when visit is not null.
int plan(int arch, double width, int input_size, plasmo_op* ops, int max_ops, plasmo_model* model, OpVisitor visit,
         void* context, plasmo_error* error);

// "autoencoder" -> PLASMO_ARCH_AUTOENCODER; 0 when unknown. `name` has `length` bytes (not terminated).
int arch_from_name(const char* name, size_t length);

// ---- the ops -------------------------------------------------------------------------------------------
// Runs op over the arena (every offset of op is inside it); weights are the model's.
void run_conv(const plasmo_op& op, const float* weights, uint8_t* arena);
void run_gap(const plasmo_op& op, uint8_t* arena);
void run_dense(const plasmo_op& op, const float* weights, uint8_t* arena);

}  // namespace plasmo_infer

#endif  // PLASMO_INFER_INTERNAL_H
