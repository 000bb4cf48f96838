// Running a planned model: check the arena, preprocess into it, run the op table, softmax.
#include <math.h>
#include <stdint.h>

#include "infer_internal.h"

namespace {

int check_arena(const plasmo_model* model, void* arena, size_t arena_bytes) {
  if (!arena || reinterpret_cast<uintptr_t>(arena) % sizeof(float) != 0 || arena_bytes < model->arena_bytes)
    return PLASMO_ERR_ARENA;
  return PLASMO_OK;
}

}  // namespace

extern "C" float plasmo_softmax_p1(const float* logits) {
  // softmax(l)[1] = e^l1 / (e^l0 + e^l1) = 1 / (1 + e^(l0 - l1)); exp overflow gives 1 / inf = 0, as it should.
  return 1.0f / (1.0f + expf(logits[0] - logits[1]));
}

extern "C" int plasmo_forward(const plasmo_model* model, void* arena, size_t arena_bytes, float* logits) {
  if (!model || !model->ops || !model->weights) return PLASMO_ERR_ARGUMENT;
  const int status = check_arena(model, arena, arena_bytes);
  if (status != PLASMO_OK) return status;
  uint8_t* base = static_cast<uint8_t*>(arena);
  for (int i = 0; i < model->op_count; ++i) {
    const plasmo_op& op = model->ops[i];
    switch (op.kind) {
      case PLASMO_OP_CONV:
        plasmo_infer::run_conv(op, model->weights, base);
        break;
      case PLASMO_OP_GAP:
        plasmo_infer::run_gap(op, base);
        break;
      case PLASMO_OP_DENSE:
        plasmo_infer::run_dense(op, model->weights, base);
        break;
      default:
        return PLASMO_ERR_ARGUMENT;
    }
  }
  if (logits) {
    // cppcheck-suppress invalidPointerCast ; the arena only ever holds floats (4-byte alignment checked)
    const float* out = reinterpret_cast<const float*>(base + model->logits_offset);
    logits[0] = out[0];
    logits[1] = out[1];
  }
  return PLASMO_OK;
}

extern "C" int plasmo_run(const plasmo_model* model, const uint8_t* rgb, int width, int height, void* arena,
                          size_t arena_bytes, float* p_parasitized, float* logits) {
  if (!model || !model->ops || !model->weights || !rgb) return PLASMO_ERR_ARGUMENT;
  int status = check_arena(model, arena, arena_bytes);
  if (status != PLASMO_OK) return status;
  // cppcheck-suppress invalidPointerCast ; the arena only ever holds floats (4-byte alignment checked)
  float* input = reinterpret_cast<float*>(static_cast<uint8_t*>(arena) + model->input_offset);
  status = plasmo_preprocess(model, rgb, width, height, input);
  if (status != PLASMO_OK) return status;
  float out[2];
  status = plasmo_forward(model, arena, arena_bytes, out);
  if (status != PLASMO_OK) return status;
  if (logits) {
    logits[0] = out[0];
    logits[1] = out[1];
  }
  if (p_parasitized) *p_parasitized = plasmo_softmax_p1(out);
  return PLASMO_OK;
}
