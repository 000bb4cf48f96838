// Helpers shared by the kernel parity tests (test_kernels_gemm.cpp, test_kernels_conv.cpp): random
// inputs, the list of fast ISAs on this machine, and the tolerance every fast kernel is held to.
//
// Tolerance. A fast kernel computes the same sums as the reference in another order (vector lanes,
// register tiles, K blocks, FMA's single rounding). Each sum of K products then differs by rounding
// only, with a spread of about u * sqrt(K) * sum|a*b| (u = 2^-24 ~ 6e-8, errors of random sign), and at
// worst K * u * sum|a*b|. We allow
//     |fast - ref| <= 2e-6 * sqrt(K) * magnitude + 1e-30,    magnitude = sum over the K terms of |a*b|
// (computed by the reference on |inputs|, plus |C| when accumulating): ~30 standard deviations of the
// rounding noise, yet a dropped, doubled or misplaced term (error ~ magnitude / K) exceeds it for every
// K the tests use (K^1.5 < 5e5).
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/kernels/kernels.h"
#include "engine/rng.h"

namespace plasmo::testing {

inline std::vector<float> random_vector(size_t n, Rng& rng, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = rng.uniform(lo, hi);
  return v;
}

inline std::vector<float> absolute(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = std::fabs(v[i]);
  return out;
}

// The fast tables this machine and build can run (every available ISA but "ref").
inline std::vector<const kernels::KernelTable*> fast_tables() {
  const char* names[4];
  const int count = kernels::available_isas(names);
  std::vector<const kernels::KernelTable*> tables;
  for (int i = 0; i < count; ++i)
    if (std::strcmp(names[i], "ref") != 0) tables.push_back(kernels::table_for(names[i]));
  return tables;
}

inline double parity_tolerance(int K, double magnitude) {
  return 2e-6 * std::sqrt(static_cast<double>(K) + 1.0) * magnitude + 1e-30;
}

// Compares fast with ref elementwise; reports the first few failures with their index.
// Returns the number of elements outside the tolerance.
inline int compare_parity(const std::string& what, const std::vector<float>& fast, const std::vector<float>& ref,
                          const std::vector<float>& magnitude, int K) {
  int failures = 0;
  REQUIRE(fast.size() == ref.size());
  for (size_t i = 0; i < fast.size(); ++i) {
    const double err = std::fabs(static_cast<double>(fast[i]) - ref[i]);
    const double tol = parity_tolerance(K, magnitude[i]);
    if (!(err <= tol)) {  // also catches NaN
      if (failures < 3)
        FAIL_CHECK(what << ": element " << i << " fast " << fast[i] << " ref " << ref[i] << " tolerance " << tol);
      ++failures;
    }
  }
  return failures;
}

}  // namespace plasmo::testing
