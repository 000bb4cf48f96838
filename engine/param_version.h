// The parameter version: a process-wide counter that moves whenever parameters or buffers may have been
// written other than by a layer's own arithmetic, so caches derived from them can tell they are stale
// (a BatchNorm folded into the preceding convolution's weights for eval mode, packed weights).
//
// It moves on: every hand-out of writable parameter or buffer pointers by a layer that feeds such a cache
// (Conv2d::params, BatchNorm2d::params / buffers, hence collect_params, Model::params, state_params,
// buffers), every optimizer step, every load_state, every train-mode BatchNorm forward (running statistics).
// Code that keeps Param / Buffer pointers across forwards and writes through them (a gradient checker)
// calls parameters_changed() after writing.
#pragma once
#include <cstdint>

namespace plasmo {

// The current version; a cache built at version v is valid while parameters_version() == v.
uint64_t parameters_version();
// Moves the version on: every cache rebuilds at its next use.
void parameters_changed();

}  // namespace plasmo
