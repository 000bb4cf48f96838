// Helpers of the kernel parity tests (tests/test_kernels_misc_*.cpp): every ISA table this machine runs
// is compared with the reference table on the same inputs.
//   bit-exact:  every output float has the reference's bit pattern;
//   tolerance:  |got - want| <= bound(i), the bound stated (and derived) next to each kernel.
// Outputs live in guarded buffers (sentinel floats on both sides), so a kernel that writes past its
// output, the usual tail bug, fails too.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/kernels/kernels.h"
#include "engine/rng.h"
#include "tests/kernel_parity.h"

namespace plasmo::testing::kernels_misc {

// Every table this build runs on this CPU except the reference (empty on a machine with none).
using plasmo::testing::fast_tables;
inline const kernels::KernelTable& ref_table() { return *kernels::table_for("ref"); }

inline uint32_t bits_of(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

// Distance in units in the last place between two finite floats of any sign (0 for +0 vs -0).
inline int64_t ulp_distance(float a, float b) {
  auto ordered = [](float v) {
    const int32_t i = static_cast<int32_t>(bits_of(v));
    return i < 0 ? static_cast<int64_t>(INT32_MIN) - i : static_cast<int64_t>(i);
  };
  const int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

// A float (or int32) buffer with sentinel elements on each side of `size` usable ones; `misalign`
// extra front sentinels shift data() off the vector alignment.
template <class T>
class Guarded {
 public:
  static constexpr size_t kGuard = 32;
  explicit Guarded(size_t size, T fill = T(0), size_t misalign = 0)
      : size_(size), front_(kGuard + misalign), storage_(size + front_ + kGuard, fill) {
    for (size_t i = 0; i < front_; ++i) storage_[i] = sentinel();
    for (size_t i = 0; i < kGuard; ++i) storage_[front_ + size_ + i] = sentinel();
  }
  T* data() { return storage_.data() + front_; }
  const T* data() const { return storage_.data() + front_; }
  size_t size() const { return size_; }
  T& operator[](size_t i) { return data()[i]; }
  bool guards_intact() const {
    for (size_t i = 0; i < front_; ++i)
      if (!same(storage_[i], sentinel())) return false;
    for (size_t i = front_ + size_; i < storage_.size(); ++i)
      if (!same(storage_[i], sentinel())) return false;
    return true;
  }

 private:
  static T sentinel() {
    if constexpr (std::is_same_v<T, float>)
      return -12345.678f;
    else
      return static_cast<T>(-777777);
  }
  static bool same(T a, T b) { return std::memcmp(&a, &b, sizeof(T)) == 0; }
  size_t size_, front_;
  std::vector<T> storage_;
};

// "" when got and want agree bit for bit, else the first difference ("[17] got 0.5 (0x3f000000) want ...").
// Two NaNs count as equal (which NaN payload an operation propagates is not part of any contract).
inline std::string bit_difference(const float* got, const float* want, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (bits_of(got[i]) != bits_of(want[i]) && !(std::isnan(got[i]) && std::isnan(want[i]))) {
      std::ostringstream out;
      out.precision(9);
      out << "[" << i << "] got " << got[i] << " (0x" << std::hex << bits_of(got[i]) << ") want " << std::dec << want[i]
          << " (0x" << std::hex << bits_of(want[i]) << ")";
      return out.str();
    }
  return "";
}
inline std::string int_difference(const int32_t* got, const int32_t* want, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (got[i] != want[i]) {
      std::ostringstream out;
      out << "[" << i << "] got " << got[i] << " want " << want[i];
      return out.str();
    }
  return "";
}
// "" when |got[i] - want[i]| <= bound(i) for all i (NaN never passes), else the worst offender.
inline std::string bound_difference(const float* got, const float* want, size_t n,
                                    const std::function<double(size_t)>& bound) {
  double worst_ratio = 1.0;
  std::string worst;
  for (size_t i = 0; i < n; ++i) {
    const double error = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double allowed = bound(i);
    if (!(error <= allowed)) {
      const double ratio = allowed > 0 ? error / allowed : std::numeric_limits<double>::infinity();
      if (worst.empty() || ratio > worst_ratio || std::isnan(error)) {
        worst_ratio = ratio;
        std::ostringstream out;
        out.precision(9);
        out << "[" << i << "] got " << got[i] << " want " << want[i] << " error " << error << " allowed " << allowed;
        worst = out.str();
      }
    }
  }
  return worst;
}

inline std::vector<float> normal_values(size_t n, Rng& rng, float scale = 1.0f, float shift = 0.0f) {
  std::vector<float> v(n);
  for (auto& value : v) value = shift + scale * rng.normal();
  return v;
}

}  // namespace plasmo::testing::kernels_misc
