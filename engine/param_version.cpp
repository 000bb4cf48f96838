#include "engine/param_version.h"

#include <atomic>

namespace plasmo {

namespace {
std::atomic<uint64_t> version{1};
}  // namespace

uint64_t parameters_version() { return version.load(std::memory_order_acquire); }
void parameters_changed() { version.fetch_add(1, std::memory_order_acq_rel); }

}  // namespace plasmo
