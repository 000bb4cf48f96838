// Divergence checks of the training loop: a NaN or Inf loss or gradient stops the run before the
// optimizer step can spread it into the weights.
#pragma once
#include <vector>

#include "engine/layer.h"

namespace plasmo::train {

// The first parameter whose gradient holds a NaN or an Inf, or null when all are finite.
const Param* first_nonfinite_gradient(const std::vector<Param>& params);

}  // namespace plasmo::train
