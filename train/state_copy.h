// A copy of a model's state (parameters and buffers, by name), e.g. the best epoch so far: captured after
// an epoch that improved the validation loss, saved as the model file and inside the checkpoint.
// capture() allocates the first time only; later captures copy into the same tensors.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/layer.h"
#include "engine/tensor.h"

namespace plasmo::train {

class StateCopy {
 public:
  // Copies every value (params: value only, not gradients). The names and shapes must stay those of the
  // first capture (ShapeError otherwise).
  void capture(const std::vector<Param>& params, const std::vector<Buffer>& buffers);
  bool empty() const { return params_.empty() && buffers_.empty(); }

  // The copies as Param / Buffer entries named prefix + name (grad pointers are null: for save_state and
  // load_state, which use values only).
  std::vector<Param> params(const std::string& prefix = "");
  std::vector<Buffer> buffers(const std::string& prefix = "");

 private:
  struct Entry {
    std::string name;
    Tensor f32;
    int64_t i64 = 0;
    bool is_i64 = false;
  };
  std::vector<Entry> params_, buffers_;
};

}  // namespace plasmo::train
